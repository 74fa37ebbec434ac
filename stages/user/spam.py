"""The `spam` command: run the pipeline, and use what it trained.

Examples:

    spam repro                                  # run the pipeline (leaves out encoders it cannot load, and says so)

    spam repro --sample                         # the same pipeline on data/sample, in .sample/: a quick check

    spam predict "WINNER! Claim your prize now"  # label, spam probability, threshold

    spam predict --file messages.txt --json     # one message a line, JSON lines out

    cat messages.txt | spam predict -           # from stdin

    spam compare bow tfidf                      # test metrics of two featurizers, with paired bootstrap intervals

    spam serve                                  # a local web app: every model's verdict side by side

    spam push                                   # dvc push, then check that the remote holds every output

    spam sync                                   # after adding a featurizer to params.yaml: its dvc.yaml inputs
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from stages.common import layout
from stages.common.cli import flush_output, reports_errors, write_line
from stages.common.errors import StageError, check_name, clip, printable
from stages.common.layout import PARAMS_FILE
from stages.common.message_stream import LONE_SURROGATE, MAX_CHARS, StreamStats, stream_messages

if TYPE_CHECKING:
    from stages.common.params import Params

PREDICT_BATCH = 256  # messages scored per step: bounds memory, drives the progress bar, paces the output
EXCERPT = 60  # characters of a message in predict's table (one line: errors.clip)

DVC = [sys.executable, "-m", "dvc"]  # the dvc installed beside this package, activated or not
ADD_ENCODERS = (
    "To add them: download each model once ({downloads}), or set featurize.<name>.model to a local directory, "
    "or `dvc pull` from a remote that has their vectors; then `spam repro` again. Meanwhile: `spam compare {pair}`."
)
app = typer.Typer(
    help=__doc__,
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def unavailable_encoders(params: Params) -> list[str]:
    """Featurizers whose model is neither local, nor cached, nor reachable on the hub (checked once)."""
    from stages.common.model_sources import hub_reachable, model_available
    from stages.common.params import EncoderParams

    dense = {name: params.featurize[name] for name in params.featurizers}
    dense = {name: p for name, p in dense.items() if isinstance(p, EncoderParams)}
    offline = [name for name, p in dense.items() if not model_available(p, hub=False)]
    if offline and hub_reachable():
        return []
    return offline


@app.callback()
def spam() -> None:
    """Train and use single-neuron SMS spam classifiers."""


@app.command()
@reports_errors
def repro(
    targets: list[str] = typer.Argument(None, help="stages to bring up to date (e.g. evaluate@tfidf); default: all"),
    force: bool = typer.Option(False, "--force", "-f", help="rerun the stages even if nothing changed"),
    sample: bool = typer.Option(
        False,
        "--sample",
        help="run on data/sample (400 messages, short training) in a copy of the project with its own outputs, "
        "dvc.lock and DVC cache: this project's outputs, dvc.lock and params.yaml are left as they are",
    ),
    sample_dir: Path = typer.Option(
        None,
        "--sample-dir",
        help="where --sample puts its copy (and implies --sample); default .sample/ in the project (left out "
        "by .gitignore and .dvcignore). Another folder must be outside the project, and new, empty or an earlier "
        "sample copy",
    ),
) -> None:
    """Run the whole pipeline (`dvc repro --pull`). Example: spam repro, or spam repro evaluate@tfidf

    With --sample: the same pipeline on data/sample, a check that it runs end to end (under two minutes, docs/ci.md),
    in a copy of the project (.sample/ by default). Each run refreshes the copy's code and params from the
    project and keeps its outputs, so a second run reruns only what changed. At the end: where the outputs
    are and the test metrics table. docs/ci.md says more; CI runs it on every pull request.

    An encoder whose model cannot be loaded here (no local directory, not in the local Hugging Face cache,
    hub unreachable) still takes part when its vectors are up to date here or can be pulled from the DVC
    remote. Only when neither holds is it left out: `dvc repro` then gets every stage except that
    encoder's featurize, train and evaluate and the aggregates that wait for them (compare, report), and
    one `note:` line says how to add it. params.yaml is never written.
    """
    from stages.common.params import load_params
    from stages.common.sources import check_sources_dir
    from stages.user.repro_plan import (
        REMOTE_DEADLINE,
        dvc_project,
        nothing_to_run,
        outputs_missing,
        plan_repro,
        remote_worth_pulling,
        unanswered_remote,
    )

    if sample or sample_dir is not None:
        repro_sample(sample_dir, targets or [], force)
        return
    check_sources_dir()  # before DVC hashes data/sources: a FIFO there hangs `dvc status`
    params = load_params(PARAMS_FILE)
    report_synced(params)
    concats = params.concat_parts()
    with dvc_project() as repo:  # every question in one DVC session; `dvc repro` starts after it
        # The remote is asked only when an output is missing here, and must answer within REMOTE_DEADLINE
        pull = remote_worth_pulling() and outputs_missing(repo)
        if pull and (silent := unanswered_remote()):
            typer.echo(
                f"note: the DVC remote ({silent}) did not answer within {REMOTE_DEADLINE:g} s: running without "
                "pulling, so missing outputs are rebuilt here"
            )
            pull = False
        plan = plan_repro(repo, unavailable_encoders(params), targets, concats=concats, pull=pull)
        # What `dvc repro` would then find (a no-op costs one DVC start, not three)
        up_to_date = not force and not pull and nothing_to_run(repo, plan)
    if plan.pulled:
        typer.echo(f"note: {', '.join(plan.pulled)}: model not loadable here, vectors pulled from the DVC remote")
    if plan.left_out:
        downloads = ", ".join(f"`hf download {params.featurize[name].model}`" for name in plan.left_out)
        dropped = [*plan.left_out, *plan.built_on_left_out]
        kept = [name for name in params.featurizers if name not in dropped]
        advice = ADD_ENCODERS.format(downloads=downloads, pair=" ".join(kept[:2]))
        blocked = [t for t in targets or [] if t in plan.waiting]
        if blocked:
            raise StageError(f"{blocked[0]} needs {', '.join(plan.left_out)}, which cannot run here. {advice}")
        aggregates = [stage for stage in plan.waiting if "@" not in stage]
        built_on = f" and {', '.join(plan.built_on_left_out)}, built on them" if plan.built_on_left_out else ""
        partial = f"note: a partial run: {', '.join(dropped)} left out (see the first note for how to add them)"
        typer.echo(
            f"note: left out {', '.join(plan.left_out)} (model not loadable offline, vectors neither here nor on "
            f"the DVC remote){built_on}; {' and '.join(aggregates)} cover the rest, marked partial. {advice}"
        )
    if up_to_date:
        typer.echo("Data and pipelines are up to date.")  # DVC's words for the same finding
        if plan.left_out:
            typer.echo(partial)
        return
    # --pull: a stage whose only change is missing outputs takes them from the DVC remote instead of running
    command = [*DVC, "repro", *(["--pull"] if pull else []), *plan.targets, *(["--force"] if force else [])]
    sys.stdout.flush()
    if not plan.left_out or targets:
        # Become dvc: a SIGTERM or Ctrl-C then reaches dvc itself, and no orphaned dvc keeps the project locked.
        os.execv(command[0], command)
    if code := run_in_foreground(command):
        raise typer.Exit(code)
    # The aggregates over what this run has, inside DVC: alone (--single-item), as their upstream waits for the
    # left-out encoders; they cover the featurizers evaluate has scored, and DVC records them.
    aggregates_alone = [*DVC, "repro", "--single-item", "compare", "report", *(["--force"] if force else [])]
    if code := run_in_foreground(aggregates_alone):
        raise typer.Exit(code)
    typer.echo(partial)


def repro_sample(sample_dir: Path | None, targets: list[str], force: bool) -> None:
    """`spam repro --sample`: the copy made or refreshed, `spam repro` run inside it, then where things are."""
    from stages.user.sample_run import SAMPLE_DIR, prepare_sample_copy, repro_command, sample_env, where_outputs_are

    if not PARAMS_FILE.exists():
        raise StageError(f"no {PARAMS_FILE} here: run spam repro --sample in the project's folder")
    project = Path.cwd()
    copy = prepare_sample_copy(project, sample_dir or SAMPLE_DIR)
    typer.echo(f"sample run in {copy.directory}/ (data/sample, short training; this project's outputs untouched)")
    sys.stdout.flush()
    if code := run_in_foreground(repro_command(targets, force), cwd=copy.directory, env=sample_env()):
        raise typer.Exit(code)
    typer.echo(where_outputs_are(copy, project))


@app.command()
@reports_errors
def sync() -> None:
    """Write featurizers/NAME/inputs.yaml for every featurizer in params.yaml (spam repro does it too).

    dvc.yaml takes each featurize stage's deps from that file (stages/common/featurize_inputs.py): run this
    after adding a featurizer under `featurize`, or changing a concat featurizer's parts, before plain
    `dvc repro` or `dvc exp run`. Example: spam sync
    """
    from stages.common.params import load_params

    if not report_synced(load_params(PARAMS_FILE)):
        typer.echo("featurizers/: every inputs.yaml is current")


def report_synced(params: Params) -> list[str]:
    """Bring featurizers/ in step with params.yaml; one line per change (none when nothing changed)."""
    from stages.common.featurize_inputs import sync_inputs

    changed = sync_inputs(params)
    for name in changed:
        if name.startswith("-"):
            typer.echo(f"removed featurizers/{name[1:]}: params.yaml no longer defines it")
        else:
            typer.echo(f"wrote featurizers/{name}/inputs.yaml (what featurize@{name} reads)")
    return changed


@app.command()
@reports_errors
def push() -> None:
    """Send every output to the default DVC remote, then check that it holds them. Example: spam push

    The check asks the remote for each file's object: a `dvc push` that exits 0 may still have left some out
    (after an interrupted push), and `dvc status -c` can miss that (stages/user/remote_check.py). What is
    missing is named, and the exit code is 1, whatever `dvc push` said.
    """
    from stages.user.remote_check import missing_on_remote

    sys.stdout.flush()
    code = run_in_foreground([*DVC, "push"])
    if missing := missing_on_remote():
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise StageError(
            f"the DVC remote lacks {len(missing)} output file(s) after dvc push: {shown}; run spam push again"
        )
    if code:
        raise typer.Exit(code)
    typer.echo("the DVC remote holds every output")


def run_in_foreground(command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> int:
    """Run a child to its end; a SIGTERM to us goes to it (Ctrl-C reaches it directly), so none is orphaned."""
    child = subprocess.Popen(command, cwd=cwd, env=env)
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: child.send_signal(signum))
    try:
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:  # the child got the same Ctrl-C: wait for it to stop
                continue
    finally:
        signal.signal(signal.SIGTERM, previous)


def known_featurizer(name: str, built: bool) -> str:
    """`name`, unless it is neither built here nor in params.yaml: then one error that lists params.yaml's."""
    if not built and PARAMS_FILE.exists():
        from stages.common.params import load_params  # only then: pydantic and YAML cost start-up time

        load_params(PARAMS_FILE).featurizer(name)
    return name


