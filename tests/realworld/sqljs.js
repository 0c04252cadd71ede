// Driven by tests/realworld_behaviour.rs: runs the same SQL workload on sql.js with
// its original wasm and with barq-opt's wasm, and compares every query result and
// the exported database file byte for byte.
// Args: TEXT_FILE ORIGINAL_WASM BARQ_WASM (sql.js's loader is found from the
// real-world cache through SQLJS_DIST).
const fs = require("fs");
const path = require("path");

const dist = process.env.SQLJS_DIST;
const initSqlJs = require(path.join(dist, "sql-wasm.js"));

// A deterministic generator (SQLite's random() is not used: it differs per run).
function lcg(seed) {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0);
}

async function workload(wasmFile, text) {
  const SQL = await initSqlJs({ wasmBinary: fs.readFileSync(wasmFile) });
  const db = new SQL.Database();
  const out = [];
  const run = (sql, params) => {
    try {
      out.push(JSON.stringify(db.exec(sql, params)));
    } catch (e) {
      out.push(`error: ${e.message}`);
    }
  };
  run(`CREATE TABLE doc (id INTEGER PRIMARY KEY, title TEXT, body TEXT, score REAL,
        hits INTEGER, data BLOB)`);
  run("CREATE INDEX doc_score ON doc(score)");
  const next = lcg(7);
  const words = text.split(/\s+/).filter((w) => w.length > 0);
  const insert = db.prepare("INSERT INTO doc VALUES (?, ?, ?, ?, ?, ?)");
  db.exec("BEGIN");
  for (let i = 0; i < 5000; i++) {
    const start = next() % Math.max(1, words.length - 40);
    const title = words.slice(start, start + 1 + (next() % 5)).join(" ");
    const body = words.slice(start, start + 5 + (next() % 35)).join(" ");
    const score = ((next() % 2000001) - 1000000) / 1024;
    const hits = next() % 3 === 0 ? null : next() % 100000;
    const blob = Uint8Array.from({ length: next() % 64 }, () => next() & 255);
    insert.run([i, title, body, score, hits, blob]);
  }
  db.exec("COMMIT");
  insert.free();
  run("SELECT count(*), sum(hits), avg(score), min(score), max(score), total(length(data)) FROM doc");
  run("SELECT title, score FROM doc ORDER BY score DESC, id LIMIT 20");
  run("SELECT upper(substr(title, 1, 12)), count(*) FROM doc GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 25");
  run("SELECT id, hex(data), length(body) FROM doc WHERE body LIKE '%the%' ORDER BY id LIMIT 30");
  run("SELECT replace(lower(title), ' ', '_'), instr(body, 'a'), trim(title, 'aeiou') FROM doc ORDER BY id LIMIT 40");
  run("SELECT printf('%.6f %e %d %s', score, score * 1e10, hits, title) FROM doc ORDER BY id LIMIT 40");
  run("SELECT group_concat(id, ',') FROM (SELECT id FROM doc WHERE hits IS NULL ORDER BY id LIMIT 200)");
  run(`SELECT id, score, rank() OVER (ORDER BY score), sum(hits) OVER (ORDER BY id ROWS 3 PRECEDING)
       FROM doc ORDER BY id LIMIT 50`);
  run(`WITH RECURSIVE fib(n, a, b) AS (SELECT 0, 0, 1 UNION ALL SELECT n + 1, b, a + b FROM fib WHERE n < 90)
       SELECT n, a, a * 1.0 / (b + 1) FROM fib`);
  run("SELECT json_object('id', id, 'title', title, 'score', score) FROM doc ORDER BY id LIMIT 20");
  run("SELECT json_extract('{\"a\":[1,2,{\"b\":\"x\"}]}', '$.a[2].b'), json_array_length('[1,2,3,4]')");
  run("SELECT a.id, b.id FROM doc a JOIN doc b ON a.hits = b.hits AND a.id < b.id ORDER BY 1, 2 LIMIT 30");
  run("SELECT quote(data), zeroblob(3), unicode('é'), char(233, 0x1F600), abs(-7.5), round(2.5), round(-2.5) FROM doc ORDER BY id LIMIT 5");
  run("SELECT cast(score AS INTEGER), cast(title AS REAL), typeof(hits) FROM doc ORDER BY id LIMIT 20");
  run("SELECT 1e308 * 10, -1e308 * 10, 0.0 / 0, 9223372036854775807 + 1, 5 % 0, -0.0");
  run("UPDATE doc SET score = score * 2, hits = coalesce(hits, 0) + 1 WHERE id % 7 = 0");
  run("DELETE FROM doc WHERE id % 11 = 0");
  run("SELECT count(*), sum(score), sum(hits) FROM doc");
  run("CREATE VIRTUAL TABLE ft USING fts4(body)");
  run("INSERT INTO ft SELECT body FROM doc");
  run("SELECT count(*) FROM ft WHERE ft MATCH 'license OR software'");
  run("SELECT nosuchfunction(1)");
  run("SELECT * FROM");
  run("VACUUM");
  run("PRAGMA integrity_check");
  out.push(Buffer.from(db.export()).toString("base64"));
  db.close();
  return out;
}

(async () => {
  const text = fs.readFileSync(process.argv[2], "utf8");
  const a = await workload(process.argv[3], text);
  const b = await workload(process.argv[4], text);
  const differ = a.findIndex((x, i) => x !== b[i]);
  if (a.length !== b.length || differ >= 0) {
    console.log(`sql.js: result ${differ} differs:\n${a[differ]}\n${b[differ]}`);
    process.exit(1);
  }
  const errors = a.filter((x) => x.startsWith("error")).length;
  if (process.env.SQLJS_SHOW_ERRORS) console.log(a.filter((x) => x.startsWith("error")).join("\n"));
  console.log(
    `sql.js: ${a.length - 1} statements (${errors} errors, the same) and the exported ` +
      `database (${Buffer.from(a[a.length - 1], "base64").length} bytes), outputs identical`
  );
})().catch((e) => {
  console.error(e.stack || e.message);
  process.exit(1);
});
