"""Stage 1: fetch the SMS Spam Collection from the first source that works, checked by sha256.

Sources are tried in order (the UCI archive first, then the vendored copy in data/vendor/). A source
may be a URL or a local path, and either a zip archive holding `member` or the plain file.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

import typer

from stages.common.cli import reports_errors, stage_app
from stages.common.errors import StageError
from stages.common.io import write_bytes
from stages.common.layout import RAW_FILE
from stages.common.params import DownloadParams, load_params

app = stage_app(__doc__)


class SourceError(Exception):
    """One source failed; the message says why."""


def read_source(source: str, params: DownloadParams) -> bytes:
    """Return the bytes behind a URL or a local path, at most `params.max_bytes` of them."""
    if source.startswith(("http://", "https://")):
        return _read_url(source, params)
    path = Path(source)
    if not path.is_file():
        raise SourceError("no such file")
    if path.stat().st_size > params.max_bytes:
        raise SourceError(f"larger than max_bytes={params.max_bytes}")
    return path.read_bytes()


def _read_url(url: str, params: DownloadParams) -> bytes:
    """The body behind `url`, within `params.deadline` seconds for the whole transfer.

    The socket timeout bounds each connect and read (a dead host fails in seconds); the deadline bounds
    the total, so a host that trickles bytes cannot hold the pipeline either. The transfer runs in a
    daemon thread so that even a trickled header (inside urllib) cannot outlast the deadline.
    """
    outcome: dict[str, bytes | SourceError] = {}
    worker = threading.Thread(target=_transfer, args=(url, params, outcome), daemon=True)
    worker.start()
    worker.join(params.deadline)
    if worker.is_alive() or "result" not in outcome:
        raise SourceError(f"not finished within the deadline of {params.deadline:g} s (download.deadline)")
    if isinstance(outcome["result"], SourceError):
        raise outcome["result"]
    return outcome["result"]


def _transfer(url: str, params: DownloadParams, outcome: dict) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "spamneuron"})
    ends = time.monotonic() + params.deadline
    chunks, size = [], 0
    try:
        with urllib.request.urlopen(request, timeout=params.timeout) as response:
            while size <= params.max_bytes:
                if time.monotonic() > ends:
                    return  # the caller has reported the deadline; stop reading the trickle
                chunk = response.read1(1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except urllib.error.HTTPError as exc:
        outcome["result"] = SourceError(f"HTTP {exc.code} {exc.reason}")
        return
    except urllib.error.URLError as exc:
        outcome["result"] = SourceError(f"unreachable ({exc.reason})")
        return
    except TimeoutError:
        outcome["result"] = SourceError("timed out")
        return
    except (ConnectionError, OSError) as exc:
        outcome["result"] = SourceError(f"connection failed ({exc})")
        return
    if size > params.max_bytes:
        outcome["result"] = SourceError(f"larger than max_bytes={params.max_bytes}")
        return
    outcome["result"] = b"".join(chunks)


def extract_member(data: bytes, member: str, max_bytes: int) -> bytes:
    """If `data` is a zip, return its `member` (refusing unsafe archives); else return `data`."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        if data[:2] == b"PK":
            raise SourceError("corrupt zip archive")
        return data
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                parts = PurePosixPath(info.filename.replace("\\", "/")).parts
                if info.filename.startswith(("/", "\\")) or ".." in parts or ":" in info.filename:
                    raise SourceError(f"unsafe archive: member {info.filename!r} escapes the target directory")
            matches = [i for i in archive.infolist() if PurePosixPath(i.filename).name == member]
            if not matches:
                raise SourceError(f"archive has no member named {member!r}")
            if matches[0].file_size > max_bytes:
                raise SourceError(f"member {member!r} is larger than max_bytes={max_bytes}")
            return archive.read(matches[0])
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise SourceError(f"corrupt zip archive ({exc})") from None


def fetch_verified(params: DownloadParams) -> tuple[str, bytes]:
    """Return (source, bytes) from the first source whose content matches params.sha256."""
    failures = []
    for source in params.sources:
        try:
            data = extract_member(read_source(source, params), params.member, params.max_bytes)
            digest = hashlib.sha256(data).hexdigest()
            if digest != params.sha256:
                raise SourceError(f"sha256 mismatch: expected {params.sha256}, got {digest}")
            return source, data
        except SourceError as exc:
            failures.append(f"  - {source}: {exc}")
    raise StageError(f"could not get {params.member} from any source:\n" + "\n".join(failures))


@app.command()
@reports_errors
def main(
    output: Path = typer.Argument(RAW_FILE, help="where to write the file"),
) -> None:
    """Download the dataset (params: download.*) and write it atomically to OUTPUT."""
    params = load_params().download
    source, data = fetch_verified(params)
    write_bytes(output, data)
    typer.echo(f"wrote {output} ({len(data):,} bytes, sha256 ok) from {source}")


if __name__ == "__main__":
    app()
