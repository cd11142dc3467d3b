"""Which of CloudTrail's three event kinds a record is (the contract's `Category`)."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Category", "category_of"]


class Category(IntEnum):
    """Stored as a small integer; LookupEvents serves MANAGEMENT and INSIGHT by default.

    INTERNAL is the server's own health record (events/_internal.py): in the ledger and
    its checkpoints, never in trails or Lake stores, and in LookupEvents only when asked
    for with EventCategory "internal"."""

    MANAGEMENT = 0
    DATA = 1
    INSIGHT = 2
    INTERNAL = 3


# Any other eventCategory (absent before 1.07, Management, Lake-only ActivityAuditLog,
# ConfigurationItem, Evidence) is a management event.
_BY_NAME = {
    "Data": Category.DATA,
    "NetworkActivity": Category.DATA,
    "Insight": Category.INSIGHT,
}


def category_of(event_category: object) -> Category:
    """The Category for a record's `eventCategory` value."""
    if not isinstance(event_category, str):
        return Category.MANAGEMENT
    return _BY_NAME.get(event_category, Category.MANAGEMENT)
