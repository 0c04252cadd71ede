// Runs a WASI preview 1 command under node's own WASI (uvwasi), for the runner's
// I/O conformance tests and benchmarks:
//   node node_wasi.mjs MODULE.wasm HOST_DIR GUEST_DIR [ARGS...]
// HOST_DIR is preopened as GUEST_DIR; stdio is this process's; the exit code is the
// program's (134 when it traps, as barq-wasm).
import { readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';

const [file, hostDir, guestDir, ...args] = process.argv.slice(2);
const wasi = new WASI({
  version: 'preview1',
  args: [file.split('/').pop(), ...args],
  env: {},
  preopens: { [guestDir]: hostDir },
  returnOnExit: true,
});
const module = await WebAssembly.compile(readFileSync(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
let code;
try {
  code = wasi.start(instance);
} catch (e) {
  process.stderr.write(`trap: ${e.message}\n`);
  code = 134;
}
process.exitCode = code;
