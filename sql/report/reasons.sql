-- The most frequent reasons a record was rejected or a segment dropped. Parameter: $top.
SELECT kind, reason, n FROM funnel_reasons ORDER BY n DESC, kind, reason LIMIT $top
