"""Stage: reports/index.html, the one page a person opens.

The compare table, every featurizer's plots, the explore report and links to the metrics JSON. It is
self-contained and works offline: images are embedded as data URIs, no script, no font, no CDN.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import typer

from stages.common import layout
from stages.common.cli import OnlyOption, covered_featurizers, reports_errors, stage_app
from stages.common.comparison import SUMMARY_HEADER, Comparison, diff_header, diff_rows, summary_rows
from stages.common.errors import printable
from stages.common.io import read_json, write_bytes
from stages.common.lesson_tables import LessonTable, cars_table, dropped_prices, fahrenheit_table, number
from stages.common.near_duplicates import describe_counts
from stages.common.params import load_params

app = stage_app(__doc__)
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1400px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 4px 6px; }
th { background: #f3f3f3; white-space: nowrap; } table.lesson th { white-space: normal; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.scroll { overflow-x: auto; } img { max-width: 100%; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 520px), 1fr)); gap: 12px; }
.figures img { width: 100%; } img.wide { width: 100%; }
.yes { color: #070; font-weight: bold; } .no { color: #888; } blockquote { color: #444; }
"""
FIGURES = ("loss", "roc", "precision_recall", "confusion_matrix", "reliability")


def image(path: Path, alt: str, css_class: str = "") -> str:
    """An <img> with the PNG inlined, or a visible note where the file is missing."""
    if not path.exists():
        return f"<p><em>missing: {html.escape(str(path))}</em></p>"
    data = base64.b64encode(path.read_bytes()).decode()
    css = f' class="{css_class}"' if css_class else ""
    return f'<img{css} alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def table(header: list[str], rows: list[list[str]], numeric_from: int = 1, css_class: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{c}</td>' if i >= numeric_from else f"<td>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    css = f' class="{css_class}"' if css_class else ""
    return f'<div class="scroll"><table{css}><tr>{head}</tr>{body}</table></div>'


def lesson_table(lesson: LessonTable) -> str:
    """A lesson's table as `cars_table` or `fahrenheit_table` formatted it (the app shows the same text)."""
    return table(lesson.header, [[html.escape(cell) for cell in row] for row in lesson.rows], css_class="lesson")


def compare_section(compare: Comparison, reports: Path) -> str:
    rows = [
        [html.escape(name), *cells, f'<a href="eval/{html.escape(name)}/metrics.json">metrics JSON</a>']
        for name, *cells in summary_rows(compare)
    ]
    parts = [
        "<h2>Featurizers on the test split</h2>",
        f"<p>{compare.test_messages} test messages ({compare.test_spam} spam); intervals are 95 % "
        f"bootstrap intervals over {compare.resamples:,} resamples.</p>",
        table([*SUMMARY_HEADER, ""], rows),
        image(reports / layout.COMPARE_CHART, "test F1 and MCC per featurizer"),
    ]
    for pair in compare.paired():
        rows = [
            [*cells, f'<span class="{confirmed}">{confirmed}</span>'] for *cells, confirmed in diff_rows(pair.changes)
        ]
        parts += [
            f"<h3>{html.escape(pair.new)} vs {html.escape(pair.old)}</h3>",
            table(diff_header(pair.old, pair.new), rows),
        ]
    return "\n".join(parts)


def featurizer_section(name: str, reports: Path) -> str:
    figures = layout.eval_dir(name, reports / layout.EVAL) / layout.FIGURES
    images = "".join(image(figures / f"{figure}.png", f"{name} {figure}") for figure in FIGURES)
    return f'<h3 id="{html.escape(name)}">{html.escape(name)}</h3><div class="figures">{images}</div>'


def explore_section(facts: dict, reports: Path) -> str:
    explore = reports / layout.EXPLORE_FIGURES
    rows = [
        [
            html.escape(name),
            f"{row['messages']:,}",
            f"{row['share']:.1%}",
            f"{row['median_chars']:.0f}",
            f"{row['median_words']:.0f}",
        ]
        for name, row in facts["classes"].items()
    ]
    parts = [
        "<h2>The data</h2>",
        f"<p>{facts['lines_read']:,} lines read, HTML entities decoded in {facts['html_entities_decoded']:,} lines, "
        f"{facts['duplicates_dropped']:,} exact duplicates dropped: {facts['messages']:,} messages.</p>",
        *([f"<p>{html.escape(sentence)}</p>"] if (sentence := describe_counts(facts.get("near_duplicates"))) else []),
        table(["class", "messages", "share", "median characters", "median words"], rows),
        '<div class="figures">'
        + "".join(image(explore / f"{figure}.png", figure) for figure in ("class_balance", "lengths"))
        + "</div>",
        image(explore / "top_tokens.png", "top words per class", "wide"),  # too dense for a thumbnail
    ]
    for name, row in facts["classes"].items():
        # a message is text: no markup, and its escape codes and bidi overrides shown, not obeyed
        quotes = "".join(f"<blockquote>{html.escape(printable(text))}</blockquote>" for text in row["examples"])
        parts.append(f"<h3>{html.escape(name)} examples</h3>{quotes}")
    return "\n".join(parts)


