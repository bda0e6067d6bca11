"""Telling a bug in the run's code from bad input, on the pages of failed batches rerun alone.

A page whose processing raises becomes a processing_error reject, but when the pages rerun alone all
raise the same exception batch after batch, the fault is the code's: `CodeErrorWatch` stops the run
(`EtlCodeError`) instead of filing the corpus under rejects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from etl.batch import Item
from etl.records import RawRecord
from warehouse.store import Warehouse


class EtlCodeError(RuntimeError):
    """The pages of a run fail with one exception of our own processing: a bug, not bad input."""


_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


def exception_kind(exc: BaseException) -> str:
    kind = type(exc)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


@dataclass(frozen=True)
class PageError:
    """A page, rerun alone, whose task raised in our processing (a processing_error reject)."""

    source: str
    kind: str  # the exception's type: TypeError, polars.exceptions.ComputeError
    message: str
    traceback: str  # the worker's, as text; "" when the engine gave none

    @property
    def where(self) -> str:
        """The frame that raised (the traceback's last) as `file:line in function`; "" if unknown."""
        frames = _FRAME.findall(self.traceback)
        if not frames:
            return ""
        file, line, function = frames[-1]
        return f"{file}:{line} in {function}"

    @property
    def signature(self) -> tuple[str, str]:
        # The raising line rather than the message, which often names the page (a KeyError's key).
        return self.kind, self.where or self.message


# How a page rerun alone ended: None if it ran, its PageError if our processing raised, else the
# reason of a failure that is the page's own doing (timeout, worker_crashed, out_of_memory).
PageOutcome = PageError | str | None


def error_log(warehouse: Warehouse) -> Path:
    return warehouse.root / "_logs" / "etl-errors.log"


class CodeErrorWatch:
    """Tells a bug in the run's code from bad input, on the pages of failed batches rerun alone.

    A page whose processing raises becomes a processing_error reject. But when every page rerun alone
    in `batches` consecutive batches raised the same exception (type and raising line), or the run
    ends with no page run at all and its last batches' pages all raised one, a bug is failing every
    page: `isolated` or `run_ended` write the tracebacks to the warehouse's error log and raise
    EtlCodeError. A page that runs, or fails by timeout, dead worker or lack of memory (the page's
    doing), breaks the streak. The engines feed it; the driver holds back the commits of the streak's
    batches (`suspects`), since a committed batch of rejects would be skipped after the fix.
    """

    def __init__(self, log_path: Path, batches: int = 2) -> None:
        self.log_path = log_path
        self.batches = batches
        self.streak: list[tuple[str, list[PageError]]] = []  # (batch_id, its pages' errors), in order
        self.any_ran = False  # a batch or a page of the run ran

    @property
    def suspects(self) -> set[str]:
        return {batch_id for batch_id, _ in self.streak}

    def batch_ran(self) -> None:
        self.any_ran = True
        self.streak.clear()

    def isolated(self, batch_id: str, outcomes: list[tuple[Item, PageOutcome]]) -> None:
        """Record a batch whose pages were rerun alone; raise EtlCodeError if it completes a streak."""
        # A read failure passes through the workers untouched: running, it shows nothing of the code.
        ran = any(o is None and isinstance(item, RawRecord) for item, o in outcomes)
        errors = [o for _, o in outcomes if isinstance(o, PageError)]
        own_doing = any(isinstance(o, str) for _, o in outcomes)
        signatures = {e.signature for e in errors}
        if ran or own_doing or len(signatures) != 1:
            self.any_ran = self.any_ran or ran
            self.streak.clear()
            return
        if self.streak and self.streak[-1][1][0].signature not in signatures:  # another error
            self.streak.clear()
        self.streak.append((batch_id, errors))
        if len(self.streak) >= self.batches:
            raise self._stop(f"every page of {len(self.streak)} consecutive batches")

    def run_ended(self) -> None:
        """Raise EtlCodeError if no page of the run ran and its last batches' pages raised one error;
        otherwise end the streak: its batches hold rejects like any other."""
        if self.streak and not self.any_ran:
            raise self._stop("every page that the run processed")
        self.streak.clear()

    def _stop(self, scope: str) -> EtlCodeError:
        errors = [e for _, batch in self.streak for e in batch]
        first = errors[0]
        where = f" (raised at {first.where})" if first.where else ""
        message = (
            f"{first.kind}: {first.message[:500]}{where} failed {scope} ({len(errors)} pages, each rerun "
            "alone). This looks like a bug in the run's code, not bad input; these batches are not "
            "committed, so the run after the fix processes them again."
        )
        try:
            self._write_log(message)
            message += f" Full traceback: {self.log_path}"
        except OSError as exc:
            message += f" (the traceback could not be written to {self.log_path}: {exc})"
        return EtlCodeError(message)

    def _write_log(self, message: str) -> None:
        lines = [f"==== {datetime.now(UTC).isoformat(timespec='seconds')} EtlCodeError", message]
        for batch_id, errors in self.streak:  # one traceback per batch: they raised at one place
            sources = ", ".join(e.source for e in errors[:5]) + (" ..." if len(errors) > 5 else "")
            lines.append(f"-- batch {batch_id}: {len(errors)} pages ({sources}); the first's traceback:")
            lines.append(errors[0].traceback.rstrip() or "(the engine gave no traceback)")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write("\n".join(lines) + "\n\n")
