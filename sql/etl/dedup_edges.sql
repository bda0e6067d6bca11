-- Candidate duplicate pairs over the whole corpus, as (a, b) edges between segment ids.
-- Exact: segments whose normalised text hashes alike. Near: segments sharing a MinHash LSH band
-- (the same hash at the same band index). Bands are cut here from the staged signatures, $bands bands
-- of $band_rows values each (the layout for this run's threshold), so the threshold needs no re-extraction. Each group contributes a star, its smallest id linked to
-- every other member: enough for the connected components that become the duplicate clusters.
-- Only id and hash columns are read; GROUP BY and joins let DuckDB spill to disk on large corpora.
WITH segments AS (
    SELECT DISTINCT segment_id, text_hash, minhash FROM staged_segments
),
exact_groups AS (
    SELECT text_hash, min(segment_id) AS a FROM segments GROUP BY text_hash HAVING count(*) > 1
),
exact AS (
    SELECT g.a, s.segment_id AS b FROM segments AS s JOIN exact_groups AS g USING (text_hash)
),
band_rows AS (
    SELECT
        s.segment_id,
        b.band_index,
        hash(s.minhash[b.band_index * $band_rows + 1 : (b.band_index + 1) * $band_rows]) AS band_hash
    FROM segments AS s CROSS JOIN range($bands) AS b(band_index)
    WHERE s.minhash IS NOT NULL
),
band_groups AS (
    SELECT band_index, band_hash, min(segment_id) AS a
    FROM band_rows
    GROUP BY band_index, band_hash
    HAVING count(*) > 1
),
near AS (
    SELECT g.a, r.segment_id AS b FROM band_rows AS r JOIN band_groups AS g USING (band_index, band_hash)
)
SELECT DISTINCT a, b FROM (SELECT a, b FROM exact UNION ALL SELECT a, b FROM near) WHERE a <> b
