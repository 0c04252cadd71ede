//! Real modules, run for real: a Node program drives a real npm package with its
//! original wasm and with barq-opt's output on the same inputs and compares every
//! output byte. zstd (@bokuweb/zstd-wasm) is the first: barq rewrites over a
//! hundred of its loops, and compression at levels 1-19 must be byte-identical.
//! Needs `node` (CI installs it) and the real-world cache (corpus/realworld/fetch.sh).

mod common;

use barq_wasm::{optimize, Options};
use std::path::Path;
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

#[test]
fn zstd_compresses_identically_after_barq() {
    let module = common::realworld_modules()
        .into_iter()
        .find(|m| m.spec.starts_with("@bokuweb/zstd-wasm@"))
        .expect("zstd in modules.txt");
    let package = common::realworld_dir().join("node_modules/@bokuweb/zstd-wasm");
    let work = std::env::temp_dir().join(format!("barq-zstd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let (original, rewritten) = (work.join("original"), work.join("barq"));
    copy_dir(&package, &original);
    copy_dir(&package, &rewritten);

    let input = common::read(&module.path);
    let result = optimize(&input, &Options::default()).expect("optimize zstd");
    assert!(
        result.report.summary.rewritten >= 50,
        "expected many rewrites in zstd, got {}",
        result.report.summary.rewritten
    );
    std::fs::write(rewritten.join("dist/common/zstd.wasm"), &result.wasm).expect("write");

    let output = Command::new("node")
        .arg(common::root().join("tests/realworld/zstd.js"))
        .arg(common::root().join("README.md"))
        .arg(&original)
        .arg(&rewritten)
        .output()
        .expect("run node (is it installed?)");
    let _ = std::fs::remove_dir_all(&work);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("outputs identical"), "{stdout}");
}
