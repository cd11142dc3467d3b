"""One check's outcome: the result, why, its counts, its evidence rows and how to re-run it.

Results are the spec's (compliance.md §1.3): PASS, FAIL, WARN, MANUAL, N/A (with the
reason) and ERROR, which is never counted as a pass. Rows are evidence: plain JSON
values, written one per line to evidence/OT-xx.jsonl in canonical form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["RESULTS", "CheckResult", "Period", "iso"]

RESULTS = ("PASS", "FAIL", "WARN", "MANUAL", "N/A", "ERROR")


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Period:
    """UTC [start, end): what the report covers."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError("--start-time must be before --end-time.")

    def holds(self, when: datetime) -> bool:
        return self.start <= when < self.end

    @property
    def hours(self) -> int:
        return max(1, -(-int((self.end - self.start).total_seconds()) // 3600))

    def to_json(self) -> dict[str, str]:
        return {"start": iso(self.start), "end": iso(self.end)}


@dataclass
class CheckResult:
    id: str
    result: str
    reason: str
    counts: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    command: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.result not in RESULTS:
            raise ValueError(f"unknown result {self.result!r}")

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "result": self.result, "reason": self.reason,
                "counts": self.counts, "parameters": self.parameters,
                "command": self.command, "rows": len(self.rows)}
