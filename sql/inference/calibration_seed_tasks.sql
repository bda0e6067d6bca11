-- The gold pairs the calibrated mode fits its calibration on, for Self-Instruct instances: every
-- instance of the seed tasks, its input after a blank line as in the rated requests.
SELECT
    task_id || '#' || CAST(n AS VARCHAR) AS seed_id,
    CASE WHEN instance.input = '' OR instance.input IS NULL THEN instruction
         ELSE instruction || chr(10) || chr(10) || instance.input END AS instruction,
    instance.output AS output
FROM (
    SELECT task_id, instruction, unnest(instances) AS instance, generate_subscripts(instances, 1) AS n
    FROM seed_tasks
)
WHERE instance.output IS NOT NULL AND instance.output <> ''
ORDER BY seed_id
