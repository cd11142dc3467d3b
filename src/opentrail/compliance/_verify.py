"""`opentrail compliance verify DIR`: a report bundle checked offline, with public keys only.

In order: the manifest's signature (manifest.sig: a signed note by one of the given keys
whose text names this manifest's SHA-256 and report ID); every listed file's SHA-256
and size, and no file beyond them; the embedded checkpoint's signature (by another of
the given keys); every inclusion proof in evidence/proofs.jsonl against that checkpoint;
and report.json's results against the manifest's. Any problem makes the bundle invalid.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from opentrail.compliance._bundle import MANIFEST, SIGNATURE, manifest_note_text, sha256_file
from opentrail.ledger import NoteVerifier, ProofError, verify_inclusion

__all__ = ["Verdict", "verify_bundle"]


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.problems


def _opened(keys: list[NoteVerifier], note: str) -> tuple[NoteVerifier, str] | None:
    for key in keys:
        try:
            return key, key.open(note)
        except Exception:  # not this key's signature (or not a note): try the next
            continue
    return None


def _signature(root: Path, manifest_sha: str, manifest: dict[str, object],
               keys: list[NoteVerifier], verdict: Verdict) -> None:
    try:
        note = (root / SIGNATURE).read_text()
    except OSError:
        verdict.problems.append(f"{SIGNATURE} is missing.")
        return
    opened = _opened(keys, note)
    if opened is None:
        verdict.problems.append(f"{SIGNATURE} is not signed by any of the given keys.")
        return
    text = opened[1]
    event = text.rsplit("ledger-event ", 1)[-1].strip()
    if text != manifest_note_text(str(manifest.get("report_id")), manifest_sha, event):
        verdict.problems.append(f"{SIGNATURE} signs another manifest: {MANIFEST} was changed "
                                f"(its SHA-256 is {manifest_sha}).")


def _files(root: Path, manifest: dict[str, object], verdict: Verdict) -> None:
    listed = manifest.get("files")
    entries = listed if isinstance(listed, list) else []
    names = set()
    for entry in entries:
        path = root / str(entry["path"])
        names.add(str(entry["path"]))
        if not path.is_file():
            verdict.problems.append(f"{entry['path']} is missing.")
        elif (sha256_file(path), path.stat().st_size) != (entry["sha256"], entry["bytes"]):
            verdict.problems.append(f"{entry['path']} was changed: its SHA-256 is not the "
                                    "manifest's.")
    extra = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
                   and str(p.relative_to(root)) not in names | {MANIFEST, SIGNATURE})
    verdict.problems.extend(f"{name} is not listed in the manifest." for name in extra)
    verdict.checked["files"] = len(entries)


def _checkpoint(manifest: dict[str, object], keys: list[NoteVerifier],
                verdict: Verdict) -> tuple[int, bytes] | None:
    note = manifest.get("checkpoint")
    if not isinstance(note, str):
        verdict.problems.append("The manifest embeds no checkpoint.")
        return None
    opened = _opened(keys, note)
    if opened is None:
        verdict.problems.append("The embedded checkpoint is not signed by any given key.")
        return None
    lines = opened[1].split("\n")
    return int(lines[1]), base64.b64decode(lines[2])


def _proofs(root: Path, tree: tuple[int, bytes], verdict: Verdict) -> None:
    size, head = tree
    checked = 0
    path = root / "evidence" / "proofs.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    for line in lines:
        proof = json.loads(line)
        if "leafIndex" not in proof:
            continue
        try:
            if int(proof["treeSize"]) != size:
                raise ProofError(f"it is against tree size {proof['treeSize']}, not {size}")
            verify_inclusion(int(proof["leafIndex"]), size, bytes.fromhex(proof["leafHash"]),
                             [bytes.fromhex(h) for h in proof["hashes"]], head)
            checked += 1
        except (ProofError, ValueError, KeyError) as exc:
            verdict.problems.append(f"The inclusion proof of event {proof.get('eventID')} "
                                    f"does not verify: {exc}")
    verdict.checked["inclusionProofs"] = checked


def _results(root: Path, manifest: dict[str, object], verdict: Verdict) -> None:
    try:
        report = json.loads((root / "report.json").read_text())
    except (OSError, ValueError):
        verdict.problems.append("report.json is missing or not JSON.")
        return
    mine = [{"id": c["id"], "result": c["result"], "counts": c["counts"]}
            for c in report.get("checks", [])]
    if mine != manifest.get("results"):
        verdict.problems.append("report.json's results differ from the manifest's.")


def verify_bundle(root: Path, key_texts: list[str]) -> Verdict:
    verdict = Verdict()
    keys = [NoteVerifier.parse(k.strip()) for k in key_texts if k.strip()]
    try:
        data = (root / MANIFEST).read_bytes()
        manifest = json.loads(data)
    except (OSError, ValueError):
        verdict.problems.append(f"{MANIFEST} is missing or not JSON.")
        return verdict
    _signature(root, hashlib.sha256(data).hexdigest(), manifest, keys, verdict)
    _files(root, manifest, verdict)
    tree = _checkpoint(manifest, keys, verdict)
    if tree is not None:
        _proofs(root, tree, verdict)
    _results(root, manifest, verdict)
    return verdict
