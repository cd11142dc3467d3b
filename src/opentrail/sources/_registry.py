"""The formats `opentrail import --format` knows, and one way to run any of them.

A format turns the bytes of one file into `Converted` records and `ConversionError`s,
one per source entry that could not be mapped: nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from opentrail.sources._auditd import convert_auditd
from opentrail.sources._azure import convert_azure
from opentrail.sources._entra import convert_entra
from opentrail.sources._entries import Unreadable, json_entries
from opentrail.sources._gcp import convert_gcp
from opentrail.sources._k8s import convert_k8s
from opentrail.sources._record import ConversionError, Converted, Options, Unmappable

__all__ = ["FORMATS", "Conversion", "Format", "convert"]

Conversion = Converted | ConversionError
EntryConverter = Callable[[Mapping[str, Any], Options], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Format:
    """A source format: its name on the command line and how to convert a file of it."""

    name: str
    title: str
    run: Callable[[bytes, Options], Iterator[Conversion]]


def _json_format(name: str, title: str, one: EntryConverter) -> Format:
    def run(data: bytes, options: Options) -> Iterator[Conversion]:
        try:
            entries = json_entries(data)
        except ValueError as exc:
            yield ConversionError(0, f"The file cannot be read: {exc}.")
            return
        for index, entry in enumerate(entries):
            yield _one(one, index, entry, options)
    return Format(name, title, run)


def _one(one: EntryConverter, index: int, entry: object, options: Options) -> Conversion:
    if isinstance(entry, Unreadable):
        return ConversionError(index, entry.reason)
    if not isinstance(entry, dict):
        return ConversionError(index, "The entry is not a JSON object.")
    try:
        return Converted(index, one(entry, options))
    except Unmappable as exc:
        return ConversionError(index, str(exc))
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        # A shape no sample had: report it with the entry rather than stop the import.
        return ConversionError(index, f"The entry has an unexpected shape "
                                      f"({type(exc).__name__}: {exc}).")


FORMATS: dict[str, Format] = {
    fmt.name: fmt for fmt in (
        _json_format("gcp", "GCP Cloud Audit Logs (LogEntry with an AuditLog protoPayload)",
                     convert_gcp),
        _json_format("azure", "Azure Activity Log", convert_azure),
        _json_format("entra", "Microsoft Entra ID audit and sign-in logs", convert_entra),
        _json_format("k8s", "Kubernetes audit events (audit.k8s.io/v1 Event, EventList)",
                     convert_k8s),
        Format("auditd", "Linux auditd raw audit.log", convert_auditd),
    )
}


def convert(fmt: str, data: bytes, options: Options | None = None) -> Iterator[Conversion]:
    """Convert the bytes of one file of format `fmt` (a key of FORMATS)."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown format {fmt!r}; known: {', '.join(sorted(FORMATS))}.")
    return FORMATS[fmt].run(data, options or Options())
