#!/usr/bin/env bash
# One time-sized GPU run (docs/networks.md): build the training cache from the packed 300-W faces, train the
# ImageNet-pretrained EfficientNet-Lite0 teacher, then distil it into the MobileNetV1 0.5 (from the stage-9
# weights), with bf16 autocast; weights and logs go to $OUT (at most 8 files of 16 MiB come back).
#
# On the device machine, from the repository root, after `python scripts/device_pack.py pack` here:
#   BUDGET=540 bash scripts/device_train.sh            # run(command=..., carry=[".device"], timeout_s=590)
# CPU rehearsal on a tiny pack (`python scripts/device_pack.py pack --limit 80`):
#   OUT=/tmp/rehearsal BUDGET=240 PER_FACE=2 WORK=/tmp/rehearsal_work \
#   SET="device=cpu threads=1 workers=0 batch_size=16 meta_k=2" bash scripts/device_train.sh
#
# Settings (environment): BUDGET seconds for the whole script (default 540); PER_FACE profiled views per face
# (default 14, the default cache); SET extra `ddfa train --set` items for both runs; PACK (default .device);
# WORK scratch folder (default /tmp/ddfa_device); TEACHER_SHARE of the training time (default 0.5).
set -uo pipefail
START=$SECONDS
BUDGET=${BUDGET:-540}
PER_FACE=${PER_FACE:-14}
PACK=${PACK:-.device}
WORK=${WORK:-/tmp/ddfa_device}
TEACHER_SHARE=${TEACHER_SHARE:-0.5}
OUT=${OUT:?set OUT to the folder whose files come back}
mkdir -p "$OUT" "$WORK"
exec > >(tee -a "$OUT/device_train.log") 2>&1
export OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src:$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
PY=${PY:-python3}
ddfa() { "$PY" -m ddfa.cli.main "$@"; }
left() { echo $((BUDGET - (SECONDS - START))); }
sets=(); for s in ${SET:-}; do sets+=(--set "$s"); done

echo "== $(date -u +%FT%TZ) budget ${BUDGET}s, per_face $PER_FACE, extra: ${SET:-none}"
"$PY" -m pip install -q --no-index --no-deps --no-compile --target "$WORK/site" "$PACK"/*.whl || exit 1
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
          torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"

echo "== cache ($(left)s left)"
ddfa data build --out "$WORK/cache" --w300 "$PACK/300w" --per-face "$PER_FACE" --workers "$(nproc)" || exit 1
cp "$WORK/cache/report.md" "$OUT/cache_report.md" 2>/dev/null

# the rest, less 45 s for start-up of each run and the exports, split between teacher and student
train_time=$(( $(left) - 45 ))
teacher_time=$("$PY" -c "print(int($train_time * $TEACHER_SHARE))")
echo "== teacher: Lite0 from ImageNet, ${teacher_time}s ($(left)s left)"
ddfa train --config configs/efficientnet_lite0.toml --cache "$WORK/cache" --out "$WORK/lite0" --no-resume \
    --set time_budget=$((teacher_time - 15)) "${sets[@]}"
cp "$WORK/lite0/log.jsonl" "$OUT/lite0_log.jsonl" 2>/dev/null
[ -f "$WORK/lite0/best.pt" ] || { echo "no teacher weights"; exit 1; }
ddfa export weights --checkpoint "$WORK/lite0/best.pt" --keep-lrr -o "$OUT/lite0_teacher.pt"

student_time=$(( $(left) - 25 ))
echo "== student: MobileNetV1 0.5 distilled, ${student_time}s ($(left)s left)"
ddfa train --config configs/mobilenet_v1_0.5_distill.toml --cache "$WORK/cache" --out "$WORK/mb05" --no-resume \
    --set teacher="$WORK/lite0/best.pt" --set time_budget=$((student_time - 15)) "${sets[@]}"
cp "$WORK/mb05/log.jsonl" "$OUT/mb05_distill_log.jsonl" 2>/dev/null
[ -f "$WORK/mb05/best.pt" ] && ddfa export weights --checkpoint "$WORK/mb05/best.pt" --keep-lrr -o "$OUT/mb05_distill.pt"
echo "== done in $((SECONDS - START))s of ${BUDGET}s"
ls -la "$OUT"
sleep 1  # let tee finish the log
