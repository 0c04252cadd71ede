// The matrix and convolution workloads of benches/matrix.rs in V8 (node 20 has
// SIMD128): the module variants from bench/prepare.sh beside straightforward
// JavaScript. Every variant's output is compared with the original's (bit for bit;
// JavaScript computes in doubles, so it is compared loosely) before it is timed.
// Usage: bench/prepare.sh && node bench/matrix.mjs   (BARQ_BENCH=gemm128 limits it)
import { readFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.env.BARQ_BENCH_DIR ?? join(process.env.CARGO_TARGET_DIR ?? "target", "bench");
const A = 1 << 20;
const RUNS = 15;
const only = (process.env.BARQ_BENCH ?? "").split(",").filter(Boolean);

const WORK = [
  ["gemm64", "matmul", "gemm", 64],
  ["gemm128", "matmul", "gemm", 128],
  ["gemm512", "matmul", "gemm", 512],
  ["gemm_bt128", "gemm", "gemm_bt", 128],
  ["gemm_bt512", "gemm", "gemm_bt", 512],
  ["gemm_f64_128", "gemm", "gemm_f64", 128],
  ["gemm_f64_512", "gemm", "gemm_f64", 512],
  ["gemv1024", "matmul", "gemv", 1024],
  ["gemv2048", "matmul", "gemv", 2048],
  ["conv3x3_relu256", "conv3x3", "conv", 256],
  ["edges_u8_256", "conv3x3", "edges", 256],
  ["quantize500000", "quantize", "quantize", 500000],
  ["dequantize500000", "quantize", "dequantize", 500000],
];
const VARIANTS = [
  ["original (clang -O2)", "O2"],
  ["barq", "O2.barq"],
  ["wasm-opt -O3", "O2.wasmopt"],
  ["wasm-opt -O3 + barq", "O2.wasmopt.barq"],
  ["clang -O3 -msimd128", "O3-simd"],
  ["clang -O3 -msimd128 -ffast-math", "O3-simd-ffast"],
];

const input = (i) => ((i * 7919) % 1000) / 250 - 2;
const inBytes = (kind, n) =>
  kind === "edges" ? n * n : kind === "quantize" ? 4 * n : kind === "dequantize" ? n
    : kind === "gemm_f64" ? 8 * n * n : 4 * n * n;
const outBytes = (kind, n) =>
  kind === "quantize" ? n : kind === "dequantize" ? 4 * n : kind === "gemv" ? 4 * n : inBytes(kind, n);

function interleavedMedians(fns, calls) {
  for (const f of fns) for (let i = 0; i < 3; i++) f();
  const times = fns.map(() => []);
  for (let r = 0; r < RUNS; r++) {
    fns.forEach((f, i) => {
      const t0 = performance.now();
      for (let c = 0; c < calls; c++) f();
      times[i].push((performance.now() - t0) / calls);
    });
  }
  return times.map((t) => t.sort((a, b) => a - b)[RUNS >> 1] * 1000);
}

function plainJs(kind, n) {
  if (kind === "quantize") {
    const x = new Float32Array(n).map((_, i) => input(i));
    const q = new Int8Array(n);
    return [() => {
      for (let i = 0; i < n; i++) {
        // rintf: round half to even (Math.round rounds half up).
        const p = Math.fround(x[i] * 40);
        let r = Math.round(p);
        if (r - p === 0.5 && r % 2 !== 0) r -= 1;
        let v = r + 3;
        v = v < -128 ? -128 : v > 127 ? 127 : v;
        q[i] = v;
      }
    }, () => new Uint8Array(q.buffer)];
  }
  if (kind === "dequantize") {
    const q = new Int8Array(n).map((_, i) => (i * 7919) % 251);
    const x = new Float32Array(n);
    return [() => { for (let i = 0; i < n; i++) x[i] = Math.fround((q[i] - 3) * Math.fround(0.05)); },
      () => new Uint8Array(x.buffer)];
  }
  const a = new Float32Array(n * n).map((_, i) => input(i));
  const b = new Float32Array(n * n).map((_, i) => input(i + 11));
  const c = new Float32Array(n * n);
  const k = new Float32Array(9).map((_, i) => input(i + 3) / 4);
  const img = new Uint8Array(n * n).map((_, i) => (i * 7919) % 251);
  const out = new Uint8Array(n * n);
  if (kind === "gemm") return [() => {
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < n; p++) s = Math.fround(s + Math.fround(a[i * n + p] * b[p * n + j]));
      c[i * n + j] = s;
    }
  }, () => new Uint8Array(c.buffer)];
  if (kind === "gemm_f64") {
    const x = new Float64Array(n * n).map((_, i) => input(i) / 3);
    const y = new Float64Array(n * n).map((_, i) => input(i + 11) / 3);
    const z = new Float64Array(n * n);
    return [() => {
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < n; p++) s += x[i * n + p] * y[p * n + j];
        z[i * n + j] = s;
      }
    }, () => new Uint8Array(z.buffer)];
  }
  if (kind === "gemv") {
    const y = new Float32Array(n);
    return [() => {
      for (let r = 0; r < n; r++) {
        let s = 0;
        for (let c = 0; c < n; c++) s = Math.fround(s + Math.fround(a[r * n + c] * b[c]));
        y[r] = s;
      }
    }, () => new Uint8Array(y.buffer)];
  }
  if (kind === "gemm_bt") return [() => {
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < n; p++) s = Math.fround(s + Math.fround(a[i * n + p] * b[j * n + p]));
      c[i * n + j] = s;
    }
  }, () => new Uint8Array(c.buffer)];
  if (kind === "conv") return [() => {
    for (let y = 0; y < n - 2; y++) for (let x = 0; x < n - 2; x++) {
      let s = 0.25;
      for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++)
        s = Math.fround(s + Math.fround(a[(y + ky) * n + x + kx] * k[ky * 3 + kx]));
      c[y * (n - 2) + x] = s > 0 ? s : 0;
    }
  }, () => new Uint8Array(c.buffer)];
  return [() => {
    for (let y = 1; y < n - 1; y++) for (let x = 1; x < n - 1; x++) {
      const v = 8 * img[y * n + x] - img[(y - 1) * n + x - 1] - img[(y - 1) * n + x] - img[(y - 1) * n + x + 1]
        - img[y * n + x - 1] - img[y * n + x + 1] - img[(y + 1) * n + x - 1] - img[(y + 1) * n + x] - img[(y + 1) * n + x + 1];
      out[y * n + x] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }, () => out];
}

