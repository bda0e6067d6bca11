-- A few scored pairs at each score, with their source. Parameters: $iteration, $k, $mode, $per_score.
SELECT score, expected_score, p_good, curated, instruction, output, url, header_path, segment_id, score_model
FROM score_samples($iteration, $k, $mode, $per_score)
