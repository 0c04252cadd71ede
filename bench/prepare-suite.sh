#!/usr/bin/env bash
# Builds everything the comparison (benches/suite.rs, bench/suite.mjs) runs, into
# $CARGO_TARGET_DIR/bench/suite/ (target/bench/suite/ without it):
#   FILE.O2.wasm              the original: corpus/c/FILE.c at clang -O2 (committed)
#   FILE.O2.barq.wasm         barq-opt (portable, exact)
#   FILE.O2.barq-fast.wasm    barq-opt --fast-math
#   FILE.O2.wasmopt.wasm      wasm-opt -O3 (binaryen 132)
#   FILE.O3-simd.wasm         clang -O3 -msimd128 (committed), and -ffast-math
#   FILE.O2.native.wasm       barq-opt --target native, and with --fast-math
#   libFILE.so                the C natively: clang -O3 -march=native -ffp-contract=off
#   libFILE-ffast.so          ... and with -ffast-math
#   models/*.onnx             ONNX Runtime Web's models (bench/models.py, onnx package)
#   digits-28.u8              scikit-learn's digits at 28x28 (bench/digits.py)
#   words-300.f32, query-300.f32  real 300-d word vectors (bench/vectors.py)
# and installs the JavaScript side into the tools cache (binaryen, TensorFlow.js with
# its WASM backend, ONNX Runtime Web, playwright-core for bench/browser.mjs; the same
# pin as tests/browser.rs), pinned. Needs clang-19, npm, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${CARGO_TARGET_DIR:-target}/bench/suite
tools=${BARQ_BENCH_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/barq/bench-tools}
mkdir -p "$out/models" "$tools"
js_packages="binaryen@132.0.0 @tensorflow/tfjs-core@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0 onnxruntime-web@1.30.0 playwright-core@1.65.1"
if [ ! -f "$tools/suite-packages" ] || [ "$(cat "$tools/suite-packages")" != "$js_packages" ]; then
  [ -f "$tools/package.json" ] || echo '{"private": true}' > "$tools/package.json"
  # shellcheck disable=SC2086
  (cd "$tools" && npm install --no-audit --no-fund --loglevel=error $js_packages)
  echo "$js_packages" > "$tools/suite-packages"
fi
if ! python3 -c "import onnx, sklearn" 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check "onnx==1.23.2" "scikit-learn==1.9.1"
fi
python3 bench/models.py "$out/models"
python3 bench/digits.py "$out/digits-28.u8"
python3 bench/vectors.py "$out/words-300.f32" "$out/query-300.f32"

cargo build --release --quiet --bin barq-opt
barq=${CARGO_TARGET_DIR:-target}/release/barq-opt
wasm_opt=("node" "$tools/node_modules/binaryen/bin/wasm-opt" -O3 --enable-bulk-memory
  --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals)
for file in dot sum_squares cosine extremes argmax cond_store pixels counts widening bits search minmax backward matmul quantize conv3x3 conv_forms softmax attention lz4 checksums knn; do
  cp "corpus/c/$file.O2.wasm" "corpus/c/$file.O3-simd.wasm" "corpus/c/$file.O3-simd-ffast.wasm" "$out/"
  "$barq" "$out/$file.O2.wasm" -o "$out/$file.O2.barq.wasm"
  "$barq" "$out/$file.O2.wasm" -o "$out/$file.O2.barq-fast.wasm" --fast-math
  "$barq" "$out/$file.O2.wasm" -o "$out/$file.O2.native.wasm" --target native
  "$barq" "$out/$file.O2.wasm" -o "$out/$file.O2.native-fast.wasm" --target native --fast-math
  "${wasm_opt[@]}" "$out/$file.O2.wasm" -o "$out/$file.O2.wasmopt.wasm"
  clang-19 -O3 -march=native -ffp-contract=off -shared -fPIC -w "corpus/c/$file.c" -lm -o "$out/lib$file.so"
  clang-19 -O3 -march=native -ffast-math -shared -fPIC -w "corpus/c/$file.c" -lm -o "$out/lib$file-ffast.so"
done
# The AssemblyScript BSON-style encoder (store combining): asc -O3 is the original.
cp corpus/assemblyscript/bytes.O3.wasm "$out/bytes_as.O2.wasm"
"$barq" "$out/bytes_as.O2.wasm" -o "$out/bytes_as.O2.barq.wasm"
"${wasm_opt[@]}" "$out/bytes_as.O2.wasm" -o "$out/bytes_as.O2.wasmopt.wasm"
"$barq" "$out/bytes_as.O2.wasm" -o "$out/bytes_as.O2.native.wasm" --target native
# Rust slices and AssemblyScript typed arrays indexed with their bounds checks
# (bounds-checks, inline-accessors): rustc -O3 and asc -O3 are the originals.
for pair in "rust/slices.O3.wasm slices_rs" "assemblyscript/arrays.O3.wasm arrays_as"; do
  read -r src name <<< "$pair"
  cp "corpus/$src" "$out/$name.O2.wasm"
  "$barq" "$out/$name.O2.wasm" -o "$out/$name.O2.barq.wasm"
  "${wasm_opt[@]}" "$out/$name.O2.wasm" -o "$out/$name.O2.wasmopt.wasm"
  "$barq" "$out/$name.O2.wasm" -o "$out/$name.O2.native.wasm" --target native
done
echo "$out"
