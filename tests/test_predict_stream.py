"""`spam predict` in bounded memory: streamed input, long messages cut with a note, quick exits."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import tracemalloc

import pytest

from stages.common.errors import StageError
from stages.common.message_stream import BLOCK, MAX_CHARS, StreamStats, stream_messages
from stages.user.verdicts import MAX_CHARS as APP_MAX_CHARS
from tests.conftest import ROOT


def messages_of(data: bytes, stats: StreamStats | None = None) -> list[str]:
    return list(stream_messages(io.BytesIO(data).read1, "stdin", MAX_CHARS, stats or StreamStats()))


def test_the_app_and_predict_share_one_cap():
    assert MAX_CHARS == APP_MAX_CHARS == 5_000


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending_ends_a_message(end):
    assert messages_of(end.join([b"\xef\xbb\xbfhello", b"", b"WIN a prize", b"bye"]) + end) == [
        "hello",
        "WIN a prize",
        "bye",
    ]


def test_a_crlf_split_between_two_blocks_is_one_line_end():
    data = b"a" * (BLOCK - 1) + b"\r\nb\n"
    stats = StreamStats()
    assert [len(m) for m in messages_of(data, stats)] == [MAX_CHARS, 1] and stats.blank == 0


def test_a_long_line_is_cut_to_the_cap_with_a_note_and_never_held():
    stats = StreamStats()
    size = 50 * 1024 * 1024
    chunks = iter([b"x" * BLOCK] * (size // BLOCK) + [b"\nnext\n"])
    tracemalloc.start()
    texts = list(stream_messages(lambda _n: next(chunks, b""), "stdin", MAX_CHARS, stats))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [len(t) for t in texts] == [MAX_CHARS, 4]
    assert peak < 2 * 1024 * 1024  # the 50 MB line was never held: a few blocks at most
    assert stats.cut_note(MAX_CHARS) == (
        f"note: 1 message was longer than 5,000 characters; scored the first 5,000 (line 1: {size:,} bytes)"
    )


@pytest.mark.parametrize("char", ["é", "€", "😀"])  # 2, 3 and 4 bytes: the byte cap falls inside one or not
def test_a_cut_inside_a_multibyte_character_is_not_an_encoding_error(char):
    stats = StreamStats()
    (text,) = messages_of(char.encode() * 30_000, stats)
    assert text == char * MAX_CHARS and stats.cut == 1


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"ok\r\nfine\x00", "stdin looks binary (NUL byte on line 2)"), (b"ok\rcaf\xe9\r", "not UTF-8 text (line 2)")],
)
def test_binary_and_bad_bytes_name_the_line(data, expected):
    with pytest.raises(StageError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        messages_of(data)


def spam(project, *args, stdin=None, timeout=60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "stages.user.spam", "predict", *args]
    # timeout: a guard against a hang, not a speed check
    return subprocess.run(command, cwd=project, env=env, stdin=stdin, capture_output=True, timeout=timeout)


def test_dev_zero_ends_with_one_error_line(trained):
    with open("/dev/zero", "rb") as zero:
        done = spam(trained, "-", stdin=zero)
    assert done.returncode == 1 and done.stdout == b""
    assert done.stderr.decode().splitlines() == [
        "error: stdin looks binary (NUL byte on line 1): give a text file, one message a line"
    ]


def test_a_50_mb_line_is_scored_cut_with_one_note(trained):
    path = trained / "long.txt"
    with path.open("wb") as out:
        for _ in range(50):
            out.write(b"win a prize " * 87_382)  # 1 MiB (+8 bytes) of text, no line end
        out.write(b"\nhello\n")
    done = spam(trained, "--file", str(path))
    assert done.returncode == 0, done.stderr
    rows = done.stdout.decode().splitlines()
    assert len(rows) == 3 and rows[1].startswith(("spam", "ham ")) and rows[2].endswith("hello")
    size = path.stat().st_size - len(b"\nhello\n")
    note = f"note: 1 message was longer than 5,000 characters; scored the first 5,000 (line 1: {size:,} bytes)"
    assert done.stderr.decode().splitlines() == [note]


def test_an_argument_longer_than_the_cap_is_cut_with_a_note(trained):
    done = spam(trained, "hi", "x" * 6000)
    assert done.returncode == 0 and "message 2: 6,000 characters" in done.stderr.decode()


def test_a_closed_stdout_exits_quietly_at_once(trained):
    """`yes ... | spam predict - | head -1`: endless input, so only a predict that streams ever gets to write,
    and it must stop at its first write after head has gone."""
    pipeline = subprocess.Popen(
        f"yes 'WIN a prize now' | {sys.executable} -m stages.user.spam predict - | head -1",
        shell=True,
        cwd=trained,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: a failing run is killed whole, `yes` included
    )
    try:
        stdout, stderr = pipeline.communicate(timeout=60)  # a guard: a predict that reads everything never ends
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pipeline.pid, signal.SIGKILL)
    assert pipeline.returncode == 0 and stderr == b""
    assert stdout.decode().startswith("label")


def test_a_shown_probability_is_never_a_certainty():
    """Rounded to 4 decimals for a person, but 0.99996 is not shown as 1 beside another model's 0.9984."""
    from stages.user.predictor import shown_probability

    assert shown_probability(0.99996) == 0.9999 and shown_probability(1.0) == 0.9999
    assert shown_probability(0.00004) == 0.0001 and shown_probability(0.0) == 0.0001
    assert shown_probability(0.99841) == 0.9984 and shown_probability(0.5) == 0.5
