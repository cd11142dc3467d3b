"""OT-14's per-object evidence: every object a trail delivered in the period, as it is now.

It starts from the server's delivery record (`GET /opentrail/v1/trails/objects`: key,
VersionId, the lock each object was written with, each bucket's guarantee) and asks the
bucket itself, with the caller's credentials: HeadObject **by that VersionId** (mode and
retain-until now on the version), and ListObjectVersions of each object's folder (a
delete marker hiding the key, or versions besides the delivered one). An object passes
when its version carries a lock of the required mode whose retain-until covers delivery
plus the policy's days, and nothing hides or replaces it. Folder destinations are read
only for what a file system can show (the file is read-only), with `--local-folder`.
"""

from __future__ import annotations

import posixpath
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opentrail.compliance._evidence import Evidence
from opentrail.compliance._result import iso
from opentrail.storage import FolderStorage, NoSuchKey, ObjectVersion, S3Storage

__all__ = ["ObjectLockFindings", "examine_objects", "s3_client"]

DAY = 86_400
WORKERS = 8
SLACK = 1.0  # retain-until is written in whole seconds, rounded up from the delivery time


@dataclass
class ObjectLockFindings:
    storage: list[dict[str, Any]] = field(default_factory=list)   # per bucket
    objects: list[dict[str, Any]] = field(default_factory=list)   # per delivered object

    @property
    def problems(self) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["problems"]]


def _when(epoch: float | None) -> str | None:
    return None if epoch is None else iso(datetime.fromtimestamp(epoch, UTC))


def s3_client(evidence: Evidence) -> Any:
    """A botocore S3 client with the caller's credentials, at --s3-endpoint-url (default:
    the server's S3 endpoint; AWS when neither is set)."""
    from botocore.config import Config

    endpoint = evidence.options.get("s3_endpoint_url") or evidence.system.get("s3EndpointUrl")
    return evidence.source.session.create_client(
        "s3", endpoint_url=endpoint, region_name=evidence.source.region,
        config=Config(s3={"addressing_style": "path"} if endpoint else {},
                      retries={"max_attempts": 4, "mode": "standard"}))


def _s3(evidence: Evidence) -> S3Storage:
    endpoint = evidence.options.get("s3_endpoint_url") or evidence.system.get("s3EndpointUrl")
    return S3Storage(endpoint, client=s3_client(evidence))


class _Versions:
    """ListObjectVersions once per folder; a key's entries from it."""

    def __init__(self, storage: S3Storage) -> None:
        self.storage = storage
        self.folders: dict[tuple[str, str], list[ObjectVersion]] = {}

    def of(self, bucket: str, key: str) -> list[ObjectVersion]:
        folder = posixpath.dirname(key) + "/"
        if (bucket, folder) not in self.folders:
            self.folders[(bucket, folder)] = self.storage.versions(bucket, folder)
        return [v for v in self.folders[(bucket, folder)] if v.key == key]


def _s3_problems(obj: dict[str, Any], storage: S3Storage, versions: _Versions,
                 days: int) -> tuple[dict[str, Any], list[str]]:
    bucket, key, version = obj["Bucket"], obj["Key"], obj.get("VersionId")
    if not version:
        return {}, ["no version ID was recorded: the bucket is not versioned"]
    try:
        head = storage.head(bucket, key, version)
    except NoSuchKey:
        return {}, [f"version {version} no longer exists"]
    lock = head.retention
    seen = {"mode": lock.mode if lock else None,
            "retainUntil": _when(lock.retain_until) if lock else None,
            "legalHold": head.legal_hold}
    problems = []
    needed = float(obj["DeliveryTime"]) + days * DAY - SLACK
    if lock is None:
        problems.append("the version carries no Object Lock retention")
    elif lock.retain_until < needed:
        problems.append(f"retained until {seen['retainUntil']}, short of delivery + {days} days")
    entries = versions.of(bucket, key)
    if any(v.delete_marker for v in entries):
        problems.append("a delete marker hides the key")
    extra = [v for v in entries if not v.delete_marker and v.version_id != version]
    if extra:
        problems.append(f"{len(extra)} version(s) besides the delivered one")
    return seen, problems


def _folder_problems(obj: dict[str, Any], folder: FolderStorage | None
                     ) -> tuple[dict[str, Any], list[str]]:
    problems = ["a local folder is not WORM"]
    if folder is None:
        return {"readOnly": None}, problems
    try:
        head = folder.head(obj["Bucket"], obj["Key"])
    except NoSuchKey:
        return {"readOnly": None}, [*problems, "the file no longer exists"]
    if not head.read_only:
        problems.append("the file is writable")
    return {"readOnly": head.read_only}, problems


def examine_objects(evidence: Evidence, days: int) -> ObjectLockFindings:
    """Every trail's objects delivered in the period, checked object by object (S3:
    WORKERS HeadObject calls at a time, rows in delivery order)."""
    found = ObjectLockFindings()
    folder_root = evidence.options.get("local_folder")
    folder = FolderStorage(Path(folder_root)) if folder_root else None
    delivered: list[tuple[str, dict[str, Any]]] = []
    for trail in evidence.trails:
        answer = evidence.source.trail_objects(trail["TrailARN"], evidence.period.start,
                                               evidence.period.end)
        found.storage.extend({"trailARN": trail["TrailARN"], **s} for s in answer["Storage"])
        delivered.extend((trail["TrailARN"], obj) for obj in answer["Objects"])
    if evidence.system.get("trailStorage") == "folder":
        checked = [_folder_problems(obj, folder) for _, obj in delivered]
    elif delivered:
        s3 = _s3(evidence)
        versions = _Versions(s3)
        for _, obj in delivered:  # each folder listed once, before the threads share it
            versions.of(obj["Bucket"], obj["Key"])
        # A bucket that cannot be read raises StorageError: the check is an ERROR, never
        # a verdict about the object.
        with ThreadPoolExecutor(WORKERS) as pool:
            checked = list(pool.map(lambda d: _s3_problems(d[1], s3, versions, days),
                                    delivered))
    else:
        checked = []
    found.objects = [_row(arn, obj, seen, problems)
                     for (arn, obj), (seen, problems) in zip(delivered, checked, strict=True)]
    return found


def _row(arn: str, obj: dict[str, Any], seen: dict[str, Any], problems: list[str]
         ) -> dict[str, Any]:
    return {"trailARN": arn, "kind": obj["Kind"], "bucket": obj["Bucket"], "key": obj["Key"],
            "versionId": obj.get("VersionId"), "deliveredAt": _when(obj["DeliveryTime"]),
            "writtenMode": obj.get("ObjectLockMode"),
            "writtenRetainUntil": _when(obj.get("ObjectLockRetainUntilDate")),
            "now": seen, "problems": problems}
