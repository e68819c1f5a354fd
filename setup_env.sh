#!/usr/bin/env bash
# Source this to get a ready .venv: it is created when missing and (re)installed when a requirements file changed.
# Usage: source setup_env.sh   (installs requirements.txt; set DFDC_REQUIREMENTS=requirements-dev.txt for the test tools)
# In the Docker image DFDC_NO_VENV=1 is set and the globally installed packages are used instead.
_dfdc_setup() {
    [ -n "${DFDC_NO_VENV:-}" ] && return 0
    local root requirements python stamp hash
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    requirements="${DFDC_REQUIREMENTS:-requirements.txt}"
    python="${PYTHON:-python3.11}"
    command -v "$python" >/dev/null 2>&1 || python=python3
    if [ ! -x "$root/.venv/bin/python" ]; then
        echo "creating $root/.venv with $("$python" --version)"
        "$python" -m venv "$root/.venv" || return 1
    fi
    stamp="$root/.venv/.installed-$(basename "$requirements")"
    hash="$(cat "$root"/requirements*.txt | sha256sum | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$hash" ]; then
        echo "installing $requirements into .venv (the first time takes a few minutes)"
        if ! "$root/.venv/bin/python" -m pip install --disable-pip-version-check -r "$root/$requirements" \
                > "$root/.venv/pip-install.log" 2>&1; then
            tail -n 40 "$root/.venv/pip-install.log" >&2
            echo "error: pip install failed; the whole log is .venv/pip-install.log" >&2
            return 1
        fi
        echo "$hash" > "$stamp"
    fi
    export PATH="$root/.venv/bin:$PATH"
}
_dfdc_setup
