"""Fine-tuning for the Humpback loop: backward and forward models trained on warehouse tables, exported
as GGUF for llama.cpp, and registered in the warehouse's `models` table."""
