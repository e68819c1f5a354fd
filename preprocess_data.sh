#!/usr/bin/env bash
# Preprocess a DFDC-layout dataset: face boxes, crops, landmarks, SSIM difference masks, folds.
# Usage: preprocess_data.sh DATA_ROOT [--device auto|cpu|cuda] [--detection-scale auto|FACTOR] [--contrast-retry] [--every N]
#        [--legacy-boxes half|full] [--n-splits N] [--all-crops] [--workers N] [--shard I/N]
# --device goes to the detection steps, --detection-scale (default 0.5 with PIL, as the original solution; auto: by
# resolution, which small videos need) and --contrast-retry to detect_original_faces, --every (crop every N-th frame,
# default 10) and --legacy-boxes (box files that do not name their coordinates: half for the original solution's) to
# extract_crops, --n-splits (folds, default 16 as in the original solution) and --all-crops (every crop in folds.csv,
# not only the original's rows) to generate_folds, the rest to every step.
# Each step skips the videos it already finished, so an interrupted run is resumed by running it again.
# The steps run in one process (preprocessing/pipeline.py; python -m preprocessing.pipeline --help).
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 DATA_ROOT [--device auto|cpu|cuda] [--detection-scale auto|FACTOR] [--contrast-retry] [--every N]" \
        "[--legacy-boxes half|full] [--n-splits N] [--all-crops] [--workers N] [--shard I/N]" >&2
    exit 2
fi
args=("$@")
# DATA_ROOT is read after the cd below: made absolute first (unless the first word is an option such as --help)
case "$1" in -*) ;; *) args[0]="$(realpath -m "$1")" ;; esac
cd "$(dirname "$0")"
source setup_env.sh
exec python -m preprocessing.pipeline "${args[@]}"
