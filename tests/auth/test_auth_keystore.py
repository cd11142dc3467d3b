"""KeyStore: formats, validation, encryption at rest, file modes, cache invalidation."""

from __future__ import annotations

import re
import stat
import threading
import time
from pathlib import Path

import pytest

from opentrail.auth import KeyStore, Role
from opentrail.clock import ManualClock
from opentrail.errors import OpenTrailError, ValidationError

ACCOUNT = "123456789012"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_returns_principal_and_secret(tmp_path: Path) -> None:
    with KeyStore(tmp_path / "data", clock=ManualClock(1_700_000_000.0)) as store:
        principal, secret = store.create(account=ACCOUNT, organization=False, role=Role.WRITER)
    assert re.fullmatch(r"OTAK[A-Z2-7]{16}", principal.access_key_id)
    assert re.fullmatch(r"[A-Za-z0-9_-]{40}", secret)
    assert principal.account == ACCOUNT
    assert not principal.organization
    assert principal.role is Role.WRITER
    assert principal.name == f"writer-{principal.access_key_id[-4:]}"
    assert principal.created == 1_700_000_000.0


def test_keys_are_random(store: KeyStore) -> None:
    made = [store.create(account=ACCOUNT, organization=False, role=Role.READER)
            for _ in range(20)]
    assert len({p.access_key_id for p, _ in made}) == 20
    assert len({secret for _, secret in made}) == 20


def test_organization_key_and_name(store: KeyStore) -> None:
    principal, _ = store.create(account=None, organization=True, role=Role.ADMIN, name="ops")
    assert (principal.account, principal.organization, principal.name) == (None, True, "ops")


