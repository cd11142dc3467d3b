"""Whether an operation only reads, decided from the verb its name starts or ends with.

Shared by the converters (CloudTrail's `readOnly`) and the OCSF export (`activity_id`).
The verb is the first word of a CamelCase or spaced name (`GetObject`, `List users`) or
the last segment of a dotted or slashed one (`storage.objects.get`, `.../read`).
"""

from __future__ import annotations

import re

__all__ = ["Verb", "verb_of"]

_WORD = re.compile(r"[A-Za-z][a-z]*")


class Verb:
    """The kinds of operation OCSF's API Activity tells apart."""

    CREATE, READ, UPDATE, DELETE, OTHER = "Create", "Read", "Update", "Delete", "Other"


_VERBS: dict[str, str] = {
    **dict.fromkeys((
        "get", "list", "describe", "search", "read", "lookup", "query", "watch", "test",
        "aggregatedlist", "batchget", "view", "check", "fetch", "head", "select", "scan",
        "download", "lookupevents", "testiampermissions", "getiampolicy",
    ), Verb.READ),
    **dict.fromkeys((
        "create", "insert", "add", "put", "post", "run", "invite", "register", "import",
        "upload", "copy", "allocate", "issue", "generate", "new",
    ), Verb.CREATE),
    **dict.fromkeys((
        "update", "modify", "set", "patch", "attach", "enable", "disable", "change",
        "replace", "assign", "associate", "move", "rename", "reset", "restore", "start",
        "stop", "reboot", "resize", "apply", "grant", "setiampolicy", "edit", "write",
    ), Verb.UPDATE),
    **dict.fromkeys((
        "delete", "remove", "detach", "terminate", "destroy", "revoke", "unassign",
        "disassociate", "deregister", "purge", "deletecollection", "drop",
    ), Verb.DELETE),
}


def verb_of(name: str) -> str:
    """The Verb of an operation name, `Verb.OTHER` when none is recognised."""
    last = re.split(r"[./]", name.strip())[-1]
    for word in (last, _first_word(last), _first_word(name.strip())):
        verb = _VERBS.get(word.lower())
        if verb is not None:
            return verb
    return Verb.OTHER


def _first_word(text: str) -> str:
    match = _WORD.match(text)
    return match[0] if match else ""
