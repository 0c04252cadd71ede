#!/usr/bin/env bash
# Rebuilds every committed corpus .wasm from its source, beside the source.
#   C:              clang-19 at -O1 -O2 -O3 -Os -Oz, -O3 -msimd128 (O3-simd) and
#                   (plus any flags on a `// barq-cflags:` line of the source)
#                   -O3 -msimd128 -ffast-math (O3-simd-ffast)      -> NAME.LEVEL.wasm
#   Rust:           Debian's rustc 1.63 (wasm32-unknown-unknown), -C opt-level=3 and s
#                   (rust/ and near-miss/)
#   AssemblyScript: asc (pinned in assemblyscript/package.json), -O3 and -Oz
#   WASI:           wasi/hello.c, wasi/io.c (commands, with wasi-libc), wasi/io_rust.rs
#                   (Rust std, wasm32-wasi) and wasi/kernels.c, -O2
#   Brotli:         Google's decoder (fetched from PyPI, checked) + brotli/wrap.c, every -O
#   WAT:            wat files are read as text directly by the tests; nothing to build
# Needs: apt-get install -y clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32 \
#          rustc libstd-rust-dev-wasm32 lld-14 ; npm (for AssemblyScript)
set -euo pipefail
cd "$(dirname "$0")"

CLANG=${CLANG:-clang-19}
RUSTC=${RUSTC:-/usr/bin/rustc}
WASM_LD=${WASM_LD:-/usr/bin/wasm-ld-14}

build_c() { # dir
  for src in "$1"/*.c; do
    base=${src%.c}
    # Extra flags a source asks for on a `// barq-cflags: ...` line (-fno-builtin).
    read -r -a extra <<< "$(sed -n 's#^// barq-cflags: ##p' "$src")"
    for level in O1 O2 O3 Os Oz; do
      "$CLANG" --target=wasm32-wasi -"$level" "${extra[@]}" -nostdlib -Wl,--no-entry -Wl,--export-memory \
        -Wl,--allow-undefined "$src" -o "$base.$level.wasm"
    done
    "$CLANG" --target=wasm32-wasi -O3 -msimd128 "${extra[@]}" -nostdlib -Wl,--no-entry -Wl,--export-memory \
      -Wl,--allow-undefined "$src" -o "$base.O3-simd.wasm"
    "$CLANG" --target=wasm32-wasi -O3 -msimd128 -ffast-math "${extra[@]}" -nostdlib -Wl,--no-entry -Wl,--export-memory \
      -Wl,--allow-undefined "$src" -o "$base.O3-simd-ffast.wasm"
  done
}

build_c c
build_c near-miss

# Google's Brotli decoder, version 1.1.0, from the Python package's source
# distribution on PyPI (checked against its SHA-256; unpacked into a cache, not
# committed), with brotli/wrap.c (near misses) -> brotli/brotli.LEVEL.wasm.
BROTLI_SHA256=81de08ac11bcb85841e440c13611c00b67d3bf82698314928d0b676362546724
brotli_src=${BARQ_BROTLI_SRC:-${XDG_CACHE_HOME:-$HOME/.cache}/barq/brotli-1.1.0}
if [ ! -f "$brotli_src/c/dec/decode.c" ]; then
  tmp=$(mktemp -d)
  pip download --quiet --no-binary :all: --no-deps brotli==1.1.0 -d "$tmp"
  echo "$BROTLI_SHA256  $tmp/Brotli-1.1.0.tar.gz" | sha256sum -c --quiet -
  mkdir -p "$brotli_src"
  tar xzf "$tmp/Brotli-1.1.0.tar.gz" -C "$brotli_src" --strip-components=1
  rm -rf "$tmp"
fi
for level in O1 O2 O3 Os Oz; do
  "$CLANG" --target=wasm32-wasi -"$level" -mexec-model=reactor -Wl,--export-memory \
    -Wl,--export=BrotliDecoderDecompress -Wl,--strip-debug -I"$brotli_src/c/include" \
    "$brotli_src"/c/common/*.c "$brotli_src"/c/dec/*.c brotli/wrap.c -o "brotli/brotli.$level.wasm"
done

# WASI programs for the runner's tests (libc: no -nostdlib; kernels.c is a library).
"$CLANG" --target=wasm32-wasi -O2 -Wl,--strip-debug wasi/hello.c -o wasi/hello.wasm
"$CLANG" --target=wasm32-wasi -O2 -Wl,--strip-debug wasi/io.c -o wasi/io.wasm
"$RUSTC" --target wasm32-wasi -C opt-level=2 -C strip=debuginfo wasi/io_rust.rs -o wasi/io_rust.wasm
"$CLANG" --target=wasm32-wasi -O2 -nostdlib -Wl,--no-entry wasi/kernels.c -o wasi/kernels.wasm

for src in rust/*.rs near-miss/*.rs; do
  base=${src%.rs}
  for level in 3 s; do
    "$RUSTC" --target wasm32-unknown-unknown --crate-type cdylib -C opt-level=$level \
      -C panic=abort -C linker="$WASM_LD" -C strip=debuginfo "$src" -o "$base.O$level.wasm"
  done
done

(cd assemblyscript && { [ -d node_modules ] || npm ci --no-audit --no-fund; })
for src in assemblyscript/*.ts; do
  base=${src%.ts}
  for level in 3 z; do
    assemblyscript/node_modules/.bin/asc "$src" -O$level --runtime stub \
      -o "$base.O$level.wasm"
  done
done
echo "corpus rebuilt"
