"""Converter throughput per format, beside the floor of parsing the same input alone.

The input is the real samples in shared/datasets repeated to about `--events` source
entries per format (auditd: whole files repeated, serials shifted so events stay
distinct). Per format, best of `--rounds`:

* floor: what any reader must do anyway: orjson.loads of the file (auditd: splitting
  lines and matching each with the record regex);
* convert: `opentrail.sources.convert`, all the way to CloudTrail record dicts;
* convert+validate: plus `opentrail.events.parse_record` (canonical bytes), what the
  server does to each record on arrival.

Run: `python -m bench.sources [--events 20000] [--rounds 3] [--json FILE]`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from opentrail.events import parse_record
from opentrail.sources import Converted, convert

__all__ = ["inputs", "main", "measure"]

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
_FILES = {"gcp": "GCP.AuditLog.json", "azure": "Azure.MonitorActivity.json",
          "entra": "Azure.Audit.json", "k8s": "Amazon.EKS.Audit.json"}
_SERIAL = re.compile(r"msg=audit\((\d+\.\d+):(\d+)\)")
_LINE = re.compile(r"(?:node=(\S+) )?type=(\S+) msg=audit\((\d+(?:\.\d+)?):(\d+)\):?\s*(.*)")


def _json_input(name: str, count: int) -> tuple[bytes, int]:
    entries = [e["log"] for e in json.loads((DATASETS / "non-aws" / name).read_bytes())]
    repeated = [{**e, "benchCopy": i} for i in range(count // len(entries) + 1)
                for e in entries][:count]  # distinct entries, so distinct eventIDs
    return orjson.dumps(repeated), len(repeated)


def _auditd_input(count: int) -> tuple[bytes, int]:
    logs = [p.read_text() for p in sorted((DATASETS / "auditd").rglob("*.log"))]
    text, copy, lines = [], 0, 0
    while lines < count:
        copy += 1
        for log in logs:
            shifted = _SERIAL.sub(lambda m, c=copy: f"msg=audit({m[1]}:{int(m[2]) + c * 10**7})",
                                  log)
            text.append(shifted)
            lines += shifted.count("\n")
    return "\n".join(text).encode(), lines


def inputs(count: int) -> dict[str, tuple[bytes, int]]:
    """Per format: (file bytes, source entries; auditd: lines)."""
    made = {fmt: _json_input(name, count) for fmt, name in _FILES.items()}
    made["auditd"] = _auditd_input(count)
    return made


def _floor(fmt: str, data: bytes) -> None:
    if fmt == "auditd":
        for line in data.decode().split("\n"):
            _LINE.match(line)
    else:
        orjson.loads(data)


def _convert(fmt: str, data: bytes) -> None:
    for _ in convert(fmt, data):
        pass


def _validate(fmt: str, data: bytes) -> None:
    for result in convert(fmt, data):
        if isinstance(result, Converted):
            parse_record(result.record, default_account="123456789012",
                         default_region="us-east-1")


def _best(work: Callable[[str, bytes], None], fmt: str, data: bytes, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work(fmt, data)
        times.append(time.perf_counter() - start)
    return min(times)


def measure(count: int, rounds: int) -> list[dict[str, Any]]:
    """One row per format: entries, records made, and entries/s for each stage."""
    rows = []
    for fmt, (data, entries) in inputs(count).items():
        made = sum(isinstance(r, Converted) for r in convert(fmt, data))
        row: dict[str, Any] = {"format": fmt, "entries": entries, "records": made,
                               "MB": round(len(data) / 1e6, 1)}
        for stage, work in (("floor", _floor), ("convert", _convert),
                            ("convert+validate", _validate)):
            row[f"{stage} entries/s"] = round(entries / _best(work, fmt, data, rounds))
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sources", description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="Also write the rows to this file.")
    args = parser.parse_args(argv)
    rows = measure(args.events, args.rounds)
    columns = list(rows[0])
    print("  ".join(f"{c:>18}" for c in columns))
    for row in rows:
        print("  ".join(f"{row[c]:>18,}" if isinstance(row[c], int) else f"{row[c]:>18}"
                        for c in columns))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
