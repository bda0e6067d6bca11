-- The gold pairs the calibrated mode fits its calibration on, for backtranslated pairs: the seed pairs.
SELECT seed_id, instruction, output
FROM seeds
ORDER BY seed_id
