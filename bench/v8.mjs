// Runs the module variants from bench/prepare.sh in V8 (node 20 has SIMD128) and
// prints the median time of each and its speedup over the original, beside a
// straightforward JavaScript version. Usage: bench/prepare.sh && node bench/v8.mjs
// BARQ_BENCH=dot,cosine limits the run to some workloads.
import { readFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.env.BARQ_BENCH_DIR ?? join(process.env.CARGO_TARGET_DIR ?? "target", "bench");
const N = 500_000;
const X = 1 << 20;
const Y = 4 << 20;
const RUNS = 31;
const CALLS = 20;

// name in target/bench, export, how to call it (see benches/kernels.rs), --fast-math
const WORKLOADS = [
  ["axpy", "axpy", "axpy", false],
  ["relu", "relu", "inPlace", false],
  ["dot", "dot_f32", "two", true],
  ["l2_norm", "l2_norm", "one", true],
  ["cosine", "cosine_fused", "two", true],
  ["dot_u8_i8", "dot_u8_i8", "two", false],
  ["dot4_f32", "dot4_f32", "two", false],
];
const only = (process.env.BARQ_BENCH ?? "").split(",").filter(Boolean);

const variantsOf = (fastMath) => [
  ["original (clang -O2)", "O2"],
  [fastMath ? "barq --fast-math" : "barq", "O2.barq"],
  ["wasm-opt -O3", "O2.wasmopt"],
  [fastMath ? "wasm-opt -O3 + barq --fast-math" : "wasm-opt -O3 + barq", "O2.wasmopt.barq"],
  ["clang -O3 -msimd128", "O3-simd"],
  ["clang -O3 -msimd128 -ffast-math", "O3-simd-ffast"],
];

const xValue = (i) => ((i % 1000) - 500) * 0.25;

function fill(f32) {
  for (let i = 0; i < N; i++) {
    f32[(X >> 2) + i] = xValue(i);
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

/** Straightforward JavaScript over typed arrays, for reference. */
function plainJs(name, x, y, bytes, weights) {
  switch (name) {
    case "axpy": return () => { for (let i = 0; i < N; i++) y[i] += 0.5 * x[i]; };
    case "relu": return () => { for (let i = 0; i < N; i++) x[i] = x[i] > 0 ? x[i] : 0; };
    case "l2_norm": return () => { let s = 0; for (let i = 0; i < N; i++) s += x[i] * x[i]; sink += Math.sqrt(s); };
    case "cosine": return () => {
      let d = 0, a = 0, b = 0;
      for (let i = 0; i < N; i++) { d += x[i] * y[i]; a += x[i] * x[i]; b += y[i] * y[i]; }
      sink += d / (Math.sqrt(a) * Math.sqrt(b));
    };
    case "dot_u8_i8": return () => { let s = 0; for (let i = 0; i < N; i++) s = (s + bytes[i] * weights[i]) | 0; sink += s; };
    case "dot4_f32": return () => {
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let i = 0; i + 3 < N; i += 4) {
        s0 += x[i] * y[i]; s1 += x[i + 1] * y[i + 1]; s2 += x[i + 2] * y[i + 2]; s3 += x[i + 3] * y[i + 3];
      }
      sink += (s0 + s1) + (s2 + s3);
    };
    default: return () => { let s = 0; for (let i = 0; i < N; i++) s += x[i] * y[i]; sink += s; };
  }
}

const rows = [];
let sink = 0;
for (const [name, exportName, call, fastMath] of WORKLOADS) {
  if (only.length && !only.includes(name)) continue;
  const labels = [];
  const fns = [];
  for (const [label, suffix] of variantsOf(fastMath)) {
    const bytes = readFileSync(join(dir, `${name}.${suffix}.wasm`));
    const { instance } = await WebAssembly.instantiate(bytes, {
      env: { memset: () => { throw new Error("memset"); }, memcpy: () => { throw new Error("memcpy"); } },
    });
    const memory = instance.exports.memory;
    const need = Math.ceil((Y + 4 * N) / 65536) + 1;
    if (memory.buffer.byteLength / 65536 < need) memory.grow(need - memory.buffer.byteLength / 65536);
    fill(new Float32Array(memory.buffer));
    const f = instance.exports[exportName];
    labels.push(label);
    fns.push(call === "axpy" ? () => f(0.5, X, Y, N)
      : call === "inPlace" ? () => f(X, N)
      : call === "one" ? () => { sink += f(X, N); }
      : () => { sink += f(X, Y, N); });
  }
  const x = new Float32Array(N).map((_, i) => xValue(i));
  const y = new Float32Array(N).fill(1);
  const bytes = new Uint8Array(x.buffer, 0, N);
  const weights = new Int8Array(y.buffer, 0, N);
  labels.push("plain JavaScript (typed arrays)");
  fns.push(plainJs(name, x, y, bytes, weights));
  const medians = interleavedMedians(fns);
  medians.forEach((t, i) => rows.push([name, labels[i], t, medians[0] / t]));
}
if (Number.isNaN(sink)) console.log("(sink)");
console.log(`V8 ${process.versions.v8} (node ${process.version}), ${N} elements, median of ${RUNS} interleaved rounds of ${CALLS} calls`);
console.log("| kernel | variant | median | speedup vs original |");
console.log("|---|---|---:|---:|");
for (const [k, l, t, s] of rows) console.log(`| ${k} | ${l} | ${t.toFixed(1)} µs | ${s.toFixed(2)}x |`);
