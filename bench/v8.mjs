// Runs the module variants from bench/prepare.sh in V8 (node 20 has SIMD128) and
// prints the median time of each and its speedup over the original, beside a
// straightforward JavaScript version. Usage: bench/prepare.sh && node bench/v8.mjs
import { readFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.env.BARQ_BENCH_DIR ?? join(process.env.CARGO_TARGET_DIR ?? "target", "bench");
const N = 500_000;
const X = 1 << 20;
const Y = 4 << 20;
const RUNS = 31;
const CALLS = 20;
const variantsOf = (kernel) => kernel === "dot"
  ? [
      ["original (clang -O2)", "O2"],
      ["barq --fast-math", "O2.barq"],
      ["wasm-opt -O3", "O2.wasmopt"],
      ["wasm-opt -O3 + barq --fast-math", "O2.wasmopt.barq"],
      ["clang -O3 -msimd128", "O3-simd"],
      ["clang -O3 -msimd128 -ffast-math", "O3-simd-ffast"],
    ]
  : [
      ["original (clang -O2)", "O2"],
      ["barq", "O2.barq"],
      ["wasm-opt -O3", "O2.wasmopt"],
      ["wasm-opt -O3 + barq", "O2.wasmopt.barq"],
      ["clang -O3 -msimd128", "O3-simd"],
    ];

function fill(f32, base) {
  for (let i = 0; i < N; i++) {
    f32[(X >> 2) + i] = ((i % 1000) - 500) * 0.25;
    f32[(Y >> 2) + i] = 1.0;
  }
}

/** Median µs per call of each function, measured in interleaved rounds so that
 * drift (frequency, other load) hits every variant alike. */
function interleavedMedians(fns) {
  for (const f of fns) for (let i = 0; i < 5; i++) f(); // warm up (tier-up)
  const times = fns.map(() => []);
  for (let r = 0; r < RUNS; r++) {
    fns.forEach((f, i) => {
      const t0 = performance.now();
      for (let c = 0; c < CALLS; c++) f();
      times[i].push((performance.now() - t0) / CALLS);
    });
  }
  return times.map((t) => t.sort((a, b) => a - b)[RUNS >> 1] * 1000);
}

const rows = [];
let sink = 0;
for (const kernel of ["axpy", "relu", "dot"]) {
  const labels = [];
  const fns = [];
  for (const [label, suffix] of variantsOf(kernel)) {
    const bytes = readFileSync(join(dir, `${kernel}.${suffix}.wasm`));
    const { instance } = await WebAssembly.instantiate(bytes, {
      env: { memset: () => { throw new Error("memset"); }, memcpy: () => { throw new Error("memcpy"); } },
    });
    const memory = instance.exports.memory;
    const need = Math.ceil((Y + 4 * N) / 65536) + 1;
    if (memory.buffer.byteLength / 65536 < need) memory.grow(need - memory.buffer.byteLength / 65536);
    fill(new Float32Array(memory.buffer));
    labels.push(label);
    fns.push(kernel === "axpy" ? () => instance.exports.axpy(0.5, X, Y, N)
      : kernel === "dot" ? () => { sink += instance.exports.dot_f32(X, Y, N); }
      : () => instance.exports.relu(X, N));
  }
  // Straightforward JavaScript over typed arrays, for reference.
  const x = new Float32Array(N).map((_, i) => ((i % 1000) - 500) * 0.25);
  const y = new Float32Array(N).fill(1);
  labels.push("plain JavaScript (Float32Array)");
  fns.push(kernel === "axpy"
    ? () => { for (let i = 0; i < N; i++) y[i] += 0.5 * x[i]; }
    : kernel === "dot" ? () => { let s = 0; for (let i = 0; i < N; i++) s += x[i] * y[i]; sink += s; }
    : () => { for (let i = 0; i < N; i++) x[i] = x[i] > 0 ? x[i] : 0; });
  const medians = interleavedMedians(fns);
  medians.forEach((t, i) => rows.push([kernel, labels[i], t, medians[0] / t]));
}
if (Number.isNaN(sink)) console.log("(sink)");
console.log(`V8 ${process.versions.v8} (node ${process.version}), ${N} f32 elements, median of ${RUNS} interleaved rounds of ${CALLS} calls`);
console.log("| kernel | variant | median | speedup vs original |");
console.log("|---|---|---:|---:|");
for (const [k, l, t, s] of rows) console.log(`| ${k} | ${l} | ${t.toFixed(1)} µs | ${s.toFixed(2)}x |`);
