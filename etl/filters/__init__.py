"""Per-segment signals (computed in the workers) and the rules that turn them into reasons."""
