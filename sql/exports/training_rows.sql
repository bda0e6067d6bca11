-- The rows of a training file before decontamination: ids, origin and instruction.
-- Parameters: $iteration, $k, $mode.
SELECT row_id, origin, instruction
FROM training_pairs($iteration, $k, $mode)
