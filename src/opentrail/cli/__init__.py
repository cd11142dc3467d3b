"""The `opentrail` command. Each subcommand lives in its own module, loaded lazily."""

from __future__ import annotations

import importlib
import logging
import os
import sys

import click

from opentrail import __version__

__all__ = ["entry", "main"]

# command name -> (module, attribute); modules are imported only when the command runs,
# so `opentrail --help` stays fast and one command's imports never slow another.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("opentrail.cli.serve", "serve"),
    "keys": ("opentrail.cli.keys", "keys"),
    "import": ("opentrail.cli.importer", "import_"),
    "lookup-events": ("opentrail.cli.lookup", "lookup_events"),
    "download": ("opentrail.cli.lookup", "download"),
    "verify": ("opentrail.cli.verify", "verify"),
    "prove": ("opentrail.cli.prove", "prove"),
    "verify-proof": ("opentrail.cli.prove", "verify_proof"),
    "demo": ("opentrail.cli.demo", "demo"),
    "quickstart": ("opentrail.cli.quickstart", "quickstart"),
    "insights": ("opentrail.cli.insights", "insights"),
    "export": ("opentrail.cli.export", "export"),
    "validate-logs": ("opentrail.cli.validate", "validate_logs"),
    "validate-lake": ("opentrail.cli.validate_lake", "validate_lake"),
    "collect": ("opentrail.cli.collect", "collect"),
    "query": ("opentrail.cli.query", "query"),
    "compliance": ("opentrail.cli.compliance", "compliance"),
    "detect": ("opentrail.cli.detect", "detect"),
    "findings": ("opentrail.cli.findings", "findings"),
    "migrate": ("opentrail.cli.migrate", "migrate"),
}

HELP = {
    "serve": "Run the OpenTrail service (API and console) on one port.",
    "keys": "Create, list and delete access keys.",
    "import": "Send CloudTrail log files or folders to a running server.",
    "lookup-events": "Look up management events, like `aws cloudtrail lookup-events`.",
    "download": "Write every event matching a filter to CSV or JSON.",
    "verify": "Check every leaf, and the root at every signed checkpoint, of the ledger.",
    "prove": "Fetch a self-contained inclusion or consistency proof from a server.",
    "verify-proof": "Check a proof file offline with only the log's public key.",
    "demo": "Generate realistic demo activity and send it to a running server.",
    "quickstart": "Start a server with demo activity, a trail, a Lake store and a fresh key.",
    "insights": "List Insights events (unusual API rates) and chart one against its baseline.",
    "export": "Write events matching a filter as OCSF API Activity JSON.",
    "validate-logs": "Check a trail's log files and digests, like `aws cloudtrail validate-logs`.",
    "validate-lake": "Prove an event data store's Parquet files against its signed manifests "
                     "and the ledger.",
    "collect": "Follow log files and trail buckets (config file) and send their events.",
    "query": "Run a CloudTrail Lake SQL query over event data stores and print the rows.",
    "compliance": "Write a signed compliance evidence report (PCI DSS, HIPAA, SOC 2, ISO "
                  "27001) for a period, or verify one offline.",
    "detect": "Check Sigma rules, or run them over stored history and print the findings.",
    "findings": "List and acknowledge the Sigma findings of a running server.",
    "migrate": "Move a data dir's installation into PostgreSQL, checking every leaf.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attr = COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, HELP[name]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="opentrail")
def main() -> None:
    """OpenTrail: a self-hosted audit trail, wire-compatible with AWS CloudTrail.

    Run `opentrail serve`, create a key with `opentrail keys create`, then point boto3 or
    the aws CLI at it with --endpoint-url.
    """


def entry() -> None:
    """The process entry point (`opentrail`, `python -m opentrail`): runs `main`, then,
    once pyarrow is loaded, leaves with os._exit after flushing. pyarrow's native thread
    pools can abort the interpreter's teardown ("terminate called without an active
    exception", apache/arrow#34314), turning a finished, correct run into exit 134."""
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if "pyarrow" not in sys.modules:
        raise SystemExit(code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        sys.stderr.flush()
        code = 1
    os._exit(code or 0)
