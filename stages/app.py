"""The Gradio app behind `spam serve`: every trained model's verdict on a message, side by side.

It reads what the pipeline wrote (data/models, data/features, reports/) and recomputes nothing but the
predictions. Offline by construction: analytics off, no share link, system fonts only (no CDN).
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

from stages.common.io import read_json  # noqa: E402
from stages.common.predictor import Predictor, load_predictor, trained_featurizers  # noqa: E402
from stages.common.verdicts import (  # noqa: E402
    check_message,
    highlighted,
    price_from_sliders,
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


def load_predictors() -> dict[str, Predictor]:
    """Every trained featurizer's model, loaded once; bow/tfidf first (they explain their words)."""
    names = sorted(
        trained_featurizers(), key=lambda name: (not Path("data/features", name, "vectorizer.json").exists(), name)
    )
    return {name: load_predictor(name) for name in names}


def classify(message: str, predictors: dict[str, Predictor]):
    """Note, verdict table, probability bars and one highlighted message per sparse model."""
    sparse = [name for name, p in predictors.items() if p.vectorizer is not None]
    checked = check_message(message)
    if not predictors:
        return NO_MODELS, pd.DataFrame(), pd.DataFrame(), *[[] for _ in sparse]
    if not checked.text:
        return checked.note, pd.DataFrame(), pd.DataFrame(), *[[] for _ in sparse]
    table = verdict_table(checked.text, predictors)
    explained, notes = [], [checked.note] if checked.note else []
    for name in sparse:
        contributions = word_contributions(checked.text, predictors[name])
        explained.append(highlighted(checked.text, contributions))
        notes.append(f"**{name}** leaned on: {top_words(contributions)}")
    bars = table[["featurizer", "spam probability"]]
    return "\n\n".join(notes), table, bars, *explained


def classify_tab(predictors: dict[str, Predictor]) -> None:
    sparse = [name for name, p in predictors.items() if p.vectorizer is not None]
    if not predictors:
        gr.Markdown(NO_MODELS)
    message = gr.Textbox(label="SMS message", lines=3, placeholder="Type a message, or pick an example below")
    gr.Examples(EXAMPLES, inputs=message)
    button = gr.Button("Classify", variant="primary")
    note = gr.Markdown()
    table = gr.Dataframe(label="Verdicts", interactive=False, elem_id="verdicts")
    bars = gr.BarPlot(x="featurizer", y="spam probability", y_lim=[0, 1], title="Spam probability per model")
    highlights = [
        gr.HighlightedText(label=f"{name}: words that pushed towards spam (red) or ham (blue)", show_legend=False)
        for name in sparse
    ]
    outputs = [note, table, bars, *highlights]
    button.click(lambda text: classify(text, predictors), inputs=message, outputs=outputs)
    message.submit(lambda text: classify(text, predictors), inputs=message, outputs=outputs)


def figure_gallery(paths: list[Path], label: str) -> None:
    existing = [(str(p), p.parent.parent.name + ": " + p.stem.replace("_", " ")) for p in paths if p.exists()]
    if existing:
        gr.Gallery(existing, label=label, columns=4, height="auto")


def results_tab(reports: Path) -> None:
    compare = reports / "compare.md"
    if not compare.exists():
        gr.Markdown("No comparison yet: run `spam repro` (stage `compare`).")
        return
    gr.Markdown(compare.read_text().split("![")[0])  # the table and diffs; the chart comes as an image
    if (reports / "figures" / "compare.png").exists():
        gr.Image(str(reports / "figures" / "compare.png"), label="Test F1 and MCC", show_label=True)
    figure_gallery(sorted(reports.glob("eval/*/figures/*.png")), "Plots per featurizer (test split)")


def cars_tab(reports: Path) -> None:
    folder = reports / "cars"
    if not (folder / "neuron.safetensors").exists():
        gr.Markdown("The used-car lesson has not run yet: `dvc repro cars_train`.")
        return
    state, card = load_file(str(folder / "neuron.safetensors")), read_json(folder / "neuron.json")
    metrics = read_json(folder / "metrics.json")
    rows = [{"model": name, **values} for name, values in metrics["test_trimmed"].items()]
    gr.Markdown("Test metrics on cars inside the train price bounds (see `reports/cars/metrics.json`):")
    gr.Dataframe(pd.DataFrame(rows), interactive=False)
    if card["features"] != ["age", "mileage"]:
        gr.Markdown(f"The sliders need an age-and-mileage model; this one uses {card['features']}.")
    else:
        age = gr.Slider(0, 30, value=5, step=1, label="Car age (years)")
        mileage = gr.Slider(0, 250_000, value=50_000, step=1_000, label="Mileage (mi.)")
        price = gr.Number(label="The neuron's price ($)", precision=0)
        for slider in (age, mileage):
            slider.change(lambda a, m: price_from_sliders(state, card, a, m), inputs=[age, mileage], outputs=price)
    figure_gallery([folder / "figures" / f"{n}.png" for n in ("mileage_vs_price", "predicted_vs_actual")], "Plots")


def fahrenheit_tab(reports: Path) -> None:
    folder = reports / "fahrenheit"
    if not (folder / "metrics.json").exists():
        gr.Markdown("The Celsius → Fahrenheit lesson has not run yet: `dvc repro fahrenheit`.")
        return
    metrics = read_json(folder / "metrics.json")
    rows = [{"learning rate": name, **{k: v for k, v in row.items() if k != "lr"}} for name, row in
            metrics["learning_rates"].items()]  # fmt: skip
    gr.Dataframe(pd.DataFrame(rows).replace({np.nan: None}), interactive=False)
    gr.Image(str(folder / "loss.png"), label="Loss per iteration, one line per learning rate")


def build_app(reports: Path = Path("reports")) -> gr.Blocks:
    predictors = load_predictors()
    for predictor in predictors.values():  # warm-up: the first call pays for lazy initialisation
        predictor.spam_probability(["warm up"])
    with gr.Blocks(title="spamneuron", analytics_enabled=False) as app:
        gr.Markdown("# spamneuron: one neuron per text representation")
        with gr.Tab("Classify a message"):
            classify_tab(predictors)
        with gr.Tab("Compare featurizers"):
            results_tab(reports)
        with gr.Tab("Used-car price"):
            cars_tab(reports)
        with gr.Tab("Celsius → Fahrenheit"):
            fahrenheit_tab(reports)
    return app


def serve(host: str, port: int) -> None:
    build_app().launch(
        server_name=host,
        server_port=port,
        share=False,
        theme=SYSTEM_FONTS,
        ssr_mode=False,
        footer_links=[],
        max_file_size=MAX_UPLOAD,
    )
