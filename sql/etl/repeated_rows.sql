-- Rows staged by more than one committed batch (the same record read again in a batch of another
-- size, or the same page present twice in the input), with the batch file that keeps them.
SELECT 'documents' AS table_name, doc_id || '|' || source AS row_key, min(filename) AS keep_file
FROM staged_documents GROUP BY ALL HAVING count(*) > 1
UNION ALL
SELECT 'segments', segment_id, min(filename) FROM staged_segments GROUP BY ALL HAVING count(*) > 1
UNION ALL
SELECT 'rejects', reject_id, min(filename) FROM staged_rejects GROUP BY ALL HAVING count(*) > 1
