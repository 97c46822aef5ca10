#!/usr/bin/env bash
# Train, validate and predict QVHighlights with the released Moment-DETR features, in one command.
#
#   scripts/qvhighlights.sh FEATURES_DIR [RUN_DIR]
#
# FEATURES_DIR holds the released features: clip_features/, slowfast_features/ and
# clip_text_features/ (https://github.com/jayleicn/moment_detr, "features" tarball).
# Annotations are read from $QVH_ANN (default ../shared/data/qvhighlights, else data/qvhighlights).
# Environment: CONFIG (default detr_qvh), SEED (2018), DEVICE (cuda when available),
# VISUAL_DIRS (slowfast_features,clip_features; use clip_features for CLIP only).
# Re-running continues an interrupted training run (--resume) and redoes the predictions.
set -euo pipefail

FEATURES=${1:?usage: scripts/qvhighlights.sh FEATURES_DIR [RUN_DIR]}
RUN=${2:-runs/qvhighlights}
HERE=$(cd "$(dirname "$0")/.." && pwd)
ANN=${QVH_ANN:-$HERE/../shared/data/qvhighlights}
[ -d "$ANN" ] || ANN=$HERE/data/qvhighlights
CONFIG=${CONFIG:-detr_qvh}
SEED=${SEED:-2018}
VISUAL_DIRS=${VISUAL_DIRS:-slowfast_features,clip_features}
MF=${MF:-momentfinder}
DEVICE_ARGS=()
[ -n "${DEVICE:-}" ] && DEVICE_ARGS=(--device "$DEVICE")

for f in highlight_train_release.jsonl highlight_val_release.jsonl highlight_test_release.jsonl; do
  [ -f "$ANN/$f" ] || { echo "qvhighlights.sh: $ANN/$f not found (set QVH_ANN)" >&2; exit 2; }
done
for d in ${VISUAL_DIRS//,/ } clip_text_features; do
  [ -d "$FEATURES/$d" ] || { echo "qvhighlights.sh: $FEATURES/$d not found" >&2; exit 2; }
done

RESUME=()
[ -f "$RUN/last.ckpt" ] && RESUME=(--resume)
if [ ! -f "$RUN/summary.json" ]; then  # not finished yet
  "$MF" train --features "$FEATURES" --visual-dirs "$VISUAL_DIRS" \
    --train "$ANN/highlight_train_release.jsonl" --val "$ANN/highlight_val_release.jsonl" \
    --out "$RUN" --config "$CONFIG" --seed "$SEED" "${DEVICE_ARGS[@]}" "${RESUME[@]}"
fi

"$MF" predict --checkpoint "$RUN/best.ckpt" --features "$FEATURES" \
  --annotations "$ANN/highlight_val_release.jsonl" --out "$RUN/hl_val_submission.jsonl" "${DEVICE_ARGS[@]}"
"$MF" eval --submission "$RUN/hl_val_submission.jsonl" --gt "$ANN/highlight_val_release.jsonl" \
  -o "$RUN/hl_val_submission_metrics.json"
"$MF" predict --checkpoint "$RUN/best.ckpt" --features "$FEATURES" \
  --annotations "$ANN/highlight_test_release.jsonl" --out "$RUN/hl_test_submission.jsonl" "${DEVICE_ARGS[@]}"
echo "val metrics: $RUN/hl_val_submission_metrics.json; test submission: $RUN/hl_test_submission.jsonl"
