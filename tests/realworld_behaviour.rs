//! Real modules, run for real: a Node program drives a real npm package with its
//! original wasm and with barq-opt's output on the same inputs and compares every
//! output byte. zstd (@bokuweb/zstd-wasm) is the first: barq rewrites a dozen
//! of its loops (its hundred-odd 32-byte "wildcopy" loops are left alone:
//! `bulk_memory::wide_copy`), and compression at levels 1-19 must be
//! byte-identical.
//! lz4-wasm (rustc + wasm-bindgen) is the second: compression, round trips, and
//! truncated and corrupted frames must give the same bytes and the same errors.
//! sql.js (SQLite, Emscripten) is the third: a workload of inserts, sorts,
//! aggregates, string and number formatting, window functions, JSON, FTS4, errors
//! and VACUUM must give the same results and the same database file.
//! Needs `node` (CI installs it) and the real-world cache (corpus/realworld/fetch.sh).

mod common;

use barq_wasm::{optimize, Options};
use std::path::{Path, PathBuf};
use std::process::Command;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// The module of modules.txt whose spec starts with `spec` and whose path ends with
/// `file`, and barq's output for it (default options), which must rewrite at least
/// `least` loops.
fn optimized(spec: &str, file: &str, least: u32) -> (PathBuf, Vec<u8>) {
    let module = common::realworld_modules()
        .into_iter()
        .find(|m| m.spec.starts_with(spec) && m.path.ends_with(file))
        .unwrap_or_else(|| panic!("{spec} {file} in modules.txt"));
    let input = common::read(&module.path);
    let result = optimize(&input, &Options::default()).expect("optimize");
    assert!(
        result.report.summary.rewritten >= least,
        "expected {least} or more rewrites in {file}, got {}",
        result.report.summary.rewritten
    );
    (module.path, result.wasm)
}

/// An empty scratch directory for one test.
fn work_dir(name: &str) -> PathBuf {
    let work = std::env::temp_dir().join(format!("barq-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("mkdir");
    work
}

#[test]
fn zstd_compresses_identically_after_barq() {
    let (_, wasm) = optimized("@bokuweb/zstd-wasm@", "zstd.wasm", 12);
    let package = common::realworld_dir().join("node_modules/@bokuweb/zstd-wasm");
    let work = work_dir("zstd");
    let (original, rewritten) = (work.join("original"), work.join("barq"));
    copy_dir(&package, &original);
    copy_dir(&package, &rewritten);
    std::fs::write(rewritten.join("dist/common/zstd.wasm"), &wasm).expect("write");

    let stdout = compare_in_node(&[], "zstd.js", &original, &rewritten);
    let _ = std::fs::remove_dir_all(&work);
    assert!(stdout.contains("outputs identical"), "{stdout}");
}

/// Runs `tests/realworld/SCRIPT` in node on the two package copies (with the
/// README as sample text); asserts it succeeded and returns what it printed.
fn compare_in_node(flags: &[&str], script: &str, original: &Path, rewritten: &Path) -> String {
    let output = Command::new("node")
        .args(flags)
        .arg(common::root().join("tests/realworld").join(script))
        .arg(common::root().join("README.md"))
        .arg(original)
        .arg(rewritten)
        .output()
        .expect("run node (is it installed?)");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn lz4_round_trips_identically_after_barq() {
    let module = common::realworld_modules()
        .into_iter()
        .find(|m| m.spec.starts_with("lz4-wasm@"))
        .expect("lz4-wasm in modules.txt");
    let package = common::realworld_dir().join("node_modules/lz4-wasm");
    let work = work_dir("lz4");
    let (original, rewritten) = (work.join("original"), work.join("barq"));
    copy_dir(&package, &original);
    copy_dir(&package, &rewritten);
    // wasm-bindgen's bundler target: ES modules importing the .wasm directly.
    for dir in [&original, &rewritten] {
        let manifest = dir.join("package.json");
        let text = std::fs::read_to_string(&manifest).expect("package.json");
        let text = text.replacen('{', "{\n  \"type\": \"module\",", 1);
        std::fs::write(&manifest, text).expect("write package.json");
    }

    let input = common::read(&module.path);
    let result = optimize(&input, &Options::default()).expect("optimize lz4");
    let bulk = result
        .report
        .findings
        .iter()
        .filter(|f| f.tier == Some(barq_wasm::Tier::BulkMemory))
        .count();
    assert!(
        bulk >= 5,
        "expected copy loops rewritten in lz4, got {bulk}"
    );
    std::fs::write(rewritten.join("lz4_wasm_bg.wasm"), &result.wasm).expect("write");

    let stdout = compare_in_node(
        &["--experimental-wasm-modules"],
        "lz4.mjs",
        &original,
        &rewritten,
    );
    let _ = std::fs::remove_dir_all(&work);
    assert!(stdout.contains("identical"), "{stdout}");
}

#[test]
fn sqljs_runs_queries_identically_after_barq() {
    let (original, wasm) = optimized("sql.js@", "dist/sql-wasm.wasm", 10);
    let work = work_dir("sqljs");
    let rewritten = work.join("sql-wasm.wasm");
    std::fs::write(&rewritten, &wasm).expect("write");
    let output = Command::new("node")
        .arg(common::root().join("tests/realworld/sqljs.js"))
        .arg(common::root().join("README.md"))
        .arg(&original)
        .arg(&rewritten)
        .env("SQLJS_DIST", original.parent().expect("dist"))
        .output()
        .expect("run node (is it installed?)");
    let _ = std::fs::remove_dir_all(&work);
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success() && stdout.contains("identical"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
