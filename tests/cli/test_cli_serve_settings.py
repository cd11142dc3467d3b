"""`opentrail serve` refuses settings that cannot work or would silently do nothing.

Each case runs the real CLI: it must exit non-zero before listening, with a message that
names the flag(s). Config-file values go through the same checks as flags.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
from clirun import run_cli

from conftest import Server, free_port

pytestmark = pytest.mark.e2e

REFUSED = [
    (["--s3-endpoint-url", "http://127.0.0.1:9", "--trail-storage", "folder"],
     ["--s3-endpoint-url", "--trail-storage"]),
    (["--s3-endpoint-url", "minio:9000"], ["--s3-endpoint-url", "http://"]),
    (["--trail-storage", "ftp"], ["--trail-storage", "'ftp'"]),
    (["--digest-interval", "60", "--delivery-interval", "300"],
     ["--digest-interval", "--delivery-interval"]),
    (["--delivery-interval", "0"], ["--delivery-interval must be at least 1"]),
    (["--digest-interval", "-5"], ["--digest-interval must be at least 1"]),
    (["--checkpoint-interval", "0"], ["--checkpoint-interval must be at least 1"]),
    (["--max-pending-events", "0"], ["--max-pending-events must be at least 1"]),
    (["--max-request-bytes", "-1"], ["--max-request-bytes must be at least 1"]),
    (["--signing-key-rotation-days", "0"], ["--signing-key-rotation-days must be at least 1"]),
    (["--history-retention-days", "-1"], ["--history-retention-days"]),
    (["--port", "70000"], ["--port must be between 1 and 65535"]),
    (["--port", "0"], ["--port must be between 1 and 65535"]),
    (["--host", ""], ["--host"]),
    (["--region", "Mars Base"], ["--region", "'Mars Base'"]),
    (["--organization-account", "42"], ["--organization-account", "12-digit"]),
    (["--max-connections", "0"], ["--max-connections must be at least 1"]),
    (["--max-header-bytes", "0"], ["--max-header-bytes must be at least 1"]),
    (["--header-timeout", "0"], ["--header-timeout must be at least 1"]),
    (["--body-timeout", "-1"], ["--body-timeout must be at least 1"]),
    (["--keep-alive-timeout", "-1"], ["--keep-alive-timeout"]),
    (["--trusted-proxies", "10.0.0.0/8, proxy.local"], ["--trusted-proxies", "'proxy.local'"]),
]


@pytest.mark.parametrize(("args", "words"), REFUSED, ids=lambda v: " ".join(v)[:40])
def test_serve_refuses_a_setting_that_cannot_work(tmp_path: Path, args: list[str],
                                                  words: list[str]) -> None:
    result = run_cli("serve", "--data-dir", str(tmp_path / "data"), *args, timeout=60)
    assert result.returncode == 2, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    assert "listening" not in result.stderr
    assert not (tmp_path / "data").exists()  # refused before touching anything


CONFIG_REFUSED = [
    ('insights_always = "false"', ["'insights_always'", "boolean"]),  # bool("false") is True
    ('port = "8420"', ["'port'", "integer"]),
    ("port = true", ["'port'", "integer"]),
    ("delivery_interval = 0", ["--delivery-interval must be at least 1"]),
    ('s3_endpoint_url = "http://127.0.0.1:9"\ntrail_storage = "folder"',
     ["--s3-endpoint-url", "--trail-storage"]),
    ("port = ", ["not valid TOML"]),
]


@pytest.mark.parametrize(("text", "words"), CONFIG_REFUSED, ids=lambda v: str(v)[:30])
def test_the_config_file_gets_the_same_checks(tmp_path: Path, text: str,
                                              words: list[str]) -> None:
    config = tmp_path / "opentrail.toml"
    config.write_text(text + "\n")
    result = run_cli("serve", "--data-dir", str(tmp_path / "data"), "--config", str(config),
                     timeout=60)
    assert result.returncode == 2, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_a_flag_resolves_a_contradiction_in_the_file(tmp_path: Path) -> None:
    """Flags win over the file: the file's folder + the flag's endpoint is still refused
    (both were asked for explicitly), and a flag alone decides when the file says nothing."""
    config = tmp_path / "opentrail.toml"
    config.write_text('trail_storage = "folder"\n')
    result = run_cli("serve", "--data-dir", str(tmp_path / "data"), "--config", str(config),
                     "--s3-endpoint-url", "http://127.0.0.1:9", timeout=60)
    assert result.returncode == 2
    assert "--trail-storage" in result.stderr


def test_an_s3_endpoint_alone_implies_s3_storage(tmp_path: Path, moto_url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: --s3-endpoint-url without --trail-storage s3 was ignored and trails
    delivered to DATA_DIR/buckets/. Now the endpoint implies S3: a bucket that exists only
    in the S3 server is accepted, one that does not exist there is refused."""
    import boto3

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    s3: Any = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    s3.create_bucket(Bucket="implied-s3")
    server = Server(tmp_path / "data", free_port(), ("--s3-endpoint-url", moto_url))
    server.start()
    try:
        client: Any = server.client()
        client.create_trail(Name="main", S3BucketName="implied-s3")
        with pytest.raises(client.exceptions.S3BucketDoesNotExistException):
            client.create_trail(Name="other", S3BucketName="only-in-a-folder")
        assert not (tmp_path / "data" / "buckets" / "only-in-a-folder").exists()
    finally:
        server.kill(signal.SIGTERM)


CLIENT_REFUSED = [
    (["import", "x.json", "--account", "123456789012"], ["--account", "recipientAccountId"]),
    (["import", "x.json", "--format", "gcp", "--time-field", "ts"], ["--time-field"]),
    (["validate-logs", "--trail-arn", "arn:aws:cloudtrail:us-east-1:123456789012:trail/t",
      "--start-time", "2026-11-20T00:00:00Z", "--s3-prefix", "p"], ["--s3-prefix needs"]),
    (["validate-logs", "--trail-arn", "arn:aws:cloudtrail:us-east-1:123456789012:trail/t",
      "--start-time", "2026-11-20T00:00:00Z", "--local-folder", "d", "--s3-endpoint-url",
      "http://127.0.0.1:9"], ["--local-folder", "--s3-endpoint-url"]),
]


@pytest.mark.parametrize(("args", "words"), CLIENT_REFUSED, ids=lambda v: " ".join(v)[:40])
def test_client_flags_that_would_be_ignored_are_refused(tmp_path: Path, args: list[str],
                                                        words: list[str]) -> None:
    """Before: each of these was accepted and silently did nothing."""
    (tmp_path / "x.json").write_text('{"Records": []}')
    result = run_cli(*[str(tmp_path / a) if a in ("x.json", "d") else a for a in args],
                     timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
