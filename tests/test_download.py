import hashlib
import http.server
import io
import threading
import time
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stages import download
from stages.common.params import DownloadParams
from tests.conftest import SAMPLE, real_params, unused_port, write_params

CONTENT = SAMPLE.read_bytes()
DIGEST = hashlib.sha256(CONTENT).hexdigest()


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def params_for(*sources: str, timeout: float = 1.0, deadline: float = 60.0) -> DownloadParams:
    return DownloadParams(
        sources=list(sources), member="SMSSpamCollection", sha256=DIGEST, timeout=timeout, deadline=deadline
    )


class Server:
    """A local HTTP server that answers with fixed bytes, hangs without answering, or trickles one byte
    every `trickle` seconds (for at most 20 s, then it stops by itself)."""

    def __init__(self, body: bytes = b"", status: int = 200, hang: bool = False, trickle: float = 0.0) -> None:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                if hang:
                    owner.release.wait(10)
                    return
                if trickle:
                    self.send_response(200)
                    self.send_header("Content-Length", "1000000")
                    self.end_headers()
                    stop = time.monotonic() + 20
                    while time.monotonic() < stop and not owner.release.wait(trickle):
                        try:
                            self.wfile.write(b"x")
                            self.wfile.flush()
                        except OSError:  # the client gave up
                            return
                    return
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.release = threading.Event()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/smsspamcollection.zip"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def test_plain_local_file_is_accepted():
    assert download.fetch_verified(params_for(str(SAMPLE))) == (str(SAMPLE), CONTENT)


def test_zip_from_http_server_is_extracted():
    with Server(make_zip({"SMSSpamCollection": CONTENT, "readme": b"hi"})) as server:
        source, data = download.fetch_verified(params_for(server.url))
    assert (source, data) == (server.url, CONTENT)


def test_closed_port_falls_through_to_local_copy_quickly():
    url = f"http://127.0.0.1:{unused_port()}/x.zip"
    started = time.monotonic()
    source, _ = download.fetch_verified(params_for(url, str(SAMPLE)))
    assert source == str(SAMPLE)
    assert time.monotonic() - started < 5


def test_hanging_server_times_out_and_falls_through():
    with Server(hang=True) as server:
        source, _ = download.fetch_verified(params_for(server.url, str(SAMPLE), timeout=0.5))
    assert source == str(SAMPLE)


def test_trickling_server_hits_the_deadline_and_falls_through():
    """One byte every 0.1 s never trips the per-read timeout (1 s); the whole-transfer deadline (1.5 s) does."""
    with Server(trickle=0.1) as server:
        started = time.monotonic()
        source, _ = download.fetch_verified(params_for(server.url, str(SAMPLE), timeout=1.0, deadline=1.5))
        elapsed = time.monotonic() - started
        with pytest.raises(download.StageError, match="deadline of 1 s"):
            download.fetch_verified(params_for(server.url, deadline=1.0))
    assert source == str(SAMPLE) and elapsed < 10  # the trickle would run 20 s and never finish the 1 MB


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"", 404, "HTTP 404"),
        (make_zip({"SMSSpamCollection": CONTENT})[:200], 200, "corrupt zip"),
        (make_zip({"../../evil/SMSSpamCollection": CONTENT}), 200, "escapes the target directory"),
        (make_zip({"/etc/SMSSpamCollection": CONTENT}), 200, "escapes the target directory"),
        (make_zip({"other.txt": CONTENT}), 200, "no member named"),
        (make_zip({"SMSSpamCollection": CONTENT + b"x"}), 200, "sha256 mismatch"),
    ],
    ids=["http-404", "truncated-zip", "dotdot-member", "absolute-member", "missing-member", "checksum"],
)
def test_bad_source_is_refused_with_reason(body, status, reason):
    with Server(body, status) as server:
        with pytest.raises(download.StageError) as error:
            download.fetch_verified(params_for(server.url))
    assert server.url in str(error.value)
    assert reason in str(error.value)


def test_cli_all_sources_failing_names_each_and_writes_nothing(in_tmp: Path):
    params = real_params()
    bad = in_tmp / "bad.txt"
    bad.write_bytes(b"ham\thello\n")
    missing_port = f"http://127.0.0.1:{unused_port()}/x.zip"
    params["download"]["sources"] = [missing_port, str(bad), str(in_tmp / "nope")]
    write_params(in_tmp, params)
    result = CliRunner().invoke(download.app, [str(in_tmp / "raw" / "out")])
    assert result.exit_code == 1
    for source, why in [(missing_port, "unreachable"), (str(bad), "sha256 mismatch"), ("nope", "no such file")]:
        assert source in result.output and why in result.output
    assert not (in_tmp / "raw").exists() or not any((in_tmp / "raw").iterdir())


def test_cli_writes_verified_file(in_tmp: Path):
    params = real_params()
    params["download"]["sources"] = [str(SAMPLE)]
    params["download"]["sha256"] = DIGEST
    write_params(in_tmp, params)
    result = CliRunner().invoke(download.app, [str(in_tmp / "raw" / "out")])
    assert result.exit_code == 0, result.output
    assert (in_tmp / "raw" / "out").read_bytes() == CONTENT
    assert [p.name for p in (in_tmp / "raw").iterdir()] == ["out"]  # no temp files left
