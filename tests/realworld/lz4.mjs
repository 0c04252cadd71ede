// Driven by tests/realworld_behaviour.rs: compresses and decompresses varied inputs
// with two copies of lz4-wasm (original wasm, barq-opt's wasm), including truncated
// and corrupted frames, and compares every output byte and every error.
// Args: TEXT_FILE ORIGINAL_PKG BARQ_PKG (run with --experimental-wasm-modules; the
// package is wasm-bindgen's bundler target, so its package.json must say
// "type": "module").
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";

async function outputs(pkg) {
  const lz4 = await import(`${pkg}/lz4_wasm.js`);
  const text = readFileSync(process.argv[2]);
  const inputs = [
    Buffer.concat([text, text, text]),
    createHash("sha512").update("seed").digest(),
    Buffer.alloc(100000),
    Buffer.from("abcabcabd".repeat(5000)),
    Buffer.from([1]),
    Buffer.alloc(0),
    Buffer.from(Array.from({ length: 70000 }, (_, i) => (i * 7919) % 251)),
  ];
  const attempt = (f) => {
    try {
      return Buffer.from(f()).toString("base64");
    } catch (e) {
      return `error: ${e}`;
    }
  };
  const out = [];
  for (const input of inputs) {
    const packed = Buffer.from(lz4.compress(input));
    out.push(packed.toString("base64"));
    const unpacked = Buffer.from(lz4.decompress(packed));
    if (!unpacked.equals(input)) throw new Error(`${pkg}: round trip failed`);
    out.push(unpacked.toString("base64"));
    // Truncated and corrupted frames: the same output or the same error.
    out.push(attempt(() => lz4.decompress(packed.subarray(0, packed.length >> 1))));
    const corrupt = Buffer.from(packed);
    for (let i = 4; i < corrupt.length; i += 7) corrupt[i] ^= 0x5a;
    out.push(attempt(() => lz4.decompress(corrupt)));
  }
  return out;
}

const a = await outputs(process.argv[3]);
const b = await outputs(process.argv[4]);
const same = a.length === b.length && a.every((x, i) => x === b[i]);
console.log(`lz4: ${a.length} outputs (compressed, round trips, truncated, corrupted), ${same ? "identical" : "DIFFER"}`);
process.exit(same ? 0 : 1);
