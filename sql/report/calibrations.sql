-- The calibrations behind one iteration's scores of one mode, with what they were fitted on and their
-- cross-validated figures (JSON), and how many rows each scored. Parameters: $iteration, $mode.
SELECT
    c.calibration,
    c.model,
    c.seed_pairs,
    c.negatives,
    c.figures,
    c.fit_seconds,
    count(*) AS rows
FROM stg_scores AS s
JOIN stg_calibrations AS c ON c.calibration = s.calibration AND c.model = s.model
WHERE s.iteration = $iteration AND s.mode = $mode AND s.status = 'ok'
GROUP BY ALL
ORDER BY rows DESC, c.calibration
