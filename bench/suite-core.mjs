// What the V8 side of the comparison shares between node (bench/suite.mjs) and the
// browser page (bench/browser/index.html): the memory layout and inputs of
// bench/suite.json's workloads, the module variants, plain JavaScript versions, the
// output check and the interleaved timing. Files come through useFiles (node reads
// them from disk, the page fetches them first).
let readFile = () => null;
/** Sets how files of the suite directory are read: path -> Uint8Array, or null if absent. */
export function useFiles(reader) { readFile = reader; }

export const BASE = 1 << 20;

// ---- inputs and layout (the same in benches/suite.rs) ----
export const align = (x) => (x + 63) & ~63;
export function inputBytes(input) {
  if (input.kind === "file") {
    const bytes = readFile(input.path);
    if (!bytes) throw new Error(`missing input file ${input.path}`);
    return bytes;
  }
  if (input.kind === "u8") {
    const b = new Uint8Array(input.len);
    for (let i = 0; i < input.len; i++) b[i] = ((i + input.seed) * 7919) % 251;
    return b;
  }
  const f = new Float32Array(input.len);
  const scale = Math.fround(input.scale ?? 1);
  for (let i = 0; i < input.len; i++) {
    const v = Math.fround(Math.fround((((i + input.seed) * 7919) % 1000) / 250) - 2);
    f[i] = Math.fround(v * scale);
  }
  return new Uint8Array(f.buffer);
}
export const elemBytes = (kind) => (kind === "f32" || kind === "i32" ? 4 : 1);

export function layout(w) {
  const inputs = w.inputs.map(inputBytes);
  let at = BASE;
  const addrs = inputs.map((b) => { const a = at; at = align(at + b.length); return a; });
  const outBytes = w.output ? w.output.len * elemBytes(w.output.kind) : 0;
  // AssemblyScript typed-array headers {buffer, dataStart, byteLength}, 16 bytes
  // apart: one per input, then the output's (arguments viewK, viewout).
  const headers = align(at + outBytes);
  const views = [...addrs.map((a, i) => [a, inputs[i].length]), [at, outBytes]]
    .map(([a, len], slot) => [headers + 16 * slot, [a, a, len]]);
  return { inputs, addrs, out: at, outBytes, headers, views, end: headers + 16 * (inputs.length + 1) };
}

export function argValues(w, lay) {
  return w.args.map((a) => {
    if (typeof a === "object") return a.out !== undefined ? lay.out + a.out : a.f32 ?? a.i32;
    if (a === "n") return w.n;
    if (a === "out") return lay.out;
    if (a === "bytes0") return lay.inputs[0].length;
    if (a === "viewout") return lay.headers + 16 * lay.inputs.length;
    if (a.startsWith("view")) return lay.headers + 16 * Number(a.slice(4));
    return lay.addrs[Number(a.slice(2))];
  });
}

// ---- checking (the same rules as benches/suite.rs) ----
/** The bytes an implementation produced: its scalar result (4 bytes LE), then the output. */
export function pack(w, result, out) {
  const head = new Uint8Array(w.result ? 4 : 0);
  if (w.result === "f32") new DataView(head.buffer).setFloat32(0, result, true);
  if (w.result === "i32") new DataView(head.buffer).setInt32(0, result, true);
  const all = new Uint8Array(head.length + (out ? out.length : 0));
  all.set(head, 0);
  if (out) all.set(out, head.length);
  return all;
}

export function fnv1a(bytes) {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}

