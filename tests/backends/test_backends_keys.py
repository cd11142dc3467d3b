"""KeyStore's contract, the same test body on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from conftest import wait_until
from opentrail.auth import Role
from opentrail.errors import ValidationError

A = "111111111111"


def test_create_lookup_list_delete(backend: Any) -> None:
    keys = backend.keys()
    writer, secret = keys.create(account=A, organization=False, role=Role.WRITER)
    org, _ = keys.create(account=None, organization=True, role="admin", name="ops")
    found = keys.lookup(writer.access_key_id)
    assert found is not None and found[1] == secret and found[0].account == A
    assert found[0].role is Role.WRITER
    assert [p.access_key_id for p in keys.list()] == [writer.access_key_id, org.access_key_id]
    assert keys.list()[1].organization and keys.list()[1].name == "ops"
    assert keys.lookup("OTAKAAAAAAAAAAAAAAAA") is None
    assert keys.delete(writer.access_key_id)
    assert not keys.delete(writer.access_key_id)
    assert keys.lookup(writer.access_key_id) is None
    with pytest.raises(ValidationError):
        keys.create(account="12", organization=False, role=Role.WRITER)
    keys.close()


def test_a_key_made_on_one_node_works_on_another_and_its_deletion_too(backends: Any) -> None:
    one, two = backends.open().keys(), backends.open().keys()
    principal, secret = one.create(account=A, organization=False, role=Role.READER)
    assert two.lookup(principal.access_key_id) == (principal, secret)
    assert one.delete(principal.access_key_id)
    wait_until(lambda: two.lookup(principal.access_key_id) is None)  # its cache refreshes
    one.close()
    two.close()


def test_a_new_key_is_usable_on_every_node_at_once(backends: Any) -> None:
    one, two = backends.open().keys(), backends.open().keys()
    assert two.list() == []
    made, secret = one.create(account=A, organization=False, role=Role.READER)
    assert two.lookup(made.access_key_id) == (made, secret)
    assert [p.access_key_id for p in two.list()] == [made.access_key_id]
    one.close()
    two.close()


def test_thread_safety_under_mixed_load(backend: Any) -> None:
    keys = backend.keys()
    keep, keep_secret = keys.create(account=A, organization=False, role=Role.READER)
    errors: list[BaseException] = []

    def churn() -> None:
        try:
            for _ in range(15):
                p, _ = keys.create(account=A, organization=False, role=Role.READER)
                assert keys.lookup(p.access_key_id) is not None
                assert keys.delete(p.access_key_id)
                assert keys.lookup(p.access_key_id) is None
                assert keys.lookup(keep.access_key_id) == (keep, keep_secret)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=churn) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert keys.list() == [keep]
    keys.close()
