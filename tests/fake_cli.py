"""`python -m tests.fake_cli ARGS...`: the `humpback` command line with every in-process model stage on
`tests.fake_engine.FakeEngine`, for fast tests that run the CLI as a separate process (a `kill -9` in the
middle of a run, then its resumption). Everything else (the warehouse, the runner, the CLI's options and
messages) is the real code. `HUMPBACK_FAKE_DELAY_S` sleeps that long before every batch, so that a kill
lands mid-run.
"""

from __future__ import annotations

import os

from tests.fake_engine import use_fake_engine

if __name__ == "__main__":
    use_fake_engine(delay_s=float(os.environ.get("HUMPBACK_FAKE_DELAY_S", "0")))
    from humpback.cli import app

    app(prog_name="humpback")
