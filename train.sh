#!/usr/bin/env bash
# Train the five B7 seeds of the DFDC-winning ensemble on fold 0.
# Usage: train.sh DATA_ROOT NUM_GPUS [more train_classifier.py options; a repeated one wins, e.g. --fold 3 --config configs/b5.json]
# Checkpoints go to weights/, logs (and each run's console output) to logs/ or $DFDC_LOGDIR; pick epochs with plot_loss.py.
# DFDC_SEEDS="111 555" trains only those seeds.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 DATA_ROOT NUM_GPUS [train_classifier.py options]" >&2
    exit 2
fi
root="$(realpath "$1")"
gpus="$2"
shift 2
cd "$(dirname "$0")"
source setup_env.sh
logdir="${DFDC_LOGDIR:-logs}"
mkdir -p "$logdir"
for seed in ${DFDC_SEEDS:-111 555 777 888 999}; do
    torchrun --standalone --nproc_per_node="$gpus" train_classifier.py --config configs/b7.json \
        --data-dir "$root" --folds-csv "$root/folds.csv" --fold 0 --seed "$seed" --prefix "b7_${seed}_" \
        --logdir "$logdir" "$@" 2>&1 | tee "$logdir/b7_${seed}.out"
done
