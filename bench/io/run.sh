#!/usr/bin/env bash
# The runner's I/O benchmark (issue: runner I/O fast path): whole-program runs of
# corpus/wasi/io.c, paired and interleaved on one machine, wall time (median of
# ROUNDS) and host system calls (strace -f -c, I/O calls only):
#   records  one million 64-byte records appended with write()
#   bson     a BSON-style document log written with pwrite at explicit offsets
#   copy     a 100 MB file copied through read/write with 4 KiB buffers
# for barq-wasm with the fast path (batches of 64 KiB), with the fast path but no
# coalescing, without it (plain wasmtime-wasi 48, its defaults), node's WASI, and the
# same C compiled natively (cc -O2), and Wasmtime with wasmtime-wasi's defaults
# (examples/wasi_defaults.rs: file operations go through Tokio's spawn_blocking,
# which barq-wasm turns off). barq-wasm runs with --opt-level none so that only I/O
# differs.
# Usage: bench/io/run.sh [ROUNDS]   (needs strace, cc, node; builds barq-wasm --release)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-5}
target=${CARGO_TARGET_DIR:-target}
out=$target/bench/io
mkdir -p "$out"
cargo build --release --quiet --bin barq-wasm --example wasi_defaults
barq=$target/release/barq-wasm
defaults=$target/release/examples/wasi_defaults
wasm=corpus/wasi/io.wasm
cc -O2 -o "$out/io-native" corpus/wasi/io.c
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# name : command prefix (the scenario, the directory and N follow)
impls=(
  "barq-wasm, fast path|$barq run --opt-level none --dir $scratch::/data $wasm"
  "barq-wasm, fast path, no coalescing|$barq run --opt-level none --io-batch off --dir $scratch::/data $wasm"
  "barq-wasm, fast path off (wasmtime-wasi, blocking on the current thread)|$barq run --opt-level none --io-fast-path off --dir $scratch::/data $wasm"
  "Wasmtime 48 + wasmtime-wasi defaults|$defaults $wasm $scratch /data"
  "node $(node --version) WASI|node --no-warnings bench/io/node_wasi.mjs $wasm $scratch /data"
  "native C (cc -O2)|$out/io-native"
)
workloads=("records 1000000" "bson 1000000" "copy 104857600")
io_calls=write,pwrite64,writev,pwritev,pwritev2,read,pread64,readv,preadv,preadv2,lseek,fstat,newfstatat,statx,fsync,fdatasync,fcntl

run_one() { # impl-command workload n -> seconds
  local cmd=$1 workload=$2 n=$3 dir=/data start end
  [[ $cmd == "$out/io-native" ]] && dir=$scratch
  rm -rf "${scratch:?}"/*
  start=$(date +%s%N)
  $cmd "$workload" "$dir" "$n" > "$scratch.stdout"
  end=$(date +%s%N)
  echo "scale=3; ($end - $start) / 1000000000" | bc
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

results=$out/results.md
{
  echo "| workload | implementation | wall time (median of $rounds) | vs native | I/O system calls |"
  echo "|---|---|---:|---:|---:|"
} > "$results"
for w in "${workloads[@]}"; do
  read -r workload n <<< "$w"
  declare -A times=()
  # Interleaved: each round runs every implementation once, in turn.
  for ((r = 0; r < rounds; r++)); do
    for impl in "${impls[@]}"; do
      name=${impl%%|*}
      times[$name]+="$(run_one "${impl#*|}" "$workload" "$n") "
    done
  done
  native=$(tr ' ' '\n' <<< "${times[native C (cc -O2)]}" | grep . | median)
  for impl in "${impls[@]}"; do
    name=${impl%%|*}
    cmd=${impl#*|}
    t=$(tr ' ' '\n' <<< "${times[$name]}" | grep . | median)
    dir=/data
    [[ $cmd == "$out/io-native" ]] && dir=$scratch
    rm -rf "${scratch:?}"/*
    strace -f -c -e trace=$io_calls -o "$scratch.strace" $cmd "$workload" "$dir" "$n" > /dev/null
    calls=$(awk '$NF=="total" {print $4}' "$scratch.strace")
    ratio=$(echo "scale=2; $t / $native" | bc)
    echo "| $workload $n | $name | ${t}s | ${ratio}x | $calls |" | tee -a "$results"
  done
  unset times
done
rm -f "$scratch.stdout" "$scratch.strace"
echo "table: $results"
