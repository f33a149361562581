#!/usr/bin/env bash
# One recogniser run on a machine with a CUDA GPU and many cores: renders a fresh synthetic
# set with every core, packs the real crops, continues an exported recogniser on the GPU for a
# time budget, then exports the best checkpoint and checks it on the synthetic crops and the
# real crops of the detection valid and test splits (never ocr-eval: that is `candor eval`'s
# job, once a candidate is chosen).
#
#   training/gpu_recognizer.sh INIT_ONNX OUT_DIR [MINUTES] [SEED]
#
# Environment: COUNT (synthetic crops, default 120000), BATCH (256), LR (1e-3),
# DEVICE (cuda; cpu to try the script without a GPU), CANDOR_DATA (the data folder),
# PYTHON (python3).
# What it writes lands in OUT_DIR: the export, its figures and the starting file's, the log.
set -euo pipefail  # a failed step stops the run even when piped through tee
[ -f "${1:-}" ] && [ -n "${2:-}" ] || { echo "usage: $0 INIT_ONNX OUT_DIR [MINUTES] [SEED]" >&2; exit 2; }
init=$(realpath "$1")
out=$(mkdir -p "$2" && realpath "$2")
minutes=${3:-6}
seed=${4:-61}
workers=$(nproc)
py=${PYTHON:-python3}
cd "$(dirname "$0")"
mkdir -p work
export PYTHONUNBUFFERED=1

# gen_ocr stops first, naming the packages, if a renderer font is missing
"$py" -m candor_train.gen_ocr --out work/gpu_ocr_val.npz --count 2000 --seed 99 --workers "$workers"
"$py" -m candor_train.gen_ocr --out work/gpu_ocr_train.npz --count "${COUNT:-120000}" --seed "$seed" \
    --workers "$workers"
"$py" -m candor_train.real_crops pack --csv teacher_labels_train.csv --hand hand_labels.csv \
    --out work/real_train.npz --copies 8 --seed 1
for split in valid test; do
    "$py" -m candor_train.real_crops pack --split $split --csv teacher_labels_$split.csv --hand hand_labels.csv \
        --out work/real_$split.npz --copies 1 --seed 1
done
rm -f work/gpu_rec.pt work/gpu_rec.pt.best
"$py" -m candor_train.recognizer train --device "${DEVICE:-cuda}" \
    --data work/gpu_ocr_train.npz work/real_train.npz --weights 0.8 0.2 --val work/gpu_ocr_val.npz \
    --ckpt work/gpu_rec.pt --init-onnx "$init" --minutes "$minutes" --threads 4 --batch "${BATCH:-256}" \
    --lr "${LR:-1e-3}" --seed "$seed" --eval-every 60 2>&1 | tee "$out/train.log"
"$py" -m candor_train.recognizer export --ckpt work/gpu_rec.pt.best --out "$out/plate_recognizer.onnx"
"$py" -m candor_train.recognizer check --onnx "$out/plate_recognizer.onnx" \
    --data work/real_valid.npz work/real_test.npz work/gpu_ocr_val.npz --errors 2>&1 | tee "$out/check.txt"
"$py" -m candor_train.recognizer check --onnx "$init" \
    --data work/real_valid.npz work/real_test.npz work/gpu_ocr_val.npz 2>&1 | tee "$out/check_init.txt"
