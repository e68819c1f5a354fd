"""The manual cannot drift from the code: every option written after a script in README.md, docs/ and
benchmarks/README.md is one that script's --help lists."""

from __future__ import annotations

import contextlib
import io
import re
import runpy
import sys
import warnings
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", REPO / "benchmarks" / "README.md", *sorted((REPO / "docs").glob("*.md"))]

# `python script.py ...` or `python -m package.module ...`, up to the end of that command
COMMAND = re.compile(r"python3? (?:-m ([\w.]+)|([\w/]+\.py))((?:[^\n|;&`)#]|\\\n)*)")
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def written_commands(text: str) -> list[tuple[str, str]]:
    """(script, arguments) of every command in a page; `$(python -m x --names)` inside another is its own
    command."""
    text = text.replace("\\\n", " ")
    substituted: list[str] = []
    text = re.sub(r"\$\(([^()]*)\)", lambda match: substituted.append(match.group(1)) or "VALUE", text)
    found = []
    for part in (text, *substituted):
        for match in COMMAND.finditer(part):
            module, path = match.group(1), match.group(2)
            found.append((f"-m {module}" if module else path, match.group(3)))
    return found


@cache
def help_text(script: str) -> str:
    """What `python SCRIPT --help` prints, run in this process (the imports are shared between scripts)."""
    output = io.StringIO()
    argv = sys.argv
    sys.argv = [script, "--help"]
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(output),
            contextlib.redirect_stderr(io.StringIO()),
            pytest.raises(SystemExit),
        ):
            # runpy's note that a module the tests imported already is run again as __main__
            warnings.filterwarnings("ignore", "'.*' found in sys.modules", RuntimeWarning)
            if script.startswith("-m "):
                runpy.run_module(script[3:], run_name="__main__", alter_sys=True)
            else:
                runpy.run_path(str(REPO / script), run_name="__main__")
    finally:
        sys.argv = argv
    return output.getvalue()


def documented_options() -> list[tuple[str, str, str]]:
    options = set()
    local_packages = {path.name for path in REPO.iterdir() if (path / "__init__.py").is_file()}
    for page in PAGES:
        if not page.is_file():
            continue
        for script, arguments in written_commands(page.read_text(encoding="utf-8")):
            if script.startswith("-m ") and (
                script.endswith(".") or script[3:].split(".")[0] not in local_packages
            ):
                continue  # a placeholder (`preprocessing.<step>`) or another tool's module (pip, pytest)
            for option in OPTION.findall(arguments):
                options.add((page.relative_to(REPO).as_posix(), script, option))
    return sorted(options)


def test_the_pages_name_commands():
    """The search finds the commands the README is known to show, so an empty parametrisation cannot pass
    silently."""
    scripts = {script for _, script, _ in documented_options()}
    assert {"predict_folder.py", "train_classifier.py", "evaluate.py"} <= scripts


@pytest.mark.parametrize(("page", "script", "option"), documented_options())
def test_documented_option_exists(page, script, option):
    text = help_text(script)
    assert "usage:" in text, f"{script} --help printed no usage"
    assert re.search(re.escape(option) + r"(?![\w-])", text), (
        f"{page}: `{script} {option}` is not an option of {script}"
    )


def test_a_wrong_option_is_caught():
    assert re.search(re.escape("--no-such-option") + r"(?![\w-])", help_text("evaluate.py")) is None
    assert written_commands("python evaluate.py --labels x \\\n    --json | tee") == [
        ("evaluate.py", " --labels x      --json ")
    ]
    assert written_commands(
        "python predict_folder.py --models $(python -m inference.released_weights --names) --output x"
    ) == [("predict_folder.py", " --models VALUE --output x"), ("-m inference.released_weights", " --names")]


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """The `#anchor` of each heading of a page, as GitHub makes them (code blocks' `#` lines are not
    headings)."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", text, re.M)
    }


def test_relative_links_resolve():
    """Every relative link in README.md and docs/*.md names a file of the repository, and a heading of it
    where it names one."""
    broken = []
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            path = target.split("#", 1)[0]
            if re.match(r"[a-z][a-z0-9+.-]*:", path):
                continue  # a web address
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.exists():
                broken.append(f"{page.relative_to(REPO).as_posix()}: {target}")
            elif (
                "#" in target
                and resolved.suffix == ".md"
                and target.split("#", 1)[1] not in anchors(resolved)
            ):
                broken.append(f"{page.relative_to(REPO).as_posix()}: {target} (no such heading)")
    assert not broken, "links to files that do not exist: " + ", ".join(broken)
