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
        skipped = ", ".join(f"{k}={v}" for k, v in sorted(report.skipped.items()))
        lines.append(f"  passed over while reading: {skipped}")
    if final is not None:
        if final.stale_batches:
            lines.append(
                f"  note: {final.stale_batches} batches staged under other extraction settings are "
                "not included; rerun on their inputs to refresh them"
            )
        width = max((len(f"{s} {o}") for s, o, _ in final.stages), default=10)
        current = None
        for stage, outcome, n in final.stages:
            if stage != current:
                lines.append(f"  {stage}")
                current = stage
            lines.append(f"    {outcome:<{width}} {n:>10,}")
    lines.append(f"  tables: {warehouse}/{{documents,segments,rejects}}/*.parquet")
    return "\n".join(lines)
