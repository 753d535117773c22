"""Tables with pandas: one reader for every CSV file the toolkit writes, and writers.

Every table the toolkit stores (``metrics.csv`` and ``evaluations.csv`` of a run, ``results.csv`` of
sweeps and figures, the bound check's ``points.csv`` and ``curve.csv``, the benchmarks' CSV files,
``runs.csv`` of ``isgd runs``, ``results.csv`` of ``isgd denoise``) is read back with
:func:`read_table`, which returns a :class:`pandas.DataFrame`: numbers as numbers (``inf`` and
``-inf`` included), ``True``/``False`` as booleans, empty cells as missing values. Writers go
through a temporary file and a rename (:mod:`bilevel.io`), so a table is never half written.
"""
from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from .io import write_bytes_atomic


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """A CSV file written by the toolkit as a ``DataFrame`` (an empty one for an empty file).

    Raises ``FileNotFoundError`` with the path when the file does not exist, and ``ValueError``
    when it is not a readable CSV table.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"table {path} does not exist")
    if path.stat().st_size == 0:
        return pd.DataFrame()
    try:
        df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a readable CSV table ({exc}); it may be damaged") from None
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = _parse_column(df[col])
    return df


def _parse_column(values: pd.Series) -> pd.Series:
    """Columns pandas left as text: ``True``/``False`` (with missing cells) become booleans, numbers
    written next to text such as ``inf`` become floats; other text stays text."""
    present = values.dropna()
    if len(present) and present.isin(["True", "False"]).all():
        return values.map({"True": True, "False": False})
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().sum() == len(present):
        return numeric
    return values


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a table as dicts of Python values (missing cells dropped)."""
    out = []
    for row in df.to_dict("records"):
        out.append({k: _python(v) for k, v in row.items() if not _missing(v)})
    return out


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _python(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def csv_text(rows: Sequence[dict] | pd.DataFrame, columns: Sequence[str] | None = None) -> str:
    """CSV text of rows (dicts, missing keys as empty cells) or of a ``DataFrame``; the columns are
    ``columns`` or every key in order of first appearance."""
    if isinstance(rows, pd.DataFrame):
        columns = [str(c) for c in rows.columns] if columns is None else columns
        rows = rows.to_dict("records")
    cols = list(columns) if columns is not None else union_keys(rows)
    buf = io.StringIO()
    if cols:
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(cols)
        for r in rows:
            writer.writerow([_cell(r.get(c, "")) for c in cols])
    return buf.getvalue()


def csv_row(row: dict, columns: Sequence[str]) -> str:
    """One CSV line (with its newline) of ``row`` in ``columns`` order."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([_cell(row.get(c, "")) for c in columns])
    return buf.getvalue()


def _cell(v: Any) -> Any:
    return "" if _missing(v) else _python(v)


def union_keys(rows: Iterable[dict]) -> list[str]:
    keys: list[str] = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    return keys


def write_table(path: str | os.PathLike, rows: Sequence[dict] | pd.DataFrame, columns: Sequence[str] | None = None) -> Path:
    """Write rows (or a ``DataFrame``) as CSV, atomically."""
    return write_bytes_atomic(path, csv_text(rows, columns).encode("utf-8"))


def markdown_table(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A GitHub-flavoured Markdown table of ``df`` (missing cells as ``-``)."""

    def cell(v: Any) -> str:
        if _missing(v):
            return "-"
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v).replace("|", "\\|").replace("\n", " ")

    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"
