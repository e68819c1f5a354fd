"""The Dockerfile parses, builds from an official PyTorch CUDA runtime image, and installs exactly
requirements.txt."""

import re

from tests.conftest import REPO

INSTRUCTIONS = {
    "FROM",
    "ARG",
    "ENV",
    "RUN",
    "WORKDIR",
    "COPY",
    "CMD",
    "LABEL",
    "ENTRYPOINT",
    "EXPOSE",
    "USER",
    "VOLUME",
    "SHELL",
}


def instructions():
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    parsed = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            parsed.append((keyword.upper(), rest.strip()))
    return parsed


def test_dockerfile_parses_and_uses_an_official_pytorch_runtime_image():
    parsed = instructions()
    assert all(keyword in INSTRUCTIONS for keyword, _ in parsed), parsed
    args = dict(rest.split("=", 1) for keyword, rest in parsed if keyword == "ARG" and "=" in rest)
    base = [rest for keyword, rest in parsed if keyword == "FROM"][0]
    base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
    assert re.fullmatch(r"pytorch/pytorch:[\w.]+-cuda[\w.]+-cudnn\d+-runtime", base), base
    runs = " ".join(rest for keyword, rest in parsed if keyword == "RUN")
    assert "nvidia-smi" not in runs and "--gpus" not in runs  # nothing needs a GPU at build time
    assert "chmod +x *.sh" in runs


def test_dockerfile_installs_the_pinned_requirements_and_nothing_else_pinned():
    parsed = instructions()
    runs = [rest for keyword, rest in parsed if keyword == "RUN" and "pip install" in rest]
    assert any("-r requirements.txt" in run for run in runs)
    pins = dict(re.findall(r"^([\w.-]+)==([\w.+-]+)", (REPO / "requirements.txt").read_text(), flags=re.M))
    assert (
        pins["torch"] == "2.14.1" and pins["facenet-pytorch"] == "2.5.3" and pins["albumentations"] == "2.0.8"
    )
    for run in runs:
        for name, version in re.findall(r"([\w.-]+)==([\w.+-]+)", run):
            assert pins.get(name) == version, (
                f"Dockerfile pins {name}=={version}, requirements.txt {pins.get(name)}"
            )
    assert ("COPY", "requirements.txt .") in parsed and ("COPY", ". .") in parsed
