"""Which records the server made itself: its self-audit of API calls, console sign-ins
and Insights events.

Those records carry `opentrailOrigin: "server"` at the top level, written by the code
that builds them. No ingest path lets a client set it (the batch API refuses a record
that has the field; PutAuditEvents and the webhook build the top level themselves), so
readers can tell a record the server made from an ingested look-alike: imported
CloudTrail logs legitimately hold cloudtrail.amazonaws.com calls, ConsoleLogin and
Insights events, and are stored as they came, without the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentrail.errors import InvalidRecord

__all__ = ["ORIGIN_FIELD", "SERVER_ORIGIN", "check_unclaimed", "is_server_made"]

ORIGIN_FIELD = "opentrailOrigin"
SERVER_ORIGIN = "server"


def is_server_made(record: Mapping[str, Any]) -> bool:
    """True for a record this server made (self-audit, ConsoleLogin, Insights)."""
    return record.get(ORIGIN_FIELD) == SERVER_ORIGIN


def check_unclaimed(obj: object) -> None:
    """Refuse an ingested record that claims to be server-made."""
    if isinstance(obj, dict) and ORIGIN_FIELD in obj:
        raise InvalidRecord(
            ORIGIN_FIELD, f"{ORIGIN_FIELD} is set only by the server, on records it makes "
            "itself; remove it from ingested records (records exported from an OpenTrail "
            "server are ingested records here).", code="InvalidData")
