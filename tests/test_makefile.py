"""`make etl`'s steps, read from a dry run of the real Makefile (`make -n` prints the commands and runs
none): the backward model is trained before augmentation unless the user chose otherwise."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from benchmarks.harness import MAKE_ETL_BACKWARD_STEPS, MAKE_ETL_SEEDS

REPO = Path(__file__).resolve().parents[1]


def dry_run(target: str, *variables: str) -> list[str]:
    """The command lines `make target` would run, a line continued with `\\` joined to the next."""
    if shutil.which("make") is None:
        pytest.fail("make is not installed: the README's commands need it")
    out = subprocess.run(
        ["make", "-n", "--no-print-directory", target, "WAREHOUSE=/nonexistent/wh", *variables],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.replace("\\\n", " ").splitlines()


def etl_steps(*variables: str) -> list[str]:
    """The `humpback` commands `make etl` would run, by subcommand and first option, in order."""
    return [" ".join(line.split()[1:3]) for line in dry_run("etl", *variables) if "/humpback " in line]


def test_make_etl_trains_the_backward_model_on_the_seeds_before_augmenting() -> None:
    steps = etl_steps()
    assert steps.index("seed load") < steps.index("train --role") < steps.index("augment --warehouse")
    assert steps.index("augment --warehouse") < steps.index("curate --warehouse")


@pytest.mark.parametrize(
    "variables", [("BACKWARD=few-shot",), ("MODEL=/models/big.gguf",), ("SERVER=http://127.0.0.1:8080",)]
)
def test_make_etl_trains_nothing_when_the_user_chose_the_backward_model(variables: tuple[str, ...]) -> None:
    steps = etl_steps(*variables)
    assert "augment --warehouse" in steps and "train --role" not in steps, steps


def test_backward_few_shot_keeps_the_base_model_even_when_one_was_trained() -> None:
    augment = next(line for line in dry_run("augment", "BACKWARD=few-shot") if "humpback augment" in line)
    assert "--base" in augment.split()


def test_make_etl_loads_the_embedded_and_web_seeds_unless_told_otherwise() -> None:
    load = next(line for line in dry_run("etl") if "humpback seed load" in line).split()
    assert [w for w in load if w.endswith(".jsonl")] == [
        "etl/seeds/embedded_seeds.jsonl",
        "etl/seeds/web_seeds.jsonl",
    ]
    assert all((REPO / w).is_file() for w in load if w.endswith(".jsonl"))
    assert [str(p.relative_to(REPO)) for p in MAKE_ETL_SEEDS] == [w for w in load if w.endswith(".jsonl")]
    alone = next(line for line in dry_run("etl", "SEEDS=") if "humpback seed load" in line).split()
    assert not [w for w in alone if w.endswith(".jsonl")], "SEEDS= is the embedded set alone"


def test_make_etl_trains_the_backward_model_for_its_measured_steps_unless_told_otherwise() -> None:
    """26 steps: what the labelled pairs were measured with (README "More web seeds"); the seed files
    grew past one epoch of it, so the count is set, not left to the preset's epoch."""
    train = next(line for line in dry_run("etl") if "humpback train" in line).split()
    assert train[train.index("--max-steps") + 1] == "26" == str(MAKE_ETL_BACKWARD_STEPS)
    epoch = next(line for line in dry_run("etl", "BACKWARD_STEPS=") if "humpback train" in line).split()
    assert "--max-steps" not in epoch and epoch[epoch.index("--preset") + 1] == "cpu"