/** "bit-exact", "within tolerance (...)" or an error string starting with "wrong". */
export function check(w, ref, got) {
  if (ref.length !== got.length) return `wrong: ${got.length} bytes, expected ${ref.length}`;
  if (ref.every((b, i) => b === got[i])) return "bit-exact";
  const view = (b) => new DataView(b.buffer, b.byteOffset, b.byteLength);
  const [r, g] = [view(ref), view(got)];
  let head = 0;
  let worst = 0;
  if (w.result) {
    head = 4;
    if (w.result === "i32") return `wrong: result ${g.getInt32(0, true)}, expected ${r.getInt32(0, true)}`;
    const [a, b] = [r.getFloat32(0, true), g.getFloat32(0, true)];
    const err = Math.abs(a - b) / Math.max(Math.abs(a), 1e-30);
    if (!(err <= w.tolerance)) return `wrong: result ${b}, expected ${a} (relative error ${err.toExponential(2)})`;
    worst = err;
  }
  if (w.output) {
    const n = w.output.len;
    if (w.output.kind === "f32") {
      let max = 0;
      let err = 0;
      for (let i = 0; i < n; i++) {
        const a = r.getFloat32(head + 4 * i, true);
        max = Math.max(max, Math.abs(a));
        err = Math.max(err, Math.abs(a - g.getFloat32(head + 4 * i, true)));
        if (Number.isNaN(g.getFloat32(head + 4 * i, true)) !== Number.isNaN(a)) return `wrong: NaN at ${i}`;
      }
      const rel = err / Math.max(max, 1e-30);
      if (!(rel <= w.tolerance)) return `wrong: output off by ${rel.toExponential(2)} of its largest magnitude`;
      worst = Math.max(worst, rel);
    } else if (w.output.kind === "i32") {
      return "wrong: output differs";
    } else {
      const signed = w.output.kind === "i8";
      let off = 0;
      for (let i = 0; i < n; i++) {
        const a = signed ? r.getInt8(head + i) : r.getUint8(head + i);
        const b = signed ? g.getInt8(head + i) : g.getUint8(head + i);
        off = Math.max(off, Math.abs(a - b));
      }
      if (off > (w.tolerance > 0 ? 1 : 0)) return `wrong: output bytes differ by up to ${off}`;
      return "within tolerance (off by one at most)";
    }
  }
  return `within tolerance (${worst.toExponential(2)})`;
}

// ---- implementations ----
export const VARIANTS = [
  ["original", "clang -O2 (the original)", "O2", false],
  ["barq", "barq-opt", "O2.barq", true],
  ["barq-fast", "barq-opt --fast-math", "O2.barq-fast", false],
  ["wasm-opt", "wasm-opt -O3", "O2.wasmopt", true],
  ["clang-simd", "clang -O3 -msimd128", "O3-simd", false],
  ["clang-simd-ffast", "clang -O3 -msimd128 -ffast-math", "O3-simd-ffast", false],
];

/** The module variant `suffix` of the workload (null when it was not built). */
export function wasmImpl(w, suffix) {
  const bytes = readFile(`${w.file}.${suffix}.wasm`);
  if (!bytes) return null;
  const module = new WebAssembly.Module(bytes);
  const imports = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    (imports[imp.module] ??= {})[imp.name] = () => { throw new Error(`unexpected call to ${imp.module}.${imp.name}`); };
  }
  const instance = new WebAssembly.Instance(module, imports);
  instance.exports._initialize?.();
  const lay = layout(w);
  const memory = instance.exports.memory;
  const need = Math.ceil(lay.end / 65536) + 2;
  const have = memory.buffer.byteLength / 65536;
  if (have < need) memory.grow(need - have);
  lay.inputs.forEach((b, i) => new Uint8Array(memory.buffer).set(b, lay.addrs[i]));
  for (const [at, words] of lay.views) new Uint32Array(memory.buffer, at, 3).set(words);
  const f = instance.exports[w.export];
  const args = argValues(w, lay);
  let result;
  return {
    run: () => { result = f(...args); },
    output: () => pack(w, result, w.output ? new Uint8Array(memory.buffer, lay.out, lay.outBytes).slice() : null),
  };
}

export function f32s(bytes) { return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4); }

