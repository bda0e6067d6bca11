-- Training rows of the backward model p(instruction | output): the seed pairs with output and instruction
-- swapped. It has no system prompt; the segment is the whole of its instruction.
SELECT origin, row_id, NULL::VARCHAR AS system, output AS instruction, instruction AS output
FROM training_pairs(0, 5, 'direct')
WHERE origin = 'seed'
ORDER BY row_id
