"""A llama.cpp server on this machine: building upstream `llama-server`, starting and stopping it."""
