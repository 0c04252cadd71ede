//! The runner's WASI I/O fast path (src/wasi_io.rs): the scenarios of
//! corpus/wasi/io.c give the same output, exit code and files with the fast path on
//! (batches of 64 KiB, 100 bytes, 7 bytes), with coalescing off, with the fast path
//! off (plain wasmtime-wasi), and under node's WASI; a crash after `fsync` keeps
//! what was synced; a prompt appears before the program reads stdin.

mod common;

use barq_wasm::config::{Config, IoOptions};
use barq_wasm::runtime::Runtime;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// What a run leaves: stdout, the exit code, and every file of the directory.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    stdout: String,
    code: Option<i32>,
    files: BTreeMap<String, Vec<u8>>,
}

const MODES: &[&[&str]] = &[
    &["--io-fast-path", "off"],
    &[],
    &["--io-batch", "off"],
    &["--io-batch", "100"],
    &["--io-batch", "7"],
];

fn io_wasm() -> PathBuf {
    common::root().join("corpus/wasi/io.wasm")
}

fn scratch() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "barq-io-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn files_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("read scratch")
        .map(|e| {
            let path = e.expect("entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).expect("read file"))
        })
        .collect()
}

fn finish(mut command: Command, dir: &Path, stdin: &str) -> (Outcome, String) {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .expect("stdin");
    let output = child.wait_with_output().expect("wait");
    let outcome = Outcome {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        code: output.status.code(),
        files: files_of(dir),
    };
    let _ = std::fs::remove_dir_all(dir);
    (
        outcome,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `barq-wasm run` of corpus/wasi/io.wasm with `flags` and `args`, `dir` preopened
/// as /data.
fn barq_command(dir: &Path, flags: &[&str], args: &[&str]) -> Command {
    module_command(&io_wasm(), dir, flags, args)
}

/// The same for another module.
fn module_command(module: &Path, dir: &Path, flags: &[&str], args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_barq-wasm"));
    command
        .args(["run", "--opt-level", "none", "--dir"])
        .arg(format!("{}::/data", dir.display()))
        .args(flags)
        .arg(module)
        .args(args);
    command
}

/// A scenario run with `flags`; its outcome and stderr.
fn barq(flags: &[&str], args: &[&str], stdin: &str) -> (Outcome, String) {
    let dir = scratch();
    finish(barq_command(&dir, flags, args), &dir, stdin)
}

/// The same under node's WASI, if node is installed.
fn node(args: &[&str], stdin: &str) -> Option<Outcome> {
    node_run(&io_wasm(), args, stdin)
}

fn node_run(module: &Path, args: &[&str], stdin: &str) -> Option<Outcome> {
    Command::new("node").arg("--version").output().ok()?;
    let dir = scratch();
    let mut command = Command::new("node");
    command
        .arg("--no-warnings")
        .arg(common::root().join("bench/io/node_wasi.mjs"))
        .arg(module)
        .arg(&dir)
        .arg("/data")
        .args(args);
    Some(finish(command, &dir, stdin).0)
}

fn check_scenario(args: &[&str], stdin: &str, with_node: bool) -> Outcome {
    let (plain, stderr) = barq(MODES[0], args, stdin);
    assert!(
        !plain.files.is_empty(),
        "{args:?} wrote nothing: {plain:?} {stderr}"
    );
    for flags in &MODES[1..] {
        let (outcome, stderr) = barq(flags, args, stdin);
        assert_eq!(outcome, plain, "{args:?} with {flags:?}: {stderr}");
    }
    if with_node {
        match node(args, stdin) {
            Some(outcome) => assert_eq!(outcome, plain, "{args:?} under node's WASI"),
            None => eprintln!("node not found: {args:?} not compared with node's WASI"),
        }
    }
    plain
}

#[test]
fn scenarios_match_plain_wasmtime_and_node() {
    for scenario in [
        "interleave",
        "vectors",
        "append",
        "two_files",
        "errors",
        "renumber",
        "exit_code",
    ] {
        let outcome = check_scenario(&[scenario, "/data"], "", true);
        assert_eq!(
            outcome.code,
            Some(if scenario == "exit_code" { 42 } else { 0 })
        );
    }
}

#[test]
fn stdio_through_libc_buffers_and_stdin() {
    let outcome = check_scenario(&["stdio", "/data"], "barq\n", true);
    assert!(outcome.stdout.contains("hello barq"), "{outcome:?}");
    let text = String::from_utf8_lossy(&outcome.files["stdio.txt"]).into_owned();
    assert!(text.ends_with("end\nname: barq\n"), "{text}");
}

#[test]
fn workloads_match_and_batch() {
    // (scenario, writes, most flushes): 64 KiB batches, plus one wherever bson
    // rewrites its header at offset 0 (every 1000 documents).
    for (args, writes, most) in [
        (
            &["records", "/data", "3000"][..],
            3000,
            3000 * 64 / 65536 + 2,
        ),
        (
            &["bson", "/data", "2500"][..],
            2500,
            2500 * 64 / 65536 + 2 * 3 + 2,
        ),
        (
            &["copy", "/data", "300001"][..],
            148,
            2 * 300001 / 65536 + 2,
        ),
    ] {
        check_scenario(args, "", true);
        let (_, report) = barq(&["--report"], args, "");
        // "... N writes batched into K flushes": most writes are batched, and a batch
        // holds up to 64 KiB (reads of another file do not write it out).
        let line = report
            .lines()
            .find(|l| l.starts_with("wasi: ") && l.contains("batched"))
            .unwrap_or_else(|| panic!("no I/O report for {args:?}: {report}"));
        let numbers: Vec<u64> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        let (batched, flushes) = (numbers[numbers.len() - 2], numbers[numbers.len() - 1]);
        assert!(batched >= writes * 9 / 10, "{args:?}: {line}");
        assert!(flushes <= most, "{args:?}: {line}");
    }
}

#[test]
fn traps_and_bad_pointers_match_plain_wasmtime() {
    // Traps: everything written before the trap is in the file (batches are written
    // out when the call ends), as without the fast path.
    // Bad guest pointers are host errors in wasmtime-wasi (exit code 1), a wasm
    // trap is 134.
    for (scenario, code) in [("sync_trap", 134), ("bad_iovec", 1), ("bad_whence", 1)] {
        let outcome = check_scenario(&[scenario, "/data"], "", false);
        assert_eq!(outcome.code, Some(code), "{scenario}: {outcome:?}");
    }
}

#[test]
fn a_crash_after_fsync_keeps_what_was_synced() {
    let dir = scratch();
    let mut child = barq_command(&dir, &[], &["sync_hang", "/data"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("read");
    assert_eq!(line, "fsync 0\n");
    // SIGKILL: no flush at exit, as when the host crashes.
    child.kill().expect("kill");
    child.wait().expect("wait");
    let log = std::fs::read(dir.join("hang.log")).expect("log");
    let synced = "before sync\n".repeat(1000);
    assert!(log.starts_with(synced.as_bytes()), "{} bytes", log.len());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_prompt_appears_before_the_program_reads_stdin() {
    let dir = scratch();
    let mut child = barq_command(&dir, &[], &["stdio", "/data"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut prompt = [0u8; 6];
    // Blocks until the prompt arrives: the program is waiting on stdin, which has
    // not been written yet.
    std::io::Read::read_exact(&mut stdout, &mut prompt).expect("prompt");
    assert_eq!(&prompt, b"name? ");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"io\n").expect("answer");
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("rest");
    assert!(rest.starts_with("hello io\n"), "{rest}");
    assert!(child.wait().expect("wait").success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_library_reports_io_and_honours_the_options() {
    let bytes = common::read(&io_wasm());
    for (io, served) in [
        (IoOptions::default(), true),
        (
            IoOptions {
                fast_path: false,
                count_calls: true,
                ..IoOptions::default()
            },
            false,
        ),
    ] {
        let dir = scratch();
        let mut config = Config::default().with_io(io);
        config.inherit_stdio = false;
        config.args = ["io", "records", "/data", "500"].map(String::from).to_vec();
        config.dirs.push((dir.clone(), "/data".to_string()));
        let mut runtime = Runtime::new(config).expect("runtime");
        runtime.load_module(&bytes).expect("load");
        assert_eq!(runtime.run().expect("run"), 0);
        let stats = runtime.io_stats().expect("stats").clone();
        assert_eq!(
            std::fs::read(dir.join("records.log")).unwrap().len(),
            500 * 64
        );
        assert!(stats.wasi_calls["fd_write"] >= 500, "{stats:?}");
        if served {
            assert_eq!(stats.batched_writes, 500, "{stats:?}");
            assert_eq!(stats.flushes, 1, "{stats:?}");
        } else {
            assert_eq!((stats.fast_calls, stats.flushes), (0, 0), "{stats:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    // Off and not counting: plain wasmtime-wasi, no statistics.
    let config = Config::default().with_io(IoOptions {
        fast_path: false,
        ..IoOptions::default()
    });
    let mut runtime = Runtime::new(config).expect("runtime");
    runtime.load_module(&bytes).expect("load");
    assert!(runtime.io_stats().is_none());
}

#[test]
fn rust_std_io_matches_plain_wasmtime_and_node() {
    // corpus/wasi/io_rust.rs: BufWriter, write_vectored, seeks, read_to_end,
    // O_APPEND through OpenOptions, rename, all through Rust's std.
    let module = common::root().join("corpus/wasi/io_rust.wasm");
    let run = |flags: &[&str]| {
        let dir = scratch();
        finish(module_command(&module, &dir, flags, &["/data"]), &dir, "").0
    };
    let plain = run(MODES[0]);
    assert_eq!(plain.code, Some(0), "{plain:?}");
    assert_eq!(plain.files.len(), 2, "{plain:?}");
    for flags in &MODES[1..] {
        assert_eq!(run(flags), plain, "{flags:?}");
    }
    match node_run(&module, &["/data"], "") {
        Some(outcome) => assert_eq!(outcome, plain, "under node's WASI"),
        None => eprintln!("node not found: not compared with node's WASI"),
    }
}

#[test]
fn stdout_redirected_to_a_file_is_batched_in_order_with_stderr() {
    // `barq-wasm run io.wasm lines /data 5000 > out.txt 2>&1`: stdout lines are
    // batched, stderr is not, and every stderr write first writes the batch out, so
    // the file holds them in the program's order.
    let run = |flags: &[&str], same_file: bool| {
        let dir = scratch();
        let out = dir.join("out.txt");
        let file = std::fs::File::create(&out).expect("out.txt");
        let mut command = barq_command(&dir, flags, &["lines", "/data", "5000"]);
        if same_file {
            command.stderr(file.try_clone().expect("clone"));
        } else {
            command.stderr(Stdio::piped());
        }
        let output = command.stdout(file).output().expect("run");
        assert!(output.status.success());
        let text = std::fs::read_to_string(&out).expect("read");
        let _ = std::fs::remove_dir_all(&dir);
        (text, String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (plain, _) = run(&["--io-fast-path", "off"], true);
    assert_eq!(plain.lines().count(), 5005);
    assert!(plain.starts_with("line 0\nline 1\n"));
    assert!(plain.contains("line 999\nprogress\nline 1000\n"), "{plain}");
    for flags in &MODES[1..] {
        assert_eq!(run(flags, true).0, plain, "{flags:?}");
    }
    // Batched: 5000 writes to stdout in a handful of system calls (stderr apart).
    let (text, report) = run(&["--report"], false);
    assert_eq!(text.lines().count(), 5000);
    assert!(report.contains("5000 writes batched into"), "{report}");
}
