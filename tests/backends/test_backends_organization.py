"""`--organization-id auto` names one organization per installation: a data dir's own
file embedded, one ID every node shares on PostgreSQL (organization trails deliver
under it, so it must not depend on which node delivers)."""

from __future__ import annotations

import re
from typing import Any


def test_auto_is_made_once_and_every_node_reads_the_same(backends: Any) -> None:
    one, two = backends.open(), backends.open()
    made = one.organization_id("auto")
    assert made is not None and re.fullmatch(r"o-[a-z0-9]{10}", made)
    assert two.organization_id("auto") == made == one.organization_id("auto")


def test_a_given_id_or_none_is_taken_as_it_is(backend: Any) -> None:
    assert backend.organization_id("o-abcdefghij") == "o-abcdefghij"
    assert backend.organization_id("none") is None
