"""Principal: account scope and role order."""

from __future__ import annotations

import dataclasses

import pytest

from opentrail.auth import Principal, Role


def principal(role: Role = Role.READER, account: str | None = "123456789012") -> Principal:
    return Principal("OTAKAAAAAAAAAAAAAAAA", account, account is None, role, "n", 0.0)


def test_account_key_may_access_only_its_account() -> None:
    p = principal()
    assert p.may_access("123456789012")
    assert not p.may_access("210987654321")


def test_organization_key_may_access_any_account() -> None:
    p = principal(account=None)
    assert p.may_access("123456789012")
    assert p.may_access("210987654321")


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.READER, {Role.READER}),
        (Role.WRITER, {Role.READER, Role.WRITER}),
        (Role.ADMIN, {Role.READER, Role.WRITER, Role.ADMIN}),
    ],
)
def test_roles_are_ordered(role: Role, allowed: set[Role]) -> None:
    p = principal(role)
    assert {needed for needed in Role if p.allows(needed)} == allowed


def test_principal_is_immutable_and_role_is_a_string() -> None:
    p = principal(Role.WRITER)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.role = Role.ADMIN  # type: ignore[misc]
    assert Role.WRITER == "writer"
    assert Role("admin") is Role.ADMIN
