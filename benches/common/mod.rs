//! What the decoder benches (`zstd.rs`, `brotli.rs`) share: their input text
//! and the timing table.

/// `original` through binaryen's `wasm-opt -O3` (the script at `wasm_opt`, run
/// by node), when it is there and succeeds; `tag` names the temporary files.
pub fn wasm_opt_o3(wasm_opt: &std::path::Path, original: &[u8], tag: &str) -> Option<Vec<u8>> {
    if !wasm_opt.exists() {
        return None;
    }
    let dir = std::env::temp_dir();
    let out = dir.join(format!("barq-{tag}-{}.wasm", std::process::id()));
    let input = dir.join(format!("barq-{tag}-in-{}.wasm", std::process::id()));
    std::fs::write(&input, original).ok()?;
    let ok = std::process::Command::new("node")
        .arg(wasm_opt)
        .args([
            "-O3",
            "--enable-bulk-memory",
            "--enable-sign-ext",
            "--enable-mutable-globals",
        ])
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .status()
        .is_ok_and(|s| s.success());
    let bytes = ok.then(|| std::fs::read(&out).ok()).flatten();
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&out);
    bytes
}

/// One decompression; the output when asked for (not timed).
pub type Run = Box<dyn FnMut(bool) -> Vec<u8>>;

/// English prose: the license texts, then copies of them with their lines in a
/// seeded order, to `len` bytes.
pub fn prose(len: usize) -> Vec<u8> {
    let mut paths: Vec<_> = std::fs::read_dir("/usr/share/common-licenses")
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    let text: Vec<u8> = paths
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .flatten()
        .collect();
    assert!(text.len() > 100_000, "the license texts");
    let mut lines: Vec<&[u8]> = text.split_inclusive(|b| *b == b'\n').collect();
    let mut out = text.clone();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    while out.len() < len {
        for i in (1..lines.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            lines.swap(i, (seed % (i as u64 + 1)) as usize);
        }
        for line in &lines {
            out.extend_from_slice(line);
        }
    }
    out.truncate(len);
    out
}

/// Checks that every run decodes `text`, then times them in `rounds`
/// interleaved rounds and prints a table row per run: the median, the speedup
/// over the first run, MB/s.
pub fn time_rows(name: &str, text: &[u8], rounds: usize, runs: &mut [(String, Run)]) {
    for (label, run) in runs.iter_mut() {
        assert!(run(true) == text, "{name}: {label} decodes something else");
    }
    let mut times = vec![Vec::new(); runs.len()];
    for _ in 0..rounds {
        for (i, (_, run)) in runs.iter_mut().enumerate() {
            let start = std::time::Instant::now();
            std::hint::black_box(run(false));
            times[i].push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    let medians: Vec<f64> = times
        .into_iter()
        .map(|mut t| {
            t.sort_by(f64::total_cmp);
            t[rounds / 2]
        })
        .collect();
    for ((label, _), t) in runs.iter().zip(&medians) {
        println!(
            "| {name} | {label} | {t:.0} µs | {:.2}x | {:.0} |",
            medians[0] / t,
            text.len() as f64 / t
        );
    }
}
