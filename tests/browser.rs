//! barq-opt's portable output in a real browser: headless Chromium (Debian's
//! `chromium`, driven by playwright-core) loads the page of `bench/browser.mjs`,
//! which runs the original, barq-opt's output (exact and --fast-math) and plain
//! JavaScript on the benchmark suite's inputs, checks every output against the
//! original's and times them. This test runs it on a few workloads with one round
//! and requires every check to pass: barq's exact output bit for bit, the
//! --fast-math one within the workload's tolerance.
//!
//! Needs node, npm (playwright-core is installed into the bench tools cache on first
//! use) and /usr/bin/chromium (`.ci/run` installs it; `CHROMIUM` overrides the path).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

const PLAYWRIGHT: &str = "playwright-core@1.65.1";

fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BARQ_BENCH_TOOLS") {
        return dir.into();
    }
    let cache = std::env::var_os("XDG_CACHE_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"),
        PathBuf::from,
    );
    cache.join("barq/bench-tools")
}

fn ensure_playwright(tools: &Path) {
    if tools
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        return;
    }
    std::fs::create_dir_all(tools).unwrap();
    if !tools.join("package.json").exists() {
        std::fs::write(tools.join("package.json"), "{\"private\": true}\n").unwrap();
    }
    let status = Command::new("npm")
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            PLAYWRIGHT,
        ])
        .current_dir(tools)
        .status()
        .expect("npm (needed to install playwright-core for the browser test)");
    assert!(status.success(), "npm install {PLAYWRIGHT} failed");
}

fn barq_opt(input: &Path, output: &Path, extra: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_barq-opt"))
        .arg(input)
        .arg("-o")
        .arg(output)
        .args(extra)
        .status()
        .unwrap();
    assert!(status.success(), "barq-opt {}", input.display());
}

#[test]
fn portable_output_runs_and_checks_in_chromium() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: apt-get install chromium (or set CHROMIUM)"
    );
    let tools = tools_dir();
    ensure_playwright(&tools);
    let root = common::root();
    let dir = tempfile_dir();
    // The suite's file names (bench/prepare-suite.sh), for the workloads run here.
    for file in ["dot", "matmul", "conv3x3"] {
        let original = dir.join(format!("{file}.O2.wasm"));
        std::fs::copy(root.join(format!("corpus/c/{file}.O2.wasm")), &original).unwrap();
        std::fs::copy(
            root.join(format!("corpus/c/{file}.O3-simd.wasm")),
            dir.join(format!("{file}.O3-simd.wasm")),
        )
        .unwrap();
        barq_opt(&original, &dir.join(format!("{file}.O2.barq.wasm")), &[]);
        barq_opt(
            &original,
            &dir.join(format!("{file}.O2.barq-fast.wasm")),
            &["--fast-math"],
        );
    }
    let output = Command::new("node")
        .arg(root.join("bench/browser.mjs"))
        .arg(&dir)
        .args(["--only=dot,matmul64,conv,edges256", "--rounds=1"])
        .env("BARQ_BENCH_TOOLS", &tools)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench/browser.mjs failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: serde_json::Value = serde_json::from_str(&stdout).expect("JSON results");
    assert!(
        results["engine"].as_str().unwrap().starts_with("Chromium"),
        "{results}"
    );
    let rows = results["rows"].as_array().unwrap();
    let row = |workload: &str, implementation: &str| {
        rows.iter()
            .find(|r| r["workload"] == workload && r["impl"] == implementation)
            .unwrap_or_else(|| panic!("no {implementation} row for {workload}: {results}"))
    };
    for r in rows {
        assert!(
            !r["check"].as_str().unwrap().starts_with("wrong"),
            "a failed check in Chromium: {r}"
        );
        assert!(r["median_us"].as_f64().unwrap() > 0.0, "{r}");
    }
    // Exact rewrites give the original's bytes; --fast-math stays within tolerance.
    for workload in ["matmul64", "conv", "edges256", "dot"] {
        assert_eq!(row(workload, "barq")["check"], "bit-exact", "{workload}");
        assert_eq!(row(workload, "js")["workload"], workload);
    }
    assert!(row("dot", "barq-fast")["check"]
        .as_str()
        .unwrap()
        .starts_with("within tolerance"));
    std::fs::remove_dir_all(&dir).ok();
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("barq-browser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
