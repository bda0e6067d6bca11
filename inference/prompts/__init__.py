"""Prompt templates: their fixed prefix comes first so llama.cpp can reuse it across rows."""