/** Straightforward JavaScript over typed arrays. */
export function plainJs(w) {
  const lay = layout(w);
  const [x, y] = lay.inputs;
  const n = w.n;
  let result;
  const out = new Uint8Array(lay.outBytes);
  const outF = w.output?.kind === "f32" ? f32s(out) : null;
  const runs = {
    dot: () => { const a = f32s(x), b = f32s(y); let s = 0; for (let i = 0; i < n; i++) s += a[i] * b[i]; result = s; },
    l2: () => { const a = f32s(x); let s = 0; for (let i = 0; i < n; i++) s += a[i] * a[i]; result = Math.sqrt(s); },
    max: () => { const a = f32s(x); let m = a[0]; for (let i = 1; i < n; i++) if (a[i] > m) m = a[i]; result = m; },
    argmax: () => { const a = f32s(x); let m = a[0], k = 0; for (let i = 1; i < n; i++) if (a[i] > m) { m = a[i]; k = i; } result = k; },
    masked: () => { const a = f32s(x); for (let i = 0; i < n; i++) if (a[i] > 0) outF[i] = a[i]; },
    add: () => { const a = f32s(x), b = f32s(y); for (let i = n - 1; i >= 0; i--) outF[i] = a[i] + b[i]; },
    clamp: () => { const a = f32s(x); for (let i = 0; i < n; i++) outF[i] = Math.min(Math.max(a[i], -1), 1); },
    threshold: () => { for (let i = 0; i < n; i++) out[i] = x[i] > 128 ? 255 : 0; },
    add_u8: () => { for (let i = 0; i < n; i++) out[i] = x[i] + y[i]; },
    limit: () => {
      const a = new Int16Array(x.buffer, x.byteOffset, n), o = new Int16Array(out.buffer, 0, n);
      for (let i = 0; i < n; i++) o[i] = a[i] < -8000 ? -8000 : a[i] > 8000 ? 8000 : a[i];
    },
    absdiff: () => { for (let i = 0; i < n; i++) out[i] = x[i] > y[i] ? x[i] - y[i] : y[i] - x[i]; },
    cosine: () => {
      const a = f32s(x), b = f32s(y);
      let d = 0, p = 0, q = 0;
      for (let i = 0; i < n; i++) { d += a[i] * b[i]; p += a[i] * a[i]; q += b[i] * b[i]; }
      result = d / (Math.sqrt(p) * Math.sqrt(q));
    },
    matmul: () => {
      const a = f32s(x), b = f32s(y);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += a[i * n + k] * b[k * n + j];
        outF[i * n + j] = s;
      }
    },
    gemv: () => {
      const a = f32s(x), v = f32s(y);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < n; j++) s = Math.fround(s + Math.fround(a[i * n + j] * v[j]));
        outF[i] = s;
      }
    },
    quantize: () => {
      const a = f32s(x);
      const q = new Int8Array(out.buffer);
      for (let i = 0; i < n; i++) {
        const p = Math.fround(a[i] * 40);
        let r = Math.round(p);
        if (r - p === 0.5 && r % 2 !== 0) r -= 1; // round half to even, as rintf
        const v = r + 3;
        q[i] = v < -128 ? -128 : v > 127 ? 127 : v;
      }
    },
    conv: () => {
      const img = f32s(x), k = f32s(y);
      for (let r = 0; r < n - 2; r++) for (let c = 0; c < n - 2; c++) {
        let s = 0.25;
        for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) s += img[(r + i) * n + c + j] * k[i * 3 + j];
        outF[r * (n - 2) + c] = s > 0 ? s : 0;
      }
    },
    conv_same: () => {
      const img = f32s(x), k = f32s(y), wd = argValues(w, lay)[4];
      for (let r = 0; r < n; r++) for (let c = 0; c < wd; c++) {
        let s = 0;
        for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
          const yy = r + i - 1, xx = c + j - 1;
          if (yy >= 0 && yy < n && xx >= 0 && xx < wd) s += img[yy * wd + xx] * k[i * 3 + j];
        }
        outF[r * wd + c] = s;
      }
    },
    conv_chw: () => {
      const [img, k, bias] = lay.inputs.map(f32s), [, , , , ci, co, , wd, kk] = argValues(w, lay);
      const oh = n - kk + 1, ow = wd - kk + 1;
      for (let o = 0; o < co; o++) for (let r = 0; r < oh; r++) for (let c = 0; c < ow; c++) {
        let s = bias[o];
        for (let ch = 0; ch < ci; ch++) for (let i = 0; i < kk; i++) for (let j = 0; j < kk; j++)
          s += img[(ch * n + r + i) * wd + c + j] * k[((o * ci + ch) * kk + i) * kk + j];
        outF[(o * oh + r) * ow + c] = s > 0 ? s : 0;
      }
    },
    softmax: () => {
      const a = f32s(x);
      let m = a[0];
      for (let i = 1; i < n; i++) if (a[i] > m) m = a[i];
      let s = 0;
      for (let i = 0; i < n; i++) { const e = Math.exp(a[i] - m); outF[i] = e; s += e; }
      for (let i = 0; i < n; i++) outF[i] /= s;
    },
    attention: () => {
      const [q, k, v] = lay.inputs.map(f32s), d = argValues(w, lay)[5];
      const scale = 1 / Math.sqrt(d), s = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let m = -Infinity;
        for (let j = 0; j < n; j++) {
          let dot = 0;
          for (let c = 0; c < d; c++) dot += q[i * d + c] * k[j * d + c];
          s[j] = dot * scale;
          if (s[j] > m) m = s[j];
        }
        let sum = 0;
        for (let j = 0; j < n; j++) { s[j] = Math.exp(s[j] - m); sum += s[j]; }
        for (let c = 0; c < d; c++) {
          let acc = 0;
          for (let j = 0; j < n; j++) acc += s[j] * v[j * d + c];
          outF[i * d + c] = acc / sum;
        }
      }
    },
    edges: () => {
      const h = n, wd = argValues(w, lay)[3];
      for (let r = 1; r < h - 1; r++) for (let c = 1; c < wd - 1; c++) {
        const i = r * wd + c;
        const v = 8 * x[i] - x[i - wd - 1] - x[i - wd] - x[i - wd + 1] - x[i - 1] - x[i + 1]
          - x[i + wd - 1] - x[i + wd] - x[i + wd + 1];
        out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    },
    cosine_rows: () => {
      const rows = f32s(x), q = f32s(y), dim = argValues(w, lay)[2];
      let qq = 0;
      for (let i = 0; i < dim; i++) qq += q[i] * q[i];
      for (let r = 0; r < n; r++) {
        let d = 0, vv = 0;
        for (let i = 0; i < dim; i++) { const v = rows[r * dim + i]; d += v * q[i]; vv += v * v; }
        outF[r] = d / Math.sqrt(qq * vv);
      }
    },
    knn: () => {
      const rows = f32s(x), q = f32s(y), [, , dim, , k] = argValues(w, lay);
      const idx = new Int32Array(out.buffer, 0, k);
      const sim = new Float64Array(k);
      let qq = 0;
      for (let i = 0; i < dim; i++) qq += q[i] * q[i];
      let found = 0;
      for (let r = 0; r < n; r++) {
        let d = 0, vv = 0;
        for (let i = 0; i < dim; i++) { const v = rows[r * dim + i]; d += v * q[i]; vv += v * v; }
        const s = d / Math.sqrt(qq * vv);
        if (found === k && !(s > sim[k - 1])) continue;
        let at = found < k ? found++ : k - 1;
        for (; at > 0 && s > sim[at - 1]; at--) { sim[at] = sim[at - 1]; idx[at] = idx[at - 1]; }
        sim[at] = s;
        idx[at] = r;
      }
      result = found;
    },
    be64: () => {
      const values = new DataView(x.buffer, x.byteOffset, x.byteLength);
      const view = new DataView(out.buffer);
      for (let i = 0; i < n; i++) view.setBigUint64(8 * i, values.getBigUint64(8 * i, true), false);
    },
    bson: () => {
      const values = new DataView(x.buffer, x.byteOffset, x.byteLength);
      const view = new DataView(out.buffer);
      let p = 4;
      for (let i = 0; i < n; i++) {
        out[p] = 0x12;
        out[p + 1] = 0x61 + (i % 26);
        out[p + 2] = 0;
        view.setBigUint64(p + 3, values.getBigUint64(8 * i, true), true);
        p += 11;
      }
      out[p] = 0;
      view.setUint32(0, p + 1, true);
      result = p + 1;
    },
    lz4: () => { result = lz4Js(x, out); },
    crc32: () => { result = crc32Js(x) | 0; },
    adler32: () => {
      let a = 1, b = 0;
      for (let i = 0; i < n; i++) { a = (a + x[i]) % 65521; b = (b + a) % 65521; }
      result = ((b << 16) | a) | 0;
    },
    mix_sat: () => {
      const a = new Int16Array(x.buffer, x.byteOffset, n), b = new Int16Array(y.buffer, y.byteOffset, n), o = new Int16Array(out.buffer, 0, n);
      for (let i = 0; i < n; i++) { const s = a[i] + b[i]; o[i] = s > 32767 ? 32767 : s < -32768 ? -32768 : s; }
    },
    max_u8: () => { let m = 0; for (let i = 0; i < n; i++) if (x[i] > m) m = x[i]; result = m; },
    sad: () => { let s = 0; for (let i = 0; i < n; i++) { const d = x[i] - y[i]; s += d < 0 ? -d : d; } result = s | 0; },
    hamming: () => {
      const a = new Uint32Array(x.buffer, x.byteOffset, n), b = new Uint32Array(y.buffer, y.byteOffset, n);
      let s = 0;
      for (let i = 0; i < n; i++) {
        let v = a[i] ^ b[i];
        v = v - ((v >>> 1) & 0x55555555);
        v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
        s += (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
      }
      result = s | 0;
    },
    strlen: () => { let k = 0; while (k < x.length && x[k] !== 0) k++; result = k; },
    find_byte: () => { result = -1; for (let i = 0; i < n; i++) if (x[i] === 0) { result = i; break; } },
    memcmp: () => {
      result = 0;
      for (let i = 0; i < n; i++) if (x[i] !== y[i]) { result = x[i] - y[i]; break; }
    },
    find_i32: () => {
      const a = new Int32Array(x.buffer, x.byteOffset, n);
      result = -1;
      for (let i = 0; i < n; i++) if (a[i] === -1) { result = i; break; }
    },
    count_lines: () => { let k = 0; for (let i = 0; i < n; i++) if (x[i] === 10) k++; result = k; },
  };
  const run = runs[w.op];
  if (!run) return null;
  return { run, output: () => pack(w, result, w.output ? out.slice() : null) };
}

