-- export_pairs(iteration, k, mode, with_self_instruct): the rows of a training export: training_pairs,
-- and the curated Self-Instruct pairs (origin 'self_instruct') when asked for.
CREATE OR REPLACE MACRO export_pairs(iteration_, k, mode_, with_self_instruct) AS TABLE
SELECT * FROM training_pairs(iteration_, k, mode_)
UNION ALL
SELECT * FROM self_instruct_pairs(iteration_, k, mode_)
WHERE with_self_instruct
