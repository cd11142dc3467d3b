"""Rendering: the Jinja2 environment, value formatting, and the headers every page gets."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

__all__ = ["HERE", "View"]

HERE = Path(__file__).resolve().parent

# Pages load nothing from anywhere else and run no inline script: a stored event is
# attacker-controlled text, so this is the second wall behind autoescaping.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _utc(value: object) -> str:
    if isinstance(value, int | float):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(value))
    return str(value or "")


def _number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _percent(value: object) -> str:
    return f"{value * 100:.1f}%" if isinstance(value, float) else str(value)


class View:
    def __init__(self, version: str) -> None:
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"),
                               autoescape=select_autoescape(default=True),
                               trim_blocks=True, lstrip_blocks=True)
        self.env.filters.update(utc=_utc, number=_number, percent=_percent)
        self.env.globals["version"] = version

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
