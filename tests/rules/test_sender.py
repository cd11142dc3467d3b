"""The sender's retry policy, in process with a manual clock and a scripted transport."""

from __future__ import annotations

from typing import Any

from rules_webhook import Webhook, webhook_fixture  # noqa: F401 - the fixture

from conftest import wait_until
from opentrail.clock import ManualClock
from opentrail.rules import Delivery, RuleStore, Sender, SendError

NOW = 1_790_000_000.0


class Scripted:
    """Answers each target id with its scripted outcomes: True delivers, else raises."""

    def __init__(self, script: dict[str, list[Any]]) -> None:
        self.script = script
        self.calls: list[str] = []

    def send(self, delivery: Delivery) -> None:
        target = str(delivery.target["Id"])
        self.calls.append(target)
        outcome = self.script[target].pop(0) if self.script[target] else True
        if outcome is not True:
            raise outcome

    def close(self) -> None:
        pass


def _delivery(target: dict[str, Any], enqueued: float = NOW) -> Delivery:
    return Delivery(0, "123456789012", "us-east-1", "r", target, {"detail": {}}, enqueued,
                    next_try=NOW)


def _states(store: RuleStore) -> dict[str, tuple[str, int]]:
    pending = {str(d.target["Id"]): ("PENDING", d.attempts) for d in store.due(NOW + 1e9, 99)}
    dead = {str(d.target["Id"]): ("DEAD", d.attempts) for d in store.dead_letters(None)}
    return {**pending, **dead}


def test_retry_policy(backend: Any) -> None:
    clock = ManualClock(NOW)
    store = backend.rules(backend.keys())
    flaky = SendError("HTTP 503", retryable=True)
    transport = Scripted({"ok": [], "twice": [flaky, flaky], "final": [
        SendError("HTTP 400", retryable=False)], "stubborn": [flaky] * 10, "old": [flaky]})
    store.enqueue(0, [
        _delivery({"Id": "ok"}), _delivery({"Id": "twice"}), _delivery({"Id": "final"}),
        _delivery({"Id": "stubborn", "RetryPolicy": {"MaximumRetryAttempts": 2}}),
        _delivery({"Id": "old", "RetryPolicy": {"MaximumEventAgeInSeconds": 60}},
                  enqueued=NOW - 59.5)])  # its next try (>= 0.8 s later) is too late
    sender = Sender(store, clock, transport)  # type: ignore[arg-type]
    try:
        for _ in range(4):  # four passes, each after every backoff has passed
            sender.step()
            wait_until(lambda: sender.sending == 0)
            clock.advance(1000)
        sender.step()
    finally:
        sender.close()
    assert _states(store) == {"final": ("DEAD", 1), "stubborn": ("DEAD", 3),
                              "old": ("DEAD", 1)}
    assert transport.calls.count("twice") == 3 and transport.calls.count("ok") == 1
    assert sender.sent == 2
    store.close()


def test_throttled_is_not_an_attempt(backend: Any) -> None:
    """InvocationRateLimitPerSecond: a delivery whose slot is not yet due goes back to the
    outbox for then, its attempts unchanged (MaximumRetryAttempts 0 does not kill it)."""
    from opentrail.rules._pace import Throttled

    clock = ManualClock(NOW)
    store = backend.rules(backend.keys())
    transport = Scripted({"paced": [Throttled(0.5), Throttled(0.5)]})
    store.enqueue(0, [_delivery({"Id": "paced", "RetryPolicy": {"MaximumRetryAttempts": 0}})])
    sender = Sender(store, clock, transport)  # type: ignore[arg-type]
    try:
        for _ in range(2):
            sender.step()
            wait_until(lambda: sender.sending == 0)
            assert _states(store) == {"paced": ("PENDING", 0)}
            assert store.due(NOW, 9) == []  # not due before its slot
            clock.advance(1)
        sender.step()
        wait_until(lambda: sender.sent == 1 or sender.sending == 0)
        sender.step()
    finally:
        sender.close()
    assert transport.calls == ["paced"] * 3 and _states(store) == {}
    store.close()


def test_pacer_spaces_requests() -> None:
    """Slots 1/rate apart: a near one is slept for, a far one is Throttled (not reserved)."""
    import time

    import pytest

    from opentrail.rules._pace import Pacer, Throttled

    pacer = Pacer()
    started = time.monotonic()
    for _ in range(3):
        pacer.wait("fast", 5)  # slots 0.2 s apart: slept for
    assert time.monotonic() - started >= 0.4 - 1e-3
    pacer.wait("slow", 1)
    with pytest.raises(Throttled) as info:
        pacer.wait("slow", 1)
    assert 0 < info.value.delay <= 1.0
    pacer.wait("other", None)  # no limit


def test_webhook_redirects_are_followed_on_the_same_origin_only(backend: Any,
                                                               webhook: Webhook) -> None:
    """The transport (urllib3) follows a 307 on the same host with the same method and
    body, a 303 as a GET without it, and never a redirect to another host."""
    from opentrail.rules._model import ApiDestination, Connection
    from opentrail.rules._send import Transport

    store = backend.rules(backend.keys())
    conn = Connection("123456789012", "us-east-1", "c", "u1", "API_KEY",
                      {"ApiKeyAuthParameters": {"ApiKeyName": "X-Key"}})
    store.save_connection(conn, {"ApiKeyAuthParameters": {"ApiKeyName": "X-Key",
                                                          "ApiKeyValue": "k"}})
    transport = Transport(store)
    webhook.script = {"/keep": [307], "/see": [303], "/elsewhere": [302]}
    webhook.moved = {"/keep": "/kept?x=1", "/see": webhook.url("/seen")}
    try:
        for name in ("keep", "see", "elsewhere"):
            dest = ApiDestination("123456789012", "us-east-1", name, "u-" + name, conn.arn,
                                  webhook.url("/" + name), "POST")
            store.save_destination(dest)
            delivery = _delivery({"Id": name, "Arn": dest.arn})
            if name == "elsewhere":
                try:
                    transport.send(delivery)
                except SendError as err:
                    assert "redirected to another host" in str(err) and not err.retryable
                else:
                    raise AssertionError("a redirect to another host was followed")
            else:
                transport.send(delivery)
    finally:
        transport.close()
        store.close()
    kept, seen = webhook.at("/kept")[0], webhook.at("/seen")[0]
    assert (kept.method, kept.path, kept.headers["x-key"]) == ("POST", "/kept?x=1", "k")
    assert kept.body == webhook.at("/keep")[0].body and kept.json() == {"detail": {}}
    assert (seen.method, seen.body) == ("GET", b"")
