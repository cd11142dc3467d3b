"""`opentrail collect --config FILE`: follow files and buckets, send their events."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import botocore.session
import click

from opentrail.cli._options import DEFAULT_ENDPOINT, ENDPOINT_ENV
from opentrail.client import IngestClient, IngestError
from opentrail.collect import Collector, ConfigError, load_config
from opentrail.sources import FORMATS

__all__ = ["collect"]

log = logging.getLogger("opentrail.collect")


def _logging(verbose: bool) -> None:
    # Warnings and errors always; one line per batch sent only with -v.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    log.setLevel(logging.INFO if verbose else logging.WARNING)


def _summary(collector: Collector) -> None:
    for status in collector.status():
        click.echo(f"{status.name}: at {status.position}; {status.sent} sent, "
                   f"{status.duplicates} duplicate, {status.rejected} rejected, "
                   f"{status.unmapped} unmapped, {status.errors} errors"
                   + (f" (last: {status.last_error})" if status.last_error else ""), err=True)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


@click.command()
@click.option("--config", "config_path", required=True, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="TOML file naming the sources (docs/collect.md).")
@click.option("--endpoint-url", envvar=ENDPOINT_ENV, metavar="URL", show_envvar=True,
              help=f"OpenTrail server. Default: the config's endpoint_url, else "
                   f"{DEFAULT_ENDPOINT}.")
@click.option("--profile", metavar="NAME", help="AWS profile with the OpenTrail writer key; "
              "default: the standard AWS credential chain.")
@click.option("--region", metavar="REGION", help="Region to sign requests for.")
@click.option("--once", is_flag=True, help="Send what is there now, then exit.")
@click.option("--status-every", default=60.0, show_default=True, metavar="SECONDS",
              help="How often to print each source's position and counts.")
@click.option("-v", "--verbose", is_flag=True, help="Log every batch sent.")
def collect(config_path: Path, endpoint_url: str | None, profile: str | None,
            region: str | None, once: bool, status_every: float, verbose: bool) -> None:
    """Follow log files (auditd, Kubernetes audit, NDJSON) and CloudTrail buckets, and
    send their events to OpenTrail. Positions are saved after each acknowledged batch,
    so a restart neither loses nor repeats events."""
    _logging(verbose)
    stop = _stop_on_signals()
    try:
        config = load_config(config_path, set(FORMATS))
        url = endpoint_url or config.endpoint_url or DEFAULT_ENDPOINT
        session = botocore.session.Session(profile=profile or config.profile)
        client = IngestClient(url, session=session, region=region,
                              sleep=lambda seconds: _pause(stop, seconds))
        collector = Collector(config, client)
    except (ConfigError, IngestError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"collecting {len(collector.runners)} sources into {url}", err=True)
    _loop(collector, stop, once=once, every=status_every, interval=config.poll_interval)
    _summary(collector)
    collector.close()
    client.close()
    if once and any(s.last_error for s in collector.status()):
        sys.exit(1)  # for cron: something was left unsent


def _pause(stop: threading.Event, seconds: float) -> None:
    stop.wait(seconds)  # backoff between retries: SIGTERM is not held up by it


def _loop(collector: Collector, stop: threading.Event, *, once: bool, every: float,
          interval: float) -> None:
    last = time.monotonic()
    while not stop.is_set():
        collector.poll_once()
        if once:
            return
        if time.monotonic() - last >= every:
            _summary(collector)
            last = time.monotonic()
        stop.wait(interval)
