#!/usr/bin/env bash
# Train the five B7 seeds of the DFDC-winning ensemble on fold 0.
# Usage: train.sh DATA_ROOT NUM_GPUS [more train_classifier.py options]
# Checkpoints go to weights/, logs to logs/ (pick epochs with plot_loss.py).
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
mkdir -p logs
for seed in 111 555 777 888 999; do
    torchrun --standalone --nproc_per_node="$gpus" train_classifier.py --config configs/b7.json \
        --data-dir "$root" --folds-csv "$root/folds.csv" --fold 0 --seed "$seed" --prefix "b7_${seed}_" \
        --logdir logs "$@" 2>&1 | tee "logs/b7_${seed}.out"
done
