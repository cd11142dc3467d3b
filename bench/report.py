"""The table printed at the end of a run, and the JSON written beside it."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

__all__ = ["RESULTS", "Row", "machine", "percentile", "print_table", "write_json"]

RESULTS = Path(__file__).resolve().parent / "results"
COLUMNS = ("metric", "OpenTrail", "reference", "ratio", "target", "met?")


@dataclass(frozen=True)
class Row:
    metric: str
    ours: str
    reference: str = "-"
    ratio: str = "-"
    target: str = "-"
    met: bool | None = None  # None: informational, no target

    def cells(self) -> tuple[str, ...]:
        met = "-" if self.met is None else ("yes" if self.met else "NO")
        return (self.metric, self.ours, self.reference, self.ratio, self.target, met)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile q (0..100)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def print_table(rows: list[Row], file: TextIO | None = None) -> None:
    cells = [COLUMNS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    rule = "-+-".join("-" * w for w in widths)
    for n, line in enumerate(cells):
        print(" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip(),
              file=file)
        if n == 0:
            print(rule, file=file)


def machine() -> dict[str, Any]:
    import psutil

    return {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30),
            "python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine()}


def source_state() -> dict[str, Any]:
    """Which server code was measured: HEAD plus how many files under src/ differ."""
    import subprocess

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], capture_output=True, text=True, check=False,
                              cwd=RESULTS.parent.parent)
        return proc.stdout.strip()

    changed = git("status", "--porcelain", "--", "src").splitlines()
    return {"commit": git("rev-parse", "HEAD"), "src_files_changed": len(changed)}


def write_json(rows: list[Row], details: dict[str, Any]) -> Path:
    """bench/results/latest.json plus a timestamped copy; returns the latter."""
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    data = {"time": stamp, "machine": machine(), "source": source_state(),
            "rows": [asdict(r) for r in rows], **details}
    text = json.dumps(data, indent=2, default=str)
    path = RESULTS / f"{stamp}.json"
    path.write_text(text)
    (RESULTS / "latest.json").write_text(text)
    return path
