"""Linux auditd raw `audit.log` as CloudTrail records: one record per audit event.

The kernel writes one event as several lines (SYSCALL, EXECVE, CWD, PATH, PROCTITLE, ...)
sharing `msg=audit(<time>:<serial>)`. Lines are grouped by (node, time, serial), so a
serial that rolled over past 2^32 never merges two events, lines that arrive out of
order still join their event, and lost lines only leave their event smaller: nothing
is invented. An event is complete at its EOE line, or when more than `_IN_FLIGHT` newer
events have started (bounded memory on endless streams), or at the end of the input.
The mapping, field by field, is in docs/sources.md.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from opentrail.sources._record import ConversionError, Converted, Options, skeleton, utc_time

__all__ = ["SOURCE", "AuditLine", "convert_auditd", "group_events", "parse_line"]

SOURCE = "auditd"
_IN_FLIGHT = 256
_LINE = re.compile(r"(?:node=(\S+) )?type=(\S+) msg=audit\((\d+(?:\.\d+)?):(\d+)\):?\s*(.*)",
                   re.DOTALL)
_PAIR = re.compile(r"""(\w[\w-]*)=("[^"]*"|'[^']*'|\S*)""")
_UNSET = frozenset({"4294967295", "-1"})
# Fields the kernel writes hex-encoded when the value has spaces or odd characters.
_ENCODED = frozenset({"exe", "comm", "proctitle", "acct", "cwd", "cmd", "name", "key",
                      "path", "data", "old", "new", "dev"})
_HEX = re.compile(r"(?:[0-9A-F]{2})+")
_SERVICE = ("DAEMON_", "SYSTEM_", "SERVICE_", "KERNEL")
_FAILED_RESULTS = frozenset({"failed", "fail", "0", "no"})
# x86_64 syscall numbers for the calls audit rules usually watch; the rest stay numbers.
_SYSCALLS_X86_64 = {
    0: "read", 1: "write", 2: "open", 3: "close", 4: "stat", 5: "fstat", 6: "lstat",
    9: "mmap", 21: "access", 41: "socket", 42: "connect", 43: "accept", 44: "sendto",
    45: "recvfrom", 49: "bind", 50: "listen", 56: "clone", 57: "fork", 58: "vfork",
    59: "execve", 62: "kill", 76: "truncate", 77: "ftruncate", 82: "rename", 83: "mkdir",
    84: "rmdir", 85: "creat", 86: "link", 87: "unlink", 88: "symlink", 89: "readlink",
    90: "chmod", 91: "fchmod", 92: "chown", 93: "fchown", 94: "lchown", 101: "ptrace",
    105: "setuid", 106: "setgid", 113: "setreuid", 117: "setresuid", 157: "prctl",
    161: "chroot", 165: "mount", 166: "umount2", 175: "init_module", 176: "delete_module",
    188: "setxattr", 257: "openat", 263: "unlinkat", 264: "renameat", 268: "fchmodat",
    260: "fchownat", 262: "newfstatat", 288: "accept4", 313: "finit_module",
    316: "renameat2", 322: "execveat",
}
_READ_SYSCALLS = frozenset({"read", "stat", "fstat", "lstat", "access", "readlink",
                            "newfstatat", "recvfrom", "getxattr", "statx", "getdents64"})
_ERRNO = {1: "EPERM", 2: "ENOENT", 5: "EIO", 9: "EBADF", 11: "EAGAIN", 13: "EACCES",
          17: "EEXIST", 20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL", 28: "ENOSPC",
          30: "EROFS", 95: "EOPNOTSUPP", 98: "EADDRINUSE", 101: "ENETUNREACH",
          110: "ETIMEDOUT", 111: "ECONNREFUSED", 113: "EHOSTUNREACH", 115: "EINPROGRESS"}


