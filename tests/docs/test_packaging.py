"""The README's first command keeps working on a fresh machine as the product grows.

`pip install .` installs only the base dependencies, so every third-party module the
package imports must be one of them (a module that only a transitive dependency brings
in can vanish with that dependency's next release), and heavy optional engines (Lake,
PostgreSQL, Spark, PDF reports) must stay extras: `pip install 'opentrail[spark]'`.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

# Import name -> distribution name, where they differ.
DISTRIBUTION = {"dateutil": "python-dateutil", "yaml": "pyyaml", "sigma": "pysigma",
                "psycopg_pool": "psycopg-pool"}
# Heavy engines the embedded default never needs: extras only. (duckdb and pyarrow left
# this list with issue 11: the Lake's embedded engine, DuckDB over Parquet, is part of
# the default server, and its Parquet files are written by pyarrow.)
HEAVY = {"pyspark", "psycopg", "psycopg2", "psycopg-binary", "psycopg-pool", "weasyprint",
         "pandas", "polars", "torch"}
# Extras a user installs to switch a feature on (`pip install 'opentrail[spark]'`); their
# modules may be imported, lazily, where that feature starts. test/bench are not features.
FEATURE_EXTRAS = {_group for _group in PROJECT.get("optional-dependencies", {})
                  if _group not in ("test", "bench")}


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9_.-]+", requirement)
    assert match, requirement
    return match[0].lower().replace("_", "-")


def _imported() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / "src" / "opentrail").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "opentrail" and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_imported_module_is_a_declared_base_dependency() -> None:
    extras = PROJECT.get("optional-dependencies", {})
    base = {_name(r) for r in PROJECT["dependencies"]} | {
        _name(r) for group in FEATURE_EXTRAS for r in extras[group]}
    missing = {module: sorted(paths) for module, paths in _imported().items()
               if DISTRIBUTION.get(module, module).lower() not in base}
    assert not missing, f"imported but not in [project].dependencies: {missing}"


def test_heavy_engines_are_extras_not_base_dependencies() -> None:
    base = {_name(r) for r in PROJECT["dependencies"]}
    assert not base & HEAVY, f"heavy engines belong in an extra: {sorted(base & HEAVY)}"


def test_the_readme_first_command_is_the_one_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    assert ("python3 -m venv .venv && . .venv/bin/activate && pip install . && "
            "opentrail quickstart") in readme
    assert f"Python ≥ {PROJECT['requires-python'].removeprefix('>=')}" in readme
