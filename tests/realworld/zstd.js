// Driven by tests/realworld_behaviour.rs: compresses and decompresses varied inputs
// with two copies of @bokuweb/zstd-wasm (original wasm, barq-opt's wasm) and
// compares every compressed byte. Args: TEXT_FILE ORIGINAL_PKG BARQ_PKG
const crypto = require("crypto");
const fs = require("fs");
async function outputs(pkg) {
  const zstd = require(pkg);
  await zstd.init();
  const inputs = [
    Buffer.from(fs.readFileSync(process.argv[2], "utf8").repeat(4)),
    crypto.createHash("sha512").update("seed").digest(),
    Buffer.alloc(100000),
    Buffer.from("abcabcabd".repeat(5000)),
    Buffer.from([1]),
    Buffer.from(Array.from({ length: 70000 }, (_, i) => (i * 7919) % 251)),
  ];
  const out = [];
  for (const input of inputs) {
    for (const level of [1, 3, 9, 19]) {
      const packed = Buffer.from(zstd.compress(input, level));
      const unpacked = Buffer.from(zstd.decompress(packed));
      if (!unpacked.equals(input)) throw new Error(`${pkg}: round trip failed at level ${level}`);
      out.push(packed.toString("base64"));
    }
  }
  return out;
}
(async () => {
  const a = await outputs(process.argv[3]);
  const b = await outputs(process.argv[4]);
  let same = a.length === b.length && a.every((x, i) => x === b[i]);
  console.log(`zstd: ${a.length} compressions and round trips, outputs ${same ? "identical" : "DIFFER"}`);
  process.exit(same ? 0 : 1);
})().catch((e) => { console.error(e.message); process.exit(1); });