@dataclass(slots=True)
class AuditLine:
    """One parsed line: its record type, event key and fields (decoded)."""

    number: int  # 1-based line number in the input
    kind: str
    key: tuple[str, str, str]  # (node, time, serial)
    fields: dict[str, str]
    raw: str


@dataclass(slots=True)
class _Event:
    lines: list[AuditLine] = field(default_factory=list)


def parse_line(raw: str, number: int) -> AuditLine | None:
    """The line's record, or None when it is not an audit record line."""
    match = _LINE.match(raw)
    if match is None:
        return None
    node, kind, when, serial, body = match.groups()
    body, _, enriched = body.partition("\x1d")  # log_format=ENRICHED appends names
    fields = _pairs(body, args=kind == "EXECVE")
    inner = fields.pop("msg", None)
    if inner is not None:  # user-space records nest their fields in msg='...'
        fields.update({k: v for k, v in _pairs(inner).items() if k not in fields})
    fields.update(_pairs(enriched, decode=False))
    return AuditLine(number, kind, (node or "", when, serial), fields, raw)


def _pairs(text: str, *, args: bool = False, decode: bool = True) -> dict[str, str]:
    """key=value pairs; `args`: a0, a1, ... are EXECVE arguments (text, maybe hex),
    not the register values they are in a SYSCALL record."""
    found: dict[str, str] = {}
    for key, value in _PAIR.findall(text):
        if value[:1] in "\"'" and len(value) >= 2 and value[-1] == value[0]:
            found[key] = value[1:-1]
        elif decode and _encoded(key, args) and _HEX.fullmatch(value):
            decoded = bytes.fromhex(value).decode("utf-8", "replace")
            found[key] = decoded.replace("\x00", " ") if key == "proctitle" else decoded
        else:
            found[key] = value
    return found


def _encoded(key: str, args: bool) -> bool:
    return key in _ENCODED or (args and key[:1] == "a" and key[1:].isdigit())


def group_events(lines: Iterator[str]) -> Iterator[list[AuditLine] | ConversionError]:
    """Lines grouped into events (in order of each event's first line), plus a
    ConversionError for every line that is not an audit record."""
    open_events: dict[tuple[str, str, str], _Event] = {}
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        line = parse_line(raw.rstrip("\r\n"), number)
        if line is None:
            yield ConversionError(number, "The line is not an audit record "
                                          "(no type=... msg=audit(time:serial)).")
            continue
        event = open_events.setdefault(line.key, _Event())
        if line.kind == "EOE":
            yield open_events.pop(line.key).lines or [line]
            continue
        event.lines.append(line)
        while len(open_events) > _IN_FLIGHT:
            yield open_events.pop(next(iter(open_events))).lines
    for event in open_events.values():
        yield event.lines


