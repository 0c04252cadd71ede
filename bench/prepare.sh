#!/usr/bin/env bash
# Builds every module variant the benchmarks compare, into target/bench/:
#   NAME.O2.wasm              the original (clang -O2, committed in corpus/c)
#   NAME.O2.barq.wasm         barq-opt of the original
#   NAME.O2.wasmopt.wasm      wasm-opt -O3 of the original (binaryen 132 from npm)
#   NAME.O2.wasmopt.barq.wasm barq-opt of the wasm-opt output
#   NAME.O3-simd.wasm         clang's own -O3 -msimd128 (committed in corpus/c)
#   NAME.O3-simd-ffast.wasm   clang -O3 -msimd128 -ffast-math (committed in corpus/c)
#   NAME.O2.native.wasm       barq-opt --target native (host kernels from barq-wasm)
#   libNAME.so, libNAME-ffast.so  the C source natively, clang -O3 -march=native
#                             (and -ffast-math), loaded by benches/kernels.rs
#   bytes.*.wasm, bulk_only.wasm  copy/fill loops for benches/bulk.rs
#   checksums.*.wasm, libchecksums.so  CRC-32/CRC-32C/Adler-32 for benches/checksum.rs
#   for dot, l2_norm and cosine barq-opt runs with --fast-math (float sums are
#   only rewritten with it)
# Usage: bench/prepare.sh   (needs npm, which installs binaryen into the cache
# directory, and clang-19 for the native C libraries)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${CARGO_TARGET_DIR:-target}/bench
tools=${BARQ_BENCH_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/barq/bench-tools}
mkdir -p "$out" "$tools"
if [ ! -f "$tools/node_modules/binaryen/bin/wasm-opt" ]; then
  [ -f "$tools/package.json" ] || echo '{"private": true}' > "$tools/package.json"
  (cd "$tools" && npm install --no-audit --no-fund --loglevel=error binaryen@132.0.0)
fi
cargo build --release --quiet --bin barq-opt
barq=${CARGO_TARGET_DIR:-target}/release/barq-opt
# bench name : corpus source : barq-opt flags (float reductions need --fast-math;
# dot_u8_i8 and dot4_f32 are exact rewrites: widening integer and partial sums)
workloads="axpy:axpy: relu:relu: dot:dot:--fast-math l2_norm:sum_squares:--fast-math
cosine:cosine:--fast-math dot_u8_i8:widening: dot4_f32:partial_sums:"
for w in $workloads; do
  IFS=: read -r name src flag <<<"$w"
  flags=()
  [ -n "$flag" ] && flags=("$flag")
  cp "corpus/c/$src.O2.wasm" "$out/$name.O2.wasm"
  cp "corpus/c/$src.O3-simd.wasm" "$out/$name.O3-simd.wasm"
  cp "corpus/c/$src.O3-simd-ffast.wasm" "$out/$name.O3-simd-ffast.wasm"
  "$barq" "$out/$name.O2.wasm" -o "$out/$name.O2.barq.wasm" "${flags[@]}"
  node "$tools/node_modules/binaryen/bin/wasm-opt" -O3 --enable-bulk-memory --enable-nontrapping-float-to-int \
    "$out/$name.O2.wasm" -o "$out/$name.O2.wasmopt.wasm"
  "$barq" "$out/$name.O2.wasmopt.wasm" -o "$out/$name.O2.wasmopt.barq.wasm" "${flags[@]}"
  "$barq" "$out/$name.O2.wasm" -o "$out/$name.O2.native.wasm" --target native "${flags[@]}"
  # The same C compiled natively, for the comparison the runner issue asks for.
  clang-19 -O3 -march=native -shared -fPIC -w "corpus/c/$src.c" -o "$out/lib$name.so"
  clang-19 -O3 -march=native -ffast-math -shared -fPIC -w "corpus/c/$src.c" -o "$out/lib$name-ffast.so"
done
# Matrix and convolution workloads (benches/matrix.rs, bench/matrix.mjs): exact
# rewrites, no --fast-math.
for src in matmul conv3x3 quantize gemm; do
  cp "corpus/c/$src.O2.wasm" "corpus/c/$src.O3-simd.wasm" "corpus/c/$src.O3-simd-ffast.wasm" "$out/"
  "$barq" "$out/$src.O2.wasm" -o "$out/$src.O2.barq.wasm"
  node "$tools/node_modules/binaryen/bin/wasm-opt" -O3 --enable-bulk-memory --enable-nontrapping-float-to-int \
    "$out/$src.O2.wasm" -o "$out/$src.O2.wasmopt.wasm"
  "$barq" "$out/$src.O2.wasmopt.wasm" -o "$out/$src.O2.wasmopt.barq.wasm"
  # The native target (host kernels: GEMM identified by probing), exact and fast-math.
  "$barq" "$out/$src.O2.wasm" -o "$out/$src.O2.native.wasm" --target native
  "$barq" "$out/$src.O2.wasm" -o "$out/$src.O2.native-fast.wasm" --target native --fast-math
  # (-ffp-contract=off: no FMA, so the native result is the exact one barq keeps.)
  clang-19 -O3 -march=native -ffp-contract=off -shared -fPIC -w "corpus/c/$src.c" -o "$out/lib$src.so"
  clang-19 -O3 -march=native -ffast-math -shared -fPIC -w "corpus/c/$src.c" -o "$out/lib$src-ffast.so"
done
# Copy and fill loops (benches/bulk.rs, bench/bulk.mjs): clang -O2 loops, barq's
# memory.copy/fill, barq without bulk memory (SIMD128 maps for 4-byte elements),
# clang's own -msimd128, and the bare instructions.
cp corpus/c/bytes.O2.wasm corpus/c/bytes.O3-simd.wasm "$out/"
"$barq" "$out/bytes.O2.wasm" -o "$out/bytes.O2.barq.wasm"
"$barq" "$out/bytes.O2.wasm" -o "$out/bytes.O2.nobulk.wasm" --no-bulk-memory
"$barq" "$out/bytes.O2.wasm" -o "$out/bytes.O2.nosimd.wasm" --no-simd
"$barq" bench/bulk_only.wat -o "$out/bulk_only.wasm"
# Checksums (benches/checksum.rs): the clang -O2 originals, barq's native target,
# wasm-opt -O3, clang -O3 -msimd128, and the C natively.
cp corpus/c/checksums.O2.wasm corpus/c/checksums.O3-simd.wasm "$out/"
"$barq" "$out/checksums.O2.wasm" -o "$out/checksums.O2.native.wasm" --target native
"$barq" "$out/checksums.O2.wasm" -o "$out/checksums.O2.barq.wasm"
node "$tools/node_modules/binaryen/bin/wasm-opt" -O3 "$out/checksums.O2.wasm" -o "$out/checksums.O2.wasmopt.wasm"
clang-19 -O3 -march=native -fno-builtin -shared -fPIC -w corpus/c/checksums.c -o "$out/libchecksums.so"
echo "$out"
