-- The paper's data statistics table for one iteration. Parameters: $iteration, $mode.
SELECT * FROM data_statistics($iteration, $mode)
