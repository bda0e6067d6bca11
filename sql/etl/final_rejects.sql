-- The public rejects table: every record or page that could not become a document.
SELECT DISTINCT ON (reject_id) * FROM staged_rejects ORDER BY source, reject_id
