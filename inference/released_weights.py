"""The seven EfficientNet-B7 checkpoints released with the DFDC-winning solution, and fetching them.

Run `python -m inference.released_weights --help` (download_weights.sh does) to download them
into weights/, resuming partial files and verifying that each one loads.
"""
from __future__ import annotations

import sys
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from core.checkpoints import CheckpointError, load_checkpoint
from core.cli import ArgumentParser

RELEASE_URL = "https://github.com/selimsef/dfdc_deepfake_challenge/releases/download/0.0.1"
RELEASED_MODELS = (
    "final_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_36",
    "final_555_DeepFakeClassifier_tf_efficientnet_b7_ns_0_19",
    "final_777_DeepFakeClassifier_tf_efficientnet_b7_ns_0_29",
    "final_777_DeepFakeClassifier_tf_efficientnet_b7_ns_0_31",
    "final_888_DeepFakeClassifier_tf_efficientnet_b7_ns_0_37",
    "final_888_DeepFakeClassifier_tf_efficientnet_b7_ns_0_40",
    "final_999_DeepFakeClassifier_tf_efficientnet_b7_ns_0_23",
)


class DownloadError(Exception):
    pass


def is_valid(path: Path) -> bool:
    try:
        load_checkpoint(path)
        return True
    except CheckpointError:
        return False


def _fetch(url: str, partial: Path, timeout: float) -> None:
    """Append the rest of `url` to `partial`, asking the server for the missing bytes only."""
    offset = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416:  # the partial file is already complete
            return
        raise
    with response:
        if offset and response.status != 206:  # the server ignored the range: start over
            offset = 0
        total = int(response.headers.get("Content-Length", 0)) + offset
        with partial.open("ab" if offset else "wb") as out, tqdm(
            total=total or None, initial=offset, unit="B", unit_scale=True, desc=partial.name.removesuffix(".part"), leave=False
        ) as bar:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                bar.update(len(chunk))


def download(name: str, weights_dir: Path, base_url: str = RELEASE_URL, timeout: float = 60.0) -> str:
    """Make weights_dir/name a valid checkpoint; returns what was done ('present', 'downloaded')."""
    target = weights_dir / name
    if target.exists():
        if is_valid(target):
            return "present"
        target.unlink()
    weights_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        _fetch(f"{base_url.rstrip('/')}/{name}", partial, timeout)
    except (urllib.error.URLError, OSError) as error:
        raise DownloadError(f"cannot download {name}: {error} (rerun to resume)") from error
    if not is_valid(partial):
        partial.unlink()
        raise DownloadError(f"downloaded {name} does not load as a checkpoint; removed it, rerun to fetch it again")
    partial.replace(target)
    return "downloaded"


def main(argv=None) -> int:
    parser = ArgumentParser(description="Download the released DFDC B7 checkpoints; files already present and valid are kept.")
    parser.add_argument("--weights-dir", default="weights", help="where to put the checkpoint files")
    parser.add_argument("--base-url", default=RELEASE_URL, help="where the files are served")
    parser.add_argument("--names", action="store_true", help="only print the released checkpoint names, one per line")
    args = parser.parse_args(argv)
    if args.names:
        print("\n".join(RELEASED_MODELS))
        return 0
    failures = 0
    for name in tqdm(RELEASED_MODELS, desc="checkpoints", unit="file"):
        try:
            tqdm.write(f"{name}: {download(name, Path(args.weights_dir), args.base_url)}")
        except DownloadError as error:
            tqdm.write(f"error: {error}", file=sys.stderr)
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
