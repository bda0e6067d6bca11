-- Training rows of a forward model: M0 learns from the seed pairs alone ($iteration = -1); M_{t+1} from
-- the seed pairs and the curated set A_k of iteration t, as the export gives them (training_pairs).
-- Parameters: $iteration, $k, $mode.
SELECT origin, row_id, system, instruction, output
FROM training_pairs(greatest($iteration, 0), $k, $mode)
WHERE origin = 'seed' OR $iteration >= 0
ORDER BY origin, row_id
