"""Data contracts: ``data_contracts/<table>.yaml`` (ODCS v3) -> rules -> Great Expectations suites.

A contract declares, per table, its columns (logical and physical type, required, enumeration,
how the value is normalised) and its quality rules. Every rule has a ``name`` (what the
quarantine and the report call it) and a ``severity``:

- ``row``: the row goes to quarantine with the rule's name;
- ``delivery``: the table's delivery is refused (unreadable file, missing column, manifest
  mismatch, too many bad rows);
- ``warn``: counted and reported only.

Rules with ``engine: great-expectations`` compile to GX expectations as written. Rules with
``engine: riskstrat`` (ICD-10-CM validity, NPI check digit, resends, person in eligibility, ...)
are computed in DuckDB/Python by :mod:`riskstrat.ingest.checks`; each such row rule becomes one boolean
column ``ok__<rule>`` that GX validates too, so every rule is reported the same way (in the
validation results and Data Docs). Great Expectations is imported lazily: it costs seconds.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from open_data_contract_standard.model import OpenDataContractStandard

from riskstrat.core.errors import RiskstratError
from riskstrat.core.months import add_months, month_end

#: Tables in the order ingest processes them: eligibility first, so a claim's person can be checked.
TABLES: tuple[str, ...] = (
    "eligibility",
    "medical_claim",
    "pharmacy_claim",
    "ed_visit",
    "care_management",
    "sdoh_screening",
)
SEVERITIES = ("row", "delivery", "warn")
LOGICAL_TYPES = ("string", "date", "timestamp", "integer", "number")
#: Lake (DuckDB) type of each logical type, as docs/lake.md fixes it.
DUCKDB_TYPES = {"string": "VARCHAR", "date": "DATE", "timestamp": "TIMESTAMP", "integer": "BIGINT", "number": "DOUBLE"}
#: How a column's text may be normalised before typing (``customProperties.normalize``; docs/lake.md):
#: DuckDB SQL over the column's trimmed text ``{x}`` (``{parts}``: the text split on hyphens).
NORMALISATIONS = {
    "trim": "{x}",  # every column's text is trimmed already; the name says so in the contract
    "adjustment_sequence": "{x}",  # typed as an integer, a missing sequence as 0 (riskstrat.ingest.read)
    "icd10cm": "upper(replace({x}, '.', ''))",
    "upper": "upper({x})",
    "pad2": "CASE WHEN regexp_full_match({x}, '[0-9]') THEN '0' || {x} ELSE {x} END",
    "pad4": "CASE WHEN regexp_full_match({x}, '[0-9]{{3}}') THEN '0' || {x} ELSE {x} END",
    "bill_type": "CASE WHEN regexp_full_match({x}, '0[0-9]{{3}}') THEN substr({x}, 2) ELSE {x} END",
    # 10-digit NDCs in their three hyphenated layouts (4-4-2, 5-3-2, 5-4-1) to the 11-digit 5-4-2 form
    "ndc": ("CASE WHEN regexp_full_match({x}, '[0-9]{{4}}-[0-9]{{4}}-[0-9]{{2}}') THEN '0' || replace({x}, '-', '') "
            "WHEN regexp_full_match({x}, '[0-9]{{5}}-[0-9]{{3}}-[0-9]{{2}}') THEN {parts}[1] || '0' || {parts}[2] || {parts}[3] "
            "WHEN regexp_full_match({x}, '[0-9]{{5}}-[0-9]{{4}}-[0-9]{{1}}') THEN {parts}[1] || {parts}[2] || '0' || {parts}[3] "
            "WHEN regexp_full_match({x}, '[0-9]{{5}}-[0-9]{{4}}-[0-9]{{2}}') THEN replace({x}, '-', '') "
            "ELSE {x} END"),
    "claim_status": "COALESCE({x}, 'paid')",
}


class ContractError(RiskstratError):
    """A contract file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Column:
    """One column of a table, as the contract declares it."""

    name: str
    logical_type: str
    required: bool = False
    enum: tuple[str, ...] | None = None
    normalize: str | None = None
    restricted: bool = False
    description: str = ""

    @property
    def duckdb_type(self) -> str:
        """The column's type in the lake."""
        return DUCKDB_TYPES[self.logical_type]


