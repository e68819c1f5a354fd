#!/usr/bin/env bash
# The whole system on one command, with nothing to download: synthetic DFDC-style clips -> preprocessing ->
# training (configs/tiny.json) -> scoring held-out clips -> evaluation. About 7 minutes on 2 CPU cores.
# Usage: run_demo.sh [--out DIR] [--device auto|cpu|cuda] [more options: python -m demo.run_demo --help]
set -euo pipefail
cd "$(dirname "$0")"
source setup_env.sh
python -m demo.run_demo "$@"
