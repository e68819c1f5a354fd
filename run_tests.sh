#!/usr/bin/env bash
# Set up .venv from the repo's requirements (when missing or changed), check formatting and lint, and run the test suite.
# Extra arguments go to pytest, e.g. `bash run_tests.sh -k strategy`.
set -euo pipefail
cd "$(dirname "$0")"
DFDC_REQUIREMENTS=requirements-dev.txt source setup_env.sh
ruff format --check .
ruff check .
python -m pytest "$@"