def argument_messages(messages: list[str]) -> list[str]:
    """Messages given as arguments, checked: none empty, all valid UTF-8."""
    if not messages:
        raise StageError('nothing to predict: give a message, --file PATH, or - for stdin (spam predict "hi")')
    empty = [i + 1 for i, m in enumerate(messages) if not m.strip()]
    if empty:
        raise StageError(f"message {empty[0]} is empty: give some text")
    # Bytes that are not UTF-8 on the command line reach Python as lone surrogates.
    odd = [i + 1 for i, m in enumerate(messages) if LONE_SURROGATE.search(m)]
    if odd:
        raise StageError(f"message {odd[0]} is not valid UTF-8 text")
    return messages


@contextlib.contextmanager
def message_source(messages: list[str], file: Path | None, stats: StreamStats) -> Iterator[Iterator[str]]:
    """The messages to score, lazily: arguments, or the lines of a file or stdin (`-`), read a block at a
    time and each cut to MAX_CHARS characters (counted in `stats`), so memory stays bounded on any input."""
    if file is not None and messages:
        raise StageError("give messages as arguments or --file, not both")
    if file is None and messages != ["-"]:
        checked = argument_messages(messages)
        for number, text in enumerate(checked, start=1):
            if len(text) > MAX_CHARS:
                stats.record_cut(f"message {number}: {len(text):,} characters")
        yield (text[:MAX_CHARS] for text in checked)
        return
    if file is None:
        if sys.stdin is None:
            raise StageError(
                "stdin is closed: pipe messages in (cat messages.txt | spam predict -) or give --file PATH"
            )
        yield stream_messages(sys.stdin.buffer.read1, "stdin", MAX_CHARS, stats)
        return
    with Path(file).open("rb") as handle:
        yield stream_messages(handle.read1, str(file), MAX_CHARS, stats)


