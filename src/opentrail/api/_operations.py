"""The cloudtrail JSON 1.1 operations OpenTrail serves, with the role each needs."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentrail.api._channels import CHANNEL_OPERATIONS
from opentrail.api._detect import DETECT_OPERATIONS, DETECT_READER_OPERATIONS
from opentrail.api._imports import IMPORT_OPERATIONS
from opentrail.api._insights import list_insights_metric_data
from opentrail.api._lookup import lookup_events
from opentrail.api._organizations import describe_organization
from opentrail.api._public_keys import list_public_keys
from opentrail.api._queries import QUERY_OPERATIONS, READER_OPERATIONS
from opentrail.api._stores import SHARED_OPERATIONS, STORE_OPERATIONS
from opentrail.api._trails import TRAIL_OPERATIONS
from opentrail.auth import AuthContext, Role

if TYPE_CHECKING:
    from opentrail.service import Service

__all__ = ["Operation", "events_operations", "model_operations", "operations"]

Handler = Callable[[dict[str, Any], AuthContext], Any]

READ_PREFIXES = ("Lookup", "Get", "List", "Describe")


@dataclass(frozen=True)
class Operation:
    name: str
    handler: Handler
    read_only: bool
    reader_may: bool = False  # not a read, yet no change to configuration (StartQuery)
    event_source: str = "cloudtrail.amazonaws.com"  # of the call's own audit record

    @property
    def role(self) -> Role:
        """Reads need a reader key; every change to configuration needs an admin key."""
        return Role.READER if self.read_only or self.reader_may else Role.ADMIN


def operations(service: Service) -> dict[str, Operation]:
    table: dict[str, Operation] = {}

    def add(name: str, fn: Callable[..., Any], target: Any) -> None:
        table[name] = Operation(name, functools.partial(fn, target),
                                name.startswith(READ_PREFIXES),
                                name in READER_OPERATIONS or name in DETECT_READER_OPERATIONS)

    add("LookupEvents", lookup_events, service.history)
    add("ListInsightsMetricData", list_insights_metric_data, service)
    add("ListPublicKeys", list_public_keys, service.signing_keys)
    for name, fn in CHANNEL_OPERATIONS.items():
        add(name, fn, service.channels)
    for trail_op, handler in TRAIL_OPERATIONS.items():
        add(trail_op, handler, service)
    for store_op, handler in STORE_OPERATIONS.items():
        add(store_op, handler, service)
    for query_op, handler in QUERY_OPERATIONS.items():
        add(query_op, handler, service)
    for import_op, handler in IMPORT_OPERATIONS.items():
        add(import_op, handler, service)
    for detect_op, handler in DETECT_OPERATIONS.items():  # OpenTrail's own (docs/detect.md)
        add(detect_op, handler, service)
    table["DescribeOrganization"] = Operation(
        "DescribeOrganization", functools.partial(describe_organization, service), True,
        event_source="organizations.amazonaws.com")
    # Tags, Insights selectors and channels also take event data stores: these handlers
    # replace the trail/channel ones above and call them for everything else.
    for shared_op, handler in SHARED_OPERATIONS.items():
        add(shared_op, handler, service)
    return table


def events_operations(service: Any) -> dict[str, Operation]:
    """EventBridge's operations (X-Amz-Target `AWSEvents.*`), audited as events.amazonaws.com.
    TestEventPattern changes nothing, so a reader key may call it."""
    from opentrail.api._destinations import DESTINATION_OPERATIONS
    from opentrail.api._events import RULE_OPERATIONS

    return {name: Operation(name, functools.partial(fn, service),
                            name.startswith(READ_PREFIXES), name == "TestEventPattern",
                            "events.amazonaws.com")
            for name, fn in {**RULE_OPERATIONS, **DESTINATION_OPERATIONS}.items()}


@functools.cache
def model_operations(service_name: str = "cloudtrail") -> frozenset[str]:
    """Every operation botocore's model of the service names (for UnsupportedOperation)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model(service_name)
    return frozenset(model.operation_names)