@dataclass(frozen=True)
class Rule:
    """One quality rule: what it is called, how bad breaking it is, and how it is checked."""

    name: str
    severity: str
    column: str | None
    engine: str  # "great-expectations" or "riskstrat"
    description: str = ""
    expectation: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    check: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def flag_column(self) -> str:
        """The boolean column (True = row passes) a riskstrat row/warn rule is validated through."""
        return f"ok__{self.name}"


@dataclass(frozen=True)
class Contract:
    """A table's contract: columns and rules, loaded from its ODCS YAML."""

    table: str
    version: str
    kind: str  # "snapshot" or "incremental"
    optional: bool
    unique_key: tuple[str, ...]
    columns: tuple[Column, ...]
    rules: tuple[Rule, ...]
    path: Path
    odcs: OpenDataContractStandard = field(repr=False, compare=False)

    @property
    def column_names(self) -> list[str]:
        """Column names in contract order (the lake's column order)."""
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        """Columns every row must carry (and every file must have in its header)."""
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def rules_where(self, *, engine: str | None = None, severity: str | None = None, check: str | None = None) -> list[Rule]:
        """Rules filtered by engine, severity and/or riskstrat check name."""
        return [
            r
            for r in self.rules
            if (engine is None or r.engine == engine)
            and (severity is None or r.severity == severity)
            and (check is None or r.check == check)
        ]

    def rule_names(self) -> list[str]:
        """Distinct rule names, in contract order."""
        return list(dict.fromkeys(r.name for r in self.rules))


def _custom(props: list | None) -> dict[str, Any]:
    return {p.property: p.value for p in (props or []) if p.property}


def _rule_from_quality(q, column: str | None, where: str) -> Rule:
    if not q.name:
        raise ContractError(f"{where}: a quality rule has no name")
    severity = q.severity or "row"
    if severity not in SEVERITIES:
        raise ContractError(f"{where}: rule {q.name!r} has severity {severity!r}; use one of {', '.join(SEVERITIES)}")
    description = q.description or ""
    if q.type == "library":
        if q.metric == "nullValues" and column:
            return Rule(q.name, severity, column, "great-expectations", description,
                        "expect_column_values_to_not_be_null", {"column": column})
        raise ContractError(f"{where}: library metric {q.metric!r} is not supported (use nullValues or a custom rule)")
    if q.type != "custom":
        raise ContractError(f"{where}: rule {q.name!r} has type {q.type!r}; use library or custom")
    impl = q.implementation if isinstance(q.implementation, dict) else {}
    if q.engine == "great-expectations":
        if "expectation" not in impl:
            raise ContractError(f"{where}: rule {q.name!r} names no expectation")
        kwargs = dict(impl.get("kwargs") or {})
        return Rule(q.name, severity, column or kwargs.get("column") or kwargs.get("column_A"), "great-expectations",
                    description, impl["expectation"], kwargs)
    if q.engine == "riskstrat":
        if "check" not in impl:
            raise ContractError(f"{where}: rule {q.name!r} names no check")
        options = {k: v for k, v in impl.items() if k != "check"}
        return Rule(q.name, severity, column, "riskstrat", description, check=impl["check"], options=options)
    raise ContractError(f"{where}: rule {q.name!r} has engine {q.engine!r}; use great-expectations or riskstrat")


def default_contracts_dir() -> Path:
    """The data_contracts/ folder shipped inside the riskstrat package (the top-level folder of the source)."""
    return Path(str(resources.files("riskstrat.data_contracts")))


def load_contract(table: str, directory: Path | str | None = None) -> Contract:
    """Read and check ``<directory>/<table>.yaml`` (default: the data_contracts/ shipped with riskstrat)."""
    path = Path(directory or default_contracts_dir()) / f"{table}.yaml"
    return _load(path.resolve(), path.stat().st_mtime_ns if path.exists() else 0)


