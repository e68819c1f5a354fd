#!/usr/bin/env bash
# Source this to get a ready .venv: it is created when missing and (re)installed when a requirements file changed.
# Usage: source setup_env.sh   (installs requirements.txt; set DFDC_REQUIREMENTS=requirements-dev.txt for the test tools)
set -e
if [ -n "${DFDC_NO_VENV:-}" ]; then set +e; return 0; fi  # e.g. in the Docker image, where packages are installed globally
_dfdc_root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
_dfdc_requirements="${DFDC_REQUIREMENTS:-requirements.txt}"
_dfdc_python="${PYTHON:-python3.11}"
command -v "$_dfdc_python" >/dev/null 2>&1 || _dfdc_python=python3
if [ ! -x "$_dfdc_root/.venv/bin/python" ]; then
    echo "creating $_dfdc_root/.venv with $("$_dfdc_python" --version)"
    "$_dfdc_python" -m venv "$_dfdc_root/.venv"
fi
_dfdc_stamp="$_dfdc_root/.venv/.installed-$(basename "$_dfdc_requirements")"
_dfdc_hash="$(cat "$_dfdc_root"/requirements*.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$_dfdc_stamp" 2>/dev/null)" != "$_dfdc_hash" ]; then
    echo "installing $_dfdc_requirements into .venv (first run takes a few minutes)"
    "$_dfdc_root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$_dfdc_root/$_dfdc_requirements"
    echo "$_dfdc_hash" > "$_dfdc_stamp"
fi
export PATH="$_dfdc_root/.venv/bin:$PATH"
set +e
