"""The public face of opentrail.auth is pinned: changing it is a decision, not an accident."""

from __future__ import annotations

import opentrail.auth


def test_exported_members() -> None:
    assert sorted(opentrail.auth.__all__) == [
        "AuthContext", "KeyStore", "Principal", "Role", "SigV4Verifier",
    ]
    for name in opentrail.auth.__all__:
        assert getattr(opentrail.auth, name).__module__.startswith("opentrail.auth._")
