"""The collector's TOML configuration, read once and checked field by field.

    endpoint_url = "https://opentrail.example.com"   # --endpoint-url overrides it
    state_dir = "/var/lib/opentrail-collect"         # positions; must survive restarts
    region = "on-premises"                           # awsRegion when a source has none

    [[file]]
    path = "/var/log/audit/audit.log"
    format = "auditd"                                # auditd|k8s|gcp|azure|entra|cloudtrail

    [[bucket]]
    bucket = "my-trail-bucket"
    prefix = "AWSLogs/"

Every option is listed, with its default, in docs/collect.md.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BucketSource", "CollectConfig", "ConfigError", "FileSource", "load_config"]

CLOUDTRAIL = "cloudtrail"  # NDJSON of CloudTrail records, sent as they are


class ConfigError(ValueError):
    """The configuration file is unusable; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class FileSource:
    path: Path
    format: str
    region: str
    account: str | None

    @property
    def name(self) -> str:
        return f"file:{self.path}"


@dataclass(frozen=True, slots=True)
class BucketSource:
    bucket: str
    prefix: str
    s3_endpoint_url: str | None  # another S3 endpoint (MinIO, a test server)
    s3_region: str | None
    profile: str | None

    @property
    def name(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True, slots=True)
class CollectConfig:
    state_dir: Path
    endpoint_url: str | None = None
    profile: str | None = None
    poll_interval: float = 1.0
    chunk_bytes: int = 1024 * 1024  # read at most this much of a file per batch
    files: tuple[FileSource, ...] = field(default=())
    buckets: tuple[BucketSource, ...] = field(default=())


def _get(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str,
         default: Any = None) -> Any:
    value = table.get(key, default)
    if value is None or (isinstance(value, kind) and not isinstance(value, bool)):
        return value
    names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
    raise ConfigError(f"{where}{key} must be a {names}, not {value!r}.")


def _file(entry: dict[str, Any], n: int, formats: set[str], region: str,
          account: str | None) -> FileSource:
    where = f"[[file]] #{n}: "
    path, fmt = _get(entry, "path", str, where), _get(entry, "format", str, where)
    if not path:
        raise ConfigError(f"{where}path is required.")
    if fmt not in formats:
        raise ConfigError(f"{where}format must be one of {', '.join(sorted(formats))}, "
                          f"not {fmt!r}.")
    return FileSource(Path(path), fmt, _get(entry, "region", str, where, region),
                      _get(entry, "account", str, where, account))


def _bucket(entry: dict[str, Any], n: int) -> BucketSource:
    where = f"[[bucket]] #{n}: "
    name = _get(entry, "bucket", str, where)
    if not name:
        raise ConfigError(f"{where}bucket is required.")
    return BucketSource(name, _get(entry, "prefix", str, where, ""),
                        _get(entry, "endpoint_url", str, where),
                        _get(entry, "region", str, where), _get(entry, "profile", str, where))


def load_config(path: Path, formats: set[str]) -> CollectConfig:
    """Read `path`; `formats` are the file formats the converters know."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}.") from exc
    state_dir = _get(data, "state_dir", str, "")
    if not state_dir:
        raise ConfigError(f"{path}: state_dir is required (where positions are kept).")
    region = _get(data, "region", str, "", "on-premises")
    account = _get(data, "account", str, "")
    files = tuple(_file(e, n, formats | {CLOUDTRAIL}, region, account)
                  for n, e in enumerate(data.get("file", []), 1))
    buckets = tuple(_bucket(e, n) for n, e in enumerate(data.get("bucket", []), 1))
    if not files and not buckets:
        raise ConfigError(f"{path} names no source: add a [[file]] or a [[bucket]] table.")
    return CollectConfig(
        Path(state_dir), _get(data, "endpoint_url", str, ""), _get(data, "profile", str, ""),
        float(_get(data, "poll_interval", (int, float), "", 1.0)),
        int(_get(data, "chunk_bytes", int, "", 1024 * 1024)), files, buckets)
