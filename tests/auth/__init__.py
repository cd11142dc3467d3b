"""Tests for opentrail.auth and `opentrail keys`."""
