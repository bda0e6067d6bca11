"""The end-of-run summary of `humpback iterate` and `humpback train`."""

from __future__ import annotations

from humpback_train.iterate import IterateReport
from inference.summary import format_stage


def _number(value: object, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_model(m: dict[str, object]) -> str:
    gain_torch = gain_gguf = None
    if m.get("heldout_loglik_torch") is not None:
        gain_torch = m["heldout_loglik_torch"] - m["heldout_loglik_base_torch"]
    if m.get("heldout_loglik_gguf") is not None:
        gain_gguf = m["heldout_loglik_gguf"] - m["heldout_loglik_base_gguf"]
    status = "reused" if m.get("reused") else f"{m['steps']} steps, {m['train_seconds']:.0f} s"
    return (
        f"  {m['name']:<5} {m['role']:<8} rows {m['train_rows']:>6,} (seed {m['seed_rows']:,}, "
        f"augmented {m['augmented_rows']:,})  {status}  loss {_number(m['first_loss'], '.3f')} -> "
        f"{_number(m['final_loss'], '.3f')}  held-out log-lik gain/token: PyTorch "
        f"{_number(gain_torch, '+.3f')}, GGUF {_number(gain_gguf, '+.3f')}\n"
        f"        {m['gguf_path']}"
    )


def format_iterate(report: IterateReport) -> str:
    lines = [f"models ({report.trained} trained now, {len(report.models) - report.trained} reused):"]
    lines += [format_model(m) for m in report.models]
    lines += [format_stage(stage) for stage in report.stages]
    lines.append(
        "curated sets: " + ", ".join(f"{c['set']} = {c['pairs']:,} (k={c['k']:g})" for c in report.curated)
    )
    for c in report.changed:
        lines.append(
            f"iteration {c['from']} -> {c['to']}: {c['changed']:,} pairs changed score or membership, "
            f"{c['joined']:,} joined A_k, {c['left_set']:,} left it "
            f"(SELECT * FROM iteration_diff({c['from']}, k))"
        )
    return "\n".join(lines)
