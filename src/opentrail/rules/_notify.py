"""SNS for trails: a notification per delivered log file, as CloudTrail sends it, and the
check that a trail's topic exists.

Invariant: nothing here runs unless `--sns-endpoint-url` is set; a notification that
fails is logged and dropped (CloudTrail's notifications are best effort too) and never
holds up the trail's delivery for more than the client's timeouts.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import orjson

__all__ = ["SnsNotifier", "topic_arn"]

log = logging.getLogger(__name__)


def topic_arn(topic: str, account: str, region: str) -> str:
    """A trail's SnsTopicName as an ARN (a bare name is in the trail's home region)."""
    return topic if topic.startswith("arn:") else f"arn:aws:sns:{region}:{account}:{topic}"


class SnsNotifier:
    def __init__(self, endpoint_url: str) -> None:
        self._endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, region: str) -> Any:
        with self._lock:
            client = self._clients.get(region)
            if client is None:
                import boto3
                from botocore.config import Config

                client = boto3.client("sns", region_name=region,
                                      endpoint_url=self._endpoint_url or None,
                                      config=Config(connect_timeout=5, read_timeout=5,
                                                    retries={"max_attempts": 2}))
                self._clients[region] = client
            return client

    def topic_exists(self, arn: str) -> bool:
        try:
            self._client(arn.split(":")[3]).get_topic_attributes(TopicArn=arn)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code in ("NotFound", "NotFoundException", "InvalidParameter"):
                return False
            raise
        return True

    def log_file(self, arn: str, bucket: str, key: str) -> None:
        """CloudTrail's message: {"s3Bucket": ..., "s3ObjectKey": [...]}."""
        message = orjson.dumps({"s3Bucket": bucket, "s3ObjectKey": [key]}).decode()
        try:
            self._client(arn.split(":")[3]).publish(TopicArn=arn, Message=message)
        except Exception as exc:
            log.warning("trail notification to %s for %s failed: %s", arn, key, exc)
