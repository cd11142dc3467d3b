"""The rule engine in its own process, as `opentrail serve` runs it: it sees rules changed
through the API (in the server's process) via rules.db, its matches reach the webhook
through the server's sender, and it exits when its server is killed."""

from __future__ import annotations

import json
import signal
from typing import Any

import psutil
from rules_webhook import Webhook, webhook_fixture  # noqa: F401 - the fixture

from conftest import Server, make_event, post_records, wait_until
from opentrail.rules import Rule


def test_version_is_seen_by_another_store(backends: Any) -> None:
    """A change made through one RuleStore (the server's) moves the version another one
    (the engine's process, or another node) reads: each change to rules or targets, none
    to the rest."""
    one, two = backends.open(), backends.open()
    keys = one.keys()
    api, engine = one.rules(keys), two.rules(two.keys())
    try:
        seen = engine.version
        api.put_rule(Rule("123456789012", "us-east-1", "r", '{"source": ["a"]}', "ENABLED"))
        assert engine.version > seen
        seen = engine.version
        api.put_targets("123456789012", "us-east-1", "r", [{"Id": "t", "Arn": "mailto:a@b.c"}])
        assert engine.version > seen
        seen = engine.version
        api.set_state("123456789012", "us-east-1", "r", "DISABLED")
        assert engine.version > seen
        seen = engine.version
        api.tag("arn:x", {"k": "v"})
        engine.enqueue(5, [])
        assert engine.version == seen
        api.remove_targets("123456789012", "us-east-1", "r", ["t"])
        assert engine.version > seen
    finally:
        api.close()
        engine.close()
        keys.close()


def _engine_processes(server: Server) -> list[psutil.Process]:
    """Children of the server's process (not the server itself) holding rules.db open."""
    assert server.proc is not None
    return [child for child in psutil.Process(server.proc.pid).children(recursive=True)
            if any(f.path.endswith("rules.db") for f in child.open_files())]


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_engine_process_matches_and_exits_with_its_server(live_server: Server,
                                                          webhook: Webhook) -> None:
    events = live_server.client("events")
    events.put_rule(Name="stop", EventPattern=json.dumps(
        {"detail": {"eventName": ["StopLogging"]}}))
    events.put_targets(Rule="stop", Targets=[{"Id": "t", "Arn": "slack:" + webhook.url("/s")}])
    post_records(live_server, [make_event("StopLogging", readOnly=False)])
    wait_until(lambda: bool(webhook.at("/s")), timeout=30)
    engines = _engine_processes(live_server)
    assert len(engines) == 1  # the engine's own process, not the server's
    live_server.kill(signal.SIGKILL)
    wait_until(lambda: _gone(engines[0]), timeout=30)


def test_the_engines_process_imports_only_what_it_runs() -> None:
    """The engine's child imports its target's module: it must not drag in the Lake
    (DuckDB, pyarrow), Insights (scipy) or trails, ~80 MB of RSS it never uses (it
    pushed `opentrail serve` over the 500 MB memory budget)."""
    import subprocess
    import sys

    heavy = ["opentrail.service", "opentrail.lake", "opentrail.insights", "opentrail.trails",
             "scipy", "duckdb", "pyarrow"]
    code = ("import sys, opentrail.rules_process\n"
            f"print([m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