def read_messages(messages: list[str], file: Path | None) -> tuple[list[str], int]:
    """All messages at once (for tests and small inputs): (messages, blank lines skipped)."""
    stats = StreamStats()
    with message_source(messages, file, stats) as texts:
        kept = list(texts)
    if not kept:
        raise no_messages(file)
    return kept, stats.blank


def no_messages(file: Path | None) -> StageError:
    return StageError(f"{'stdin' if file is None else file} holds no messages (only blank lines)")


@app.command()
@reports_errors
def predict(
    messages: list[str] = typer.Argument(None, help="messages to score; - reads stdin, one message a line"),
    file: Path = typer.Option(None, "--file", "-f", help="a UTF-8 text file, one message a line"),
    featurizer: str = typer.Option(None, help="which trained model; default: the best validation MCC"),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table"),
) -> None:
    """Say whether each message is spam. Example: spam predict "WINNER! Claim your prize now"

    Prints the label, the spam probability and the threshold of the chosen model. Blank lines in a file are
    skipped and counted. A file or stdin is read and scored in batches, so any size works in bounded memory;
    a message longer than 5,000 characters (the app's cap) is cut to its first 5,000, and a note says so.
    Uses the pipeline's outputs (data/models, data/features), so run `spam repro` first.
    """
    from stages.user.predictor import best_featurizer, load_predictor, shown_probability, trained_featurizers

    if featurizer is not None:
        known_featurizer(featurizer, built=check_name(featurizer) in trained_featurizers())
    stats = StreamStats()
    with message_source(messages or [], file, stats) as texts:
        first = list(itertools.islice(texts, PREDICT_BATCH))  # read before anything loads or prints
        if not first:
            raise no_messages(file)
        choice = best_featurizer() if featurizer is None else None
        if choice is not None and choice.note:
            typer.echo(choice.note, err=True)
        name = featurizer or choice.featurizer
        predictor = load_predictor(name)
        if not as_json:
            write_line(f"{'label':<5}  {'p(spam)':>7}  {'threshold':>9}  message   [featurizer: {name}]")
        from tqdm import tqdm

        # Scored and printed a batch at a time: memory stays bounded, and `| head -1` stops the command after
        # the first batch. The bar shows on a terminal, on runs longer than a few seconds.
        with tqdm(unit="msg", desc=f"predict {name}", delay=3, disable=None) as bar:  # a terminal only
            batch = first
            while batch:
                for text, probability in zip(batch, predictor.spam_probability(batch).tolist(), strict=True):
                    label = "spam" if probability >= predictor.threshold else "ham"
                    if as_json:
                        row = {"label": label, "spam_probability": round(probability, 6)}
                        row |= {"threshold": predictor.threshold, "featurizer": name, "message": text}
                        write_line(json.dumps(row, ensure_ascii=False))
                    else:
                        shown = clip(printable(text), EXCERPT)  # its escape codes shown, not obeyed by the terminal
                        shown_p = shown_probability(probability)
                        write_line(f"{label:<5}  {shown_p:7.4f}  {predictor.threshold:9.4f}  {shown}")
                flush_output()
                bar.update(len(batch))
                batch = list(itertools.islice(texts, PREDICT_BATCH))
    if note := stats.cut_note(MAX_CHARS):
        typer.echo(note, err=True)
    if stats.blank:
        typer.echo(f"skipped {stats.blank} blank line{'s' * (stats.blank != 1)}", err=True)


