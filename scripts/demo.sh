#!/usr/bin/env bash
# The main job on the small real dataset shipped in the repo (8 LFW identities x 6 images):
# ingest, status, evaluate, similarity, and a search with two photos that are not in the dataset.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-demo-out}
rm -rf "$out" && mkdir -p "$out"
export FACEVAULT_STORE="$out/store"
set -x
facevault ingest tests/data/lfw
facevault status
facevault evaluate --sample 500
facevault similarity --out "$out/similarity.png" --csv "$out/similarity.csv"
facevault search tests/data/queries/Tony_Blair_0010.jpg tests/data/queries/Serena_Williams_0010.jpg -k 3
facevault search --identity George_W_Bush -k 3
