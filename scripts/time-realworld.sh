#!/usr/bin/env bash
# Times release-mode barq-opt on every pinned real-world module (best of N runs, wall
# time and peak memory) and prints a markdown table for the README. Not a test: it
# asserts nothing. Usage: scripts/time-realworld.sh [RUNS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
dir=$(corpus/realworld/fetch.sh | tail -n 1)
cargo build --release --quiet --bin barq-opt
bin=${CARGO_TARGET_DIR:-target}/release/barq-opt
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "| module | size | barq-opt -o (best of $runs) | peak RSS |"
echo "|---|---:|---:|---:|"
grep -v '^#' corpus/realworld/modules.txt | while read -r spec file _; do
  [ -n "$spec" ] || continue
  path="$dir/node_modules/${spec%@*}/$file"
  best=""; rss=0
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e %M" -o "$out/t" "$bin" "$path" -o "$out/o.wasm"
    read -r secs kb < "$out/t"
    if [ -z "$best" ] || awk "BEGIN{exit !($secs < $best)}"; then best=$secs; fi
    [ "$kb" -gt "$rss" ] && rss=$kb
  done
  size=$(stat -c %s "$path")
  printf '| %s `%s` | %.1f MB | %s s | %d MB |\n' "$spec" "$file" "$(echo "$size/1048576" | bc -l)" "$best" $((rss / 1024))
done