@app.command()
@reports_errors
def compare(
    old: str = typer.Argument(..., help="the featurizer to compare against, e.g. bow"),
    new: str = typer.Argument(..., help="the featurizer compared, e.g. tfidf"),
    resamples: int = typer.Option(2000, min=100, help="bootstrap resamples"),
    seed: int = typer.Option(0, help="bootstrap seed"),
) -> None:
    """Test metrics of two featurizers side by side. Example: spam compare bow tfidf

    Same shape as `dvc metrics diff` (metric, old, new, change), plus a paired 95 % bootstrap interval of
    the change (both scored on the same resampled test messages); `confirmed` means it excludes 0.
    """
    from stages.common.comparison import compare_featurizers, diff_table, read_test_predictions
    from stages.common.params import MAX_RESAMPLES

    if resamples > MAX_RESAMPLES:  # checked here, not by typer's max=: one `error:` line, as every other
        raise StageError(
            f"--resamples {resamples:,} is over the limit of {MAX_RESAMPLES:,} (the bootstrap holds resamples x "
            "test messages indices in memory)"
        )
    for name in (check_name(old), check_name(new)):
        known_featurizer(name, built=layout.predictions_file(name).exists())
    if old == new:
        raise StageError(f"compare two different featurizers (got {old} twice), e.g. spam compare bow tfidf")
    predictions = {name: read_test_predictions(layout.predictions_file(name)) for name in (old, new)}
    report = compare_featurizers(predictions, old, resamples, seed)
    write_line(f"test split: {report.test_messages} messages, {report.test_spam} spam")
    write_line(diff_table(report.vs_baseline[new], old, new))


