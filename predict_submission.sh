#!/usr/bin/env bash
# Score a folder of videos with the seven-model B7 ensemble in weights/ (see download_weights.sh).
# Usage: predict_submission.sh VIDEOS_DIR OUT.csv [more predict_folder.py options, e.g. --device cpu]
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 VIDEOS_DIR OUT.csv [predict_folder.py options]" >&2
    exit 2
fi
test_dir="$(realpath "$1")"
output="$(realpath -m "$2")"
shift 2
cd "$(dirname "$0")"
source setup_env.sh
mapfile -t models < <(python -m inference.released_weights --names)
python predict_folder.py --weights-dir weights --models "${models[@]}" --test-dir "$test_dir" --output "$output" "$@"
