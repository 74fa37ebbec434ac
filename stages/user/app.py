"""The Gradio app behind `spam serve`: every trained model's verdict on a message, side by side.

It reads what the pipeline wrote (data/models, data/features, reports/) and recomputes nothing but the
predictions. A model whose files change while it runs (a retrain) is reloaded at the next click, and words
of a message are always shown as text, never as Markdown or HTML. Offline by construction: analytics off,
no share link, system fonts only (no CDN).
"""

from __future__ import annotations

import html
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

from stages.common import layout  # noqa: E402
from stages.common.errors import StageError, printable  # noqa: E402
from stages.common.io import read_json  # noqa: E402
from stages.common.layout import PARAMS_FILE, REPORTS_DIR  # noqa: E402
from stages.common.lesson_tables import LessonTable, cars_table, dropped_prices, fahrenheit_table  # noqa: E402
from stages.common.params import load_params  # noqa: E402
from stages.lessons.used_cars import NEURON_CARD, NEURON_WEIGHTS, price_from_sliders  # noqa: E402
from stages.user.predictor import Predictor, load_predictor, model_stamp, trained_featurizers  # noqa: E402
from stages.user.verdicts import (  # noqa: E402
    check_message,
    featurize_once,
    highlighted,
    literal,
    top_words,
    verdict_table,
    word_contributions,
)

EXAMPLES = [
    "Are we still on for lunch tomorrow?",
    "Exclusive offer just for you, claim now!",
    "WINNER!! You have been selected for a FREE prize. Call 09061701461 to claim",
    "Sorry, I'll call you later, stuck in a meeting",
]
SYSTEM_FONTS = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
MAX_UPLOAD = "1mb"  # the app takes typed text only; Gradio's upload route is capped all the same
NO_MODELS = "No trained model found in `data/models/`. Run `spam repro` (or `dvc repro`) in this directory first."
WAITING = (
    "Type a message or pick an example, then press **Classify**: every trained model's verdict, its spam "
    "probability and the words that pushed bag-of-words and TF-IDF will appear here."
)
VERDICT_COLUMNS = ["featurizer", "verdict", "spam probability", "threshold"]
BAR_COLOURS = {"spam": "#dc2626", "ham": "#2563eb"}  # as the word highlights: red towards spam, blue towards ham


def featurizer_order(names: list[str]) -> list[str]:
    """params.yaml's `featurizers` order, which compare.md and the report use too; others after, by name."""
    listed = load_params().featurizers if PARAMS_FILE.exists() else []
    return [n for n in listed if n in names] + sorted(n for n in names if n not in listed)


@contextmanager
def quiet_model_loading(verbose: bool) -> Iterator[None]:
    """Hide transformers' "Loading weights" bars and load reports while the app starts; --verbose shows them."""
    if verbose:
        yield
        return
    from transformers.utils import logging as hf_logging

    bars, level = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        if bars:
            hf_logging.enable_progress_bar()
        hf_logging.set_verbosity(level)


class ServedModels:
    """The trained models the app serves: loaded at start, and reloaded at a request when their files on disk
    changed (a retrain while the app runs), so a verdict never uses a model or threshold that is gone.

    The featurizers are the ones found at start (the page's layout has one highlight per sparse one).
    """

    def __init__(self, names: list[str], verbose: bool = False) -> None:
        self.verbose = verbose
        self.lock = threading.Lock()  # Gradio answers requests on several threads
        self.loaded: dict[str, tuple[tuple, Predictor]] = {}
        for name in names:
            self.loaded[name] = self.load(name)
        self.names = list(names)
        self.sparse = [name for name in names if self.loaded[name][1].vectorizer is not None]

    def load(self, name: str) -> tuple[tuple, Predictor]:
        stamp = model_stamp(name)  # before reading: a change during the load is seen at the next request
        with quiet_model_loading(self.verbose):
            return stamp, load_predictor(name)

    def current(self) -> tuple[dict[str, Predictor], list[str]]:
        """{name: predictor} as the files are now, in the start order, and a note per reloaded or unusable model."""
        predictors, notes = {}, []
        with self.lock:
            for name in self.names:
                if name in self.loaded and self.loaded[name][0] == model_stamp(name):
                    predictors[name] = self.loaded[name][1]
                    continue
                try:
                    self.loaded[name] = self.load(name)
                except StageError as exc:  # mid-retrain (DVC removes outputs first) or damaged: not shown
                    self.loaded.pop(name, None)
                    notes.append(f"**{name}** is not shown: {literal(str(exc))}")
                    continue
                predictors[name] = self.loaded[name][1]
                notes.append(f"**{name}**: its model changed on disk and was reloaded.")
        return predictors, notes


def load_predictors(verbose: bool = False) -> ServedModels:
    """Every trained featurizer's model, in params.yaml's order."""
    return ServedModels(featurizer_order(trained_featurizers()), verbose)


@dataclass(frozen=True)
class ProbabilityBar:
    """One model's bar: its p(spam) as the verdict table shows it, and the threshold from its own card."""

    featurizer: str
    verdict: str
    probability: float  # shown_probability: 4 decimals, never 0 or 1
    threshold: float