def convert_auditd(data: bytes, options: Options) -> Iterator[Converted | ConversionError]:
    """Every audit event of a raw audit.log (gzip-compressed or not) as a CloudTrail record."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            yield ConversionError(0, f"The file cannot be read: broken gzip data ({exc}).")
            return
    text = data.decode("utf-8", "replace")
    # Not splitlines(): it also splits at \x1d, the separator of enriched fields.
    for group in group_events(iter(text.split("\n"))):
        if isinstance(group, ConversionError):
            yield group
        elif group:
            yield Converted(group[0].number, _record(group, options))


def _record(lines: list[AuditLine], options: Options) -> dict[str, Any]:
    main = next((line for line in lines if line.kind == "SYSCALL"), lines[0])
    node, when, serial = main.key
    merged = {k: v for line in reversed(lines) for k, v in line.fields.items()}
    name = _syscall(main.fields) if main.kind == "SYSCALL" else main.kind
    record = skeleton(SOURCE, f"{node}|{when}|{serial}", utc_time(float(when), "msg=audit"),
                      options, [line.raw for line in lines])
    record.update({
        "eventSource": SOURCE, "eventName": name,
        "userIdentity": _identity(merged),
        "readOnly": main.kind == "SYSCALL" and _reads(name, main.fields),
        "eventType": "AwsServiceEvent" if main.kind.startswith(_SERVICE) else "AwsApiCall",
        "eventCategory": "Management", "managementEvent": True,
        "requestParameters": _parameters(main, lines), "responseElements": None,
        "requestID": serial,
    })
    _add_where(record, merged, node)
    _add_outcome(record, main.fields)
    if paths := [line.fields["name"] for line in lines
                 if line.kind == "PATH" and "name" in line.fields
                 and line.fields.get("nametype") != "PARENT"]:
        record["resources"] = [{"ARN": path, "type": "LinuxFile"} for path in paths]
    return record


def _syscall(fields: dict[str, str]) -> str:
    if named := fields.get("SYSCALL"):  # an enriched log names it already
        return named
    number = fields.get("syscall", "")
    if fields.get("arch") == "c000003e" and number.isdigit():
        return _SYSCALLS_X86_64.get(int(number), f"syscall-{number}")
    return f"syscall-{number}" if number else "SYSCALL"


def _reads(name: str, fields: dict[str, str]) -> bool:
    if name in ("open", "openat"):  # O_ACCMODE of the flags argument is O_RDONLY (0)
        flags = fields.get("a1" if name == "open" else "a2", "")
        try:
            return int(flags, 16) & 3 == 0
        except ValueError:
            return False
    return name in _READ_SYSCALLS


def _identity(fields: dict[str, str]) -> dict[str, Any]:
    """The login user (auid) when set; else the account a PAM record is about (acct:
    sshd runs as uid 0 while someone logs in); else the uid. Names from enriched fields."""
    auid = fields.get("auid")
    if auid and auid not in _UNSET:
        return _user(auid, fields.get("AUID") or fields.get("acct"))
    if account := fields.get("acct"):
        return _user(account, account)
    uid = fields.get("uid")
    if uid and uid not in _UNSET:
        return _user(uid, fields.get("UID"))
    return {"type": "Unknown"}


def _user(principal: str, name: str | None) -> dict[str, Any]:
    return {"type": "LinuxUser", "principalId": principal, "userName": name or principal}


def _parameters(main: AuditLine, lines: list[AuditLine]) -> dict[str, Any]:
    params: dict[str, Any] = {k: v for k, v in main.fields.items()
                              if not (k[:1] == "a" and k[1:].isdigit())}  # registers
    for line in lines:
        if line.kind == "EXECVE":
            argc = line.fields.get("argc", "")
            count = int(argc) if argc.isdigit() else 0
            params["argv"] = [line.fields.get(f"a{i}", "") for i in range(count)]
        elif line.kind == "CWD" and "cwd" in line.fields:
            params["cwd"] = line.fields["cwd"]
        elif line.kind == "PROCTITLE" and "proctitle" in line.fields:
            params["proctitle"] = line.fields["proctitle"]
    return params


def _add_where(record: dict[str, Any], fields: dict[str, str], node: str) -> None:
    address = fields.get("addr")
    if address and address != "?":
        record["sourceIPAddress"] = address
    elif node:
        record["sourceIPAddress"] = node
    if exe := fields.get("exe"):
        record["userAgent"] = exe


def _add_outcome(record: dict[str, Any], fields: dict[str, str]) -> None:
    if fields.get("success") == "no":
        exit_code = fields.get("exit", "")
        number = -int(exit_code) if exit_code.lstrip("-").isdigit() else 0
        record["errorCode"] = _ERRNO.get(number, f"exit={exit_code}")
    elif fields.get("res", "").lower() in _FAILED_RESULTS:
        record["errorCode"] = "failed"
        record["errorMessage"] = f"{fields.get('op', record['eventName'])} failed"
    elif fields.get("apparmor") == "DENIED" or fields.get("seresult") == "denied":
        record["errorCode"] = "AccessDenied"
