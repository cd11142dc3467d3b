"""Settings, each declared once with its default and help text.

`opentrail serve` builds its flags from `SETTINGS`, the config file (TOML) uses the same
names, and docs/configuration.md is checked against this list by a test.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

__all__ = [
    "DATABASE_URL_ENV",
    "SETTINGS",
    "Setting",
    "Settings",
    "default_data_dir",
    "load_config_file",
    "parse_workers_of",
    "settings_from",
    "validate_settings",
]

DEFAULT_PORT = 8420
DATABASE_URL_ENV = "OPENTRAIL_DATABASE_URL"
MASTER_KEY_FILE_ENV = "OPENTRAIL_MASTER_KEY_FILE"


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
    parse_workers: str = _setting(
        "auto", "Processes that parse and validate large ingest requests (64 KiB and "
        "more) beside the server, off its GIL: a number, 0 to parse in the server, or "
        "'auto' for one per core beyond the first (at most 4)."
    )
    organization_account: str = _setting(
        "000000000000", "Account under which organization keys' own API calls are audited."
    )
    organization_id: str = _setting(
        "auto", "Organization ID (o-...) of the accounts this server keeps: the folder "
        "organization trails deliver under (AWSLogs/o-ID/ACCOUNT/...). 'auto' makes one at "
        "the first start and keeps it in DATA_DIR; 'none' turns organization trails off."
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
    object_lock_mode: str = _setting(
        "", "Object Lock mode for every object delivered (trail files, Lake results): "
        "COMPLIANCE or GOVERNANCE, with --object-lock-days; empty follows the bucket's "
        "default retention, if it has one."
    )
    object_lock_days: int = _setting(
        0, "Days each delivered object is retained (with --object-lock-mode); 0 when "
        "--object-lock-mode is empty."
    )
    require_object_lock: bool = _setting(
        False, "Refuse to deliver to a bucket where no Object Lock retention can be set "
        "(no lock configuration, or no mode and period); the folder storage always fails it."
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
    lake_location: str = _setting(
        "", "Where event data stores keep their Parquet files: empty for DATA_DIR/lake, a "
        "folder path, or s3://BUCKET/PREFIX (reached at --s3-endpoint-url when set)."
    )
    insights_always: bool = _setting(
        False, "Record Insights events for every account, not only for accounts with a "
        "trail that has Insights selectors (PutInsightSelectors)."
    )
    lake_engine: str = _setting(
        "duckdb", "Engine that runs Lake queries (StartQuery): 'duckdb' (in-process) or "
        "'spark' (pyspark: a local session, or Spark Connect with --spark-remote)."
    )
    spark_remote: str = _setting(
        "", "Spark Connect URL (sc://HOST:PORT) for --lake-engine spark; empty runs a "
        "local Spark session in the server."
    )
    query_timeout: int = _setting(
        3600, "Seconds a Lake query may run before it ends TIMED_OUT (its rows so far stay "
        "readable)."
    )
    sigma_rules: tuple[str, ...] = _setting(
        (), "Folder of Sigma rules (SigmaHQ YAML) evaluated against every new event; "
        "repeatable (config file: a list). Findings: `opentrail findings`, docs/detect.md."
    )
    database_url: str = field(  # repr=False: a logged Settings never shows the password
        default_factory=lambda: os.environ.get(DATABASE_URL_ENV, ""), repr=False,
        metadata={"help": "PostgreSQL URL (postgresql://USER@HOST:PORT/DB) for the "
                  "scale-out mode; empty keeps state in SQLite under the data dir. "
                  f"Also ${DATABASE_URL_ENV}."},
    )
    master_key_file: str = field(
        default_factory=lambda: os.environ.get(MASTER_KEY_FILE_ENV, ""),
        metadata={"help": "File holding the master key (base64 of 32 bytes) that seals "
                  "access-key secrets; with --database-url, else $OPENTRAIL_MASTER_KEY, "
                  f"the same on every node. Also ${MASTER_KEY_FILE_ENV}."},
    )
    health_sample_interval: int = _setting(
        300, "Seconds between the server's clock samples and delivery-error checks, "
        "recorded in the ledger as internal events (trail status samples: every 12th); "
        "0 records none."
    )
    verifier_interval: int = _setting(
        3600, "Seconds between background verifier runs (every trail's digests and log "
        "files, and the ledger's checkpoints), each logged as a VerifierRun; 0 runs none."
    )
    sns_endpoint_url: str = _setting(
        "", "SNS-compatible endpoint that event rules' SNS targets (arn:aws:sns:...) and "
        "trails' SnsTopicName notifications are published to; empty means AWS SNS. "
        "Credentials come from the standard AWS chain."
    )
    sqs_endpoint_url: str = _setting(
        "", "SQS-compatible endpoint that event rule targets' DeadLetterConfig queues "
        "(arn:aws:sqs:...) are sent to; empty means AWS SQS. Credentials come from the "
        "standard AWS chain."
    )
    smtp_url: str = _setting(
        "", "SMTP server for event rules' e-mail targets (mailto:...): "
        "smtp://[USER:PASSWORD@]HOST[:PORT] (STARTTLS when offered) or smtps://...; "
        "empty leaves e-mail targets pending."
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


def _file_values(path: Path) -> dict[str, Any]:
    """The settings of a TOML file, each checked against its declared type (TOML has
    types: `port = "8420"` or `insights_always = "false"` is a mistake, not a value)."""
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}.") from exc
    known = {s.name: s for s in SETTINGS}
    changes: dict[str, Any] = {}
    for key, given in data.items():
        name = key.replace("-", "_")
        # `parse_workers = 2` is a count as TOML writes one; the setting also takes "auto"
        value = str(given) if name == "parse_workers" and type(given) is int else given
        if name not in known:
            raise ValueError(f"Unknown setting {key!r} in {path}.")
        kind = known[name].type
        if kind is tuple:  # a list of strings (folders)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"Setting {key!r} in {path} must be a TOML list of strings, "
                                 f"not {value!r}.")
            changes[name] = tuple(value)
            continue
        wanted = str if kind is Path else kind
        # bool is an int in Python; `port = true` is not a port.
        if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
            raise ValueError(f"Setting {key!r} in {path} must be a TOML {_toml_type(kind)}, "
                             f"not {value!r}.")
        changes[name] = kind(value)
    return changes


def _toml_type(kind: type) -> str:
    return {bool: "boolean (true or false)", int: "integer"}.get(kind, "string")


def load_config_file(path: Path, base: Settings) -> Settings:
    """Overlay a TOML file (same names as the flags, with underscores) on `base`."""
    return replace(base, **_file_values(path))


def settings_from(config_file: Path | None, flags: dict[str, Any]) -> Settings:
    """The defaults, overlaid by the config file, overlaid by the flags given (not None),
    then validated: the one way `opentrail serve` gets its Settings."""
    changes = _file_values(config_file) if config_file is not None else {}
    # A repeatable flag not given is an empty tuple: the file's list stands.
    changes.update({k: v for k, v in flags.items() if v is not None and v != ()})
    return validate_settings(replace(Settings(), **changes), explicit=frozenset(changes))


# -- validation ----------------------------------------------------------------------------

TRAIL_STORAGES = ("folder", "s3")
# AWS names (us-east-1) and the names converted sources use (on-premises, dc-paris).
_REGION = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_AT_LEAST_ONE = ("max_pending_events", "max_request_bytes", "checkpoint_interval",
                 "delivery_interval", "digest_interval", "signing_key_rotation_days",
                 "max_connections", "max_header_bytes", "header_timeout", "body_timeout",
                 "max_inflight_body_bytes", "query_timeout")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def validate_settings(settings: Settings, explicit: frozenset[str] = frozenset()) -> Settings:
    """Refuse settings that cannot work or would silently do nothing; returns them with
    their documented implications applied (docs/configuration.md, "Checks at start").

    `explicit` names the settings the user gave (flag or file), for the one implication
    that depends on it: an S3 endpoint implies `trail_storage = "s3"` unless the user
    explicitly asked for the folder, which is refused as a contradiction.
    """
    _check_numbers(settings)
    if not settings.host:
        raise ValueError("--host must name an address to listen on (e.g. 127.0.0.1).")
    if not _REGION.fullmatch(settings.region):
        raise ValueError(f"--region must be a region name such as us-east-1 (lowercase "
                         f"letters, digits and hyphens), not {settings.region!r}.")
    if not re.fullmatch(r"\d{12}", settings.organization_account):
        raise ValueError("--organization-account must be a 12-digit account ID, "
                         f"not {settings.organization_account!r}.")
    _check_organization_id(settings.organization_id)
    parse_workers_of(settings.parse_workers)
    _check_proxies(settings.trusted_proxies)
    if settings.smtp_url and not re.match(r"smtps?://[^/]+", settings.smtp_url):
        raise ValueError("--smtp-url must be smtp://[USER:PASSWORD@]HOST[:PORT] or "
                         f"smtps://..., not {settings.smtp_url!r}.")
    _check_database(settings)
    _check_object_lock(settings)
    _check_lake_engine(settings)
    _check_lake_location(settings.lake_location)
    _check_sigma_rules(settings.sigma_rules)
    _check_intervals(settings)
    return _check_shared_storage(_storage(settings, explicit))


def _check_numbers(settings: Settings) -> None:
    """Counts, ports and intervals within the ranges that mean something."""
    for name in _AT_LEAST_ONE:
        if getattr(settings, name) < 1:
            raise ValueError(f"{_flag(name)} must be at least 1, not {getattr(settings, name)}.")
    if settings.history_retention_days < 0:
        raise ValueError("--history-retention-days must be 0 (keep events forever) or more, "
                         f"not {settings.history_retention_days}.")
    if not 1 <= settings.port <= 65535:
        raise ValueError(f"--port must be between 1 and 65535, not {settings.port}.")
    if settings.verifier_interval < 0:
        raise ValueError("--verifier-interval must be 0 (no background verifier) or more, "
                         f"not {settings.verifier_interval}.")
    if settings.health_sample_interval < 0:
        raise ValueError("--health-sample-interval must be 0 (record no health samples) or "
                         f"more, not {settings.health_sample_interval}.")
    if settings.keep_alive_timeout < 0:
        raise ValueError("--keep-alive-timeout must be 0 (no keep-alive) or more, "
                         f"not {settings.keep_alive_timeout}.")


def _check_intervals(settings: Settings) -> None:
    if settings.digest_interval < settings.delivery_interval:
        raise ValueError(
            f"--digest-interval ({settings.digest_interval} s) is shorter than "
            f"--delivery-interval ({settings.delivery_interval} s): a digest lists the log "
            "files delivered since the previous one, so most digests would list none. "
            "Make --digest-interval at least --delivery-interval.")


LAKE_ENGINES = ("duckdb", "spark")


def _check_database(settings: Settings) -> None:
    """A PostgreSQL URL, and with it a well-formed master key (file or environment).
    Embedded, a master key file that does not exist yet is made with the first key."""
    from opentrail.backends import (
        MASTER_KEY_VALUE_ENV,
        BackendError,
        is_database_url,
        load_master_key,
        redact_url,
    )

    url = settings.database_url
    if url and not is_database_url(url):
        raise ValueError(f"--database-url must be a postgresql:// URL, not "
                         f"{redact_url(url)!r}.")
    file = settings.master_key_file
    try:
        key = load_master_key(file) if url or (file and Path(file).exists()) else None
    except BackendError as exc:
        raise ValueError(f"--master-key-file: {exc.message}") from None
    if url and key is None:
        raise ValueError(f"--database-url needs the cluster's master key: set "
                         f"{MASTER_KEY_VALUE_ENV} (base64 of 32 random bytes, from `opentrail "
                         "keys master-key`) or --master-key-file, the same on every node.")


def _check_organization_id(value: str) -> None:
    if value not in ("auto", "none") and not re.fullmatch(r"o-[a-z0-9]{10,32}", value):
        raise ValueError("--organization-id must be 'auto', 'none' or an organization ID "
                         f"(o- and 10 to 32 lowercase letters or digits), not {value!r}.")


def _check_object_lock(settings: Settings) -> None:
    mode, days = settings.object_lock_mode, settings.object_lock_days
    if mode not in ("", "COMPLIANCE", "GOVERNANCE"):
        raise ValueError(f"--object-lock-mode must be COMPLIANCE or GOVERNANCE, not {mode!r}.")
    if mode and days < 1:
        raise ValueError(f"--object-lock-mode {mode} needs --object-lock-days (at least 1): "
                         "the period each object is retained.")
    if days and not mode:
        raise ValueError(f"--object-lock-days {days} is set but --object-lock-mode is "
                         "empty: give COMPLIANCE or GOVERNANCE too.")
    if days < 0 or days > 36500:
        raise ValueError(f"--object-lock-days must be from 1 to 36500, not {days}.")


def _check_lake_engine(settings: Settings) -> None:
    if settings.lake_engine not in LAKE_ENGINES:
        raise ValueError(f"--lake-engine must be 'duckdb' or 'spark', not "
                         f"{settings.lake_engine!r}.")
    remote = settings.spark_remote
    if remote and not remote.startswith("sc://"):
        raise ValueError(f"--spark-remote must be a Spark Connect URL (sc://HOST:PORT), not "
                         f"{remote!r}.")
    if remote and settings.lake_engine != "spark":
        raise ValueError(f"--spark-remote {remote} is set but --lake-engine is "
                         f"{settings.lake_engine!r}: queries would never use it. Add "
                         "--lake-engine spark, or drop --spark-remote.")


def _check_proxies(value: str) -> None:
    """The same rule as api/_client_ip.py's parser, checked before anything starts."""
    for item in (part.strip() for part in value.split(",")):
        try:
            if item:
                ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"--trusted-proxies: {item!r} is not an IP address or CIDR "
                             "(such as 10.0.0.0/8 or 127.0.0.1).") from None