@lru_cache(maxsize=32)
def _load(path: Path, _mtime: int) -> Contract:
    if not path.exists():
        raise ContractError(f"{path}: no such contract")
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader: 10x faster on the claim contracts
        odcs = OpenDataContractStandard(**yaml.load(path.read_text(encoding="utf-8"), Loader=loader))
    except Exception as exc:  # pydantic or YAML error: name the file, keep the first line
        raise ContractError(f"{path}: not a valid ODCS v3 contract ({str(exc).splitlines()[0]})") from None
    if not odcs.schema_ or len(odcs.schema_) != 1:
        raise ContractError(f"{path}: a contract describes exactly one table (schema has {len(odcs.schema_ or [])})")
    obj = odcs.schema_[0]
    top = _custom(odcs.customProperties)
    kind = top.get("deliveryKind")
    if kind not in ("snapshot", "incremental"):
        raise ContractError(f"{path}: customProperties.deliveryKind must be snapshot or incremental")
    columns: list[Column] = []
    rules: list[Rule] = []
    for prop in obj.properties or []:
        where = f"{path}: {prop.name}"
        if prop.logicalType not in LOGICAL_TYPES:
            raise ContractError(f"{where}: logicalType {prop.logicalType!r} is not one of {', '.join(LOGICAL_TYPES)}")
        enum = tuple(str(e.value) for e in prop.enum) if prop.enum else None
        cp = _custom(prop.customProperties)
        if cp.get("normalize") not in (None, *NORMALISATIONS):
            raise ContractError(f"{where}: normalize {cp['normalize']!r} is not one of {', '.join(NORMALISATIONS)}")
        columns.append(Column(prop.name, prop.logicalType, bool(prop.required), enum, cp.get("normalize"),
                              prop.classification == "restricted", prop.description or ""))
        for q in prop.quality or []:
            rule = _rule_from_quality(q, prop.name, where)
            if rule.expectation == "expect_column_values_to_be_in_set" and rule.kwargs.get("value_set") == "{enum}":
                if not enum:
                    raise ContractError(f"{where}: rule {rule.name!r} uses {{enum}} but the column has no enum")
                rule = Rule(rule.name, rule.severity, rule.column, rule.engine, rule.description, rule.expectation,
                            {**rule.kwargs, "value_set": list(enum)})
            rules.append(rule)
    names = {c.name for c in columns}
    for q in obj.quality or []:
        rules.append(_rule_from_quality(q, None, f"{path}: {obj.name}"))
    for r in rules:
        for key in ("column", "column_A", "column_B"):
            if key in r.kwargs and r.kwargs[key] not in names:
                raise ContractError(f"{path}: rule {r.name!r} refers to unknown column {r.kwargs[key]!r}")
    key = tuple(_custom(obj.customProperties).get("uniqueKey") or ())
    return Contract(
        table=obj.name, version=odcs.version or "0", kind=kind, optional=bool(top.get("optional", False)),
        unique_key=key, columns=tuple(columns), rules=tuple(rules), path=path, odcs=odcs,
    )


def load_contracts(directory: Path | str | None = None) -> dict[str, Contract]:
    """Every table's contract, in processing order."""
    return {t: load_contract(t, directory) for t in TABLES}


def suite_parameters(delivery_month: str, min_service_date: str) -> dict[str, Any]:
    """Values of the ``{placeholders}`` contracts may use in expectation arguments."""
    end = month_end(delivery_month)
    nxt = month_end(add_months(delivery_month, 1))
    return {
        "min_service_date": datetime.fromisoformat(min_service_date),
        "delivery_month_end": datetime(end.year, end.month, end.day, 23, 59, 59),
        "delivery_month_next_end": datetime(nxt.year, nxt.month, nxt.day, 23, 59, 59),
    }