@app.command()
@reports_errors
def serve(
    host: str = typer.Option("127.0.0.1", help="address to bind; 0.0.0.0 opens the app to your network"),
    port: int = typer.Option(7860, min=1, max=65535, help="TCP port"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="show model-loading bars and Gradio's own messages"),
) -> None:
    """Open the Gradio app on this machine. Example: spam serve --port 7860, then open http://127.0.0.1:7860

    Shows every trained model's verdict on a message, the words that pushed bow/tfidf, the compare table
    and plots, and the regression lessons. Offline: no share link, no analytics, no fonts from a CDN.
    """
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(
            f"warning: binding to {host}: anyone who can reach this machine on port {port} can use the app", err=True
        )
    if busy := port_busy(host, port):  # before the models load: a mistyped port fails at once
        raise busy
    try:
        from stages.user.app import serve as serve_app
    except ModuleNotFoundError as exc:
        raise StageError(f"the app needs {exc.name}: pip install -e '.[app]'") from None

    try:
        serve_app(host, port, verbose)
    except OSError:
        # Another server took the port while this one loaded (two `spam serve` started together): Gradio's
        # own words name neither the port nor --port.
        if busy := port_busy(host, port):
            raise busy from None
        raise


def port_busy(host: str, port: int) -> StageError | None:
    """The error to give when `host:port` cannot be bound now; None when it is free."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            return StageError(f"cannot listen on {host}:{port} ({exc.strerror}): pick another with --port")
    return None


if __name__ == "__main__":
    app()
