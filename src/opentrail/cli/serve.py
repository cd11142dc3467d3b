"""`opentrail serve`: the API and console on one port."""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from opentrail.config import SETTINGS, Settings, settings_from

if TYPE_CHECKING:
    from opentrail.service import Service

__all__ = ["serve"]


def _options(command: Any) -> Any:
    """One flag per declared setting, with its default and help."""
    for setting in reversed(SETTINGS):
        flag = "--" + setting.name.replace("_", "-")
        if setting.type is tuple:  # repeatable: --sigma-rules A --sigma-rules B
            command = click.option(flag, setting.name, multiple=True, metavar="DIR",
                                   help=f"{setting.help} [default: none]")(command)
            continue
        kind = click.Path(path_type=Path) if setting.type is Path else setting.type
        command = click.option(flag, setting.name, type=kind, default=None,
                               help=f"{setting.help} [default: {setting.default}]")(command)
    return command


@click.command()
@click.option("--config", "config_file", type=click.Path(exists=True, path_type=Path),
              help="TOML file with the same settings as the flags (flags win).")
@_options
def serve(config_file: Path | None, **flags: Any) -> None:
    """Run OpenTrail: the CloudTrail-compatible API, ingest, and event history.

    Every request must be signed with SigV4 by a key from `opentrail keys create`.
    Settings that contradict each other or cannot work are refused before anything
    starts (docs/configuration.md, "Checks at start").
    """
    try:
        settings = settings_from(config_file, flags)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    run(settings)


def run(settings: Settings) -> None:
    from opentrail.backends import BackendError, redact_url
    from opentrail.service import Service

    _log_to_stderr()
    where = (f"database {redact_url(settings.database_url)}, scratch dir "
             f"{settings.data_dir}" if settings.database_url
             else f"data dir {settings.data_dir}")
    click.echo(f"OpenTrail listening on http://{settings.host}:{settings.port} ({where})",
               err=True)
    try:
        service = Service.open(settings)
    except BackendError as exc:  # unreachable, schema too new, another master key
        raise click.ClickException(exc.message) from None
    serve_service(service)


def _log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def serve_service(service: Service) -> None:
    """Serve an opened Service until interrupted, then close it cleanly."""
    import uvicorn

    from opentrail.api import build_app
    from opentrail.api._connection import ConnectionLimits, limited_protocol

    _log_to_stderr()
    settings = service.settings
    # Parsed batches are thousands of acyclic dicts; the default gen-0 threshold would run
    # the cyclic collector dozens of times per request for nothing.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        limits = ConnectionLimits(settings.max_header_bytes, settings.header_timeout,
                                  linger_timeout=settings.body_timeout)
        # X-Forwarded-For is the app's business (api/_client_ip.py, `trusted_proxies`):
        # uvicorn's own default would trust it from any loopback client.
        uvicorn.run(build_app(service), host=settings.host, port=settings.port,
                    log_level="warning", access_log=False, loop="uvloop",
                    http=limited_protocol(limits), proxy_headers=False,
                    limit_concurrency=settings.max_connections,
                    timeout_keep_alive=settings.keep_alive_timeout)
    finally:
        service.close()
