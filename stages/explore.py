"""Stage: the data before any model (the course's explore notebook as a pipeline stage).

Writes reports/explore.md, reports/explore.json (the same numbers, for the HTML report) and PNGs in
reports/explore/: class balance, message lengths per class, top words per class, a few examples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import typer

from stages.common import layout
from stages.common.cli import MessagesOption, reports_errors, stage_app
from stages.common.figures import readable_figure, save_figure
from stages.common.io import read_json, write_bytes, write_json
from stages.common.layout import MESSAGES_FILE, SUMMARY_FILE
from stages.common.near_duplicates import COUNTS, describe_counts
from stages.common.params import ExploreParams, load_params

app = stage_app(__doc__)
CLASSES = {0: "ham", 1: "spam"}


def top_tokens(texts: pd.Series, count: int) -> list[tuple[str, int]]:
    from sklearn.feature_extraction.text import CountVectorizer  # scikit-learn costs ~0.7 s to import

    vectorizer = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[a-z][a-z']+\b")
    matrix = vectorizer.fit_transform(texts)
    totals = np.asarray(matrix.sum(0)).ravel()
    words = vectorizer.get_feature_names_out()
    best = np.argsort(-totals, kind="stable")[:count]
    return [(str(words[i]), int(totals[i])) for i in best]


def describe_messages(messages: pd.DataFrame, summary: dict, params: ExploreParams) -> dict:
    """Every number the explore report shows, as plain JSON."""
    lengths = messages["text"].str.len()
    words = messages["text"].str.split().str.len()
    per_class = {}
    for label, name in CLASSES.items():
        rows = messages["label"] == label
        sample = messages.loc[rows, "text"].sample(n=min(params.examples, int(rows.sum())), random_state=params.seed)
        per_class[name] = {
            "messages": int(rows.sum()),
            "share": round(float(rows.mean()), 4),
            "median_chars": float(lengths[rows].median()),
            "mean_chars": round(float(lengths[rows].mean()), 1),
            "median_words": float(words[rows].median()),
            "top_tokens": top_tokens(messages.loc[rows, "text"], params.top_tokens),
            "examples": sample.tolist(),
        }
    return {
        "lines_read": summary["lines"],
        "html_entities_decoded": summary["html_entities_decoded"],
        "duplicates_dropped": summary["duplicates_dropped"],
        "bad_lines": summary["bad_lines"],
        "messages": int(len(messages)),
        "classes": per_class,
        # prepare's near-duplicate counts (absent from a summary written before it grouped them)
        "near_duplicates": {key: summary["near_duplicates"][key] for key in COUNTS}
        if "near_duplicates" in summary
        else None,
    }


def draw_figures(messages: pd.DataFrame, facts: dict, figures: Path) -> None:
    fig, ax = readable_figure((4.8, 3.6))
    counts = [facts["classes"][name]["messages"] for name in CLASSES.values()]
    ax.bar(list(CLASSES.values()), counts, color=["tab:blue", "tab:red"])
    ax.set_title("Messages per class (after dedupe)")
    save_figure(fig, figures / "class_balance.png")

    fig, ax = readable_figure((6.4, 4.2))
    bins = np.linspace(0, 250, 51)
    for label, name in CLASSES.items():
        lengths = messages.loc[messages["label"] == label, "text"].str.len().clip(upper=250)
        ax.hist(lengths, bins=bins, alpha=0.6, density=True, label=name)
    ax.set(xlabel="characters (clipped at 250)", ylabel="share of messages", title="Message length per class")
    ax.legend()
    save_figure(fig, figures / "lengths.png")

    fig, axes = readable_figure((11, 0.32 * len(facts["classes"]["ham"]["top_tokens"]) + 1.6), ncols=2)
    for ax, name, color in zip(axes, CLASSES.values(), ["tab:blue", "tab:red"], strict=True):
        tokens = facts["classes"][name]["top_tokens"][::-1]
        bars = ax.barh([t for t, _ in tokens], [n for _, n in tokens], color=color)
        ax.bar_label(bars, padding=2, fontsize=10)
        ax.margins(x=0.12)  # room for the count labels
        ax.set(title=f"Top words in {name} (stop words left out)", xlabel="occurrences")
    save_figure(fig, figures / "top_tokens.png")


def markdown_report(facts: dict) -> str:
    ham, spam = facts["classes"]["ham"], facts["classes"]["spam"]
    lines = [
        "# The SMS Spam Collection, explored",
        "",
        f"{facts['lines_read']:,} lines read, {facts['bad_lines']} bad, HTML entities decoded in "
        f"{facts['html_entities_decoded']:,}, {facts['duplicates_dropped']:,} exact "
        f"duplicates dropped: {facts['messages']:,} messages, {ham['messages']:,} ham ({ham['share']:.1%}) and "
        f"{spam['messages']:,} spam ({spam['share']:.1%}). A model that always says ham is right "
        f"{ham['share']:.1%} of the time, so accuracy alone says little: look at recall, F1 and MCC.",
        *(["", sentence] if (sentence := describe_counts(facts.get("near_duplicates"))) else []),
        "",
        "![class balance](explore/class_balance.png)",
        "",
        "| class | messages | median characters | mean characters | median words |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, row in facts["classes"].items():
        lines.append(
            f"| {name} | {row['messages']:,} | {row['median_chars']:.0f} | {row['mean_chars']} | "
            f"{row['median_words']:.0f} |"
        )
    lines += ["", "![message lengths](explore/lengths.png)", "", "## Top words per class", ""]
    for name, row in facts["classes"].items():
        lines.append(f"- **{name}**: " + ", ".join(f"{word} ({n})" for word, n in row["top_tokens"]))
    lines += ["", "![top words](explore/top_tokens.png)", "", "## Examples", ""]
    for name, row in facts["classes"].items():
        lines += [f"**{name}**", ""] + [f"> {text}" + "\n" for text in row["examples"]]
    return "\n".join(lines)


@app.command()
@reports_errors
def main(
    messages_file: MessagesOption = MESSAGES_FILE,
    summary_file: Path = typer.Option(SUMMARY_FILE, help="prepare's summary"),
    output_dir: Path = typer.Option(layout.REPORTS_DIR, help="explore.md, explore.json and explore/*.png go here"),
) -> None:
    """Describe the prepared messages: balance, lengths, top words and examples per class."""
    params = load_params().explore
    messages = pd.read_parquet(messages_file)
    facts = describe_messages(messages, read_json(summary_file), params)
    draw_figures(messages, facts, output_dir / layout.EXPLORE_FIGURES)
    write_json(output_dir / layout.EXPLORE_JSON, facts)
    write_bytes(output_dir / layout.EXPLORE_MD, markdown_report(facts).encode())
    typer.echo(f"wrote {output_dir / layout.EXPLORE_MD}")


if __name__ == "__main__":
    app()
