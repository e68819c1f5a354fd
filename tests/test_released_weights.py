"""download_weights.sh's downloader against a local HTTP server that honours byte ranges."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch

from core.checkpoints import save_checkpoint
from inference.released_weights import RELEASED_MODELS, DownloadError, download, main
from training.zoo.classifiers import DeepFakeClassifier


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("release")
    torch.manual_seed(0)
    save_checkpoint(folder / RELEASED_MODELS[0], DeepFakeClassifier("tf_efficientnet_b0_ns"), 1, np.float64(0.3))
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
    assert download(name, tmp_path, url) == "downloaded"
    assert (tmp_path / name).read_bytes() == full and not (tmp_path / f"{name}.part").exists()
    assert requests == [(f"/releases/download/0.0.1/{name}", "bytes=1000-")]
    assert download(name, tmp_path, url) == "present" and len(requests) == 1

    (tmp_path / name).write_bytes(full[:5000])  # a truncated file is not trusted
    assert download(name, tmp_path, url) == "downloaded"
    assert (tmp_path / name).read_bytes() == full


def test_a_file_that_does_not_load_is_rejected(tmp_path, server):
    url, _, _ = server
    with pytest.raises(DownloadError, match="does not load"):
        download(RELEASED_MODELS[1], tmp_path, url)
    assert not any(tmp_path.iterdir())


def test_command_reports_failures_and_lists_names(tmp_path, server, capsys):
    url, _, _ = server
    assert main(["--weights-dir", str(tmp_path), "--base-url", url]) == 1  # only the first file is served correctly
    assert (tmp_path / RELEASED_MODELS[0]).is_file()
    assert main(["--names"]) == 0
    assert capsys.readouterr().out.split()[-7:] == list(RELEASED_MODELS)