def cars_section(reports: Path) -> str:
    metrics = read_json(reports / layout.CARS / layout.LESSON_METRICS)
    figures = ("mileage_vs_price", "age_vs_price", "predicted_vs_actual", "residuals", "loss")
    return "\n".join(
        [
            "<h2>Lesson: used-car price from age and mileage</h2>",
            f"<p>Train {dropped_prices(*metrics['outlier_bounds'])} dropped from train only "
            f"({metrics['rows']['train_kept']:,} of {metrics['rows']['train']:,} kept); the test set is scored whole "
            f"and trimmed by the same bounds. Neuron RMSE / LinearRegression RMSE: "
            f"{number(metrics['neuron_rmse_over_linear_regression'])}. "
            '<a href="cars/metrics.json">metrics JSON</a></p>',
            lesson_table(cars_table(metrics)),
            '<div class="figures">'
            + "".join(image(reports / layout.CARS / "figures" / f"{f}.png", f) for f in figures)
            + "</div>",
        ]
    )


def fahrenheit_section(reports: Path) -> str:
    metrics = read_json(reports / layout.FAHRENHEIT / layout.LESSON_METRICS)
    best = metrics["least_squares"]
    return "\n".join(
        [
            "<h2>Lesson: one neuron learns Celsius → Fahrenheit</h2>",
            f"<p>True rule F = 1.8·C + 32; least squares on these noisy pairs: {number(best['weight'])}·C + "
            f'{number(best["bias"])}. <a href="fahrenheit/metrics.json">metrics JSON</a></p>',
            lesson_table(fahrenheit_table(metrics)),
            image(reports / "fahrenheit" / "loss.png", "loss per iteration for each learning rate"),
        ]
    )


def render_index(reports: Path, featurizers: list[str]) -> str:
    compare = Comparison.from_json(read_json(reports / layout.COMPARE_JSON))
    facts = read_json(reports / layout.EXPLORE_JSON)
    body = [
        "<h1>spamneuron: one neuron per text representation</h1>",
        '<p>Sections: <a href="#compare">featurizers</a> · <a href="#plots">plots</a> · '
        '<a href="#data">data</a> · <a href="#cars">used-car lesson</a> · <a href="#fahrenheit">C → F lesson</a>. '
        "Written by <code>dvc repro</code> (stage <code>report</code>).</p>",
        *(
            [f"<p><strong>Partial report:</strong> {', '.join(compare.left_out)} left out of this run.</p>"]
            if compare.left_out
            else []
        ),
        '<section id="compare">' + compare_section(compare, reports) + "</section>",
        '<section id="plots"><h2>Plots per featurizer (test split)</h2>'
        + "".join(featurizer_section(name, reports) for name in featurizers)
        + "</section>",
        '<section id="data">' + explore_section(facts, reports) + "</section>",
    ]
    if (reports / layout.CARS / layout.LESSON_METRICS).exists():
        body.append('<section id="cars">' + cars_section(reports) + "</section>")
    if (reports / layout.FAHRENHEIT / layout.LESSON_METRICS).exists():
        body.append('<section id="fahrenheit">' + fahrenheit_section(reports) + "</section>")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>spamneuron report</title>'
        f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>"
    )


@app.command()
@reports_errors
def main(
    reports: Path = typer.Option(layout.REPORTS_DIR, help="the reports directory (read and written)"),
    only: OnlyOption = None,
) -> None:
    """Write reports/index.html from compare, explore and every featurizer's figures: by default, of the
    featurizers that compare covered (all of params.yaml's, or those a partial run had)."""
    featurizers = load_params().featurizers
    if only is None:
        only = ",".join(read_json(reports / layout.COMPARE_JSON)["featurizers"]) or None
    page = render_index(reports, covered_featurizers(featurizers, only)[0])
    write_bytes(reports / layout.INDEX, page.encode())
    typer.echo(f"wrote {reports / layout.INDEX} ({len(page) / 1e6:.1f} MB)")


if __name__ == "__main__":
    app()