export function lz4Js(src, dst) {
  let ip = 0, op = 0;
  for (;;) {
    const token = src[ip++];
    let lit = token >> 4;
    if (lit === 15) { let b; do { b = src[ip++]; lit += b; } while (b === 255); }
    if (ip + lit > src.length || op + lit > dst.length) return -1;
    dst.set(src.subarray(ip, ip + lit), op);
    ip += lit; op += lit;
    if (ip === src.length) return op;
    const off = src[ip] | (src[ip + 1] << 8);
    ip += 2;
    if (off === 0 || off > op) return -1;
    let len = token & 15;
    if (len === 15) { let b; do { b = src[ip++]; len += b; } while (b === 255); }
    len += 4;
    if (op + len > dst.length) return -1;
    for (let i = 0; i < len; i++, op++) dst[op] = dst[op - off];
  }
}

const CRC_TABLE = new Int32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});
export function crc32Js(bytes) {
  let c = -1;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c;
}

export const LAPLACIAN = new Float32Array([-1, -1, -1, -1, 8, -1, -1, -1, -1]);

/** A valid-border result ((h-2) x (w-2)) placed inside an h x w image with zero borders,
 * as the C writes it. */
export function framed(h, w, inner) {
  const out = new Uint8Array(h * w);
  for (let r = 0; r < h - 2; r++) for (let c = 0; c < w - 2; c++) out[(r + 1) * w + c + 1] = inner[r * (w - 2) + c];
  return out;
}

