"""--database-url and the master key at the CLI: keys on PostgreSQL, and what serve
refuses (a missing or malformed key; serve on a database: test_cli_serve_database.py)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TEST_MASTER_KEY, opentrail
from opentrail.config import Settings, load_config_file, validate_settings

KEY = base64.b64encode(TEST_MASTER_KEY).decode()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENTRAIL_")}
    return {**env, **extra}


def _fails(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "opentrail", *args], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode != 0, proc.stdout
    return proc


def test_master_key_prints_a_fresh_32_byte_key() -> None:
    first = opentrail("keys", "master-key").stdout.strip()
    second = opentrail("keys", "master-key").stdout.strip()
    assert len(base64.b64decode(first, validate=True)) == 32 and first != second


def test_keys_live_in_the_database_and_need_the_same_master_key(
        postgres_url: str, tmp_path: Path) -> None:
    env = _env(OPENTRAIL_DATABASE_URL=postgres_url, OPENTRAIL_MASTER_KEY=KEY)
    made = json.loads(opentrail("keys", "create", "--account", "123456789012", "--role",
                                "writer", env=env).stdout)
    key_file = tmp_path / "master.key"
    key_file.write_text(KEY + "\n")
    listed = json.loads(opentrail("keys", "list", "--output", "json", "--data-dir",
                                  str(tmp_path / "elsewhere"), "--database-url", postgres_url,
                                  "--master-key-file", str(key_file),
                                  env=_env()).stdout)
    assert [k["AccessKeyId"] for k in listed["AccessKeys"]] == [made["AccessKeyId"]]
    other = base64.b64encode(b"\x01" * 32).decode()
    refused = _fails("keys", "list", env={**env, "OPENTRAIL_MASTER_KEY": other})
    assert "master key is not the one" in refused.stderr
    opentrail("keys", "delete", made["AccessKeyId"], env=env)
    assert "No access keys yet" in opentrail("keys", "list", env=env).stderr


def test_keys_refuse_an_unreachable_database_naming_it_without_password() -> None:
    url = "postgresql://ops:hunter2@127.0.0.1:1/audit"
    proc = _fails("keys", "list", "--database-url", url, env=_env(OPENTRAIL_MASTER_KEY=KEY))
    assert "postgresql://ops:***@127.0.0.1:1/audit" in proc.stderr
    assert "hunter2" not in proc.stderr


def test_serve_without_a_master_key_names_both_ways_to_give_it() -> None:
    proc = _fails("serve", "--database-url", "postgresql://u:pw@db/x", env=_env())
    assert "OPENTRAIL_MASTER_KEY" in proc.stderr and "--master-key-file" in proc.stderr
    assert "pw@" not in proc.stderr


@pytest.mark.parametrize(("changes", "message"), [
    ({"database_url": "mysql://u:pw@db/x"}, "must be a postgresql:// URL, not "
                                            "'mysql://u:***@db/x'"),
    ({"database_url": "postgresql://db/x", "master_key_file": "/nonexistent/key"},
     "Cannot read the master key file /nonexistent/key"),
])
def test_database_settings_are_checked_in_one_place(changes: dict[str, str],
                                                    message: str) -> None:
    with pytest.raises(ValueError) as info:
        validate_settings(Settings(**changes))
    assert message in str(info.value)


def test_a_malformed_master_key_is_refused(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENTRAIL_MASTER_KEY", "c2hvcnQ=")  # 5 bytes
    with pytest.raises(ValueError, match="base64 of 32 random bytes"):
        validate_settings(Settings(database_url="postgresql://db/x"))
    monkeypatch.setenv("OPENTRAIL_MASTER_KEY", KEY)
    config = tmp_path / "opentrail.toml"
    config.write_text('database_url = "postgresql://db/x"\ntrail_storage = "s3"\n'
                      'lake_location = "s3://lake/x"\n')
    settings = validate_settings(load_config_file(config, Settings()))
    assert settings.database_url == "postgresql://db/x"


def test_settings_never_show_the_database_password() -> None:
    settings = Settings(database_url="postgresql://ops:hunter2@db/audit")
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings)
