-- The size of A_k from one scoring iteration, in one mode. Parameters: $t, $k, $mode.
SELECT count(*) AS pairs FROM curated($t, $k) WHERE mode = $mode
