"""Sources of CloudTrail records that do not come from a CloudTrail client.

* `demo`: generated demo activity.
* Converters from other systems' audit logs (`FORMATS`, `convert`): GCP Cloud Audit
  Logs, Azure Activity Log, Microsoft Entra ID, Kubernetes audit events and Linux auditd,
  each mapped field by field to a CloudTrail record (docs/sources.md).
* `CloudTrailBucket`: a real trail's S3 bucket, read incrementally.
* `to_ocsf`: a CloudTrail record as an OCSF API Activity event.
* SIEM exports (`restore`, `export_entries`, `csv_records`): CloudTrail records as
  Elastic/Logstash, Elasticsearch/OpenSearch, Splunk and Athena/CSV export them, turned
  back into the records (used by `opentrail import`).
"""

from opentrail.sources._auditd import parse_line as parse_audit_line
from opentrail.sources._bucket import BucketObject, CloudTrailBucket
from opentrail.sources._ocsf import OCSF_VERSION, to_ocsf
from opentrail.sources._record import DEFAULT_REGION, ConversionError, Converted, Options
from opentrail.sources._registry import FORMATS, Conversion, Format, convert
from opentrail.sources._siem import csv_records, export_entries, looks_like_csv, restore
from opentrail.sources.demo import DemoAccount, DemoBurst, burst_plan, demo_batches, generate

__all__ = [
    "DEFAULT_REGION",
    "FORMATS",
    "OCSF_VERSION",
    "BucketObject",
    "CloudTrailBucket",
    "Conversion",
    "ConversionError",
    "Converted",
    "DemoAccount",
    "DemoBurst",
    "Format",
    "Options",
    "burst_plan",
    "convert",
    "csv_records",
    "demo_batches",
    "export_entries",
    "generate",
    "looks_like_csv",
    "parse_audit_line",
    "restore",
    "to_ocsf",
]
