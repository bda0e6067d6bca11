-- Every prompt an evaluation has used in this warehouse (humpback eval): kept out of training data.
SELECT DISTINCT instruction FROM stg_eval_prompts ORDER BY instruction
