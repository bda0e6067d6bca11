-- Candidate duplicate pairs over the whole corpus, as (a, b) edges between segment ids.
-- Exact: segments whose normalised text hashes alike. Near: segments sharing any MinHash LSH band.
-- Each group contributes a star (its smallest id to every other member), enough for the connected
-- components that become the duplicate clusters.
WITH segments AS (
    SELECT DISTINCT ON (segment_id) segment_id, text_hash, bands FROM staged_segments
),
exact AS (
    SELECT min(segment_id) OVER (PARTITION BY text_hash) AS a, segment_id AS b
    FROM segments
),
band_rows AS (
    SELECT segment_id, band_hash, band_index
    FROM segments,
         unnest(bands) WITH ORDINALITY AS t(band_hash, band_index)
    WHERE bands IS NOT NULL
),
near AS (
    SELECT min(segment_id) OVER (PARTITION BY band_index, band_hash) AS a, segment_id AS b
    FROM band_rows
)
SELECT DISTINCT a, b FROM (SELECT * FROM exact UNION ALL SELECT * FROM near) WHERE a <> b
