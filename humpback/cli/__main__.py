"""`python -m humpback.cli`: the same as the `humpback` console script."""

from humpback.cli import app

app()
