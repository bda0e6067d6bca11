-- Training rows of the backward model p(instruction | output): the seed pairs with output and instruction
-- swapped. It has no system prompt; the segment is the whole of its instruction.
-- Seeds whose instruction carries its own input (a field after a blank line, a quoted text after a colon
-- or question mark, "this: ..." before the text) are left out: a web segment never comes with an input,
-- and rows that have one teach the backward model to write "Rewrite this ..." with nothing to rewrite
-- (a third of the pairs read in tests/data/answered_pairs referred to a text they did not contain).
SELECT origin, row_id, NULL::VARCHAR AS system, output AS instruction, instruction AS output
FROM training_pairs(0, 5, 'direct')
WHERE origin = 'seed'
    AND NOT regexp_matches(instruction, '\n\s*\n|[:?]\s*["“'']|(?i)\b(this|these|the following)\b[^.?!]*:\s*\S')
ORDER BY row_id
