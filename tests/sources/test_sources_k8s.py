"""Kubernetes audit events: hand-checked mappings of real sample events."""

from __future__ import annotations

import json
from typing import Any

from conftest import DATASETS
from opentrail.sources import ConversionError, Converted, convert
from opentrail.sources._record import event_id

SAMPLES = json.loads((DATASETS / "non-aws" / "Amazon.EKS.Audit.json").read_bytes())


def converted(entry: dict[str, Any]) -> dict[str, Any]:
    [result] = convert("k8s", json.dumps(entry).encode())
    assert isinstance(result, Converted), result
    return result.record


def test_an_eks_event_maps_field_by_field() -> None:
    event = SAMPLES[250]["log"]
    record = converted(event)
    assert record["eventSource"] == "k8s.io"
    assert record["eventName"] == "io.k8s.core.v1.pods.log.get"
    assert record["eventTime"] == "2022-11-29T00:09:04Z"
    assert record["userIdentity"] == {
        "type": "KubernetesUser",
        "principalId": "aws-iam-authenticator:123412341234:AROARLIVEKVNIRVGDLJWJ",
        "userName": "kubernetes-admin",
        "arn": "arn:aws:sts::123412341234:assumed-role/DevAdministrator/1669660343296132000",
        "accessKeyId": "ASIARLIVEKVNN6Y6J5UW"}
    assert record["readOnly"] is True
    assert record["sourceIPAddress"] == "5.5.5.5"
    assert record["userAgent"] == "kubectl/v1.25.4 (darwin/arm64) kubernetes/872a965"
    assert record["resources"] == [{"ARN": "core/v1/namespaces/default/pods/kube-bench-drn4j/log",
                                    "type": "k8s.io/pods"}]
    assert record["requestID"] == event["auditID"]
    assert record["eventID"] == event_id("k8s", f"{event['auditID']}|{event['stage']}")


def test_a_denied_service_account_watch_is_an_error() -> None:
    record = converted(SAMPLES[251]["log"])
    assert record["userIdentity"]["type"] == "KubernetesServiceAccount"
    assert record["eventName"] == "io.k8s.discovery.k8s.io.v1.endpointslices.watch"
    assert record["errorCode"] == "403"


def test_a_non_resource_request_is_named_by_its_path() -> None:
    record = converted(SAMPLES[269]["log"])
    assert record["eventName"] == "get /vendor/phpunit/src/Util/PHP/eval-stdin.php"
    assert record["errorCode"] == "Forbidden"
    assert record["errorMessage"].startswith('forbidden: User "system:anonymous"')
    assert "resources" not in record


def test_an_event_list_is_split_and_each_stage_is_its_own_event() -> None:
    base = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "a-1",
            "verb": "delete", "user": {"username": "alice"},
            "objectRef": {"resource": "secrets", "namespace": "prod", "name": "db"},
            "requestReceivedTimestamp": "2024-05-01T10:00:00.123456Z",
            "responseStatus": {"code": 200}}
    body = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1",
            "items": [{**base, "stage": "RequestReceived"},
                      {**base, "stage": "ResponseComplete"}]}
    results = list(convert("k8s", json.dumps(body).encode()))
    records = [r.record for r in results if isinstance(r, Converted)]
    assert len(records) == 2 and records[0]["eventID"] != records[1]["eventID"]
    assert records[0]["eventName"] == "io.k8s.core.secrets.delete"
    assert records[0]["resources"][0]["ARN"] == "core/namespaces/prod/secrets/db"
    assert records[0]["readOnly"] is False


def test_an_aks_diagnostic_log_is_unwrapped_and_gke_entries_are_redirected() -> None:
    record = converted({**SAMPLES[20]["log"], "time": "2024-03-01T08:00:00Z"})
    assert record["eventName"] == "io.k8s.networking.k8s.io.ingresses.create"
    assert record["userIdentity"]["userName"] == "admin@example.com"
    gke = next(s["log"] for s in SAMPLES if "protoPayload" in s["log"])
    [result] = convert("k8s", json.dumps(gke).encode())
    assert isinstance(result, ConversionError)
    assert "import it with --format gcp" in result.reason
