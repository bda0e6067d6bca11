-- The rows of a training file before decontamination: ids, origin and instruction.
-- Parameters: $iteration, $k, $mode, $self_instruct.
SELECT row_id, origin, instruction
FROM export_pairs($iteration, $k, $mode, $self_instruct)
