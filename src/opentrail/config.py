"""Settings, each declared once with its default and help text.

`opentrail serve` builds its flags from `SETTINGS`, the config file (TOML) uses the same
names, and docs/configuration.md is checked against this list by a test.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

__all__ = ["SETTINGS", "Setting", "Settings", "default_data_dir", "load_config_file"]

DEFAULT_PORT = 8420


def default_data_dir() -> Path:
    """Per-user data dir: $OPENTRAIL_DATA_DIR, else $XDG_DATA_HOME/opentrail."""
    env = os.environ.get("OPENTRAIL_DATA_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "opentrail"


def _setting(default: Any, help_text: str, **kw: Any) -> Any:
    return field(default=default, metadata={"help": help_text, **kw})


@dataclass(frozen=True)
class Settings:
    """Everything `opentrail serve` can be told. Passed down; never a global."""

    data_dir: Path = field(
        default_factory=default_data_dir,
        metadata={"help": "Where the ledger, keys and derived state live."},
    )
    host: str = _setting("127.0.0.1", "Address to listen on.")
    port: int = _setting(DEFAULT_PORT, "TCP port for the API and the console.")
    region: str = _setting(
        "us-east-1", "Default region: for records without awsRegion and the console."
    )
    history_retention_days: int = _setting(
        90, "Days of event history kept by event time; 0 keeps events forever."
    )
    max_pending_events: int = _setting(
        100_000, "Events waiting for the writer before ingest answers ThrottlingException."
    )
    max_request_bytes: int = _setting(
        64 * 1024 * 1024, "Largest request body accepted (after gzip decoding)."
    )
    organization_account: str = _setting(
        "000000000000", "Account under which organization keys' own API calls are audited."
    )
    checkpoint_interval: int = _setting(
        60, "Seconds between signed checkpoints of the ledger's Merkle tree (signed only "
        "when the tree grew)."
    )
    trail_storage: str = _setting(
        "folder", "Where trails deliver: 'folder' (DATA_DIR/buckets/BUCKET/) or 's3'."
    )
    s3_endpoint_url: str = _setting(
        "", "S3-compatible endpoint for trail buckets; empty means AWS S3. Credentials "
        "come from the standard AWS chain."
    )
    delivery_interval: int = _setting(
        300, "Seconds between trail log file deliveries (at least 1)."
    )
    digest_interval: int = _setting(
        3600, "Seconds between trail digest files (log file validation)."
    )
    signing_key_rotation_days: int = _setting(
        30, "Days a digest signing key is used before a new one replaces it."
    )
    max_connections: int = _setting(
        1000, "Connections and requests served at once; beyond it a request is answered "
        "503 at once."
    )
    max_header_bytes: int = _setting(
        64 * 1024, "Largest request line and headers of one request; beyond it the client "
        "gets 431 and the connection is closed."
    )
    header_timeout: int = _setting(
        10, "Seconds a client has to send a request's headers, from its first byte (or "
        "from connecting); then 408 and the connection is closed."
    )
    body_timeout: int = _setting(
        120, "Seconds a client has to send a whole request body (else 408); also how "
        "long the rest of a refused body is read and dropped before the connection closes."
    )
    keep_alive_timeout: int = _setting(
        5, "Seconds an idle keep-alive connection stays open between requests."
    )
    max_inflight_body_bytes: int = _setting(
        256 * 1024 * 1024, "Bytes of request bodies all requests being served may hold "
        "together; beyond it a request gets ThrottlingException."
    )
    trusted_proxies: str = _setting(
        "", "Comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For "
        "names the client; empty ignores X-Forwarded-For from everyone."
    )
    insights_always: bool = _setting(
        False, "Record Insights events for every account, not only for accounts with a "
        "trail that has Insights selectors (PutInsightSelectors)."
    )


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    type: type


def _settings() -> tuple[Setting, ...]:
    out = []
    defaults = Settings()
    for f in fields(Settings):
        value = getattr(defaults, f.name)
        kind = Path if f.name == "data_dir" else type(value)
        out.append(Setting(f.name, value, f.metadata["help"], kind))
    return tuple(out)


SETTINGS = _settings()


def load_config_file(path: Path, base: Settings) -> Settings:
    """Overlay a TOML file (same names as the flags, with underscores) on `base`."""
    data = tomllib.loads(path.read_text())
    known = {s.name: s for s in SETTINGS}
    changes: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in known:
            raise ValueError(f"Unknown setting {key!r} in {path}.")
        changes[name] = known[name].type(value)
    return replace(base, **changes)
