"""--smtp-url is checked at start; --sns-endpoint-url and --smtp-url are serve flags."""

from __future__ import annotations

import pytest

from opentrail.config import Settings, validate_settings


def test_smtp_url_is_checked() -> None:
    assert validate_settings(Settings(smtp_url="smtp://user:pw@mail.example.com:587"))
    assert validate_settings(Settings(smtp_url="smtps://mail.example.com"))
    with pytest.raises(ValueError, match="--smtp-url"):
        validate_settings(Settings(smtp_url="mail.example.com"))
