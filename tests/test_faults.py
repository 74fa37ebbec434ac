"""Faults and bad input: the parser under structured fuzzing, unwritable outputs, a full disk."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stages import prepare
from stages.common.cli import StageError
from tests.conftest import ROOT, SAMPLE

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