const rows = [];
for (const [name, file, kind, n] of WORK) {
  if (only.length && !only.includes(name)) continue;
  const bytes = inBytes(kind, n);
  const [B, C] = [A + bytes, A + 2 * bytes];
  const out = outBytes(kind, n);
  const labels = [], fns = [], outputs = [];
  for (const [label, suffix] of VARIANTS) {
    const { instance } = await WebAssembly.instantiate(readFileSync(join(dir, `${file}.${suffix}.wasm`)), {
      env: { memset: (_d, _v, len) => { if (len) throw new Error("memset"); return 0; } },
    });
    const e = instance.exports, memory = e.memory;
    const need = Math.ceil((C + Math.max(bytes, out)) / 65536) + 1;
    if (memory.buffer.byteLength / 65536 < need) memory.grow(need - memory.buffer.byteLength / 65536);
    const f32 = new Float32Array(memory.buffer), u8 = new Uint8Array(memory.buffer);
    if (kind === "edges" || kind === "dequantize") for (let i = 0; i < bytes; i++) u8[A + i] = (i * 7919) % 251;
    else if (kind === "quantize") for (let i = 0; i < n; i++) f32[(A >> 2) + i] = input(i);
    else if (kind === "gemm_f64") {
      const f64 = new Float64Array(memory.buffer);
      for (let i = 0; i < n * n; i++) { f64[(A >> 3) + i] = input(i) / 3; f64[(B >> 3) + i] = input(i + 11) / 3; }
    }
    else for (let i = 0; i < n * n; i++) { f32[(A >> 2) + i] = input(i); f32[(B >> 2) + i] = input(i + 11); }
    if (kind === "conv") for (let i = 0; i < 9; i++) f32[(B >> 2) + i] = input(i + 3) / 4;
    labels.push(label);
    fns.push(kind === "gemm" ? () => e.matmul_ijk(A, B, C, n, n, n)
      : kind === "gemm_bt" ? () => e.gemm_bt(A, B, C, n, n, n)
      : kind === "gemm_f64" ? () => e.gemm_f64(A, B, C, n, n, n)
      : kind === "gemv" ? () => e.gemv(A, B, C, n, n)
      : kind === "conv" ? () => e.conv3x3_relu(A, B, 0.25, C, n, n)
      : kind === "quantize" ? () => e.quantize_i8(A, C, n, 40, 3)
      : kind === "dequantize" ? () => e.dequantize_i8(A, C, n, 0.05, 3)
      : () => e.edges_u8(A, C, n, n));
    outputs.push(() => new Uint8Array(memory.buffer, C, out));
  }
  const [js, jsOut] = plainJs(kind, n);
  labels.push("plain JavaScript (typed arrays)");
  fns.push(js);
  outputs.push(jsOut);
  fns.forEach((f) => f());
  const expected = outputs[0]().slice();
  labels.forEach((label, i) => {
    if (label.includes("fast-math") || label.startsWith("plain")) return;
    const got = outputs[i]();
    if (!got.every((v, j) => v === expected[j])) throw new Error(`${name}: ${label} computes something else`);
  });
  const calls = n === 512 ? 1 : n === 64 ? 50 : n === 500000 ? 5 : 10;
  const medians = interleavedMedians(fns, calls);
  medians.forEach((t, i) => rows.push([name, labels[i], t, medians[0] / t, medians[4] / t]));
}
console.log(`V8 ${process.versions.v8} (node ${process.version}), median of ${RUNS} interleaved rounds; exact rewrites only`);
console.log("| workload | variant | median | speedup vs original | vs clang -O3 -msimd128 |");
console.log("|---|---|---:|---:|---:|");
for (const [k, l, t, s, c] of rows) console.log(`| ${k} | ${l} | ${t.toFixed(1)} µs | ${s.toFixed(2)}x | ${c.toFixed(2)}x |`);