def _check_lake_location(value: str) -> None:
    if value.startswith("s3://"):
        bucket = value[5:].split("/", 1)[0]
        if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]", bucket):
            raise ValueError(f"--lake-location {value!r}: {bucket!r} is not a valid S3 bucket "
                             "name (3-63 of a-z, 0-9, '.', '-').")
    elif "://" in value:
        raise ValueError(f"--lake-location must be a folder path or s3://BUCKET/PREFIX, "
                         f"not {value!r}.")


def _check_sigma_rules(folders: tuple[str, ...]) -> None:
    """Each folder must exist; its rules are loaded (and bad ones reported) at start."""
    for folder in folders:
        if not Path(folder).is_dir():
            raise ValueError(f"--sigma-rules {folder!r} is not a folder: give a folder of "
                             "Sigma rule files (*.yml), such as a SigmaHQ checkout's "
                             "rules/cloud/aws/cloudtrail.")


def _check_shared_storage(settings: Settings) -> Settings:
    """With --database-url every node must deliver to, and read, the same objects: the
    per-node defaults (DATA_DIR/buckets, DATA_DIR/lake) would scatter trail files and
    Parquet files over the nodes, each holding the part written while it held the role.
    An explicit --lake-location folder is taken as a mount every node shares at that path
    (docs/deployment.md); trail files have no such folder setting: S3 only."""
    if not settings.database_url:
        return settings
    if settings.trail_storage == "folder":
        raise ValueError(
            "--database-url needs trail storage every node shares, but --trail-storage is "
            "'folder' (DATA_DIR/buckets, each node's own): use --trail-storage s3, with "
            "--s3-endpoint-url for an S3-compatible store (credentials from the standard "
            "AWS chain).")
    if not settings.lake_location:
        raise ValueError(
            "--database-url needs a Lake location every node shares, but --lake-location "
            "is empty (DATA_DIR/lake, each node's own): set --lake-location "
            "s3://BUCKET/PREFIX (reached at --s3-endpoint-url when set), or a folder path "
            "that every node mounts at the same place.")
    return settings


