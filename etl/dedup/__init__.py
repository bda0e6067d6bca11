"""Exact and near-duplicate detection: signatures in the workers, clusters over the whole corpus."""
