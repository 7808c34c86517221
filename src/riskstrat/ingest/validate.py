"""Validation with Great Expectations: the contract's suite over the typed rows and the check flags.

One ephemeral GX context per delivery month (with a Data Docs site for the newest month of a
run); each rule's unexpected rows come back by ``source_row``. Great Expectations is imported
lazily: it costs seconds, and only ingest needs it.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pyarrow as pa

from riskstrat.core.sql import identifier as _id
from riskstrat.ingest.contracts import Contract, compile_suite, great_expectations, gx_columns, gx_presence_only


class Validator:
    """One ephemeral GX context per delivery month; with ``docs_dir``, a Data Docs site there."""

    def __init__(self, docs_dir: Path | None, month: str):
        gx = great_expectations()
        # Imported here, after great_expectations() has imported the package quietly (it costs seconds).
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.gx = gx
        self.month = month
        self.ctx = gx.get_context(mode="ephemeral")
        self.ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.site = "riskstrat" if docs_dir is not None else None
        if docs_dir is not None:
            self.ctx.add_data_docs_site(
                site_name=self.site,
                site_config={
                    "class_name": "SiteBuilder",
                    "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir.resolve())},
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )
        self.source = self.ctx.data_sources.add_pandas(f"delivery_{month}")
        self.used = False

    def validate(self, contract: Contract, frame, min_service_date: str):
        """Run the contract's suite on ``frame``; returns (stored result, {expectation index: unexpected rows}).

        The stored result (Data Docs, validation/*.json) uses GX's BASIC format; only the
        expectations that failed are run again with COMPLETE for their exact row indices, which
        halves the cost on a mostly clean delivery. Without Data Docs the suite is run on the
        batch directly: registering the suite and a validation definition in the context, which
        only Data Docs read, costs a quarter of the validation.
        """
        suite = compile_suite(contract, self.month, min_service_date)
        asset = self.source.add_dataframe_asset(contract.table)
        batch_def = asset.add_batch_definition_whole_dataframe(self.month)
        rows: dict[int, list[int]] = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            batch = batch_def.get_batch(batch_parameters={"dataframe": frame})
            if self.site is None:
                result = batch.validate(suite, result_format={"result_format": "BASIC"})
            else:
                vd = self.ctx.validation_definitions.add(self.gx.ValidationDefinition(
                    name=f"{contract.table} {self.month}", data=batch_def, suite=self.ctx.suites.add(suite)))
                result = vd.run(batch_parameters={"dataframe": frame}, result_format={"result_format": "BASIC"})
            for i, r in enumerate(result.results):
                if r.success or (r.exception_info or {}).get("raised_exception"):
                    continue
                again = batch.validate(r.expectation_config.to_domain_obj(), result_format={"result_format": "COMPLETE"})
                rows[i] = list(again.result.get("unexpected_index_list") or [])
        self.used = True
        return result, rows

    def build_docs(self) -> None:
        if self.used and self.site is not None:  # a context without a site has nothing to build
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.ctx.build_data_docs(site_names=[self.site])


def gx_frame(con, contract: Contract):
    """The frame GX validates: the columns the suite reads, indexed by source_row.

    A column that only not-null rules read enters as a presence flag (null where the value is,
    true elsewhere): GX sees the same nulls, no member id or name reaches pandas or Data Docs,
    and the frame GX copies and hashes stays a few bytes a row.
    """
    typed_cols = set(contract.column_names) | {"ok__type"}
    presence = gx_presence_only(contract)
    select = ["t.source_row"]
    for c in gx_columns(contract):
        if c in presence:
            select.append(f"CASE WHEN t.{_id(c)} IS NOT NULL THEN true END AS {_id(c)}")
        else:
            select.append(f"{'t' if c in typed_cols else 'c'}.{_id(c)}")
    # through Arrow rather than .df(): pyarrow hands pandas one block per column instead of
    # consolidating the text columns into one object array, a third of the CPU for the same frame
    table = con.sql(
        f"SELECT {', '.join(select)} FROM typed t JOIN checks c USING (source_row) ORDER BY t.source_row"
    ).arrow().read_all()
    schema = table.schema
    frame = table.to_pandas(split_blocks=True, self_destruct=True, date_as_object=False)
    del table
    # the dtypes .df() gives, which the suite was written against: nanosecond datetimes, and the
    # nullable boolean (not object) for a flag with nulls
    for f in schema:
        if pa.types.is_boolean(f.type) and frame[f.name].dtype == object:
            frame[f.name] = frame[f.name].astype("boolean")
        elif str(frame[f.name].dtype).startswith("datetime64"):
            frame[f.name] = frame[f.name].astype("datetime64[ns]")
    frame.index = frame.pop("source_row").to_numpy()
    return frame


def violations(result, index_rows: dict[int, list], contract: Contract, con) -> tuple[list[tuple[int, str, str | None, str]], list[str]]:
    """(source_row, rule, column, severity) for every unexpected row; plus rules GX could not evaluate."""
    out: list[tuple[int, str, str | None, str]] = []
    broken: list[str] = []
    for i, r in enumerate(result.results):
        meta = r.expectation_config.meta or {}
        rule, severity, column = meta.get("rule"), meta.get("severity"), meta.get("column")
        if r.exception_info and r.exception_info.get("raised_exception"):
            broken.append(rule)
            continue
        if r.success:
            continue
        rows = index_rows.get(i) or []
        rows = [int(x if not isinstance(x, dict) else next(iter(x.values()))) for x in rows]
        if column is None and rows:
            flag = r.expectation_config.kwargs.get("column", "")
            badcol = "bad_col__type" if flag == "ok__type" else "bad_col__" + flag.removeprefix("ok__")
            src = "typed" if flag == "ok__type" else "checks"
            con.execute("DROP TABLE IF EXISTS _rows")
            con.execute("CREATE TEMP TABLE _rows AS SELECT unnest(?::BIGINT[]) AS source_row", [rows])
            got = dict(con.execute(f"SELECT x.source_row, x.{badcol} FROM {src} x JOIN _rows USING (source_row)").fetchall())
            out += [(s, rule, got.get(s), severity) for s in rows]
        else:
            out += [(s, rule, column, severity) for s in rows]
    # a malformed value is typed as null: report it as a type problem, not also as a missing one
    malformed = {(s, c) for s, rule, c, _ in out if rule == "type"}
    if malformed:
        out = [v for v in out if not (v[1] == "required" and (v[0], v[2]) in malformed)]
    return out, broken


_SCRUB = ("unexpected_list", "partial_unexpected_list", "partial_unexpected_counts", "unexpected_index_query")


def save_result(results_dir: Path, contract: Contract, reconciliation: dict, gx_result, index_rows: dict[int, list]) -> None:
    """``validation/YYYY-MM/<table>.json``: the reconciliation and the GX result (row numbers, no values)."""
    d = gx_result.to_json_dict()
    for i, r in enumerate(d.get("results", [])):
        for k in _SCRUB:
            (r.get("result") or {}).pop(k, None)
        if i in index_rows and r.get("result") is not None:
            r["result"]["unexpected_index_list"] = [int(x) if not isinstance(x, dict) else x for x in index_rows[i]]
    results_dir.mkdir(parents=True, exist_ok=True)
    payload = {"reconciliation": reconciliation, "contract": {"table": contract.table, "version": contract.version},
               "great_expectations": d}
    (results_dir / f"{contract.table}.json").write_text(json.dumps(payload, indent=1, default=str), encoding="utf-8")