// ---- timing ----
export async function call(f) { const r = f(); if (r && typeof r.then === "function") await r; }

export async function interleaved(impls, ROUNDS) {
  const calls = [];
  for (const impl of impls) {
    for (let i = 0; i < 3; i++) await call(impl.run);
    const t0 = performance.now();
    await call(impl.run);
    const once = Math.max(performance.now() - t0, 0.001);
    calls.push(Math.max(1, Math.min(1000, Math.round(2 / once))));
  }
  const times = impls.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < impls.length; i++) {
      const t0 = performance.now();
      for (let c = 0; c < calls[i]; c++) await call(impls[i].run);
      times[i].push(((performance.now() - t0) / calls[i]) * 1000);
    }
  }
  return times.map((t, i) => ({ median_us: t.sort((a, b) => a - b)[ROUNDS >> 1], calls: calls[i] }));
}


/** Checks each candidate ([id, label, exact, impl]) against the first one (the
 * original) and times those that pass, interleaved. Returns the rows and the digest
 * of the original's output. `timeFirst`: whether the original gets a row too. */
export async function measure(w, candidates, engine, rounds, timeFirst = true) {
  const present = candidates.filter((c) => c[3]);
  await call(present[0][3].run);
  const reference = present[0][3].output();
  const rows = [];
  const timed = [];
  for (const [index, [id, label, exact, impl]] of present.entries()) {
    if (index === 0 && !timeFirst) continue;
    await call(impl.run);
    let verdict = check(w, reference, impl.output());
    if (exact && verdict !== "bit-exact" && !verdict.startsWith("wrong")) verdict = `wrong: not bit-exact (${verdict})`;
    if (verdict.startsWith("wrong")) rows.push({ workload: w.id, impl: id, label, engine, check: verdict });
    else timed.push([id, label, impl, verdict]);
  }
  const results = await interleaved(timed.map((t) => t[2]), rounds);
  timed.forEach(([id, label, , verdict], i) =>
    rows.push({ workload: w.id, impl: id, label, engine, check: verdict, rounds, ...results[i] }));
  return { rows, digest: fnv1a(reference) };
}

/** The module variants and plain JavaScript, as measure() candidates. */
export function baseCandidates(w) {
  const out = [];
  for (const [id, label, suffix, exact] of VARIANTS) {
    if (id === "barq-fast" && !w.fast_math) continue;
    out.push([id, label, exact, wasmImpl(w, suffix)]);
  }
  out.push(["js", "plain JavaScript (typed arrays)", false, plainJs(w)]);
  return out;
}
