"""Faults and bad input: the parser and params.yaml under fuzzing, unwritable outputs, a full disk, damaged
model files, closed pipes: each ends in one `error:` line (or quietly, for a closed stdout), never a traceback."""

from __future__ import annotations

import copy
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stages import prepare
from stages.common.cli import stage_featurizer
from stages.common.errors import StageError
from stages.common.params import Params, load_params, parse_params, validate_params
from stages.user import spam
from tests.conftest import ROOT, SAMPLE, unused_port

# Each line kind: (bytes of the line, parsed (label, text) or None if the parser must report it).
text_chars = st.characters(blacklist_categories=["Cs"], blacklist_characters="\n\r")
good_text = st.text(text_chars, min_size=1, max_size=200).filter(lambda t: t.strip())
label_case = st.sampled_from(["ham", "spam", "HAM", "Spam", "sPaM", " ham "])


@st.composite
def line_kinds(draw):
    kind = draw(st.sampled_from(["valid", "extra_tabs", "no_tab", "bad_label", "empty_text", "bad_utf8", "blank"]))
    label, text = draw(label_case), draw(good_text)
    if kind == "valid":
        return f"{label}\t{text}".encode(), (label.strip().lower(), text)
    if kind == "extra_tabs":  # the text may itself hold tabs
        return f"{label}\t{text}\t{text}".encode(), (label.strip().lower(), f"{text}\t{text}")
    if kind == "no_tab":
        return f"{label}{text}".replace("\t", " ").encode(), None
    if kind == "bad_label":
        return f"eggs\t{text}".encode(), None
    if kind == "empty_text":
        return f"{label}\t   ".encode(), None
    if kind == "bad_utf8":
        return f"{label}\t{text}".encode() + b"\xff\xfe", None
    return b"   ", "blank"


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(line_kinds(), min_size=1, max_size=25), st.booleans(), st.booleans())
def test_parser_accepts_and_round_trips_or_names_the_first_bad_line(lines, crlf, bom):
    raw = (b"\xef\xbb\xbf" if bom else b"") + b"".join(line + (b"\r\n" if crlf else b"\n") for line, _ in lines)
    parsed = prepare.parse_collection(raw)
    expected_bad = [n for n, (_, outcome) in enumerate(lines, start=1) if outcome is None]
    expected_rows = [outcome for _, outcome in lines if outcome not in (None, "blank")]
    assert [bad.number for bad in parsed.bad_lines] == expected_bad
    assert list(zip(parsed.messages["label"], parsed.messages["text"], strict=True)) == expected_rows
    assert parsed.blank_lines == sum(outcome == "blank" for _, outcome in lines)
    if expected_bad:
        with pytest.raises(StageError, match=rf"line {expected_bad[0]}: "):
            prepare.prepare_messages(raw, "error")


def test_parser_survives_a_megabyte_line_and_nul_bytes():
    raw = b"spam\t" + b"x" * 1_000_000 + b"\nham\tnul \x00 inside\n"
    parsed = prepare.parse_collection(raw)
    assert not parsed.bad_lines and len(parsed.messages["text"][0]) == 1_000_000


