"""The Arrow schemas of a store's Parquet files (spec §6) and the records → table conversion.

Three row kinds, one per store category: `cloudtrail` (Management, Data, NetworkActivity),
`insight` and `activity` (ActivityAuditLog, the Integration schema). Every kind also
carries `eventjson` (the ledger's canonical bytes of the record, as text),
`eventjsonchecksum` (its SHA-256, hex) and `seq` (the ledger sequence number; NULL for
imported events), so a row can be proven against the ledger's Merkle leaf.

Conversion is columnar: each column is gathered from the parsed records with one list
comprehension and handed to Arrow whole; Python touches a value only where Arrow cannot
take it as is (a number where a string is declared, a map whose values must be JSON text).
Map columns (`requestparameters`, ...) hold each top-level member: a string as itself, any
other value as its JSON text, JSON null as NULL; a field that is not a JSON object is NULL
(the record still has it in `eventjson`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson
import pyarrow as pa

from opentrail.events._timestamp import epoch_seconds

__all__ = ["KINDS", "LakeEntry", "schema_of", "table_ddl", "to_table"]


class LakeEntry(NamedTuple):
    """One record to store: its ledger seq (None if imported), canonical bytes, parsed form."""

    seq: int | None
    body: bytes
    obj: dict[str, Any]


# A field: (column name, JSON key or key path, type). Types: "s" string, "ts" timestamp,
# "b" bool, "f" double, "i" int32, "m" map<string,string>, or a tuple of fields (struct),
# or ("list", fields) for a list of structs.
Field = tuple[str, "str | tuple[str, ...]", Any]

_S, _TS, _B, _F, _I, _M = "s", "ts", "b", "f", "i", "m"
TIMESTAMP = pa.timestamp("ms", tz="UTC")
MAP = pa.map_(pa.string(), pa.string())

_SESSION_ISSUER: tuple[Field, ...] = (
    ("type", "type", _S), ("principalid", "principalId", _S), ("arn", "arn", _S),
    ("accountid", "accountId", _S), ("username", "userName", _S))
_USER_IDENTITY: tuple[Field, ...] = (
    ("type", "type", _S), ("principalid", "principalId", _S), ("arn", "arn", _S),
    ("accountid", "accountId", _S), ("accesskeyid", "accessKeyId", _S),
    ("username", "userName", _S),
    ("sessioncontext", "sessionContext", (
        ("attributes", "attributes", (("creationdate", "creationDate", _TS),
                                      ("mfaauthenticated", "mfaAuthenticated", _S))),
        ("sessionissuer", "sessionIssuer", _SESSION_ISSUER),
        ("webidfederationdata", "webIdFederationData", (
            ("federatedprovider", "federatedProvider", _S), ("attributes", "attributes", _M))),
        ("sourceidentity", "sourceIdentity", _S),
        ("ec2roledelivery", "ec2RoleDelivery", _S),
        ("ec2issuedinvpc", "ec2IssuedInVPC", _S))),
    ("onbehalfof", "onBehalfOf", (("userid", "userId", _S),
                                  ("identitystorearn", "identityStoreArn", _S))),
    # `credentiaisissuedto` is the AWS schema page's spelling (spec §6), kept as published.
    ("inscopeof", "inScopeOf", (("sourcearn", "sourceArn", _S),
                                ("sourceaccount", "sourceAccount", _S),
                                ("issuertype", "issuerType", _S),
                                ("credentiaisissuedto", "credentialsIssuedTo", _S))),
    ("invokedby", "invokedBy", _S), ("identityprovider", "identityProvider", _S))


CLOUDTRAIL: tuple[Field, ...] = (
    ("eventversion", "eventVersion", _S), ("eventsource", "eventSource", _S),
    ("eventname", "eventName", _S), ("awsregion", "awsRegion", _S),
    ("sourceipaddress", "sourceIPAddress", _S), ("useragent", "userAgent", _S),
    ("errorcode", "errorCode", _S), ("errormessage", "errorMessage", _S),
    ("requestid", "requestID", _S), ("eventid", "eventID", _S),
    ("eventtype", "eventType", _S), ("apiversion", "apiVersion", _S),
    ("recipientaccountid", "recipientAccountId", _S), ("sharedeventid", "sharedEventID", _S),
    ("annotation", "annotation", _S), ("vpcendpointid", "vpcEndpointId", _S),
    ("vpcendpointaccountid", "vpcEndpointAccountId", _S),
    ("eventcategory", "eventCategory", _S),
    ("sessioncredentialfromconsole", "sessionCredentialFromConsole", _S),
    ("eventtime", "eventTime", _TS),
    ("readonly", "readOnly", _B), ("managementevent", "managementEvent", _B),
    ("requestparameters", "requestParameters", _M),
    ("responseelements", "responseElements", _M),
    ("additionaleventdata", "additionalEventData", _M),
    ("serviceeventdetails", "serviceEventDetails", _M),
    ("addendum", "addendum", _M), ("edgedevicedetails", "edgeDeviceDetails", _M),
    ("insightdetails", "insightDetails", _M),
    ("resources", "resources", ("list", (("accountid", "accountId", _S), ("type", "type", _S),
                                         ("arn", "ARN", _S), ("arnprefix", "ARNPrefix", _S)))),
    ("tlsdetails", "tlsDetails", (("tlsversion", "tlsVersion", _S),
                                  ("ciphersuite", "cipherSuite", _S),
                                  ("clientprovidedhostheader", "clientProvidedHostHeader", _S))),
    ("useridentity", "userIdentity", _USER_IDENTITY),
)

_RANKED = ("list", (("value", "value", _S), ("average", "average", _F)))
INSIGHT: tuple[Field, ...] = (
    ("eventversion", "eventVersion", _S), ("eventcategory", "eventCategory", _S),
    ("eventtype", "eventType", _S), ("eventid", "eventID", _S), ("awsregion", "awsRegion", _S),
    ("recipientaccountid", "recipientAccountId", _S), ("sharedeventid", "sharedEventID", _S),
    ("insightsource", "insightSource", _S),
    ("insightstate", ("insightDetails", "state"), _S),
    ("insighteventsource", ("insightDetails", "eventSource"), _S),
    ("insighteventname", ("insightDetails", "eventName"), _S),
    ("insighterrorcode", ("insightDetails", "errorCode"), _S),
    ("insighttype", ("insightDetails", "insightType"), _S),
    ("eventtime", "eventTime", _TS), ("addendum", "addendum", _M),
    ("insightcontext", ("insightDetails", "insightContext"), (
        ("baselineaverage", ("statistics", "baseline", "average"), _F),
        ("insightaverage", ("statistics", "insight", "average"), _F),
        ("baselineduration", ("statistics", "baselineDuration"), _I),
        ("insightduration", ("statistics", "insightDuration"), _I),
        ("attributions", "attributions", ("list", (
            ("attribute", "attribute", _S), ("insight", "insight", _RANKED),
            ("baseline", "baseline", _RANKED)))))),
)

ACTIVITY: tuple[Field, ...] = (
    ("eventversion", "eventVersion", _S), ("eventcategory", "eventCategory", _S),
    ("eventtype", "eventType", _S), ("eventid", "eventID", _S), ("awsregion", "awsRegion", _S),
    ("recipientaccountid", "recipientAccountId", _S), ("eventtime", "eventTime", _TS),
    ("addendum", "addendum", (("reason", "reason", _S), ("updatedfields", "updatedFields", _S),
                              ("originaluid", "originalUID", _S),
                              ("originaleventid", "originalEventID", _S))),
    ("metadata", "metadata", (("ingestiontime", "ingestionTime", _S),
                              ("channelarn", "channelARN", _S))),
    ("eventdata", "eventData", (
        ("version", "version", _S),
        ("useridentity", "userIdentity", (("type", "type", _S),
                                          ("principalid", "principalId", _S),
                                          ("details", "details", _M))),
        ("useragent", "userAgent", _S), ("eventsource", "eventSource", _S),
        ("eventname", "eventName", _S), ("eventtime", "eventTime", _S), ("uid", "UID", _S),
        ("requestparameters", "requestParameters", _M),
        ("responseelements", "responseElements", _M),
        ("errorcode", "errorCode", _S), ("errormessage", "errorMessage", _S),
        ("sourceipaddress", "sourceIPAddress", _S),
        ("recipientaccountid", "recipientAccountId", _S),
        ("additionaleventdata", "additionalEventData", _M))),
)

KINDS: dict[str, tuple[Field, ...]] = {"cloudtrail": CLOUDTRAIL, "insight": INSIGHT,
                                       "activity": ACTIVITY}


def _arrow_type(kind: Any) -> pa.DataType:
    simple = {_S: pa.string(), _TS: TIMESTAMP, _B: pa.bool_(), _F: pa.float64(),
              _I: pa.int32(), _M: MAP}
    if isinstance(kind, str):
        return simple[kind]
    if kind[0] == "list":
        return pa.list_(_struct_type(kind[1]))
    return _struct_type(kind)


def _struct_type(fields: tuple[Field, ...]) -> pa.StructType:
    return pa.struct([pa.field(name, _arrow_type(kind)) for name, _key, kind in fields])


def _schema(fields: tuple[Field, ...]) -> pa.Schema:
    columns = [pa.field(name, _arrow_type(kind)) for name, _key, kind in fields]
    columns += [pa.field("eventjson", pa.string()), pa.field("eventjsonchecksum", pa.string()),
                pa.field("seq", pa.int64())]
    return pa.schema(columns)


SCHEMAS = {kind: _schema(fields) for kind, fields in KINDS.items()}


def schema_of(kind: str) -> pa.Schema:
    """The Arrow schema of a store kind (`EventDataStore.kind`); KeyError if unknown."""
    return SCHEMAS[kind]


def to_table(kind: str, entries: Sequence[LakeEntry]) -> pa.Table:
    """The rows of `entries` as a table of `schema_of(kind)`, in the order given."""
    fields = KINDS[kind]
    objs = [e.obj for e in entries]
    arrays = [_column(objs, key, kind_) for _name, key, kind_ in fields]
    bodies = [e.body for e in entries]
    arrays.append(pa.array(bodies, type=pa.binary()).cast(pa.string()))
    arrays.append(pa.array([hashlib.sha256(b).hexdigest() for b in bodies], type=pa.string()))
    arrays.append(pa.array([e.seq for e in entries], type=pa.int64()))
    return pa.Table.from_arrays(arrays, schema=SCHEMAS[kind])


def _values(objs: list[Any], key: str | tuple[str, ...]) -> list[Any]:
    if isinstance(key, str):
        return [o.get(key) for o in objs]
    values = objs
    for part in key:
        values = [v.get(part) if type(v) is dict else None for v in values]
    return values


def _column(objs: list[Any], key: str | tuple[str, ...], kind: Any) -> pa.Array:
    return _array(_values(objs, key), kind)


def _array(values: list[Any], kind: Any) -> pa.Array:
    if isinstance(kind, str):
        return _LEAVES[kind](values)
    if kind[0] == "list":
        return _struct_list(values, kind[1])
    return _struct(values, kind)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _strings(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([_text(v) for v in values], type=pa.string())


def _timestamps(values: list[Any]) -> pa.Array:
    """ISO 8601 UTC text to milliseconds; a value that is not such a time is NULL."""
    errors = (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError)
    try:
        return pa.array(values, type=pa.string()).cast(TIMESTAMP)
    except errors:
        pass
    valid = [v if isinstance(v, str) and epoch_seconds(v) is not None else None
             for v in values]
    try:
        return pa.array(valid, type=pa.string()).cast(TIMESTAMP)
    except errors:
        pass
    millis = []
    for v in values:
        seconds = epoch_seconds(v) if isinstance(v, str) else None
        millis.append(None if seconds is None else seconds * 1000)
    return pa.array(millis, type=pa.int64()).cast(TIMESTAMP)


def _bools(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values, type=pa.bool_())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        flags = {"true": True, "false": False}
        return pa.array([v if isinstance(v, bool) else flags.get(str(v).lower())
                         for v in values], type=pa.bool_())


def _numbers(values: list[Any], arrow_type: pa.DataType) -> pa.Array:
    try:
        return pa.array(values, type=arrow_type)
    except (pa.ArrowTypeError, pa.ArrowInvalid, OverflowError):
        return pa.array([v if isinstance(v, int | float) and not isinstance(v, bool) else None
                         for v in values], type=pa.float64()).cast(arrow_type, safe=False)


def _floats(values: list[Any]) -> pa.Array:
    return _numbers(values, pa.float64())


def _ints(values: list[Any]) -> pa.Array:
    return _numbers(values, pa.int32())


def _maps(values: list[Any]) -> pa.Array:
    dumps = orjson.dumps
    rows: list[list[tuple[str, str | None]] | None] = []
    for v in values:
        if type(v) is dict:
            rows.append([(k, x if type(x) is str else None if x is None else dumps(x).decode())
                         for k, x in v.items()])
        else:
            rows.append(None)
    return pa.array(rows, type=MAP)


_LEAVES = {_S: _strings, _TS: _timestamps, _M: _maps, _B: _bools, _F: _floats, _I: _ints}


def _struct(values: list[Any], fields: tuple[Field, ...]) -> pa.Array:
    """Children are gathered only from the records that have the object (most records
    lack most optional structs), then spread back with nulls where it is absent."""
    struct_type = _struct_type(fields)
    present = [i for i, v in enumerate(values) if type(v) is dict]
    if not present:
        return pa.nulls(len(values), struct_type)
    objs = values if len(present) == len(values) else [values[i] for i in present]
    children = [_column(objs, key, kind) for _name, key, kind in fields]
    compact = pa.StructArray.from_arrays(children, fields=list(struct_type))
    if objs is values:
        return compact
    index: list[int | None] = [None] * len(values)
    for j, i in enumerate(present):
        index[i] = j
    return compact.take(pa.array(index, type=pa.int32()))


def _struct_list(values: list[Any], fields: tuple[Field, ...]) -> pa.Array:
    offsets, items, nulls = [0], [], []
    for v in values:
        if type(v) is list:
            items.extend(v)
            nulls.append(False)
        else:
            nulls.append(True)
        offsets.append(len(items))
    flat = _struct(items, fields)
    return pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), flat,
                                    type=pa.list_(_struct_type(fields)),
                                    mask=pa.array(nulls, type=pa.bool_()))


def table_ddl(kind: str, dialect: str = "hive") -> str:
    """The column list of `kind` for another engine's CREATE TABLE: `hive` (Athena, Spark
    SQL, Hive) or `trino`; partition columns are not included (docs/lake.md)."""
    write = _hive_type if dialect == "hive" else _trino_type
    return ",\n".join(f"  {field.name} {write(field.type)}" for field in SCHEMAS[kind])


def _hive_type(t: pa.DataType) -> str:
    if pa.types.is_struct(t):
        return "struct<" + ", ".join(f"{f.name}: {_hive_type(f.type)}" for f in t) + ">"
    if pa.types.is_map(t):
        return f"map<{_hive_type(t.key_type)}, {_hive_type(t.item_type)}>"
    if pa.types.is_list(t):
        return f"array<{_hive_type(t.value_type)}>"
    return _SCALARS[str(t)][0]


def _trino_type(t: pa.DataType) -> str:
    if pa.types.is_struct(t):
        return "row(" + ", ".join(f"{f.name} {_trino_type(f.type)}" for f in t) + ")"
    if pa.types.is_map(t):
        return f"map({_trino_type(t.key_type)}, {_trino_type(t.item_type)})"
    if pa.types.is_list(t):
        return f"array({_trino_type(t.value_type)})"
    return _SCALARS[str(t)][1]


_SCALARS = {"string": ("string", "varchar"), "bool": ("boolean", "boolean"),
            "double": ("double", "double"), "int32": ("int", "integer"),
            "int64": ("bigint", "bigint"),
            "timestamp[ms, tz=UTC]": ("timestamp", "timestamp(3)")}
