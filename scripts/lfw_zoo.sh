#!/usr/bin/env bash
# Ingest full LFW into one store with the default space and the ArcFace-family models on the shared weights,
# each with the ArcFace template and with deepface's alignment, then print the View 2 leaderboard.
# Usage: scripts/lfw_zoo.sh [STORE]   (needs ../shared; about an hour on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
store=${1:-/tmp/lfw/store}
lfw=../shared/datasets/lfw
export FACEVAULT_WEIGHTS=${FACEVAULT_WEIGHTS:-../shared/weights}
run() { echo "+ facevault ingest $lfw/images --store $store $*" >&2; facevault ingest "$lfw/images" --store "$store" "$@" --json \
  | python -c "import json,sys; d=json.load(sys.stdin); print(d['space'], 'embedded', d['embedded'], 'no face', d['no_face'], 'errors', d['errors'], round(d['seconds']), 's')"; }
run --model dlib --detector dlib-hog
for model in arcface-mbf sface mobilefacenet-192; do run --model "$model" --detector yunet; done
for model in arcface-mbf sface mobilefacenet-192; do run --model "$model" --detector yunet --aligner deepface; done
facevault evaluate --store "$store" --pairs-file "$lfw/pairs.txt"
