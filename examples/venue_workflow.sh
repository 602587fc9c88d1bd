#!/usr/bin/env bash
# From unlabeled venue footage to a live pose stream, in five commands (README: "The paper's path: self-supervised features from the venue, a few labels"; the main path with a teacher is `tvstream adapt`).
#
#   bash examples/venue_workflow.sh                       # synthetic dive venue, small config (CPU: ~20 min)
#   SCENARIO=ski bash examples/venue_workflow.sh          # the panning-camera ski venue
#   DATA=my_clips/ LABELS=my_labels/ bash examples/venue_workflow.sh   # your own footage and labeled clips
#
# Every step resumes: run the script again after a stop and it goes on where it was (the SSL run from its
# last checkpoint; finished steps are skipped). Settings (environment variables, defaults in brackets):
#   SCENARIO [dive]  WORK [runs/$SCENARIO-venue]  CONFIG [small]  STEPS [1000]  LABELS [0.1]  POSE_STEPS [2000]
#   DATA [render a synthetic venue into $WORK/data: SUBJECTS [8] x 2 takes of TAKE_SECONDS [4] at SIZE [640x360]]
#   CLIP [the first held-out video of DATA]
#   SSL_SET [nothing]: extra `train ssl --set KEY=VALUE ...` overrides, e.g. "weights.foreground=1"
set -euo pipefail

SCENARIO=${SCENARIO:-dive}
WORK=${WORK:-runs/$SCENARIO-venue}
CONFIG=${CONFIG:-small}
STEPS=${STEPS:-1000}
LABELS=${LABELS:-0.1}
POSE_STEPS=${POSE_STEPS:-2000}
SSL_SET=${SSL_SET:-}
mkdir -p "$WORK"
log() { printf '\n== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

# 1. Footage. A synthetic venue: 8 athletes, split by athlete into unlabeled / labeled / held-out test.
if [ -z "${DATA:-}" ]; then
    DATA=$WORK/data
    if [ ! -f "$DATA/manifest.json" ]; then
        log "render a synthetic $SCENARIO venue"
        rm -rf "$DATA.partial"
        tvstream synth --scenario "$SCENARIO" --subjects "${SUBJECTS:-8}" --sequences 2 --seconds "${TAKE_SECONDS:-4}" \
            --size "${SIZE:-640x360}" --seed 3 --out "$DATA.partial"
        mv "$DATA.partial" "$DATA"
    fi
fi
tvstream data check "$DATA"

# 2. Self-supervised detector and pose features from the unlabeled videos (no labels are read).
log "train ssl ($SCENARIO preset, $CONFIG, $STEPS steps)"
overrides=()
for kv in $SSL_SET; do overrides+=(--set "$kv"); done
tvstream train ssl --scenario "$SCENARIO" --data "$DATA" --out "$WORK/ssl" --config "$CONFIG" \
    --steps "$STEPS" --resume "${overrides[@]}"

# 3. The 3D regressor from a few labeled frames (a share of the labeled pool, or a folder of labeled clips).
if [ ! -f "$WORK/pose/regressor.pt" ]; then
    log "train pose (labels: $LABELS)"
    tvstream train pose --features "$WORK/ssl" --labels "$LABELS" --data "$DATA" --out "$WORK/pose" \
        --steps "$POSE_STEPS"
fi
if grep -q '"split": *"test"' "$DATA/manifest.json" 2>/dev/null; then  # held-out labeled athletes: score them
    tvstream evaluate "$WORK/pose" --split test
fi

# 4. One ONNX graph: uint8 frame -> box, 3D pose, 2D pose.
if [ ! -f "$WORK/model.onnx" ]; then
    log "export"
    tvstream export "$WORK/ssl/last.pt" --regressor "$WORK/pose/regressor.pt" --out "$WORK/model.onnx"
fi

# 5. Run it on a clip the models never saw, with the venue's runtime settings and an overlay to look at.
if [ -z "${CLIP:-}" ]; then
    CLIP=$(python3 -c "
import json, sys, pathlib
root = pathlib.Path(sys.argv[1])
if (root / 'manifest.json').is_file():
    videos = json.loads((root / 'manifest.json').read_text())['videos']
    test = [v for v in videos if v.get('split') == 'test'] or videos
    print(root / test[0]['video'])
else:
    print(sorted(p for p in root.rglob('*.mp4'))[0])" "$DATA")
fi
log "run $CLIP"
tvstream run "$CLIP" --scenario "$SCENARIO" --model "$WORK/model.onnx" --out "$WORK/poses.jsonl" \
    --render "$WORK/overlay.mp4"
log "done: $WORK/poses.jsonl, $WORK/overlay.mp4"
