"""The Ray engine: the local engine's stage functions run as Ray tasks and actors on a cluster."""
