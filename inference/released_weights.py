"""The seven EfficientNet-B7 checkpoints released with the DFDC-winning solution, and fetching them.

Run `python -m inference.released_weights --help` (download_weights.sh does) to download them
into weights/, resuming partial files and checking each file's size and SHA-256 against the published values.
"""

from __future__ import annotations

import hashlib
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

from tqdm import tqdm

from core.cli import ArgumentParser

RELEASE_URL = "https://github.com/selimsef/dfdc_deepfake_challenge/releases/download/0.0.1"


class Published(NamedTuple):
    size: int
    sha256: str


# The release's files (tag 0.0.1), as its public mirrors give them.
RELEASED = {
    "final_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_36": Published(
        266910617, "9db77ab9318863e2f8ab287c8eb83c2232584b82dc2fb41f1d614ddd7900cccb"
    ),
    "final_555_DeepFakeClassifier_tf_efficientnet_b7_ns_0_19": Published(
        266910618, "e2f0066a8ff036add2f5b418d2eba1051c2d2788f84168f00a85207f3b666e04"
    ),
    "final_777_DeepFakeClassifier_tf_efficientnet_b7_ns_0_29": Published(
        266910617, "9fe4311d551a9cbaa1475dbcd6b15fccb31a1e17a8d63069e90a8899aef03b5c"
    ),
    "final_777_DeepFakeClassifier_tf_efficientnet_b7_ns_0_31": Published(
        266910617, "00dd6cd9466cddfd7da7c333d8fecae81593307827093deaf4d7cdf704bc8bfa"
    ),
    "final_888_DeepFakeClassifier_tf_efficientnet_b7_ns_0_37": Published(
        266910615, "d4a2bb4aefde59e045463ad469ed9660765beb086f65a09f9478ab060d403c7c"
    ),
    "final_888_DeepFakeClassifier_tf_efficientnet_b7_ns_0_40": Published(
        266910613, "c1d326a6651011390efe602e42cb8228232d6d18a15c404cf85d7233482f6d6d"
    ),
    "final_999_DeepFakeClassifier_tf_efficientnet_b7_ns_0_23": Published(
        266910615, "849036dc211387420412feb68c7451e98a948072b94e213e1104e2f2bf7791ad"
    ),
}
RELEASED_MODELS = tuple(RELEASED)


class DownloadError(Exception):
    pass


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def mismatch(path: Path, expected: Published) -> str | None:
    """Why the file is not the published one (size first: it costs nothing), or None when it is."""
    size = path.stat().st_size
    if size != expected.size:
        return f"{size} bytes instead of {expected.size}"
    if sha256_of(path) != expected.sha256:
        return "SHA-256 differs from the published one"
    return None


def released_size_warnings(paths: list[Path]) -> list[str]:
    """A line for each file named as a released checkpoint whose size is not the published one (a fine-tuned
    copy, or a damaged download: hashing is left to the download script, which fixes the latter)."""
    return [
        f"warning: {path} is named as a released checkpoint but has {path.stat().st_size} bytes instead of "
        f"{RELEASED[path.name].size}; download_weights.sh checks and replaces a damaged one"
        for path in paths
        if path.name in RELEASED and path.stat().st_size != RELEASED[path.name].size
    ]


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
        with (
            partial.open("ab" if offset else "wb") as out,
            tqdm(
                total=total or None,
                initial=offset,
                unit="B",
                unit_scale=True,
                desc=partial.name.removesuffix(".part"),
                leave=False,
            ) as bar,
        ):
            while chunk := response.read(1 << 20):
                out.write(chunk)
                bar.update(len(chunk))


def download(
    name: str,
    weights_dir: Path,
    base_url: str = RELEASE_URL,
    timeout: float = 60.0,
    expected: Published | None = None,
) -> str:
    """Make weights_dir/name the published file (size and SHA-256 checked, `expected` defaults to the
    release's); returns what was done ('present', 'downloaded', 'replaced')."""
    expected = expected or RELEASED[name]
    target = weights_dir / name
    done = "downloaded"
    if target.exists():
        problem = mismatch(target, expected)
        if problem is None:
            return "present"
        tqdm.write(f"{name}: {problem}; downloading it again")
        target.unlink()
        done = "replaced"
    weights_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        _fetch(f"{base_url.rstrip('/')}/{name}", partial, timeout)
    except (urllib.error.URLError, OSError) as error:
        raise DownloadError(f"cannot download {name}: {error} (rerun to resume)") from error
    problem = mismatch(partial, expected)
    if problem:
        partial.unlink()
        raise DownloadError(
            f"downloaded {name} is not the published file ({problem}); removed it, rerun to fetch it again"
        )
    partial.replace(target)
    return done


def main(argv=None) -> int:
    parser = ArgumentParser(
        description="Download the released DFDC B7 checkpoints; files already present with the published "
        "size and SHA-256 are kept."
    )
    parser.add_argument("--weights-dir", default="weights", help="where to put the checkpoint files")
    parser.add_argument("--base-url", default=RELEASE_URL, help="where the files are served")
    parser.add_argument(
        "--names", action="store_true", help="only print the released checkpoint names, one per line"
    )
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
