#!/usr/bin/env bash
# The main job on the small real dataset shipped in the repo (8 LFW identities x 6 images):
# ingest, status, evaluate, similarity, a search with two photos that are not in the dataset, and the same
# search answered by `facevault serve` (the model and index kept loaded between calls).
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
# a server for the store: later searches skip the start-up (one line on stdout once it listens)
facevault serve --json > "$out/serve.json" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
{ set +x; } 2>/dev/null
until [ -s "$out/serve.json" ]; do kill -0 "$server" 2>/dev/null || { echo "facevault serve did not start" >&2; exit 1; }; sleep 0.2; done
set -x
facevault search tests/data/queries/Tony_Blair_0010.jpg tests/data/queries/Serena_Williams_0010.jpg -k 3
{ set +x; } 2>/dev/null
kill "$server" && wait "$server" 2>/dev/null || true  # the server's last line before the script's end
