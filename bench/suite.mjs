// The V8 half of the comparison (benches/suite.rs runs it; see bench/README.md): every
// workload of bench/suite.json in node's V8 as the module variants of
// bench/prepare-suite.sh, plain JavaScript over typed arrays, TensorFlow.js's WASM
// backend and ONNX Runtime Web's WASM backend (one thread each). Each
// implementation's output is checked against the original module's before it is
// timed; a wrong one gets no time. Timing: interleaved rounds, median per call.
// Prints one JSON document on stdout.
// Usage: node bench/suite.mjs SUITE_DIR [--tfjs=simd|plain|off] [--only=id,id]
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import {
  argValues, baseCandidates, f32s, framed, LAPLACIAN, layout, measure, pack, useFiles, wasmImpl,
} from "./suite-core.mjs";

const suiteDir = process.argv[2];
const option = (name, fallback) =>
  (process.argv.find((a) => a.startsWith(`--${name}=`)) ?? `=${fallback}`).split("=")[1];
const tfjsMode = option("tfjs", "simd");
const only = option("only", "").split(",").filter(Boolean);
const withOthers = option("others", "on") === "on";
const spec = JSON.parse(readFileSync(new URL("./suite.json", import.meta.url)));
const tools = process.env.BARQ_BENCH_TOOLS ?? join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME, ".cache"), "barq", "bench-tools");
const require = createRequire(join(tools, "package.json"));
const ROUNDS = Number(process.env.BARQ_BENCH_ROUNDS ?? 15);
useFiles((path) => (existsSync(join(suiteDir, path)) ? new Uint8Array(readFileSync(join(suiteDir, path))) : null));

let tf = null;
async function loadTfjs() {
  if (tfjsMode === "off") return;
  tf = require("@tensorflow/tfjs-core");
  require("@tensorflow/tfjs-backend-wasm");
  tf.env().set("WASM_HAS_SIMD_SUPPORT", tfjsMode === "simd");
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
  await tf.setBackend("wasm");
  await tf.ready();
}

function tfjsImpl(w) {
  if (!tf) return null;
  const lay = layout(w);
  const [x, y] = lay.inputs.map((b) => (b.length % 4 === 0 ? f32s(b) : b));
  const n = w.n;
  let result;
  let out;
  const ops = {
    dot: [() => [tf.tensor1d(x), tf.tensor1d(y)], (a, b) => tf.dot(a, b)],
    l2: [() => [tf.tensor1d(x)], (a) => tf.norm(a)],
    cosine: [() => [tf.tensor1d(x), tf.tensor1d(y)], (a, b) => tf.div(tf.dot(a, b), tf.mul(tf.norm(a), tf.norm(b)))],
    matmul: [() => [tf.tensor2d(x, [n, n]), tf.tensor2d(y, [n, n])], (a, b) => tf.matMul(a, b)],
    quantize: [() => [tf.tensor1d(x)], (a) => tf.clipByValue(tf.add(tf.round(tf.mul(a, 40)), 3), -128, 127)],
    conv: [() => [tf.tensor4d(x, [1, n, n, 1]), tf.tensor4d(y, [3, 3, 1, 1]), tf.tensor1d([0.25])],
      (a, k, bias) => tf.fused.conv2d({ x: a, filter: k, strides: 1, pad: "valid", bias, activation: "relu" })],
    softmax: [() => [tf.tensor1d(x)], (a) => tf.softmax(a)],
    attention: [() => [tf.tensor2d(x, [n, 64]), tf.tensor2d(y, [n, 64]), tf.tensor2d(f32s(lay.inputs[2]), [n, 64])],
      (q, k, v) => tf.matMul(tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / 8)), v)],
    cosine_rows: [() => [tf.tensor2d(x, [n, 300]), tf.tensor2d(y, [300, 1])],
      (a, q) => tf.div(tf.reshape(tf.matMul(a, q), [n]), tf.mul(tf.norm(a, "euclidean", 1), tf.norm(q)))],
    knn: [() => [tf.tensor2d(x, [n, 300]), tf.tensor2d(y, [300, 1])],
      (a, q) => tf.topk(tf.div(tf.reshape(tf.matMul(a, q), [n]), tf.mul(tf.norm(a, "euclidean", 1), tf.norm(q))), 10).indices],
    edges: [() => [tf.tensor4d(Float32Array.from(lay.inputs[0]), [1, n, argValues(w, lay)[3], 1]), tf.tensor4d(LAPLACIAN, [3, 3, 1, 1])],
      (a, k) => tf.clipByValue(tf.conv2d(a, k, 1, "valid"), 0, 255)],
  };
  const op = ops[w.op];
  if (!op) return null;
  const tensors = op[0]();
  return {
    run: () => {
      const t = tf.tidy(() => op[1](...tensors));
      const data = t.dataSync();
      t.dispose();
      if (w.result && w.op !== "knn") result = data[0];
      else out = data;
    },
    output: () => {
      if (!w.output) return pack(w, result, null);
      if (w.op === "knn") return pack(w, out.length, new Uint8Array(Int32Array.from(out).buffer));
      if (w.output.kind === "i8") return pack(w, result, new Uint8Array(Int8Array.from(out).buffer));
      if (w.op === "edges") return pack(w, result, framed(n, argValues(w, lay)[3], out));
      return pack(w, result, new Uint8Array(Float32Array.from(out).buffer));
    },
  };
}

