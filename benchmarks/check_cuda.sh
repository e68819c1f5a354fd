#!/usr/bin/env bash
# Run every CUDA path of the project once on a GPU machine and record what it gives; CI has no GPU, so this is how
# the CUDA side is checked. Takes about 5 minutes on one H100/H200.
# Usage: benchmarks/check_cuda.sh DATA_DIR OUT_DIR
#   DATA_DIR: the shared test videos (the layout of ../shared/data); OUT_DIR: logs and CSVs are written there.
# Steps:
#   1. benchmark_inference.py: one tf_efficientnet_b7_ns, fp16, on the 1080p and portrait DFDC videos
#   2. the demo with --device cuda and mixed precision on: MTCNN preprocessing, training with GradScaler, scoring
#   3. predict_folder.py with the demo's checkpoint on the real videos, on CUDA (fp16) and on the CPU (fp32):
#      the faces found may differ by one per video (a detection at the threshold), the video scores by 0.02
#   4. benchmark_training.py: configs/b7.json (batch 12, fp16) for 30 batches on the demo's crops
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 DATA_DIR OUT_DIR" >&2
    exit 2
fi
data="$(realpath "$1")"
out="$(realpath -m "$2")"
mkdir -p "$out"
cd "$(dirname "$0")/.."
source setup_env.sh
step() { echo "=== $1 ($(date +%T))"; }

step "environment"
nvidia-smi -L
python -c "import torch, timm, cv2, albumentations; print('torch', torch.__version__, 'timm', timm.__version__, 'opencv', cv2.__version__, 'albumentations', albumentations.__version__, torch.cuda.get_device_name())"

videos=("$data/dfdc_real/lynaeydofd.mp4" "$data/dfdc/dfdc_train_part_10/widuwuoiur.mp4"
        "$data/dfdc/dfdc_train_part_0/brtujopkby.mp4" "$data/dfdc/dfdc_train_part_10/yhffcuhhjy.mp4")

step "1. B7 inference benchmark"
python -m benchmarks.benchmark_inference --device cuda --encoder tf_efficientnet_b7_ns --videos "${videos[@]}" \
    | tee "$out/benchmark_inference_b7.txt"

step "2. demo on CUDA with mixed precision"
python - "$out/tiny_fp16.json" <<'EOF'
import json, sys
config = json.load(open("configs/tiny.json"))
config["fp16"] = True
json.dump(config, open(sys.argv[1], "w"))
EOF
demo="$out/demo"
python -m demo.run_demo --device cuda --out "$demo" --config "$out/tiny_fp16.json" --workers 8 | tee "$out/demo.txt"
checkpoint="$(ls "$demo"/weights/*_best)"

step "3. the same checkpoint on CUDA and on the CPU"
real_videos=("${videos[@]}" "$data"/ffpp/original_sequences/youtube/c23/videos/*.mp4
             "$data"/ffpp/manipulated_sequences/*/c23/videos/*.mp4)
for device in cuda cpu; do
    python predict_folder.py --weights-dir "$(dirname "$checkpoint")" --models "$(basename "$checkpoint")" \
        --test-dir "${real_videos[@]}" --input-size 64 --device "$device" --output "$out/predictions_$device.csv"
done
python - "$out" <<'EOF'
import json, sys
from pathlib import Path
import pandas as pd
out = Path(sys.argv[1])
scores = {d: pd.read_csv(out / f"predictions_{d}.csv").set_index("filename")["label"] for d in ("cuda", "cpu")}
faces = {d: {name: v["faces_found"] for name, v in json.loads((out / f"predictions_{d}.diagnostics.json").read_text())["videos"].items()}
         for d in ("cuda", "cpu")}
table = pd.DataFrame({"cuda": scores["cuda"], "cpu": scores["cpu"]})
table["faces_cuda"] = pd.Series(faces["cuda"])
table["faces_cpu"] = pd.Series(faces["cpu"])
print(table.to_string())
difference = (table["cuda"] - table["cpu"]).abs().max()
faces_apart = (table.faces_cuda - table.faces_cpu).abs().max()
print(f"largest score difference {difference:.4f}; largest difference in faces found {faces_apart}")
# MTCNN on the GPU (TF32 convolutions) and on the CPU may disagree on a face at its score threshold, not on more
assert difference < 0.02 and faces_apart <= 1
EOF

step "4. B7 training benchmark"
python -m benchmarks.benchmark_training --config configs/b7.json --data-dir "$demo/data" --folds-csv "$demo/data/folds.csv" \
    --batches 30 --workers 8 --device cuda | tee "$out/benchmark_training_b7.txt"
step "done"
