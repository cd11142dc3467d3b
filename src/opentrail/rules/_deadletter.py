"""Dead-letter queues: a delivery that gives up is sent to its target's SQS queue.

A target's `DeadLetterConfig` (`{"Arn": "arn:aws:sqs:REGION:ACCOUNT:QUEUE"}`) names a
queue on the SQS-compatible endpoint `--sqs-endpoint-url` (AWS SQS when empty; credentials
from the standard AWS chain). As EventBridge does for rule targets, the message body is
the event (the envelope) and its attributes say why it died: ERROR_CODE, ERROR_MESSAGE,
EXHAUSTED_RETRY_CONDITION, RETRY_ATTEMPTS, RULE_ARN and TARGET_ARN.

Invariant: `DeadLetterQueues.send` never raises; it returns the sentence the sender
appends to the dead letter's error (sent, or why not), so the console's record always
says whether the queue has it.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import orjson

from opentrail.rules._model import Delivery

__all__ = ["SQS", "DeadLetterQueues", "check_dead_letter"]

SQS = re.compile(r"arn:aws:sqs:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,80}(\.fifo)?)")


def check_dead_letter(target: dict[str, Any]) -> str | None:
    """None if the target's DeadLetterConfig is absent or names an SQS queue, otherwise
    the sentence for PutTargets' FailedEntries."""
    config = target.get("DeadLetterConfig")
    if config is None:
        return None
    arn = config.get("Arn") if isinstance(config, dict) else None
    if not isinstance(arn, str) or not SQS.fullmatch(arn):
        return "DeadLetterConfig.Arn must be an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)."
    if arn.endswith(".fifo"):
        return "DeadLetterConfig.Arn: a FIFO queue cannot be a dead-letter queue."
    return None


class DeadLetterQueues:
    """Sends dead letters through boto3's SQS client, one per region; thread-safe."""

    def __init__(self, endpoint_url: str = "") -> None:
        self._endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {}
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    def send(self, delivery: Delivery, error: str, condition: str, attempts: int) -> str:
        """Send `delivery`'s event to its DeadLetterConfig queue, if it has one."""
        config = delivery.target.get("DeadLetterConfig")
        arn = config.get("Arn") if isinstance(config, dict) else None
        found = SQS.fullmatch(arn) if isinstance(arn, str) else None
        if found is None:
            return ""
        region, account, name = found.group(1), found.group(2), found.group(3)
        rule_arn = f"arn:aws:events:{delivery.region}:{delivery.account}:rule/{delivery.rule}"
        attributes = {"ERROR_CODE": error.split(":", 1)[0][:100] or "Error",
                      "ERROR_MESSAGE": error[:1000], "EXHAUSTED_RETRY_CONDITION": condition,
                      "RETRY_ATTEMPTS": str(max(0, attempts - 1)), "RULE_ARN": rule_arn,
                      "TARGET_ARN": str(delivery.target.get("Arn", ""))}
        try:
            client = self._client(region)
            url = self._queue_url(client, account, name)
            client.send_message(QueueUrl=url, MessageBody=orjson.dumps(delivery.event).decode(),
                                MessageAttributes={k: {"DataType": "String", "StringValue": v}
                                                   for k, v in attributes.items() if v})
        except Exception as exc:  # botocore's errors: the queue or the endpoint
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            with self._lock:
                self._urls.pop(f"{account}:{name}", None)
            return f"; dead-letter queue {arn} failed: {code or type(exc).__name__}"
        return f"; sent to dead-letter queue {arn}"

    def _client(self, region: str) -> Any:
        with self._lock:
            client = self._clients.get(region)
            if client is None:
                import boto3
                from botocore.config import Config

                client = boto3.client("sqs", region_name=region,
                                      endpoint_url=self._endpoint_url or None,
                                      config=Config(connect_timeout=5, read_timeout=5,
                                                    retries={"max_attempts": 2}))
                self._clients[region] = client
            return client

    def _queue_url(self, client: Any, account: str, name: str) -> str:
        key = f"{account}:{name}"
        with self._lock:
            url = self._urls.get(key)
        if url is None:
            url = str(client.get_queue_url(QueueName=name,
                                           QueueOwnerAWSAccountId=account)["QueueUrl"])
            with self._lock:
                self._urls[key] = url
        return url
