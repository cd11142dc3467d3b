"""`opentrail keys` through the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from opentrail.auth import KeyStore, Role, SigV4Verifier
from opentrail.clock import SystemClock
from opentrail.errors import AuthError

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "opentrail", "keys", *args],
        capture_output=True, text=True, cwd=ROOT, env=full_env, timeout=60, check=False,
    )


def create(data: Path, *args: str) -> dict[str, object]:
    proc = run("create", "--data-dir", str(data), *args)
    assert proc.returncode == 0, proc.stderr
    created: dict[str, object] = json.loads(proc.stdout)  # exactly one JSON object
    return created


def test_create_account_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = create(data, "--account", ACCOUNT, "--role", "writer")
    assert list(out) == [
        "AccessKeyId", "SecretAccessKey", "Account", "Organization", "Role", "Name",
    ]
    assert out["Account"] == ACCOUNT
    assert out["Organization"] is False
    assert out["Role"] == "writer"
    assert out["Name"] == f"writer-{str(out['AccessKeyId'])[-4:]}"
    with KeyStore(data) as store:
        found = store.lookup(str(out["AccessKeyId"]))
    assert found is not None
    assert found[1] == out["SecretAccessKey"]
    assert found[0].role is Role.WRITER


def test_create_organization_key_with_name_and_default_role(tmp_path: Path) -> None:
    out = create(tmp_path / "data", "--organization", "--name", "ops team")
    assert (out["Account"], out["Organization"], out["Role"], out["Name"]) == (
        None, True, "reader", "ops team"
    )


def test_created_key_signs_requests(tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = create(data, "--account", ACCOUNT, "--role", "admin")
    request = AWSRequest(method="POST", url="http://127.0.0.1:8420/", data=b"{}")
    credentials = Credentials(str(out["AccessKeyId"]), str(out["SecretAccessKey"]))
    SigV4Auth(credentials, "cloudtrail", "us-east-1").add_auth(request)
    headers = {k: v for k, v in request.headers.items()} | {"Host": "127.0.0.1:8420"}
    with KeyStore(data) as store:
        context = SigV4Verifier(store, SystemClock()).verify("POST", "/", "", headers, b"{}")
    assert context.principal.account == ACCOUNT


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--account", "12345"], "must be exactly 12 digits"),
        ([], "exactly one of --account ACCOUNT_ID or --organization"),
        (["--account", ACCOUNT, "--organization"], "exactly one of"),
        (["--account", ACCOUNT, "--role", "root"], "'root' is not one of"),
    ],
)
def test_create_rejects_bad_usage(tmp_path: Path, args: list[str], message: str) -> None:
    proc = run("create", "--data-dir", str(tmp_path / "data"), *args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert proc.stdout == ""


def test_create_rejects_a_bad_name(tmp_path: Path) -> None:
    proc = run("create", "--data-dir", str(tmp_path), "--account", ACCOUNT, "--name", "x" * 200)
    assert proc.returncode == 1
    assert "name must be 1 to 128 printable characters" in proc.stderr


def test_list_never_shows_secrets(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = [create(data, "--account", ACCOUNT), create(data, "--organization", "--role", "admin")]
    table = run("list", "--data-dir", str(data))
    assert table.returncode == 0, table.stderr
    listed = run("list", "--data-dir", str(data), "--output", "json")
    assert listed.returncode == 0, listed.stderr
    keys = json.loads(listed.stdout)["AccessKeys"]
    assert [k["AccessKeyId"] for k in keys] == [m["AccessKeyId"] for m in made]
    assert keys[1]["Account"] is None and keys[1]["Organization"] is True
    assert set(keys[0]) == {"AccessKeyId", "Account", "Organization", "Role", "Name", "Created"}
    for m in made:
        assert str(m["AccessKeyId"]) in table.stdout
        assert str(m["SecretAccessKey"]) not in table.stdout + listed.stdout
    assert "organization" in table.stdout


def test_list_empty(tmp_path: Path) -> None:
    proc = run("list", "--data-dir", str(tmp_path / "data"))
    assert proc.returncode == 0
    assert "No access keys yet" in proc.stderr
    listed = run("list", "--data-dir", str(tmp_path / "data"), "--output", "json")
    assert json.loads(listed.stdout) == {"AccessKeys": []}


def test_delete_and_unknown_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key_id = str(create(data, "--account", ACCOUNT)["AccessKeyId"])
    proc = run("delete", "--data-dir", str(data), key_id)
    assert proc.returncode == 0, proc.stderr
    assert key_id in proc.stdout
    again = run("delete", "--data-dir", str(data), key_id)
    assert again.returncode == 1
    assert f"No access key {key_id}" in again.stderr
    assert json.loads(run("list", "--data-dir", str(data), "--output", "json").stdout) == {
        "AccessKeys": []
    }


def test_delete_reaches_a_running_keystore(tmp_path: Path) -> None:
    """The server's KeyStore stops honouring a key the CLI deleted, within about a second."""
    data = tmp_path / "data"
    out = create(data, "--account", ACCOUNT)
    key_id, secret = str(out["AccessKeyId"]), str(out["SecretAccessKey"])
    request = AWSRequest(method="POST", url="http://127.0.0.1:8420/", data=b"{}")
    SigV4Auth(Credentials(key_id, secret), "cloudtrail", "us-east-1").add_auth(request)
    headers = {k: v for k, v in request.headers.items()} | {"Host": "127.0.0.1:8420"}
    with KeyStore(data) as store:  # default refresh interval, as the server uses
        verifier = SigV4Verifier(store, SystemClock())
        assert verifier.verify("POST", "/", "", headers, b"{}")
        assert run("delete", "--data-dir", str(data), key_id).returncode == 0
        deadline = time.monotonic() + 10
        while True:
            try:
                verifier.verify("POST", "/", "", headers, b"{}")
            except AuthError as error:
                assert error.code == "UnrecognizedClientException"
                break
            assert time.monotonic() < deadline, "deleted key still accepted after 10 s"
            time.sleep(0.05)


def test_default_data_dir_comes_from_the_environment(tmp_path: Path) -> None:
    env = {"OPENTRAIL_DATA_DIR": str(tmp_path / "env-data")}
    proc = run("create", "--organization", env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "env-data" / "keys.db").exists()
    listed = run("list", "--output", "json", env=env)
    assert json.loads(listed.stdout)["AccessKeys"][0]["Organization"] is True


def test_master_key_file_from_environment(tmp_path: Path) -> None:
    master = tmp_path / "vault" / "master.key"
    proc = run("create", "--data-dir", str(tmp_path / "data"), "--organization",
               env={"OPENTRAIL_MASTER_KEY_FILE": str(master)})
    assert proc.returncode == 0, proc.stderr
    assert master.exists()
    assert not (tmp_path / "data" / "master.key").exists()


@pytest.mark.parametrize("command", [[], ["create"], ["list"], ["delete"]])
def test_help(command: list[str]) -> None:
    proc = run(*command, "--help")
    assert proc.returncode == 0
    assert "--data-dir" in proc.stdout or "create" in proc.stdout
    assert "Usage:" in proc.stdout