def _fill(value: Any, params: dict[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in params:
        return params[value[1:-1]]
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def gx_columns(contract: Contract) -> list[str]:
    """Columns the compiled suite reads, plus the ``ok__`` flag columns of riskstrat row/warn rules."""
    cols: list[str] = []
    for r in contract.rules:
        if r.engine == "great-expectations":
            for key in ("column", "column_A", "column_B"):
                if key in r.kwargs:
                    cols.append(r.kwargs[key])
            cond = r.kwargs.get("row_condition")
            if isinstance(cond, dict):
                cols.append(cond["column"])
        elif r.severity in ("row", "warn") and r.check not in ("types",):
            cols.append(r.flag_column)
    cols.append("ok__type")
    return list(dict.fromkeys(cols))


def gx_presence_only(contract: Contract) -> set[str]:
    """Columns the suite reads only through not-null rules: GX needs their nulls, not their values."""
    nulls: set[str] = set()
    values: set[str] = set()
    for r in contract.rules:
        if r.engine != "great-expectations":
            continue
        cond = r.kwargs.get("row_condition")
        if isinstance(cond, dict):  # a condition reads values, whatever the rule it filters
            values.add(cond["column"])
        if r.expectation == "expect_column_values_to_not_be_null":
            nulls.add(r.kwargs["column"])
        else:
            values.update(r.kwargs[k] for k in ("column", "column_A", "column_B") if k in r.kwargs)
    return nulls - values


def great_expectations():
    """Great Expectations, imported when first needed: it takes seconds to import, and reading a
    contract (every later stage does) does not need it. It imports PySpark when that is installed
    (the scale-out engine), and PySpark's warning about pandas 3 would otherwise print on every
    ingest, where an analyst looks for one line that says what went wrong."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")
        import great_expectations as gx  # here, not at the top: see the docstring
    # Its INFO lines (a context created, a site built) reached the monthly job's console under
    # Prefect's logging; riskstrat says itself what validation found.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    return gx


def compile_suite(contract: Contract, delivery_month: str, min_service_date: str = "2000-01-01"):
    """The contract's row and warn rules as a GX ``ExpectationSuite`` for one delivery month.

    Each expectation's ``meta`` carries the rule ``name``, ``severity`` and ``column`` so a
    validation result maps back to rules; GX's own severity is ``critical`` for row rules and
    ``warning`` for warn rules.
    """
    gx = great_expectations()
    # Imported here, after great_expectations() has imported the package quietly (it costs seconds).
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column as GxColumn

    params = suite_parameters(delivery_month, min_service_date)
    exps: list = []
    seen_flags: set[str] = set()
    type_rule = next((r for r in contract.rules if r.check == "types"), None)
    for r in contract.rules:
        if r.severity == "delivery":
            continue
        meta = {"rule": r.name, "severity": r.severity, "column": r.column, "engine": r.engine}
        gx_severity = "warning" if r.severity == "warn" else "critical"
        if r.engine == "great-expectations":
            kwargs = {k: _fill(v, params) for k, v in r.kwargs.items()}
            cond = kwargs.pop("row_condition", None)
            if isinstance(cond, dict):
                kwargs["row_condition"] = GxColumn(cond["column"]) == cond["equals"]
            cls = getattr(gxe, "".join(p.capitalize() for p in r.expectation.split("_")))
            exps.append(cls(**kwargs, meta=meta, severity=gx_severity))
        elif r.flag_column not in seen_flags and r.check != "types":
            seen_flags.add(r.flag_column)
            exps.append(
                gxe.ExpectColumnValuesToBeInSet(column=r.flag_column, value_set=[True], meta={**meta, "column": None},
                                                severity=gx_severity)
            )
    if type_rule is not None:
        exps.append(
            gxe.ExpectColumnValuesToBeInSet(
                column="ok__type", value_set=[True], severity="critical",
                meta={"rule": type_rule.name, "severity": type_rule.severity, "column": None, "engine": "riskstrat"},
            )
        )
    return gx.ExpectationSuite(name=contract.table, expectations=exps,
                               meta={"contract": contract.table, "contract_version": contract.version})