@pytest.mark.parametrize(
    ("account", "organization", "message"),
    [
        ("12345678901", False, "exactly 12 digits"),
        ("1234567890123", False, "exactly 12 digits"),
        ("12345678901a", False, "exactly 12 digits"),
        ("١٢٣٤٥٦٧٨٩٠١٢", False, "exactly 12 digits"),  # non-ASCII digits
        (None, False, "account is required"),
        (ACCOUNT, True, "not both"),
    ],
)
def test_account_scope_is_validated(
    store: KeyStore, account: str | None, organization: bool, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        store.create(account=account, organization=organization, role=Role.READER)
    assert store.list() == []


def test_role_and_name_are_validated(store: KeyStore) -> None:
    with pytest.raises(ValidationError, match="role must be one of reader, writer, admin"):
        store.create(account=ACCOUNT, organization=False, role="root")  # type: ignore[arg-type]
    for name in ("", "x" * 129, "tab\there"):
        with pytest.raises(ValidationError, match="name must be"):
            store.create(account=ACCOUNT, organization=False, role=Role.READER, name=name)


def test_lookup_returns_principal_and_secret(store: KeyStore) -> None:
    principal, secret = store.create(account=ACCOUNT, organization=False, role=Role.READER)
    assert store.lookup(principal.access_key_id) == (principal, secret)
    assert store.lookup(principal.access_key_id) == (principal, secret)  # cached
    assert store.lookup("OTAKAAAAAAAAAAAAAAAA") is None
    assert store.lookup("not-a-key-id") is None


def test_lookup_survives_reopening(tmp_path: Path) -> None:
    with KeyStore(tmp_path / "data") as store:
        principal, secret = store.create(account=ACCOUNT, organization=False, role=Role.ADMIN)
    with KeyStore(tmp_path / "data") as store:
        assert store.lookup(principal.access_key_id) == (principal, secret)


def test_list_is_oldest_first_without_secrets(tmp_path: Path) -> None:
    clock = ManualClock(1_000.0)
    with KeyStore(tmp_path / "data", clock=clock) as store:
        first, _ = store.create(account=ACCOUNT, organization=False, role=Role.READER)
        clock.advance(1)
        second, _ = store.create(account=None, organization=True, role=Role.ADMIN)
        assert store.list() == [first, second]


def test_delete(store: KeyStore) -> None:
    principal, _ = store.create(account=ACCOUNT, organization=False, role=Role.READER)
    assert store.lookup(principal.access_key_id) is not None
    assert store.delete(principal.access_key_id)
    assert store.lookup(principal.access_key_id) is None
    assert not store.delete(principal.access_key_id)
    assert store.list() == []


def test_files_are_private_and_hold_no_secret(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with KeyStore(data) as store:
        made = [store.create(account=ACCOUNT, organization=False, role=Role.READER)
                for _ in range(5)]
        assert store.lookup(made[0][0].access_key_id)
        check_private_files(data, [secret for _, secret in made])  # WAL files still open
    assert mode(data) == 0o700
    assert mode(data / "keys.db") == 0o600
    assert mode(data / "master.key") == 0o600
    check_private_files(data, [secret for _, secret in made])


def check_private_files(data: Path, secrets: list[str]) -> None:
    files = [path for path in data.iterdir() if path.is_file()]
    assert {p.name for p in files} >= {"keys.db", "master.key"}
    for path in files:
        assert mode(path) == 0o600, path
        content = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in content, path


def test_existing_data_dir_is_left_as_is(tmp_path: Path) -> None:
    tmp_path.chmod(0o750)
    with KeyStore(tmp_path) as store:
        store.create(account=ACCOUNT, organization=False, role=Role.READER)
    assert mode(tmp_path) == 0o750
    assert mode(tmp_path / "keys.db") == 0o600


def test_master_key_file_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    master = tmp_path / "secrets" / "opentrail.key"
    monkeypatch.setenv("OPENTRAIL_MASTER_KEY_FILE", str(master))
    with KeyStore(tmp_path / "data") as store:
        principal, secret = store.create(account=ACCOUNT, organization=False, role=Role.READER)
    assert mode(master) == 0o600
    assert not (tmp_path / "data" / "master.key").exists()
    with KeyStore(tmp_path / "data", master_key_file=master) as store:
        assert store.lookup(principal.access_key_id) == (principal, secret)


def test_missing_master_key_is_never_silently_replaced(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with KeyStore(data) as store:
        principal, _ = store.create(account=ACCOUNT, organization=False, role=Role.READER)
    (data / "master.key").unlink()
    with KeyStore(data) as store:
        with pytest.raises(OpenTrailError, match=r"master key file .* is missing"):
            store.lookup(principal.access_key_id)
        with pytest.raises(OpenTrailError, match=r"master key file .* is missing"):
            store.create(account=ACCOUNT, organization=False, role=Role.READER)
        assert [p.access_key_id for p in store.list()] == [principal.access_key_id]
    assert not (data / "master.key").exists()


def test_wrong_master_key_cannot_decrypt(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with KeyStore(data) as store:
        principal, _ = store.create(account=ACCOUNT, organization=False, role=Role.READER)
    with KeyStore(tmp_path / "elsewhere") as unrelated:  # gets its own master key
        unrelated.create(account=ACCOUNT, organization=False, role=Role.READER)
    other_master = tmp_path / "elsewhere" / "master.key"
    with KeyStore(data, master_key_file=other_master) as other:
        other_key, _ = other.create(account=None, organization=True, role=Role.ADMIN)
        with pytest.raises(OpenTrailError, match="not the one it was sealed with"):
            other.lookup(principal.access_key_id)
    with KeyStore(data) as store, \
            pytest.raises(OpenTrailError, match="not the one it was sealed with"):
        store.lookup(other_key.access_key_id)


def test_corrupt_master_key_file_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text("not a key\n")
    with KeyStore(tmp_path / "data", master_key_file=bad) as store, \
            pytest.raises(OpenTrailError, match="256-bit OpenTrail master key"):
        store.create(account=ACCOUNT, organization=False, role=Role.READER)


def test_delete_by_another_connection_is_seen(tmp_path: Path) -> None:
    with KeyStore(tmp_path / "data", refresh_interval=0) as server, \
            KeyStore(tmp_path / "data") as cli:
        principal, _ = cli.create(account=ACCOUNT, organization=False, role=Role.READER)
        assert server.lookup(principal.access_key_id) is not None
        assert cli.delete(principal.access_key_id)
        assert server.lookup(principal.access_key_id) is None


def test_create_by_another_connection_is_seen_despite_negative_cache(tmp_path: Path) -> None:
    with KeyStore(tmp_path / "data", refresh_interval=0) as server, \
            KeyStore(tmp_path / "data") as cli:
        assert server.lookup("OTAKAAAAAAAAAAAAAAAA") is None
        principal, secret = cli.create(account=ACCOUNT, organization=False, role=Role.READER)
        assert server.lookup(principal.access_key_id) == (principal, secret)


def test_other_connection_changes_are_seen_within_the_refresh_interval(tmp_path: Path) -> None:
    with KeyStore(tmp_path / "data", refresh_interval=0.05) as server, \
            KeyStore(tmp_path / "data") as cli:
        principal, _ = cli.create(account=ACCOUNT, organization=False, role=Role.READER)
        assert server.lookup(principal.access_key_id) is not None
        cli.delete(principal.access_key_id)
        deadline = time.monotonic() + 5
        while server.lookup(principal.access_key_id) is not None:
            assert time.monotonic() < deadline, "deleted key still served after 5 s"
            time.sleep(0.01)


def test_concurrent_first_use_agrees_on_one_master_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    stores = [KeyStore(data) for _ in range(6)]
    made: list[tuple[str, str]] = []
    barrier = threading.Barrier(len(stores))

    def create(store: KeyStore) -> None:
        barrier.wait()
        principal, secret = store.create(account=ACCOUNT, organization=False, role=Role.READER)
        made.append((principal.access_key_id, secret))

    threads = [threading.Thread(target=create, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    with KeyStore(data) as fresh:
        for key_id, secret in made:
            found = fresh.lookup(key_id)
            assert found is not None and found[1] == secret
    assert len(made) == len(stores)


def test_thread_safety_under_mixed_load(store: KeyStore) -> None:
    keep, keep_secret = store.create(account=ACCOUNT, organization=False, role=Role.READER)
    errors: list[BaseException] = []

    def churn() -> None:
        try:
            for _ in range(30):
                p, _ = store.create(account=ACCOUNT, organization=False, role=Role.READER)
                assert store.lookup(p.access_key_id) is not None
                assert store.delete(p.access_key_id)
                assert store.lookup(p.access_key_id) is None
                assert store.lookup(keep.access_key_id) == (keep, keep_secret)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=churn) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.list() == [keep]