def probability_bars(table: pd.DataFrame) -> list[ProbabilityBar]:
    """The verdict table's rows as bars, in its order."""
    return [
        ProbabilityBar(row["featurizer"], row["verdict"], float(row["spam probability"]), float(row["threshold"]))
        for _, row in table.iterrows()
    ]


def bar_html(bar: ProbabilityBar) -> str:
    """A horizontal bar from 0 to 1, a black mark at the model's threshold, and both numbers as text."""
    fill = f"width: {bar.probability:.2%}; background: {BAR_COLOURS.get(bar.verdict, '#6b7280')};"
    mark = f"left: {bar.threshold:.2%};"
    return (
        f'<div class="probability-bar" data-featurizer="{html.escape(bar.featurizer)}" style="display: grid; '
        'grid-template-columns: 10em 1fr 17em; align-items: center; gap: 12px; margin: 10px 0;">'
        f'<span style="font-family: ui-monospace, monospace;">{html.escape(bar.featurizer)}</span>'
        '<div class="bar-track" style="position: relative; height: 22px; background: #e5e7eb; border-radius: 3px;">'
        f'<div class="bar-fill" style="position: absolute; left: 0; top: 0; bottom: 0; {fill}"></div>'
        f'<div class="threshold-marker" title="threshold {bar.threshold:.4f}" style="position: absolute; top: -6px; '
        f'bottom: -6px; {mark} width: 3px; margin-left: -1.5px; background: #111; box-shadow: 0 0 0 1px #fff;"></div>'
        "</div>"
        f'<span class="bar-label" style="font-variant-numeric: tabular-nums;">{bar.probability:.4f} '
        f"({html.escape(bar.verdict)}; threshold {bar.threshold:.4f})</span></div>"
    )


def bars_html(bars: list[ProbabilityBar]) -> str:
    """Every model's bar under one heading and a 0-to-1 scale."""
    scale = (
        '<div style="display: grid; grid-template-columns: 10em 1fr 17em; gap: 12px; color: #6b7280;">'
        '<span></span><span style="display: flex; justify-content: space-between;"><span>0</span><span>0.5</span>'
        "<span>1</span></span><span></span></div>"
    )
    return (
        '<div class="probability-bars"><p style="font-weight: 600; margin: 0 0 4px;">Spam probability per model '
        '<span style="font-weight: normal;">(black mark: the threshold from that model\'s own card; '
        "at or past it, the verdict is spam)</span></p>" + "".join(bar_html(bar) for bar in bars) + scale + "</div>"
    )


def hidden(count: int) -> list[dict]:
    """Updates that hide `count` result components: an empty table or chart would show placeholders."""
    return [gr.update(visible="hidden") for _ in range(count)]


def classify(message: str, models: ServedModels):
    """Note, verdict table, probability bars and one highlighted message per sparse model (hidden when empty)."""
    checked = check_message(message)
    if not models.names:
        return NO_MODELS, *hidden(2 + len(models.sparse))
    if not checked.text:
        return checked.note, *hidden(2 + len(models.sparse))
    predictors, notes = models.current()
    notes = [checked.note, *notes] if checked.note else notes  # counts only, no words of the message
    if not predictors:
        return "\n\n".join(notes), *hidden(2 + len(models.sparse))
    features = featurize_once(checked.text, predictors)  # once per click, for the verdicts and the words
    table = verdict_table(checked.text, predictors, features)
    explained = []
    for name in models.sparse:
        if name not in predictors or predictors[name].vectorizer is None:
            explained.append(gr.update(visible="hidden"))
            continue
        contributions = word_contributions(checked.text, predictors[name], features[name])
        pieces = [(printable(piece), score) for piece, score in highlighted(checked.text, contributions)]
        explained.append(gr.update(value=pieces, visible=True))  # escape codes shown, not kept raw
        notes.append(f"**{name}** leaned on: {literal(top_words(contributions))}")  # the message's words: text only
    bars = bars_html(probability_bars(table))
    shown = [gr.update(value=table, visible=True), gr.update(value=bars, visible=True)]
    return "\n\n".join(notes), *shown, *explained


def classify_tab(models: ServedModels) -> None:
    if not models.names:
        gr.Markdown(NO_MODELS)
    message = gr.Textbox(label="SMS message", lines=3, placeholder="Type a message, or pick an example below")
    gr.Examples(EXAMPLES, inputs=message)
    button = gr.Button("Classify", variant="primary")
    note = gr.Markdown(WAITING if models.names else "", latex_delimiters=[])  # no $$ maths from a message
    # Hidden (but in the page) until there is something to show: empty ones would show "1 2 3" and grey icons.
    table = gr.Dataframe(
        pd.DataFrame(columns=VERDICT_COLUMNS), label="Verdicts", interactive=False, elem_id="verdicts", visible="hidden"
    )
    bars = gr.HTML("", elem_id="probability-bars", visible="hidden")
    highlights = [
        gr.HighlightedText(
            label=f"{name}: words that pushed towards spam (red) or ham (blue)", show_legend=False, visible="hidden"
        )
        for name in models.sparse
    ]
    outputs = [note, table, bars, *highlights]
    button.click(lambda text: classify(text, models), inputs=message, outputs=outputs)
    message.submit(lambda text: classify(text, models), inputs=message, outputs=outputs)


