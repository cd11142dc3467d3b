"""report.html from report.json's document (Jinja2), and report.pdf from the HTML.

The HTML is self-contained (inline CSS, no script, no external fetch) and depends only
on the document, so equal documents give byte-identical pages. The PDF needs the
optional extra `opentrail[pdf]` (WeasyPrint); its metadata dates are fixed to the
period's end, so it is byte-identical across runs too.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

__all__ = ["PdfUnavailable", "render_html", "render_pdf"]

RESULT_CLASS = {"PASS": "pass", "FAIL": "fail", "WARN": "warn", "MANUAL": "manual",
                "N/A": "na", "ERROR": "error"}


class PdfUnavailable(RuntimeError):
    """WeasyPrint (or the Pango it needs) is not installed."""


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("opentrail.compliance", "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    # ", " and ": " give lines places to wrap: break-all costs WeasyPrint ~1 s a page.
    env.filters["tojson_compact"] = lambda v: json.dumps(v, sort_keys=True,
                                                         ensure_ascii=False, default=str,
                                                         separators=(", ", ": "))
    env.globals["result_class"] = RESULT_CLASS
    return env


def render_html(doc: dict[str, Any]) -> str:
    tally: dict[str, int] = {}
    for check in doc["checks"]:
        tally[check["result"]] = tally.get(check["result"], 0) + 1
    html: str = _environment().get_template("report.html").render(doc=doc, tally=tally)
    return html


def render_pdf(html: str, when: str | None = None) -> bytes:
    try:
        import weasyprint  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except (ImportError, OSError) as exc:
        raise PdfUnavailable("PDF output needs WeasyPrint: pip install 'opentrail[pdf]' "
                             f"(and Pango; see docs/compliance.md). ({exc})") from exc
    document = weasyprint.HTML(string=html).render()
    document.metadata.created = document.metadata.modified = when or _fixed_date(html)
    pdf: bytes = document.write_pdf(pdf_identifier=b"opentrail-compliance")
    return pdf


def _fixed_date(html: str) -> str:
    marker = 'name="period-end" content="'
    at = html.find(marker)
    if at < 0:
        return datetime(2000, 1, 1).isoformat()
    return html[at + len(marker): at + len(marker) + 20]
