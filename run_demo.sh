#!/usr/bin/env bash
# The whole system on one command, with nothing to download: synthetic DFDC-style clips -> preprocessing ->
# training (configs/tiny.json) -> scoring held-out clips -> evaluation. Its running time is in docs/demo.md.
# Usage: run_demo.sh [--sbi] [--out DIR] [--device auto|cpu|cuda] [more options: python -m demo.run_demo --help]
# Relative --out and --config paths are taken from the current folder; without --out, results go to demo_output/ in the repository
# (demo_output_sbi/ with --sbi: trained on the real clips alone, with self-blended fakes; docs/sbi.md).
set -euo pipefail
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --out|--config)
            if [ $# -lt 2 ]; then echo "error: $1 needs a value" >&2; exit 2; fi
            args+=("$1" "$(realpath -m "$2")"); shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
cd "$(dirname "$0")"
source setup_env.sh
python -m demo.run_demo "${args[@]}"