def lesson_table(lesson: LessonTable) -> None:
    """A lesson's table as the report shows it (stages/report.py formats both)."""
    gr.Dataframe(pd.DataFrame(lesson.rows, columns=lesson.header), interactive=False, wrap=True)


def figure_gallery(paths: list[Path], label: str) -> None:
    existing = [(str(p), p.parent.parent.name + ": " + p.stem.replace("_", " ")) for p in paths if p.exists()]
    if existing:
        gr.Gallery(existing, label=label, columns=4, height="auto", object_fit="contain")  # whole plots, uncropped


def results_tab(reports: Path) -> None:
    compare = reports / layout.COMPARE_MD
    if not compare.exists():
        gr.Markdown("No comparison yet: run `spam repro` (stage `compare`).")
        return
    gr.Markdown(compare.read_text().split("![")[0])  # the table and diffs; the chart comes as an image
    if (reports / layout.COMPARE_CHART).exists():
        gr.Image(str(reports / layout.COMPARE_CHART), label="Test F1 and MCC", show_label=True)
    names = featurizer_order([p.name for p in (reports / layout.EVAL).glob("*") if p.is_dir()])
    figures = [
        path
        for name in names
        for path in sorted((layout.eval_dir(name, reports / layout.EVAL) / layout.FIGURES).glob("*.png"))
    ]
    figure_gallery(figures, "Plots per featurizer (test split)")


def cars_tab(reports: Path) -> None:
    folder = reports / layout.CARS
    if not (folder / NEURON_WEIGHTS).exists():
        gr.Markdown("The used-car lesson has not run yet: `dvc repro cars_train`.")
        return
    state, card = load_file(str(folder / NEURON_WEIGHTS)), read_json(folder / NEURON_CARD)
    metrics = read_json(folder / layout.LESSON_METRICS)
    gr.Markdown(
        f"Train {dropped_prices(*metrics['outlier_bounds'])} dropped from train only; the test set is scored "
        "whole and trimmed by the same bounds (see `reports/cars/metrics.json`):"
    )
    lesson_table(cars_table(metrics))
    if card["features"] != ["age", "mileage"]:
        gr.Markdown(f"The sliders need an age-and-mileage model; this one uses {card['features']}.")
    else:
        start_age, start_mileage = 5, 50_000
        age = gr.Slider(0, 30, value=start_age, step=1, label="Car age (years)")
        mileage = gr.Slider(0, 250_000, value=start_mileage, step=1_000, label="Mileage (mi.)")
        start = price_from_sliders(state, card, start_age, start_mileage)  # shown on load, not only after a move
        price = gr.Number(start, label="The neuron's price ($)", precision=0, elem_id="car-price")
        for slider in (age, mileage):
            slider.change(lambda a, m: price_from_sliders(state, card, a, m), inputs=[age, mileage], outputs=price)
    figure_gallery([folder / "figures" / f"{n}.png" for n in ("mileage_vs_price", "predicted_vs_actual")], "Plots")


def fahrenheit_tab(reports: Path) -> None:
    folder = reports / layout.FAHRENHEIT
    if not (folder / layout.LESSON_METRICS).exists():
        gr.Markdown("The Celsius → Fahrenheit lesson has not run yet: `dvc repro fahrenheit`.")
        return
    lesson_table(fahrenheit_table(read_json(folder / layout.LESSON_METRICS)))
    gr.Image(str(folder / "loss.png"), label="Loss per iteration, one line per learning rate")


def build_app(reports: Path = REPORTS_DIR, verbose: bool = False) -> gr.Blocks:
    models = load_predictors(verbose)
    for predictor in models.current()[0].values():  # warm-up: the first call pays for lazy initialisation
        predictor.spam_probability(["warm up"])
    with gr.Blocks(title="spamneuron", analytics_enabled=False) as app:
        gr.Markdown("# spamneuron: one neuron per text representation")
        with gr.Tab("Classify a message"):
            classify_tab(models)
        with gr.Tab("Compare featurizers"):
            results_tab(reports)
        with gr.Tab("Used-car price"):
            cars_tab(reports)
        with gr.Tab("Celsius → Fahrenheit"):
            fahrenheit_tab(reports)
    return app


def serve(host: str, port: int, verbose: bool = False) -> None:
    """Start the app and block; quiet=True drops Gradio's banner and its `share=True` hint (never shared here)."""
    app = build_app(verbose=verbose)
    app.launch(
        server_name=host,
        server_port=port,
        share=False,
        theme=SYSTEM_FONTS,
        ssr_mode=False,
        footer_links=[],
        max_file_size=MAX_UPLOAD,
        quiet=not verbose,
        prevent_thread_lock=True,
    )
    print(f"spamneuron app on http://{host}:{port} (Ctrl+C to stop)", flush=True)
    app.block_thread()
