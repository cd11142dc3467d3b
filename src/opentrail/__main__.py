from opentrail.cli import entry

entry()
