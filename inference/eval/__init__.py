"""Pairwise evaluation of two answer sources with a local judge, as AlpacaEval does (see `run.py`)."""
