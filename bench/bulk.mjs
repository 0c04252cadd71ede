// Copy and fill loops in V8 by size (see benches/bulk.rs): the clang -O2 loops,
// barq's memory.copy/fill, barq --no-bulk-memory, clang -O3 -msimd128, and the
// bare instructions. Usage: bench/prepare.sh && node bench/bulk.mjs
import { readFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.env.BARQ_BENCH_DIR ?? join(process.env.CARGO_TARGET_DIR ?? "target", "bench");
const DST = 1 << 20;
const SRC = 2 << 20;
const SIZES = [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 1024, 65536];
const KERNELS = [["copy_u8", 1], ["fill_u8", 1], ["copy_u32", 4]];
const VARIANTS = [
  ["loop (clang -O2)", "bytes.O2"],
  ["barq", "bytes.O2.barq"],
  ["barq --no-bulk-memory", "bytes.O2.nobulk"],
  ["clang -O3 -msimd128", "bytes.O3-simd"],
  ["memory.copy/fill, no guard", "bulk_only"],
];
const ROUNDS = 21;

function load(file) {
  const module = new WebAssembly.Module(readFileSync(join(dir, `${file}.wasm`)));
  const instance = new WebAssembly.Instance(module, {});
  const memory = instance.exports.memory;
  const need = (SRC + 2 * 65536) / 65536;
  if (memory.buffer.byteLength / 65536 < need) memory.grow(need - memory.buffer.byteLength / 65536);
  return instance.exports;
}

const modules = VARIANTS.map(([, file]) => load(file));
console.log(`V8 ${process.versions.v8}; median ns per call of ${ROUNDS} interleaved rounds`);
console.log(`| kernel | bytes | ${VARIANTS.map((v) => v[0]).join(" | ")} |`);
console.log(`|---|---:|${"---:|".repeat(VARIANTS.length)}`);
for (const [name, width] of KERNELS) {
  for (const bytes of SIZES) {
    const calls = Math.max(20, Math.floor(2_000_000 / (bytes + 64)));
    const second = name.startsWith("fill") ? 0x5a : SRC;
    const n = bytes / width;
    const fns = modules.map((m) => m[name]);
    const times = fns.map(() => []);
    for (const f of fns) for (let c = 0; c < calls; c++) f(DST, second, n);
    for (let r = 0; r < ROUNDS; r++) {
      fns.forEach((f, i) => {
        const start = process.hrtime.bigint();
        for (let c = 0; c < calls; c++) f(DST, second, n);
        times[i].push(Number(process.hrtime.bigint() - start) / calls);
      });
    }
    const med = times.map((t) => t.sort((a, b) => a - b)[ROUNDS >> 1]);
    const cells = med.map((t) => `${t.toFixed(0)} ns (${(med[0] / t).toFixed(2)}x)`);
    console.log(`| ${name} | ${bytes} | ${cells.join(" | ")} |`);
  }
}

// Copy and fill loops nested in a row loop (corpus/c/bytes.c copy_rows_u8,
// fill_rows_u8: 1,000 rows of n bytes, 3 bytes apart), as benches/bulk.rs's last
// table: the loop, barq (in place, no call), barq --no-simd (guarded
// memory.copy/fill per row).
const ROWS = 1000;
const ROW_VARIANTS = [
  ["loop (clang -O2)", "bytes.O2"],
  ["barq (in place)", "bytes.O2.barq"],
  ["barq --no-simd (host call)", "bytes.O2.nosimd"],
];
const rowModules = ROW_VARIANTS.map(([, file]) => {
  const m = load(file);
  const need = (SRC + ROWS * 300) / 65536 + 1;
  if (m.memory.buffer.byteLength / 65536 < need) m.memory.grow(Math.ceil(need - m.memory.buffer.byteLength / 65536));
  return m;
});
console.log(`\nNested in a row loop (${ROWS} rows); median µs per call of ${ROUNDS} interleaved rounds`);
console.log(`| kernel | bytes a row | ${ROW_VARIANTS.map((v) => v[0]).join(" | ")} |`);
console.log(`|---|---:|${"---:|".repeat(ROW_VARIANTS.length)}`);
for (const name of ["copy_rows_u8", "fill_rows_u8"]) {
  for (const n of [16, 24, 40, 100, 256]) {
    const second = name.startsWith("fill") ? 0x5a : SRC;
    const fns = rowModules.map((m) => () => m[name](DST, second, n, ROWS, n + 3));
    const calls = 20;
    const times = fns.map(() => []);
    for (const f of fns) for (let c = 0; c < calls; c++) f();
    for (let r = 0; r < ROUNDS; r++) {
      fns.forEach((f, i) => {
        const start = process.hrtime.bigint();
        for (let c = 0; c < calls; c++) f();
        times[i].push(Number(process.hrtime.bigint() - start) / calls);
      });
    }
    const med = times.map((t) => t.sort((a, b) => a - b)[ROUNDS >> 1]);
    const cells = med.map((t) => `${(t / 1000).toFixed(1)} µs (${(med[0] / t).toFixed(2)}x)`);
    console.log(`| ${name} | ${n} | ${cells.join(" | ")} |`);
  }
}