def _storage(settings: Settings, explicit: frozenset[str]) -> Settings:
    storage, endpoint = settings.trail_storage, settings.s3_endpoint_url
    if storage not in TRAIL_STORAGES:
        raise ValueError(f"--trail-storage must be 'folder' or 's3', not {storage!r}.")
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise ValueError(f"--s3-endpoint-url must be an http:// or https:// URL, "
                         f"not {endpoint!r}.")
    if endpoint and storage == "folder":
        if "trail_storage" in explicit and settings.lake_location.startswith("s3://"):
            return settings  # the endpoint serves the Lake's bucket; trails stay local
        if "trail_storage" in explicit:
            raise ValueError(
                f"--s3-endpoint-url {endpoint} is set but --trail-storage is 'folder': "
                "trails would deliver to the local folder and never use the endpoint. "
                "Drop --s3-endpoint-url, or use --trail-storage s3.")
        return replace(settings, trail_storage="s3")  # an endpoint implies S3
    return settings


def parse_workers_of(value: str) -> int:
    """The number of parse workers `--parse-workers` means (ValueError if it means none)."""
    if value == "auto":
        return min(4, max(0, (os.cpu_count() or 1) - 1))
    if not value.isdigit() or int(value) > 64:
        raise ValueError(f"--parse-workers must be 'auto' or a number from 0 to 64, "
                         f"not {value!r}.")
    return int(value)
