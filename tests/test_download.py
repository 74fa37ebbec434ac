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
                    try:
                        while time.monotonic() < stop and not owner.release.wait(trickle):
                            try:
                                self.wfile.write(b"x")
                                self.wfile.flush()
                            except OSError:  # the client gave up
                                owner.trickles.append("client gone")
                                return
                        owner.trickles.append("released" if owner.release.is_set() else "trickled to the end")
                    finally:
                        owner.trickle_ended.release()
                    return
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.release = threading.Event()
        self.trickles: list[str] = []  # how each trickled answer ended
        self.trickle_ended = threading.Semaphore(0)
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


def test_closed_port_falls_through_to_local_copy_on_the_refusal():
    """Connection refused ends the try at once: the reason is the refusal, not a timeout or the deadline."""
    url = f"http://127.0.0.1:{unused_port()}/x.zip"
    source, _ = download.fetch_verified(params_for(url, str(SAMPLE)))
    assert source == str(SAMPLE)
    with pytest.raises(download.StageError) as error:
        download.fetch_verified(params_for(url))
    assert "unreachable" in str(error.value) and "refused" in str(error.value), error.value
    assert "timed out" not in str(error.value) and "deadline" not in str(error.value)


def test_hanging_server_times_out_and_falls_through():
    with Server(hang=True) as server:
        source, _ = download.fetch_verified(params_for(server.url, str(SAMPLE), timeout=0.5))
    assert source == str(SAMPLE)


def test_trickling_server_hits_the_deadline_and_falls_through():
    """One byte every 0.1 s never trips the per-read timeout (1 s); the whole-transfer deadline (1.5 s) does."""
    with Server(trickle=0.1) as server:
        source, _ = download.fetch_verified(params_for(server.url, str(SAMPLE), timeout=1.0, deadline=1.5))
        with pytest.raises(download.StageError, match="deadline of 1 s"):
            download.fetch_verified(params_for(server.url, deadline=1.0))
    # Both fetches ended while the server was still trickling (it would go on for 20 s): the client went away,
    # or the release on leaving the block stopped the trickle, never its own end.
    assert all(server.trickle_ended.acquire(timeout=30) for _ in range(2)), server.trickles
    assert source == str(SAMPLE) and server.trickles and "trickled to the end" not in server.trickles


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
