"""The HTML report over a warehouse: `build_report(warehouse)`."""

from warehouse.report.build import ReportResult, build_report

__all__ = ["ReportResult", "build_report"]
