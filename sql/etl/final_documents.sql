-- The public documents table: one row per input record (an identical record read twice from the
-- same source counts once).
SELECT DISTINCT ON (doc_id, source) * FROM staged_documents ORDER BY source, doc_id
