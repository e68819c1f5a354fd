"""Classifiers run by OpenVINO on the CPU, in fp32, with the scores of the PyTorch model they come from.

A checkpoint's network is converted once (openvino.convert_model on the module itself, dynamic batch) and
cached on disk under a key of the checkpoint's identity, the architecture, the input size and the runtime's
version. Every load checks the compiled model against the PyTorch one on a fixed probe face; an entry that
cannot be read or disagrees is converted again, and a model that still disagrees, or a runtime that is
missing, is left to PyTorch with a one-line message: a different score is never the result. Where the time
goes is measured in benchmarks/README.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.atomic import fsync_path, write_json_atomic

log = logging.getLogger("dfdc.predict")

CACHE_ENVIRONMENT = "DFDC_CACHE_DIR"
AGREEMENT = 1e-4  # largest probability difference from the PyTorch model on the probe faces


class OpenVINOUnavailable(RuntimeError):
    pass


def resolve_backend(backend: str, device: torch.device) -> str:
    """auto: OpenVINO on the CPU when it is installed, PyTorch otherwise (CUDA always runs on PyTorch)."""
    if device.type != "cpu":
        return "torch"
    if backend != "auto":
        return backend
    try:
        import openvino  # noqa: F401
    except ImportError:
        return "torch"
    return "openvino"


def default_cache_dir() -> Path:
    """$DFDC_CACHE_DIR, else the user's cache folder ($XDG_CACHE_HOME or ~/.cache) / dfdc."""
    if os.environ.get(CACHE_ENVIRONMENT):
        return Path(os.environ[CACHE_ENVIRONMENT])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dfdc"


def runtime_version() -> str:
    try:
        import openvino
    except ImportError as error:
        raise OpenVINOUnavailable(f"OpenVINO is not installed ({error})") from None
    return openvino.get_version()


def probe_faces(size: int, count: int = 2) -> torch.Tensor:
    """Fixed normalised inputs on which the converted model must agree with the PyTorch one."""
    return torch.randn(count, 3, size, size, generator=torch.Generator().manual_seed(0))


class OpenVINOClassifier:
    """A compiled classifier that takes the normalised NCHW float batch a PyTorch classifier takes and returns
    its logits as a tensor; several threads may call it at once (one infer request each)."""

    def __init__(self, compiled, input_spec):
        self.compiled = compiled
        self.input_spec = input_spec
        self.dtype = torch.float32

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        return _run(self.compiled, batch.contiguous())[0]