let ort = null;
async function ortImpl(w) {
  if (!withOthers) return null;
  const model = join(suiteDir, "models", `${w.id}.onnx`);
  let bytes;
  try { bytes = readFileSync(model); } catch { return null; }
  if (!ort) {
    ort = require("onnxruntime-web");
    ort.env.wasm.numThreads = 1;
    ort.env.logLevel = "error";
  }
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  const lay = layout(w);
  const [x, y] = lay.inputs.map((b) => (b.length % 4 === 0 ? f32s(b) : b));
  const n = w.n;
  const feeds = {
    dot: () => ({ a: new ort.Tensor("float32", x, [1, n]), b: new ort.Tensor("float32", y, [n, 1]) }),
    l2: () => ({ a: new ort.Tensor("float32", x, [n]) }),
    cosine: () => ({ a: new ort.Tensor("float32", x, [1, n]), b: new ort.Tensor("float32", y, [n, 1]) }),
    matmul: () => ({ a: new ort.Tensor("float32", x, [n, n]), b: new ort.Tensor("float32", y, [n, n]) }),
    quantize: () => ({ a: new ort.Tensor("float32", x, [n]) }),
    conv: () => ({ a: new ort.Tensor("float32", x, [1, 1, n, n]) }),
    softmax: () => ({ a: new ort.Tensor("float32", x, [1, n]) }),
    attention: () => ({
      q: new ort.Tensor("float32", x, [n, 64]),
      k: new ort.Tensor("float32", y, [n, 64]),
      v: new ort.Tensor("float32", f32s(lay.inputs[2]), [n, 64]),
    }),
    cosine_rows: () => ({ a: new ort.Tensor("float32", x, [n, 300]), b: new ort.Tensor("float32", y, [300, 1]) }),
    knn: () => ({ a: new ort.Tensor("float32", x, [n, 300]), b: new ort.Tensor("float32", y, [300, 1]) }),
    edges: () => ({ a: new ort.Tensor("uint8", lay.inputs[0], [1, 1, n, argValues(w, lay)[3]]) }),
  }[w.op]();
  let data;
  return {
    run: async () => { data = (await session.run(feeds)).y.data; },
    output: () => {
      if (w.op === "knn") return pack(w, data.length, new Uint8Array(Int32Array.from(data, Number).buffer));
      if (w.result) return pack(w, data[0], null);
      if (w.op === "edges") return pack(w, undefined, framed(n, argValues(w, lay)[3], data));
      return pack(w, undefined, new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice());
    },
  };
}

// ---- main ----
await loadTfjs();
const tfjsId = tfjsMode === "simd" ? "tfjs-wasm-simd" : "tfjs-wasm";
const tfjsLabel = tfjsMode === "simd" ? "TensorFlow.js WASM backend (SIMD)" : "TensorFlow.js WASM backend (no SIMD)";
const engine = `V8 ${process.versions.v8} (node ${process.version})`;
const rows = [];
const digests = {};
for (const w of spec.workloads) {
  if (only.length && !only.includes(w.id)) continue;
  const candidates = withOthers
    ? baseCandidates(w)
    : [["original", "clang -O2 (the original)", false, wasmImpl(w, "O2")]];
  candidates.push([tfjsId, tfjsLabel, false, tfjsImpl(w)]);
  candidates.push(["ort-web", "ONNX Runtime Web, WASM backend", false, await ortImpl(w)]);
  const measured = await measure(w, candidates, engine, ROUNDS, withOthers);
  rows.push(...measured.rows);
  digests[w.id] = measured.digest;
  process.stderr.write(`v8: ${w.id} done\n`);
}
console.log(JSON.stringify({ engine, digests, rows }, null, 1));
