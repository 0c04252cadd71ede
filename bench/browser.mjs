// Runs the suite's portable module variants in headless Chromium (Debian's chromium,
// driven by playwright-core): serves bench/ and the suite directory on localhost,
// opens bench/browser/index.html, waits for its results, takes a screenshot, and
// prints the results as JSON (the same rows as bench/suite.mjs).
// Usage: node bench/browser.mjs SUITE_DIR [--only=id,id] [--rounds=N] [--screenshot=FILE]
import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { extname, join, normalize, resolve, sep } from "node:path";

const suiteDir = resolve(process.argv[2]);
const option = (name, fallback) =>
  (process.argv.find((a) => a.startsWith(`--${name}=`)) ?? `=${fallback}`).split("=").slice(1).join("=");
const tools = process.env.BARQ_BENCH_TOOLS ?? join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME, ".cache"), "barq", "bench-tools");
const require = createRequire(join(tools, "package.json"));
const { chromium } = require("playwright-core");
const benchDir = new URL(".", import.meta.url).pathname;

const TYPES = { ".html": "text/html", ".mjs": "text/javascript", ".json": "application/json", ".wasm": "application/wasm" };
/** A file under `root`, or null (no escaping it with `..`). */
function under(root, path) {
  const file = normalize(join(root, decodeURIComponent(path)));
  return file.startsWith(root.endsWith(sep) ? root : root + sep) && existsSync(file) && statSync(file).isFile() ? file : null;
}
const server = createServer((req, res) => {
  const path = new URL(req.url, "http://localhost").pathname;
  const file = path.startsWith("/suite/") ? under(suiteDir, path.slice(7))
    : path.startsWith("/bench/") ? under(benchDir, path.slice(7)) : null;
  if (!file) {
    res.writeHead(404).end();
    return;
  }
  // Cross-origin isolation gives the page performance.now() at 5 µs instead of 100 µs.
  res.writeHead(200, {
    "content-type": TYPES[extname(file)] ?? "application/octet-stream",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-embedder-policy": "require-corp",
  });
  createReadStream(file).pipe(res);
});
await new Promise((done) => server.listen(0, "127.0.0.1", done));
const { port } = server.address();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  page.on("console", (m) => { if (m.type() === "error") process.stderr.write(`page: ${m.text()}\n`); });
  page.on("pageerror", (e) => process.stderr.write(`page error: ${e}\n`));
  const query = new URLSearchParams({ only: option("only", ""), rounds: option("rounds", process.env.BARQ_BENCH_ROUNDS ?? "15") });
  await page.goto(`http://127.0.0.1:${port}/bench/browser/index.html?${query}`);
  await page.waitForFunction(() => window.barqResults, null, { timeout: 30 * 60 * 1000, polling: 500 });
  const results = await page.evaluate(() => window.barqResults);
  // (The user agent string says 148.0.0.0; the browser knows its full version.)
  results.engine = `Chromium ${browser.version()}`;
  for (const row of results.rows) row.engine = results.engine;
  const shot = option("screenshot", "");
  if (shot) await page.screenshot({ path: shot, fullPage: true });
  console.log(JSON.stringify(results, null, 1));
  if (results.error) process.exitCode = 1;
} finally {
  await browser.close();
  server.close();
}
