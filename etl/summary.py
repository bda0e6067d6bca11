"""The end-of-run summary: counts in and out of every stage, and per reason."""

from __future__ import annotations

from etl.pipeline import RunReport


def format_summary(report: RunReport, warehouse: str) -> str:
    final = report.final
    lines = [
        f"ETL finished in {report.seconds:.1f} s: {report.inputs} input files, {report.records} HTML records "
        f"in {report.batches} batches ({report.batches_skipped} already done, "
        f"{report.pages_isolated} pages rerun in isolation)",
    ]
    if report.skipped:
        skipped = ", ".join(f"{k}={v:,}" for k, v in sorted(report.skipped.items()))
        lines.append(f"passed over while reading: {skipped}")
    if final is not None:
        if final.stale_batches:
            lines.append(
                f"note: {final.stale_batches} batches staged under other extraction settings are not "
                "included; rerun on their inputs to refresh them"
            )
        lines.append("funnel:")
        lines += [f"  {stage:<30} {n:>12,}" for stage, n in final.funnel]
        for kind, title in (
            ("reject", "rejects by reason:"),
            ("segment", "segment reasons (a segment may have several):"),
        ):
            rows = [(reason, n) for k, reason, n in final.reasons if k == kind]
            if rows:
                lines.append(title)
                lines += [f"  {reason:<30} {n:>12,}" for reason, n in rows]
    if report.phases:
        lines.append("time by phase:")
        lines += [f"  {phase:<40} {seconds:>8.2f} s" for phase, seconds in report.phases.items()]
    lines.append(f"tables: {warehouse}/{{documents,segments,rejects}}/*.parquet")
    return "\n".join(lines)
