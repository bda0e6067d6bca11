"""The end-of-run summaries of the model stages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from inference.runner import StageReport
from warehouse.compact import CompactReport

if TYPE_CHECKING:
    from inference.curation.calibration import Calibration
    from inference.eval.run import EvalReport
    from inference.likelihood import Comparison
    from inference.score import ScoreFileReport
    from inference.self_instruct.run import SelfInstructReport


def format_stage(report: StageReport) -> str:
    lines = [
        f"{report.stage}: {report.computed:,} rows in {report.seconds:.1f} s "
        f"({report.rows_per_second:.2f} rows/s, {report.batches} batches), "
        f"{report.already_done:,} already done",
        f"  model {report.model}  prompt {report.prompt_version}",
    ]
    if report.seconds:
        read, made = report.uncached_tokens, report.completion_tokens
        lines.append(
            f"  prompt tokens read {read:,} ({read / report.seconds:,.0f}/s), "
            f"generated {made:,} ({made / report.seconds:,.1f}/s)"
        )
    if report.computed == 0 and report.already_done == 0:
        if report.stage.startswith(("self-instruct", "answers", "judge", "likelihood")):
            lines.append("  nothing to do")
        else:
            source = (
                "kept segments (run humpback etl)" if report.stage == "augment" else "clean augmentations"
            )
            lines.append(f"  nothing to do: the warehouse has no {source}")
            if report.stage != "augment":
                lines[-1] += " (run humpback augment)"
    if report.statuses:
        lines.append("  status: " + ", ".join(f"{k}={v:,}" for k, v in sorted(report.statuses.items())))
    if "warning" in report.extra:
        lines.append(f"  warning: {report.extra['warning']}")
    if "calibration" in report.extra:
        lines += format_calibration(
            report.extra["calibration"]["calibration"], report.extra["calibration"]["fitted"]
        )
    compaction = report.extra.get("compaction")  # said when it merged files, or failed to
    if isinstance(compaction, CompactReport) and (not compaction.skipped or compaction.failed):
        lines.append(f"  compaction of {compaction.describe()}")
    for row in report.extra.get("curated", []):  # type: ignore[union-attr]
        lines.append(
            f"  curated sets ({row['mode']}, prompt {row['prompt_version']}): {row['scored']:,} of "
            f"{row['pairs']:,} pairs scored; "
            f"A_4 = {row['a4']:,}, A_4.5 = {row['a4_5']:,}, A_5 = {row['a5']:,}"
        )
    return "\n".join(lines)


def format_calibration(calibration: Calibration, fitted: bool) -> list[str]:
    """Which calibration scored, and how well it told its own held-out seed pairs from their negatives."""
    how = f"fitted now in {calibration.fit_seconds:.0f} s" if fitted else "found (fitted before)"
    figures = calibration.figures
    aurocs = ", ".join(f"{k} {v:.2f}" for k, v in (figures.get("auroc") or {}).items() if v is not None)
    a4 = figures.get("a4") or {}
    lines = [
        f"  calibration {calibration.version}: {how}, on {calibration.seed_pairs} seed pairs and "
        f"{sum(calibration.negatives.values())} negatives made from them",
    ]
    if aurocs:
        lines.append(f"    cross-validated AUROC against each kind: {aurocs}")
    if a4.get("precision") is not None:
        lines.append(
            f"    A_4 precision {a4['precision']:.2f}, recall {a4['recall']:.2f} "
            "(each kind as common as the good pairs)"
        )
    return lines


def format_score(report: ScoreFileReport) -> str:
    lines = [format_stage(report.stage)] if report.stage is not None else []
    if report.calibration is not None:
        lines += format_calibration(report.calibration, report.calibration_fitted)
    statuses = ", ".join(f"{k}={v:,}" for k, v in report.statuses.items())
    lines.append(f"wrote {report.rows:,} rows to {report.out} ({statuses})")
    return "\n".join(lines)


def format_self_instruct(report: SelfInstructReport) -> str:
    lines = []
    if report.seeds_loaded:
        lines.append(f"loaded the embedded seed set: {report.seeds_loaded} seed tasks")
    for stage in report.stages:
        lines.append(format_stage(stage))
    generate = report.stages[0].extra
    if generate.get("gave_up"):
        lines.append(
            f"  stopped short of the target ({generate['generated']:,} of {generate['target']:,}): the last "
            "rounds added no new task; try another --seed or model"
        )
    tasks = ", ".join(f"{origin} {n:,}" for origin, n in sorted(report.tasks.items()))
    lines.append(f"tasks table: {tasks}; generated tasks with instances: {report.with_instances:,}")
    return "\n".join(lines)


def format_eval(report: EvalReport) -> str:
    """The stages, then side A's record against side B: overall and per category, with the interval."""
    lines = [format_stage(stage) for stage in report.stages]
    if "position_prior" in report.stages[-1].extra:
        lines.append(
            f"  judge's p(first) on content-free pairs: {report.stages[-1].extra['position_prior']:.3f}"
        )
    for side, loaded in report.files.items():
        lines.append(
            f"answers file {side.upper()}: {loaded.matched:,} prompts matched, {loaded.missing:,} missing "
            f"(not judged), {loaded.unmatched:,} records matching no prompt"
        )
    a, b = report.labels
    lines += [
        f"eval {report.eval_id}: {report.prompts:,} prompts"
        + (f" ({report.repeated_prompts:,} repeated lines counted once)" if report.repeated_prompts else "")
        + f", judge {report.judge}, {report.seconds:.1f} s",
        f"  A: {a}",
        f"  B: {b}",
    ]
    summary = report.summary
    if summary is None or summary.is_empty():
        lines.append("  no prompt judged in both orders yet")
        return "\n".join(lines)
    lines.append(
        f"  {'category':<16}{'prompts':>8}{'wins':>6}{'ties':>6}{'losses':>7}  A's win rate [95% CI]"
    )
    for row in summary.iter_rows(named=True):
        lines.append(
            f"  {row['category']:<16}{row['prompts']:>8,}{row['wins']:>6,}{row['ties']:>6,}"
            f"{row['losses']:>7,}"
            f"  {row['win_rate']:6.1%} [{row['ci_low']:.1%}, {row['ci_high']:.1%}]"
        )
    unjudged = int(summary.filter(summary["category"] == "all")["unjudged"].sum())
    if unjudged:
        lines.append(f"  {unjudged:,} prompts not judged (an answer is missing or a verdict unscored)")
    lines.append("  ties: the two orders disagreed; the win rate counts a tie as half")
    return "\n".join(lines)


def format_likelihood(comparison: Comparison) -> str:
    """The stages, then each model's mean log-likelihood per output token with its interval, and its paired
    difference against the first model."""
    lines = []
    for stage in comparison.stages:
        lines.append(f"{stage.extra.get('model_name', stage.model)}:")
        lines += ["  " + line for line in format_stage(stage).splitlines()]
    summary = comparison.summary
    statuses = ", ".join(f"{k}={v:,}" for k, v in summary.statuses.items())
    n = summary.models[0].n if summary.models else 0
    lines.append(f"mean log-likelihood per output token, on the {n:,} pairs every model read ({statuses}):")
    width = max(len(m.model) for m in summary.models)
    for index, m in enumerate(summary.models):
        line = f"  {m.model:<{width}}  {m.mean:8.4f}  [{m.ci[0]:.4f}, {m.ci[1]:.4f}]"
        if index:
            line += f"  vs first {m.diff_vs_first:+.4f}  [{m.diff_ci[0]:+.4f}, {m.diff_ci[1]:+.4f}]"
        lines.append(line)
    return "\n".join(lines)