def test_permission_denied_output_is_a_clean_error():
    """A stage writing into a read-only directory, as an unprivileged user (root ignores permissions)."""
    drop = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: cannot drop privileges to test permissions")
        drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    work = Path(tempfile.mkdtemp())
    try:
        work.chmod(0o755)
        shutil.copy(ROOT / "params.yaml", work / "params.yaml")
        shutil.copy(SAMPLE, work / "raw.txt")
        (work / "raw.txt").chmod(0o644)
        (work / "params.yaml").chmod(0o644)
        locked = work / "locked"
        locked.mkdir(mode=0o555)
        locked.chmod(0o555)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(work)}
        done = subprocess.run(
            [*drop, sys.executable, "-m", "stages.prepare", "raw.txt", "locked/m.parquet", "locked/s.json"],
            cwd=work, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 1, done.stdout + done.stderr
        assert "error: cannot access" in done.stderr and "Permission denied" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and list(locked.iterdir()) == []
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_disk_full_is_a_clean_error_with_nothing_left(in_tmp, monkeypatch):
    def no_space(self, path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"PAR1 half a file")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(pd.DataFrame, "to_parquet", no_space)
    result = CliRunner().invoke(prepare.app, [str(SAMPLE), "out/m.parquet", "out/s.json"])
    assert result.exit_code == 1 and "No space left on device" in result.output
    assert "Traceback" not in result.output
    assert not (in_tmp / "out").exists() or list((in_tmp / "out").iterdir()) == []  # no half file, no temp file


# --- Issue 15: every bad input gets one clear error line -------------------------------------------------------

PARAMS_TEXT = (ROOT / "params.yaml").read_text(encoding="utf-8")


def params_error(data: bytes | str) -> str:
    """The one-line error load_params gives for these params.yaml bytes (fails if they are accepted)."""
    raw = data.encode() if isinstance(data, str) else data
    with pytest.raises(StageError) as error:
        validate_params(parse_params(raw))
    message = str(error.value)
    assert "\n" not in message and len(message) < 1500, message
    return message


def with_line(old: str, new: str) -> str:
    assert old in PARAMS_TEXT
    return PARAMS_TEXT.replace(old, new, 1)


EVIL = "b;touch /tmp/spamneuron-pwned;#"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (with_line("featurizers: [bow,", f"featurizers: ['{EVIL}', bow,"), "featurizers.0"),
        (with_line("  bow:  # the course's", f"  '{EVIL}':\n    kind: count\n  bow:  # the course's"), "featurize."),
        (with_line("featurizers: [bow,", "featurizers: ['../../stages', bow,"), "featurizers.0"),
        (with_line("featurizers: [bow,", "featurizers: [Bow, bow,"), "featurizers.0"),
        (with_line("  baseline: bow", "  baseline: '$(reboot)'"), "compare.baseline"),
    ],
    ids=["shell-in-featurizers", "shell-as-block-key", "path-escape", "uppercase", "baseline"],
)
def test_names_that_reach_paths_or_commands_are_refused_naming_the_key(text, key):
    assert key in params_error(text) and "should match pattern" in params_error(text)


def test_dvc_yaml_keeps_featurizer_names_out_of_shell_commands(monkeypatch):
    """DVC interpolates before any stage runs: no `${...}` may reach a `cmd`; the stage reads DVC_STAGE."""
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    commands = [(stage.get("do") or stage)["cmd"] for stage in pipeline["stages"].values()]  # foreach: under do
    assert commands and not [cmd for cmd in commands if "${" in str(cmd)]
    monkeypatch.setenv("DVC_STAGE", "train@tfidf")
    assert stage_featurizer(None) == "tfidf"
    monkeypatch.setenv("DVC_STAGE", f"train@{EVIL}")
    with pytest.raises(StageError, match="not a valid name"):
        stage_featurizer(None)


def alias_bomb(levels: int) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_is_refused_at_once():
    message = params_error(alias_bomb(9))  # ~1 KB that would expand to 9**9 strings
    assert "aliases" in message and "line 2" in message


@pytest.mark.parametrize("data", [b"[" * 100_000, b"{a: " * 50_000 + b"1" + b"}" * 50_000, b"- " * 30_000 + b"1"])
def test_deeply_nested_params_are_one_error_line(data):
    assert "nested too deeply" in params_error(data)


def test_oversized_params_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS_TEXT + "#" * 2_000_000 + "\n")
    with pytest.raises(StageError, match="more than the 1,000,000 allowed"):
        load_params(path)


def test_non_utf8_params_is_one_line_naming_the_line():
    message = params_error(PARAMS_TEXT.encode().replace(b"prepare:", b"pr\xe9pare:", 1))
    assert (
        "not UTF-8" in message and f"line {PARAMS_TEXT[: PARAMS_TEXT.index('prepare:')].count(chr(10)) + 1}" in message
    )


def test_a_huge_value_is_cut_to_80_characters_in_the_error():
    message = params_error(with_line("lr: 0.2", "lr: '" + "x" * 500_000 + "'"))
    assert "train.tfidf.lr" in message and len(message) < 400


def test_a_key_written_twice_is_refused_naming_key_and_lines():
    text = with_line("    lr: 0.2\n", "    lr: 0.2\n    lr: 0.9\n")
    line = text[: text.index("    lr: 0.9")].count("\n") + 1
    message = params_error(text)
    assert "'lr' is written twice" in message and f"line {line}" in message and f"first on line {line - 1}" in message


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("lr: 0.2", "lr: .inf", "train.tfidf.lr"),
        ("lr: 0.2", "lr: .nan", "train.tfidf.lr"),
        ("lr: 0.2", "lr: 1e300", "train.tfidf.lr"),
        ("lr: 0.2", "lr: true", "train.tfidf.lr"),
        ("lr: 0.2", "lr: '0.2'", "train.tfidf.lr"),
        ("epochs: 300\n    batch_size: 0\n    weight_decay: 0.00001", "epochs: true\n    batch_size: 0\n"
         "    weight_decay: 0.00001", "train.tfidf.epochs"),
        ("  seed: 42\n\nfeaturize", "  seed: -1\n\nfeaturize", "split.seed"),
        ("sublinear_tf: true", "sublinear_tf: 1", "featurize.tfidf.sublinear_tf"),
        ("timeout: 3", "timeout: .inf", "download.timeout"),
        ("celsius_range: [-30, 50]", "celsius_range: [-.inf, 50]", "fahrenheit.celsius_range.0"),
    ],
    ids=["inf", "nan", "1e300", "true", "string", "epochs-true", "negative-seed", "bool-as-1", "timeout-inf",
         "range-inf"],
)  # fmt: skip
def test_numbers_are_finite_in_range_and_never_booleans(old, new, key):
    assert key in params_error(with_line(old, new))


