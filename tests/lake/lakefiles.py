"""Parquet files in docs/design/lake.md's layout, written by the tests themselves.

A stand-in for lake._writer so the query side can be tested against the documented
layout and columns on its own: invictus records become rows with pyarrow, one file per
(store, account, region, date) partition.
"""

from __future__ import annotations

import glob
import hashlib
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

DATASET = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "invictus-aws"

S = pa.string()
STRINGS = ["eventversion", "eventsource", "eventname", "awsregion", "sourceipaddress",
           "useragent", "errorcode", "errormessage", "requestid", "eventid", "eventtype",
           "apiversion", "recipientaccountid", "sharedeventid", "annotation",
           "vpcendpointid", "vpcendpointaccountid", "eventcategory",
           "sessioncredentialfromconsole", "eventjson", "eventjsonchecksum"]
MAPS = ["requestparameters", "responseelements", "additionaleventdata",
        "serviceeventdetails", "addendum", "edgedevicedetails", "insightdetails"]
SOURCE_NAMES = {"eventversion": "eventVersion", "eventsource": "eventSource",
                "eventname": "eventName", "awsregion": "awsRegion",
                "sourceipaddress": "sourceIPAddress", "useragent": "userAgent",
                "errorcode": "errorCode", "errormessage": "errorMessage",
                "requestid": "requestID", "eventid": "eventID", "eventtype": "eventType",
                "apiversion": "apiVersion", "recipientaccountid": "recipientAccountId",
                "sharedeventid": "sharedEventID", "annotation": "annotation",
                "vpcendpointid": "vpcEndpointId", "vpcendpointaccountid": "vpcEndpointAccountId",
                "eventcategory": "eventCategory",
                "sessioncredentialfromconsole": "sessionCredentialFromConsole",
                "requestparameters": "requestParameters",
                "responseelements": "responseElements",
                "additionaleventdata": "additionalEventData",
                "serviceeventdetails": "serviceEventDetails", "addendum": "addendum",
                "edgedevicedetails": "edgeDeviceDetails", "insightdetails": "insightDetails"}


def _struct(*names: str, **typed: pa.DataType) -> pa.DataType:
    return pa.struct([pa.field(n, S) for n in names] + [pa.field(k, v) for k, v in typed.items()])


ISSUER = _struct("type", "principalid", "arn", "accountid", "username")
SESSION = _struct(
    "sourceidentity", "ec2roledelivery", "ec2issuedinvpc",
    attributes=_struct("mfaauthenticated", creationdate=pa.timestamp("ms", tz="UTC")),
    sessionissuer=ISSUER,
    webidfederationdata=_struct("federatedprovider", attributes=pa.map_(S, S)))
IDENTITY = _struct("type", "principalid", "arn", "accountid", "accesskeyid", "username",
                   "invokedby", "identityprovider", sessioncontext=SESSION,
                   onbehalfof=_struct("userid", "identitystorearn"),
                   inscopeof=_struct("sourcearn", "sourceaccount", "issuertype",
                                     "credentiaisissuedto"))
SCHEMA = pa.schema(
    [pa.field(n, S) for n in STRINGS]
    + [pa.field("eventtime", pa.timestamp("ms", tz="UTC")),
       pa.field("readonly", pa.bool_()), pa.field("managementevent", pa.bool_())]
    + [pa.field(n, pa.map_(S, S)) for n in MAPS]
    + [pa.field("resources", pa.list_(_struct("accountid", "type", "arn", "arnprefix"))),
       pa.field("tlsdetails", _struct("tlsversion", "ciphersuite", "clientprovidedhostheader")),
       pa.field("useridentity", IDENTITY), pa.field("seq", pa.int64())])


def invictus_records() -> list[dict[str, Any]]:
    records = [r for f in sorted(glob.glob(str(DATASET / "CloudTrail" / "*.json")))
               for r in json.loads(Path(f).read_text())["Records"]]
    return sorted(records, key=lambda r: (r["eventTime"], r["eventID"]))


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _map(value: Any) -> list[tuple[str, str]] | None:
    if not isinstance(value, dict):
        return None
    return [(k, v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))
            for k, v in value.items()]


def _lower(value: Any, kind: pa.DataType) -> Any:  # noqa: PLR0911 (one return per type)
    """A JSON value shaped to an Arrow type: struct keys lower-cased, leaves as strings."""
    if value is None:
        return None
    if pa.types.is_struct(kind):
        if not isinstance(value, dict):
            return None
        given = {k.lower(): v for k, v in value.items()}
        return {f.name: _lower(given.get(f.name), f.type) for f in kind}
    if pa.types.is_map(kind):
        return _map(value)
    if pa.types.is_list(kind):
        return [_lower(v, kind.value_type) for v in value] if isinstance(value, list) else None
    if pa.types.is_timestamp(kind):
        return parse_time(value) if isinstance(value, str) else None
    return _leaf(value)


def _leaf(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


def to_row(record: dict[str, Any], seq: int) -> dict[str, Any]:
    body = json.dumps(record, separators=(",", ":"), sort_keys=True)
    row: dict[str, Any] = {n: _lower(record.get(SOURCE_NAMES.get(n, n)), S) for n in STRINGS}
    row["eventjson"] = body
    row["eventjsonchecksum"] = hashlib.sha256(body.encode()).hexdigest()
    row["eventtime"] = parse_time(record["eventTime"])
    row["readonly"] = record.get("readOnly")
    row["managementevent"] = record.get("managementEvent")
    for name in MAPS:
        row[name] = _map(record.get(SOURCE_NAMES[name]))
    for name in ("resources", "tlsdetails", "useridentity"):
        source = {"tlsdetails": "tlsDetails", "useridentity": "userIdentity"}.get(name, name)
        row[name] = _lower(record.get(source), SCHEMA.field(name).type)
    row["seq"] = seq
    return row


@dataclass(frozen=True)
class Store:
    """What the query side needs of lake._model.EventDataStore."""

    id: str
    account: str
    region: str = "us-east-1"
    kind: str = "cloudtrail"


def write_store(root: Path, store_id: str, records: list[dict[str, Any]],
                first_seq: int = 1) -> list[Path]:
    """The records as Parquet files under root/<store-id>/account=/region=/date=/."""
    parts: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for seq, record in enumerate(records, first_seq):
        key = (record["recipientAccountId"], record["awsRegion"], record["eventTime"][:10])
        parts[key].append(to_row(record, seq))
    written = []
    for (account, region, day), rows in sorted(parts.items()):
        folder = root / store_id / f"account={account}" / f"region={region}" / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{rows[0]['seq']:020d}-{rows[-1]['seq']:020d}.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path, compression="zstd")
        written.append(path)
    return written


def store_files(root: Path, store: Any) -> list[str]:
    return sorted(str(p) for p in (root / store.id).glob("account=*/region=*/date=*/*.parquet"))


def new_store_id() -> str:
    return str(uuid.uuid4())


def empty_table(store: Any) -> pa.Table:
    return SCHEMA.empty_table()