def _convert(model: nn.Module, example: torch.Tensor, shape: tuple[int, ...], folder: Path) -> None:
    """Convert into a temporary folder beside `folder`, then move it into place whole: an entry being replaced
    is renamed aside first, and when another process (a torchrun rank) put its own conversion in place
    meanwhile, that one stays."""
    import openvino

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # the conversion traces the module with torch.jit, which torch now calls deprecated at every use
            warnings.filterwarnings("ignore", message=r"`torch\.jit\.trace", category=FutureWarning)
            converted = openvino.convert_model(model, example_input=example, input=[shape])
        openvino.save_model(converted, staging / "model.xml", compress_to_fp16=False)
        for item in staging.iterdir():
            fsync_path(item)
        aside = folder.with_name(staging.name.replace(".tmp", ".old"))
        with contextlib.suppress(FileNotFoundError):
            folder.rename(aside)
        with contextlib.suppress(OSError):  # another process's entry arrived first
            staging.rename(folder)
        shutil.rmtree(aside, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _compile(folder: Path, hint: str):
    import openvino

    core = openvino.Core()
    return core.compile_model(
        core.read_model(folder / "model.xml"),
        "CPU",
        {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": hint},
    )


def _run(compiled, batch: torch.Tensor) -> list[torch.Tensor]:
    outputs = compiled.create_infer_request().infer(
        [np.ascontiguousarray(batch.detach().to(torch.float32).numpy())]
    )
    return [
        torch.from_numpy(np.array(outputs[compiled.output(index)])) for index in range(len(compiled.outputs))
    ]


def _expected_outputs(model: nn.Module, probe: torch.Tensor, transform) -> list[torch.Tensor]:
    with torch.no_grad():
        outputs = model(probe)
    return [
        transform(output.float()) for output in (outputs if isinstance(outputs, tuple | list) else [outputs])
    ]


def _largest_difference(compiled, probe: torch.Tensor, expected: list[torch.Tensor], transform) -> float:
    """Largest difference between the compiled model's outputs on `probe` (after `transform`) and
    `expected`."""
    return max(
        float((transform(got) - want).abs().max())
        for got, want in zip(_run(compiled, probe), expected, strict=True)
    )


def compiled_module(
    build: Callable[[], nn.Module],
    probe: torch.Tensor,
    shape: tuple[int, ...],
    key: str,
    cache_dir: Path,
    name: str,
    hint: str = "LATENCY",
    transform=lambda output: output,
):
    """The module `build()` makes, compiled by OpenVINO for inputs of `shape` (-1 where it varies), from the
    cache entry `key` or converted now. Its outputs on `probe` (after `transform`) must agree within AGREEMENT
    with the PyTorch module's, which a conversion stores beside the model: a warm cache needs no PyTorch
    module at all. An entry that cannot be read or disagrees is converted again; a conversion that still
    disagrees raises OpenVINOUnavailable.

    LATENCY: one request at a time on every core was the fastest way through a video's faces, with half the
    memory of THROUGHPUT's streams (benchmarks/README.md, "The OpenVINO backend")."""
    version = runtime_version()
    folder = Path(cache_dir) / "openvino" / hashlib.sha256(f"{key}|{version}".encode()).hexdigest()[:24]
    difference = float("inf")
    for attempt in ("cache", "conversion"):
        expected = _cached_outputs(folder) if attempt == "cache" else None
        if expected is None:
            attempt = "conversion"  # no usable entry
            expected = _convert_now(build, probe, shape, folder, name, version, transform)
        compiled, checked = _compile_and_check(folder, hint, probe, expected, transform, name)
        if checked is not None:
            difference = checked
        if difference <= AGREEMENT:
            if attempt == "conversion":
                write_json_atomic(
                    folder / "meta.json",
                    {
                        "model": name,
                        "key": key,
                        "openvino": version,
                        "probe_difference": difference,
                        "probe_outputs": [output.tolist() for output in expected],
                    },
                )
            return compiled
        if attempt == "conversion":
            break
    raise OpenVINOUnavailable(
        f"OpenVINO's {name} differs from PyTorch's by {difference:.2g} on the probe inputs"
    )


def _cached_outputs(folder: Path) -> list[torch.Tensor] | None:
    """The PyTorch module's probe outputs stored with the cache entry, or None when there is no usable
    entry."""
    try:
        stored = json.loads((folder / "meta.json").read_text())["probe_outputs"]
        return [torch.tensor(values, dtype=torch.float32) for values in stored]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _convert_now(build, probe, shape, folder: Path, name: str, version: str, transform) -> list[torch.Tensor]:
    """Convert the module `build()` makes into `folder`; return its outputs on `probe`."""
    log.info("converting %s for OpenVINO %s (once; cached in %s)", name, version, folder)
    model = build()
    expected = _expected_outputs(model, probe, transform)
    try:
        _convert(model, probe[:1], shape, folder)
    except Exception as error:
        raise OpenVINOUnavailable(
            f"OpenVINO cannot convert {name}: {type(error).__name__}: {error}"
        ) from None
    del model
    return expected


def _compile_and_check(folder: Path, hint: str, probe, expected, transform, name: str):
    """(compiled model, its largest difference from `expected` on `probe`), or (None, None) when the entry
    fails to read or compile."""
    try:
        compiled = _compile(folder, hint)
        return compiled, _largest_difference(compiled, probe, expected, transform)
    except Exception as error:  # a damaged entry fails to read or compile
        log.info("the cached OpenVINO model of %s cannot be used (%s: %s)", name, type(error).__name__, error)
        return None, None


def openvino_classifier(
    build: Callable[[], nn.Module], input_spec, identity: str, architecture: str, cache_dir: Path, name: str
) -> OpenVINOClassifier:
    """The compiled counterpart of the classifier `build()` makes (eval mode, before any CPU packing; built
    only when it must be converted), from the cache or converted now; its probabilities must agree with the
    PyTorch model's. Raises OpenVINOUnavailable when the runtime is missing or cannot give the model's
    scores."""
    size = input_spec.size
    compiled = compiled_module(
        build,
        probe_faces(size),
        (-1, 3, size, size),
        f"{identity}|{architecture}|{size}",
        cache_dir,
        name,
        transform=torch.sigmoid,
    )
    return OpenVINOClassifier(compiled, input_spec)