def test_training_that_diverges_is_one_line_naming_the_param(in_tmp, monkeypatch):
    import scipy.sparse as sp

    from stages import train
    from stages.common.features import Split

    huge = sp.csr_matrix(np.full((20, 3), np.inf, dtype=np.float32))  # the loss is not finite from epoch 1
    labels = np.array([0, 1] * 10, dtype=np.float32)
    split = Split(np.arange(len(labels)), huge, labels)
    monkeypatch.setattr(train, "load_splits", lambda *args: {"train": split, "val": split})
    result = CliRunner().invoke(train.app, ["bow"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert "diverged" in line and "train.bow.lr" in line
    assert not (in_tmp / "data" / "models" / "bow").exists()


# Model files: every way a file can be damaged, through `spam predict`.
def damage(root: Path, relative: str, content: bytes | Callable) -> None:
    path = root / relative
    path.write_bytes(content(path.read_bytes()) if callable(content) else content)


def safetensors_with(**tensors) -> bytes:
    from safetensors.numpy import save

    return save({k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()})


def card_with(**changes) -> Callable[[bytes], bytes]:
    return lambda data: json.dumps(json.loads(data) | changes).encode()


MODEL, CARD_FILE, VECTORIZER_FILE = (
    "data/models/bow/model.safetensors",
    "data/models/bow/card.json",
    ("data/features/bow/vectorizer.json"),
)
DAMAGES = {
    "truncated-weights": (MODEL, lambda data: data[: len(data) // 2], "train@bow"),
    "garbage-weights": (MODEL, b"\x00garbage" * 100, "train@bow"),
    "empty-weights": (MODEL, b"", "train@bow"),
    "wrong-shape": (MODEL, safetensors_with(weight=np.ones((1, 7)), bias=[0.0]), "train@bow"),
    "missing-bias": (MODEL, lambda data: safetensors_with(weight=np.ones((1, N_FEATURES))), "train@bow"),
    "nan-weights": (
        MODEL,
        lambda data: safetensors_with(weight=np.full((1, N_FEATURES), np.nan), bias=[0]),
        "train@bow",
    ),
    "inf-bias": (MODEL, lambda data: safetensors_with(weight=np.ones((1, N_FEATURES)), bias=[np.inf]), "train@bow"),
    "card-list": (CARD_FILE, b"[]", "train@bow"),
    "card-empty-object": (CARD_FILE, b"{}", "train@bow"),
    "card-nonsense": (CARD_FILE, b"nonsense{", "train@bow"),
    "card-string": (CARD_FILE, b'"high"', "train@bow"),
    "card-not-utf8": (CARD_FILE, b"\xff\xfe{}", "train@bow"),
    "threshold-7": (CARD_FILE, card_with(threshold=7), "train@bow"),
    "threshold-nan": (CARD_FILE, lambda data: data.replace(b'"threshold": 0.5', b'"threshold": NaN'), "train@bow"),
    "threshold-string": (CARD_FILE, card_with(threshold="high"), "train@bow"),
    "threshold-bool": (CARD_FILE, card_with(threshold=True), "train@bow"),
    "n-features-wrong": (CARD_FILE, card_with(n_features=3), "train@bow"),  # named: the weights that disagree
    "vectorizer-garbage": (VECTORIZER_FILE, b"\x89PNG", "featurize@bow"),
    "vectorizer-list": (VECTORIZER_FILE, b"[1, 2]", "featurize@bow"),
    "vectorizer-bad-params": (VECTORIZER_FILE, card_with(params={"kind": "magic"}), "featurize@bow"),
    "vectorizer-short": (VECTORIZER_FILE, card_with(vocabulary={"free": 0}), "train@bow"),
}
N_FEATURES = 500  # tests/tiny_trained.py: max_features
WHY = {
    "card-list": "is not a JSON object",
    "card-string": "is not a JSON object",
    "card-nonsense": "is not valid JSON",
    "nan-weights": "NaN",
    "wrong-shape": "has shape (1, 7)",
    "missing-bias": "no 'bias' tensor",
    "threshold-7": "in (0, 1), got 7",
    "threshold-nan": "in (0, 1), got nan",
}


@pytest.mark.parametrize("damaged", list(DAMAGES))
def test_damaged_model_files_are_one_error_line_naming_file_and_rerun_target(trained, damaged):
    relative, content, target = DAMAGES[damaged]
    damage(trained, relative, content)
    result = CliRunner().invoke(spam.app, ["predict", "--featurizer", "bow", "free prize"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    named = MODEL if damaged == "n-features-wrong" else relative
    assert named in lines[0] and f"dvc repro {target}" in lines[0], lines[0]
    assert WHY.get(damaged, "") in lines[0]


def test_damaged_metrics_file_names_it(trained):
    (trained / "reports" / "metrics" / "bow.json").write_text("{oops")
    result = CliRunner().invoke(spam.app, ["predict", "free prize"])
    assert result.exit_code == 1 and "reports/metrics/bow.json" in result.output and "evaluate@bow" in result.output


def test_the_same_featurizer_twice_is_refused(trained):
    result = CliRunner().invoke(spam.app, ["compare", "bow", "bow"])
    assert result.exit_code == 1 and result.output.startswith("error: compare two different featurizers")


def spam_cli(cwd: Path, shell: str) -> subprocess.CompletedProcess:
    """`spam ...` run by bash in `cwd`, so that the test can close or redirect its standard streams."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SPAM": f"{sys.executable} -m stages.user.spam"}
    return subprocess.run(["bash", "-c", shell], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_closed_stdin_is_an_error_line(trained):
    done = spam_cli(trained, "$SPAM predict - <&-")
    assert done.returncode == 1 and done.stderr.startswith("error: stdin is closed"), done.stderr
    assert "Traceback" not in done.stderr


def test_closed_stdout_ends_quietly_after_the_first_batch(trained):
    """`| head -1`: the header is read, then the next write finds the pipe closed: no error, no traceback,
    and the rest of the 200,000 messages is never scored (the bar stops far from the end)."""
    done = spam_cli(trained, "yes 'WIN a free prize' | head -n 200000 | $SPAM predict --featurizer bow - | head -1")
    assert done.returncode == 0 and done.stdout.splitlines() == [done.stdout.splitlines()[0]]
    assert done.stdout.startswith("label") and "error" not in done.stderr and "Traceback" not in done.stderr
    assert "200000/200000" not in done.stderr, done.stderr


def test_full_disk_on_stdout_names_it(trained):
    done = spam_cli(trained, "$SPAM predict --featurizer bow 'free prize' 'hello' > /dev/full")
    assert done.returncode == 1 and done.stderr.strip() == "error: cannot access <stdout>: No space left on device"


def test_an_os_error_without_a_path_names_the_output(in_tmp, monkeypatch):
    def no_space(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as pyarrow raises it: no file name

    monkeypatch.setattr(pd.DataFrame, "to_parquet", no_space)
    result = CliRunner().invoke(prepare.app, [str(SAMPLE), "out/m.parquet", "out/s.json"])
    assert result.exit_code == 1 and "error: cannot access out/m.parquet: No space left on device" in result.output


@pytest.mark.parametrize(("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_outputs_respect_the_umask(tmp_path, umask, file_mode, dir_mode):
    from stages.common.io import atomic_dir, write_json

    old = os.umask(umask)
    try:
        write_json(tmp_path / "index.json", {})
        with atomic_dir(tmp_path / "model") as tmp:
            (tmp / "card.json").write_text("{}")
    finally:
        os.umask(old)
    assert (tmp_path / "index.json").stat().st_mode & 0o777 == file_mode
    assert (tmp_path / "model").stat().st_mode & 0o777 == dir_mode


# params.yaml fuzzing: whatever the file holds, the outcome is valid params or one `error:` line.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["bow", "tfidf", "auto", "balanced", "count", "transformer", "adam", "", "~", "1e300"])
)
structures = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(scalars, inner, max_size=6), max_leaves=20
)
REAL_PARAMS = yaml.safe_load(PARAMS_TEXT)
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when built in: keeps 1,000 examples quick


def dump(node) -> bytes:
    return yaml.dump(node, Dumper=DUMPER, allow_unicode=True, sort_keys=False).encode("utf-8", "surrogatepass")


def paths_of(node, prefix=()):
    yield prefix
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in children:
        yield from paths_of(child, (*prefix, key))


PARAM_PATHS = list(paths_of(REAL_PARAMS))[1:]


@st.composite
def params_files(draw) -> bytes:
    """The real params.yaml with a few keys replaced, removed or added; or any structure; or any bytes."""
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "structure", "bytes", "text"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "text":
        return draw(st.text(max_size=300)).encode("utf-8", "surrogatepass")
    if kind == "structure":
        return dump(draw(structures))
    params = copy.deepcopy(REAL_PARAMS)
    for _ in range(draw(st.integers(1, 4))):
        *parents, leaf = draw(st.sampled_from(PARAM_PATHS))
        node = params
        try:
            for key in parents:
                node = node[key]
            action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
            if action == "delete":
                del node[leaf]
            elif action == "add" and isinstance(node, dict):
                node[draw(scalars)] = draw(structures)
            else:
                node[leaf] = draw(structures)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed or replaced this path
    return dump(params)


@pytest.mark.slow
@settings(max_examples=1000, suppress_health_check=list(HealthCheck), deadline=None)
@given(params_files())
def test_params_fuzzing_gives_valid_params_or_one_error_line(data):
    try:
        params = validate_params(parse_params(data))
    except StageError as error:
        message = str(error)
        assert message and "\n" not in message and len(message) < 1500, message
        event(f"error: {message.split(':')[0].split(' (')[0][:40]}")
    else:
        assert isinstance(params, Params)
        event("valid params")


# The app: odd Unicode, uploads, a busy port.
def test_lone_surrogates_get_a_verdict_and_a_note_never_a_traceback(trained):
    from stages.user.app import ServedModels, classify

    models = ServedModels(["bow"])
    for message in ("\ud800 WIN a free prize", "free \udfff\ud83d prize \x00", "\ud800"):
        note, table, bars, *highlights = classify(message, models)
        rows = table["value"].to_dict("records") if "value" in table else []  # gr.update: hidden when empty
        shown = json.dumps([note, rows, [h.get("value") for h in highlights]], ensure_ascii=False)
        shown.encode("utf-8")  # what the browser gets: a lone surrogate here would fail to encode
        assert "replaced by" in note or "nothing to classify" in note


def test_uploads_are_capped(tmp_path, monkeypatch):
    """Gradio's /gradio_api/upload route, on the real app: 2 MB is refused (413), a small file accepted."""
    import urllib.error
    import urllib.request

    import gradio as gr

    from stages.user import app as app_module

    monkeypatch.chdir(tmp_path)
    launched, launch = {}, gr.Blocks.launch
    monkeypatch.setattr(
        gr.Blocks,
        "launch",
        lambda self, **kw: launched.update(app=self) or launch(self, **{**kw, "prevent_thread_lock": True}),
    )
    monkeypatch.setattr(gr.Blocks, "block_thread", lambda self: None)  # serve() blocks after launching
    port = unused_port()
    app_module.serve("127.0.0.1", port)

    def upload(size: int) -> int:
        boundary = "spamneuronboundary"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="m.txt"\r\n'
            f"Content-Type: text/plain\r\n\r\n".encode()
            + b"x" * size
            + f"\r\n--{boundary}--\r\n".encode()
        )
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/gradio_api/upload", data=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    try:
        assert upload(2_000_000) == 413 and upload(1_000) == 200
    finally:
        launched["app"].close()


def test_a_busy_port_is_one_line_naming_the_option():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = CliRunner().invoke(spam.app, ["serve", "--port", str(busy.getsockname()[1])])
    assert result.exit_code == 1 and "pick another with --port" in result.output
    assert "GRADIO_SERVER_PORT" not in result.output and "Traceback" not in result.output


def test_a_port_taken_while_the_app_loads_is_one_line_naming_the_option(monkeypatch):
    """Two `spam serve` on one port, started together: both pass the first check while they load their models,
    and the loser got Gradio's `cannot access (no path given by the system): Cannot find empty port in range`."""
    import socket

    import gradio as gr

    from stages.user import app as app_module

    taken = socket.socket()
    port = unused_port()

    def build_app_while_another_serve_starts(verbose: bool = False) -> gr.Blocks:
        taken.bind(("127.0.0.1", port))  # the winner binds while this one loads
        taken.listen()
        with gr.Blocks() as blocks:
            gr.Markdown("x")
        return blocks

    monkeypatch.setattr(app_module, "build_app", build_app_while_another_serve_starts)
    with taken:
        result = CliRunner().invoke(spam.app, ["serve", "--port", str(port)])
    lines = result.output.splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert lines[0].startswith(f"error: cannot listen on 127.0.0.1:{port} ("), lines[0]
    assert lines[0].endswith("pick another with --port") and "GRADIO" not in lines[0], lines[0]
