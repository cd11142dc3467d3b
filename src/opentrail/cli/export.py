"""`opentrail export --format ocsf`: events matching a filter as OCSF API Activity JSON."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import IO, Any

import click
import orjson

from opentrail.cli.lookup import (
    _aws_errors,
    _lookup_params,
    _output_file,
    _pages,
    cloudtrail_client,
    filter_options,
)
from opentrail.sources import to_ocsf

__all__ = ["export", "ocsf_events"]

_PAGE_MAX = 50
_LINES = (".jsonl", ".ndjson")


def ocsf_events(events: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """The OCSF event of each LookupEvents event (from its CloudTrailEvent)."""
    for event in events:
        yield to_ocsf(orjson.loads(str(event.get("CloudTrailEvent") or "{}")))


def _write(out: IO[str], events: Iterator[dict[str, Any]], lines: bool) -> int:
    count = 0
    if not lines:
        out.write("[")
    for count, event in enumerate(events, 1):
        text = orjson.dumps(event).decode()
        out.write(text + "\n" if lines else ("\n" if count == 1 else ",\n") + text)
    if not lines:
        out.write("\n]\n")
    return count


@click.command("export")
@filter_options
@click.option("--format", "fmt", type=click.Choice(["ocsf"]), default="ocsf",
              show_default=True, help="Schema to write the events in.")
@click.option("-o", "--output-file", "target", required=True, metavar="FILE",
              help='Where to write ("-" for stdout).')
def export(*, lookup_attributes: list[dict[str, str]], start_time: datetime | None,
           end_time: datetime | None, event_category: str | None, endpoint_url: str,
           profile: str | None, region: str | None, fmt: str, target: str) -> None:
    """Write every event matching the filters as OCSF API Activity (class 6003) JSON.

    OCSF is the neutral schema security data lakes ingest. Each CloudTrail record
    becomes one API Activity event; fields OCSF has no place for are kept under
    `unmapped`. The mapping is documented in docs/sources.md.

    FILE ending in .jsonl or .ndjson gets one event per line; any other name gets a JSON
    array. The file appears only when complete (it is written under a temporary name).

    \b
    Example:
      opentrail export --format ocsf --start-time 2024-05-01 -o events.ocsf.json
    """
    params = _lookup_params(lookup_attributes, start_time, end_time, event_category)
    with _aws_errors():
        client = cloudtrail_client(endpoint_url, profile, region)
        pages = _pages(client, params, {"PageSize": _PAGE_MAX})
        with _output_file(target) as out:
            events = (e for page in pages for e in page.get("Events", []))
            count = _write(out, ocsf_events(events), target.lower().endswith(_LINES))
    where = "stdout" if target == "-" else target
    click.echo(f"Wrote {count:,} {fmt.upper()} events to {where}.", err=target == "-")
