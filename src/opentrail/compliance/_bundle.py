"""The report bundle on disk: canonical evidence files, their hashes, the manifest.

Layout of DIR:

    report.json             the results, deterministic (no generation time)
    report.html             self-contained: inline CSS, no script, no external fetch
    report.pdf              with --format pdf (WeasyPrint)
    evidence/OT-xx.jsonl    one canonical JSON line per evidence row
    evidence/proofs.jsonl   inclusion proofs of rows against the period-end checkpoint
    manifest.json           every other file's SHA-256 and size, the checkpoint, results
    manifest.sig            the manifest's SHA-256 in a signed note (the report key)

Canonical JSON: sorted keys, no spaces, UTF-8, LF after every line.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

__all__ = ["MANIFEST", "SIGNATURE", "canonical", "file_entry", "jsonl", "manifest_note_text",
           "sha256_file", "write_file"]

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(canonical(r) + b"\n" for r in rows)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_file(root: Path, relative: str, data: bytes) -> dict[str, Any]:
    """Write DIR/relative (creating folders) and return its manifest entry."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"path": relative, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def file_entry(root: Path, relative: str) -> dict[str, Any]:
    path = root / relative
    return {"path": relative, "sha256": sha256_file(path), "bytes": path.stat().st_size}


def manifest_note_text(report_id: str, sha256: str, event_id: str) -> str:
    """The text the server's report key signs (manifest.sig), re-derived by verify."""
    return (f"OpenTrail compliance report manifest\nreport {report_id}\nsha256 {sha256}\n"
            f"ledger-event {event_id}\n")
