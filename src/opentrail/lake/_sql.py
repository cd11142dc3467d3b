"""CloudTrail Lake SQL (Trino) in, DuckDB or Spark SQL out, through sqlglot's parser.

`translate` accepts exactly one read-only query (SELECT, with UNION/EXCEPT/INTERSECT,
JOINs, subqueries, CTEs and window functions) and refuses anything else with
InvalidQueryStatement naming the problem, before anything runs. The invariant: every
table the translated SQL reads is a store that `resolve` allowed, named by a placeholder
the engine binds to that store's files; the SQL text is never rewritten as text.

Three CloudTrail-isms are handled on the way:
- store ids are table names, unquoted, hyphens included (`FROM 1a2b-...`). Trino cannot
  parse that, so the targets of FROM and JOIN are joined from sqlglot's own tokens (the
  pieces of an id are adjacent tokens with no space between them) and quoted;
- identifiers are case-insensitive: every identifier is lower-cased, as Trino does;
- `eventtime` compared with a string literal compares with that literal as a timestamp.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import sqlglot
from sqlglot import Token, TokenType, exp
from sqlglot.dialects.trino import Trino
from sqlglot.errors import ParseError, TokenError

from opentrail.errors import InvalidQueryStatement, OpenTrailError

__all__ = ["Dialect", "StoreLike", "Translation", "translate"]

Dialect = Literal["duckdb", "spark"]
TIME_COLUMNS = frozenset({"eventtime", "creationdate"})
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ,
                exp.NullSafeNEQ)
# Where a table name may follow; DML/DDL targets too, so that those are refused as what
# they are rather than as a syntax error.
_TARGET_OPENERS = (TokenType.FROM, TokenType.JOIN, TokenType.TABLE, TokenType.INTO,
                   TokenType.UPDATE)
_ID_PIECES = (TokenType.VAR, TokenType.NUMBER, TokenType.DASH)
# Engine functions that reach outside the query's stores: Spark runs any Java static
# method with reflect/java_method (in the server's JVM in local mode) and reads files with
# read_files; DuckDB reads the environment and runs SQL text. Trino has none of them.
_FORBIDDEN_FUNCTIONS = frozenset({"reflect", "try_reflect", "java_method", "read_files",
                                  "getenv", "query", "query_table", "current_setting",
                                  "input_file_name", "input_file_block_start",
                                  "input_file_block_length"})


class StoreLike(Protocol):
    """What translation needs of an EventDataStore (lake._model)."""

    @property
    def id(self) -> str: ...


@dataclass(frozen=True)
class Translation:
    """The query in the engine's dialect; `tables` maps each placeholder table name in
    `sql` to the store it stands for (the engine binds it to that store's files)."""

    sql: str
    tables: dict[str, Any]
    columns_named: bool = True

    @property
    def stores(self) -> list[Any]:
        unique: dict[str, Any] = {}
        for store in self.tables.values():
            unique.setdefault(store.id, store)
        return list(unique.values())


def _refuse(problem: str) -> InvalidQueryStatement:
    return InvalidQueryStatement(f"The query statement is not valid: {problem}")


# -- store ids as table names -----------------------------------------------------------

def _target_end(tokens: list[Token], i: int) -> int:
    """Index after the run of adjacent id pieces starting at tokens[i]."""
    j = i + 1
    while (j < len(tokens) and tokens[j].token_type in _ID_PIECES
           and tokens[j].start == tokens[j - 1].end + 1):
        j += 1
    while j > i + 1 and tokens[j - 1].token_type is TokenType.DASH:
        j -= 1
    return j


def quote_store_ids(sql: str) -> str:
    """Quote each FROM/JOIN target that is a hyphenated or digit-led store id."""
    try:
        tokens = Trino().tokenize(sql)
    except TokenError as exc:
        raise _refuse(f"it cannot be read ({exc}).") from None
    pieces, last = [], 0
    for i, token in enumerate(tokens[:-1]):
        following = tokens[i + 1]
        if token.token_type not in _TARGET_OPENERS or following.token_type not in _ID_PIECES:
            continue
        end = _target_end(tokens, i + 1)
        run = tokens[i + 1:end]
        text = sql[run[0].start:run[-1].end + 1]
        if len(run) > 1 or run[0].token_type is TokenType.NUMBER:
            pieces += [sql[last:run[0].start], f'"{text}"']
            last = run[-1].end + 1
    return "".join(pieces) + sql[last:]


# -- the statement ----------------------------------------------------------------------

def _parse(sql: str) -> exp.Query:
    if not sql.strip():
        raise _refuse("it is empty.")
    try:
        logging.getLogger("sqlglot").disabled = True
        statements = [s for s in sqlglot.parse(quote_store_ids(sql), read="trino") if s]
    except ParseError as exc:
        errors = exc.errors[0] if exc.errors else {}
        where = f" near line {errors.get('line')}, column {errors.get('col')}" if errors else ""
        reason = str(errors.get("description", exc)).split(" <Token")[0].rstrip(".")
        near = f" (at {errors['highlight']!r})" if errors.get("highlight") else ""
        raise _refuse(f"syntax error{where}{near}: {reason}.") from None
    if len(statements) != 1:
        raise _refuse(f"it holds {len(statements)} statements; send exactly one SELECT.")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        kind = statement.key.upper() if not isinstance(statement, exp.Command) \
            else str(statement.this).upper()
        raise _refuse(f"only SELECT is allowed; this is a {kind} statement.")
    return statement


def _forbidden(statement: exp.Query) -> None:
    for node in statement.walk():
        if isinstance(node, exp.DML | exp.DDL | exp.Command | exp.Set | exp.Into):
            raise _refuse(f"only SELECT is allowed; it contains {node.key.upper()}.")
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in _FORBIDDEN_FUNCTIONS:
                raise _refuse(f"the function {name} is not available in Lake queries.")


def _cte_names(statement: exp.Query) -> set[str]:
    return {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}


def _bind_tables(statement: exp.Query, resolve: Callable[[str], Any]) -> dict[str, Any]:
    """Replace each store id by a placeholder; the store's id (as written) stays its alias."""
    ctes = _cte_names(statement)
    tables: dict[str, Any] = {}
    placeholders: dict[str, str] = {}
    unique = secrets.token_hex(4)  # engines may share a catalog (Spark): never reuse a name
    for table in list(statement.find_all(exp.Table)):
        if not isinstance(table.this, exp.Identifier):
            raise _refuse(f"{table.sql('trino')} is not a table; FROM and JOIN take an "
                          "event data store ID (or a subquery or CTE).")
        name = table.name
        if table.args.get("db") or table.args.get("catalog"):
            raise _refuse(f"{table.sql('trino')} is not an event data store; name a store "
                          "by its ID alone.")
        if name.lower() in ctes:
            continue
        if name not in placeholders:
            placeholders[name] = f"eds_{unique}_{len(placeholders) + 1}"
            tables[placeholders[name]] = _resolve(resolve, name)
        alias = table.alias or name
        table.set("this", exp.to_identifier(placeholders[name]))
        table.set("alias", exp.TableAlias(this=exp.to_identifier(alias.lower(), quoted=True)))
    if not tables:
        raise _refuse("it reads no event data store; name one in FROM, by its ID.")
    return tables


def _resolve(resolve: Callable[[str], Any], name: str) -> Any:
    """The store a table name names. Not found or malformed is a problem of the statement;
    other refusals (a store pending deletion: InactiveEventDataStore) keep their code."""
    try:
        return resolve(name)
    except OpenTrailError as err:
        if not err.code.endswith(("NotFoundException", "ARNInvalidException")):
            raise
        raise _refuse(f"{name} is not an event data store you can query "
                      f"({err.message})") from None


# -- rewriting --------------------------------------------------------------------------

def _lower_identifiers(statement: exp.Query) -> None:
    for ident in statement.find_all(exp.Identifier):
        ident.set("this", ident.this.lower())


def _is_time(node: Any) -> bool:
    return isinstance(node, exp.Column | exp.Dot) and node.name.lower() in TIME_COLUMNS


def _as_time(literal: exp.Expression, dialect: Dialect) -> exp.Expression:
    kind = "timestamptz" if dialect == "duckdb" else "timestamp"
    return exp.cast(literal.copy(), exp.DataType.build(kind))


def _coerce_times(statement: exp.Query, dialect: Dialect) -> None:
    """`eventtime > '2023-01-01 00:00:00'`: the string is read as a UTC timestamp."""
    for node in list(statement.walk()):
        if isinstance(node, _COMPARISONS):
            left, right = node.left, node.right
            if _is_time(left) and isinstance(right, exp.Literal) and right.is_string:
                right.replace(_as_time(right, dialect))
            elif _is_time(right) and isinstance(left, exp.Literal) and left.is_string:
                left.replace(_as_time(left, dialect))
        elif isinstance(node, exp.Between | exp.In) and _is_time(node.this):
            for key in ("low", "high", "expressions"):
                values = node.args.get(key)
                for value in values if isinstance(values, list) else [values]:
                    if isinstance(value, exp.Literal) and value.is_string:
                        value.replace(_as_time(value, dialect))


def _scalar_json(statement: exp.Query, dialect: Dialect) -> None:
    """Trino's json_extract_scalar is NULL when the path names an object or an array;
    DuckDB's ->> and Spark's get_json_object would return its JSON text instead."""
    for node in list(statement.find_all(exp.JSONExtractScalar)):
        original = node.copy()
        if dialect == "duckdb":
            kind: exp.Expression = exp.Anonymous(
                this="json_type", expressions=[original.this.copy(),
                                               original.expression.copy()])
            nested = exp.In(this=kind, expressions=[exp.Literal.string("OBJECT"),
                                                   exp.Literal.string("ARRAY")])
        else:
            first = exp.Anonymous(this="left", expressions=[original.copy(),
                                                            exp.Literal.number(1)])
            nested = exp.In(this=first, expressions=[exp.Literal.string("{"),
                                                    exp.Literal.string("[")])
        node.replace(exp.Case(ifs=[exp.If(this=nested, true=exp.Null())], default=original))


def _integer_division(statement: exp.Query) -> None:
    """Spark's `/` always divides as doubles; Trino's divides integers as integers
    (truncating). Where both operands are known integers (literals, counts, sums of
    integers...), write Spark's DIV. (DuckDB runs with integer_division on instead.)"""
    from sqlglot.optimizer.annotate_types import annotate_types

    try:
        annotate_types(statement)
    except Exception:  # types unknown: leave the divisions as written
        return
    for node in list(statement.find_all(exp.Div)):
        left, right = node.this.type, node.expression.type
        if left is not None and right is not None and left.is_type(
                *exp.DataType.INTEGER_TYPES) and right.is_type(*exp.DataType.INTEGER_TYPES):
            node.replace(exp.IntDiv(this=node.this.copy(), expression=node.expression.copy()))


def _name_columns(statement: exp.Query) -> None:
    """Unnamed select expressions get Trino's names: _col0, _col1, ..."""
    for select in statement.find_all(exp.Select):
        for i, item in enumerate(select.expressions):
            if not isinstance(item, exp.Alias | exp.Column | exp.Dot | exp.Star):
                item.replace(exp.alias_(item.copy(), f"_col{i}", quoted=True))


def translate(sql: str, resolve: Callable[[str], Any], dialect: Dialect) -> Translation:
    """The query for the engine, or InvalidQueryStatement naming why not."""
    statement = _parse(sql)
    _forbidden(statement)
    tables = _bind_tables(statement, resolve)
    _lower_identifiers(statement)
    _coerce_times(statement, dialect)
    _name_columns(statement)
    _scalar_json(statement, dialect)
    if dialect == "spark":
        _integer_division(statement)
    try:
        out = statement.sql(dialect=dialect, unsupported_level=sqlglot.ErrorLevel.RAISE)
    except sqlglot.errors.UnsupportedError as exc:
        raise _refuse(f"it uses something the {dialect} engine cannot run: {exc}.") from None
    return Translation(out, tables)
