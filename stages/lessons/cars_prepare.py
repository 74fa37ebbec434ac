"""Lesson stage: parse the used-car listings strictly into a typed table.

Money and distances are strings ("$10,300", "51,000 mi."). Each is parsed by an exact pattern; a row
that does not parse is reported by its line number in the CSV, with the column and the value
(`cars_prepare.on_bad_line: error` stops there, `skip` drops and counts such rows).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd
import typer

from stages.common.cli import reports_errors, stage_app
from stages.common.errors import StageError
from stages.common.io import write_json, write_parquet
from stages.common.layout import CARS_LISTINGS, CARS_SUMMARY
from stages.common.params import load_params

app = stage_app(__doc__)
REQUIRED = ("brand", "model_year", "milage", "price")  # "milage" is the source's spelling
MONEY = re.compile(r"\$(\d{1,3}(?:,\d{3})*|\d+)")
MILES = re.compile(r"(\d{1,3}(?:,\d{3})*|\d+) mi\.")
YEAR = re.compile(r"(19|20)\d\d")
UNKNOWN_FUEL = {"", "–", "-", "not supported"}


class BadRow(ValueError):
    pass


def parse_money(text: str) -> float:
    match = MONEY.fullmatch(text.strip())
    if not match:
        raise BadRow(f"price {text!r} is not like $10,300")
    return float(match.group(1).replace(",", ""))


def parse_miles(text: str) -> float:
    match = MILES.fullmatch(text.strip())
    if not match:
        raise BadRow(f"milage {text!r} is not like 51,000 mi.")
    return float(match.group(1).replace(",", ""))


def parse_year(text: str) -> int:
    if not YEAR.fullmatch(text.strip()):
        raise BadRow(f"model_year {text!r} is not a year like 2017")
    return int(text)


def parse_row(row: dict[str, str]) -> dict:
    return {
        "brand": row["brand"].strip(),
        "model_year": parse_year(row["model_year"]),
        "mileage": parse_miles(row["milage"]),
        "price": parse_money(row["price"]),
        "fuel_type": "unknown" if row.get("fuel_type", "").strip() in UNKNOWN_FUEL else row["fuel_type"].strip(),
        "transmission": row.get("transmission", "").strip() or "unknown",
        # "None reported" -> 0, "At least 1 accident or damage reported" -> 1, blank -> unknown (0, flagged)
        "accident": int(row.get("accident", "").strip().startswith("At least")),
        "accident_unknown": int(not row.get("accident", "").strip()),
        "clean_title": int(row.get("clean_title", "").strip() == "Yes"),
    }


def parse_listings(text: str, on_bad_line: str) -> tuple[pd.DataFrame, dict]:
    """Rows of the CSV as typed columns; bad rows are listed by CSV line number."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise StageError(
            f"missing column(s) {', '.join(missing)}; the header has: {', '.join(reader.fieldnames or [])}"
        )
    rows, bad = [], []
    line = reader.line_num
    for record in reader:
        try:
            if None in record or any(v is None for v in record.values()):
                raise BadRow(f"expected {len(reader.fieldnames)} fields")
            rows.append(parse_row(record))
        except BadRow as exc:
            bad.append(f"line {line + 1}: {exc}")
        line = reader.line_num
    if bad and on_bad_line == "error":
        shown = "\n  ".join(bad[:10])
        raise StageError(
            f"{len(bad)} bad row(s) (cars_prepare.on_bad_line: skip drops them):\n  {shown}"
            + (f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else "")
        )
    if not rows:
        raise StageError("no listing parsed")
    summary = {
        "rows_read": len(rows) + len(bad),
        "bad_rows": len(bad),
        "bad_row_examples": bad[:10],
        "listings": len(rows),
    }
    return pd.DataFrame(rows), summary


@app.command()
@reports_errors
def main(
    output: Path = typer.Option(CARS_LISTINGS, help="typed listings"),
    summary_file: Path = typer.Option(CARS_SUMMARY, help="rows read, bad rows"),
) -> None:
    """Parse the used-car CSV (params: cars_prepare)."""
    params = load_params().cars_prepare
    try:
        text = Path(params.source).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StageError(f"{params.source} is not UTF-8 (byte {exc.start})") from None
    listings, summary = parse_listings(text, params.on_bad_line)
    write_parquet(listings, output)
    write_json(summary_file, summary)
    typer.echo(f"{summary['listings']:,} listings, {summary['bad_rows']} bad rows -> {output}")


if __name__ == "__main__":
    app()
