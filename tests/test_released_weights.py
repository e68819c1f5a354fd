"""download_weights.sh's downloader against a local HTTP server that honours byte ranges."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch

from core.checkpoints import save_checkpoint
from inference.released_weights import (
    RELEASED,
    RELEASED_MODELS,
    DownloadError,
    Published,
    download,
    main,
    sha256_of,
)
from training.zoo.classifiers import DeepFakeClassifier


def published(path):
    return Published(path.stat().st_size, sha256_of(path))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("release")
    torch.manual_seed(0)
    save_checkpoint(
        folder / RELEASED_MODELS[0], DeepFakeClassifier("tf_efficientnet_b0_ns"), 1, np.float64(0.3)
    )
    (folder / RELEASED_MODELS[1]).write_bytes(b"this is not a checkpoint" * 100)
    requests = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            path = folder / self.path.rsplit("/", 1)[-1]
            requests.append((self.path, self.headers.get("Range")))
            if not path.is_file():
                self.send_error(404)
                return
            data = path.read_bytes()
            start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
            self.send_response(206 if start else 200)
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:])

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/releases/download/0.0.1", folder, requests
    httpd.shutdown()


def test_downloads_resumes_and_skips(tmp_path, server):
    url, folder, requests = server
    name = RELEASED_MODELS[0]
    full = (folder / name).read_bytes()
    (tmp_path / f"{name}.part").write_bytes(full[:1000])  # an interrupted earlier run
    requests.clear()
    expected = published(folder / name)
    assert download(name, tmp_path, url, expected=expected) == "downloaded"
    assert (tmp_path / name).read_bytes() == full and not (tmp_path / f"{name}.part").exists()
    assert requests == [(f"/releases/download/0.0.1/{name}", "bytes=1000-")]
    assert download(name, tmp_path, url, expected=expected) == "present" and len(requests) == 1

    (tmp_path / name).write_bytes(full[:5000])  # a truncated file is not trusted
    assert download(name, tmp_path, url, expected=expected) == "replaced"
    assert (tmp_path / name).read_bytes() == full

    # the same size but other bytes (a replaced file that still unpickles): caught by the hash, fetched again
    changed = bytearray(full)
    changed[len(full) // 2] ^= 0xFF
    (tmp_path / name).write_bytes(bytes(changed))
    assert download(name, tmp_path, url, expected=expected) == "replaced"
    assert (tmp_path / name).read_bytes() == full


def test_a_download_that_is_not_the_published_file_is_removed(tmp_path, server):
    url, folder, _ = server
    name = RELEASED_MODELS[0]
    wrong = Published((folder / name).stat().st_size, "0" * 64)
    with pytest.raises(DownloadError, match="not the published file .SHA-256"):
        download(name, tmp_path, url, expected=wrong)
    assert not any(tmp_path.iterdir())


def test_the_published_table():
    assert len(RELEASED) == 7 and all(
        266_000_000 < entry.size < 267_000_000 and len(entry.sha256) == 64 for entry in RELEASED.values()
    )
    assert RELEASED["final_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_36"].sha256.startswith("9db77ab9")


def test_a_file_of_another_size_is_rejected(tmp_path, server):
    url, _, _ = server
    with pytest.raises(DownloadError, match="2400 bytes instead of 266910618"):
        download(RELEASED_MODELS[1], tmp_path, url)
    assert not any(tmp_path.iterdir())


def test_command_reports_failures_and_lists_names(tmp_path, server, capsys):
    url, _, _ = server
    # none of the served files is the published one
    assert main(["--weights-dir", str(tmp_path), "--base-url", url]) == 1
    assert not any(tmp_path.iterdir())
    assert capsys.readouterr().err.count("error: ") == 7
    assert main(["--names"]) == 0
    assert capsys.readouterr().out.split()[-7:] == list(RELEASED_MODELS)
