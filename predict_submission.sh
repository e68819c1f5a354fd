#!/usr/bin/env bash
# Score a folder of videos with the seven-model B7 ensemble in weights/ (see download_weights.sh).
# Usage: predict_submission.sh VIDEOS_DIR OUT.csv [more predict_folder.py options, e.g. --device cpu --report report/]
# Relative paths, the options' included, are the caller's: the script does not change folder.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 VIDEOS_DIR OUT.csv [predict_folder.py options]" >&2
    exit 2
fi
test_dir="$1"
output="$2"
shift 2
repo="$(cd "$(dirname "$0")" && pwd)"
source "$repo/setup_env.sh"
mapfile -t models < <(cd "$repo" && python -m inference.released_weights --names)
python "$repo/predict_folder.py" --weights-dir "$repo/weights" --models "${models[@]}" --test-dir "$test_dir" --output "$output" "$@"
