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
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 DATA_ROOT [--device auto|cpu|cuda] [--detection-scale auto|FACTOR] [--contrast-retry] [--every N]" \
        "[--legacy-boxes half|full] [--n-splits N] [--all-crops] [--workers N] [--shard I/N]" >&2
    exit 2
fi
root="$(realpath "$1")"
shift
cd "$(dirname "$0")"
source setup_env.sh
device_args=() detect_args=() crop_args=() fold_args=() common_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --device) device_args+=("$1" "$2"); shift 2 ;;
        --detection-scale) detect_args+=("$1" "$2"); shift 2 ;;
        --contrast-retry) detect_args+=("$1"); shift ;;
        --every|--legacy-boxes) crop_args+=("$1" "$2"); shift 2 ;;
        --n-splits) fold_args+=("$1" "$2"); shift 2 ;;
        --all-crops) fold_args+=("$1"); shift ;;
        *) common_args+=("$1"); shift ;;
    esac
done
python -m preprocessing.detect_original_faces --root-dir "$root" "${device_args[@]}" "${detect_args[@]}" "${common_args[@]}"
python -m preprocessing.extract_crops --root-dir "$root" "${crop_args[@]}" "${common_args[@]}"
python -m preprocessing.generate_landmarks --root-dir "$root" "${device_args[@]}" "${common_args[@]}"
python -m preprocessing.generate_diffs --root-dir "$root" "${common_args[@]}"
python -m preprocessing.generate_folds --root-dir "$root" --out folds.csv "${fold_args[@]}"
