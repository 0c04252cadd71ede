//! End-to-end tests of the `barq-opt` binary: the handful of behaviours that only
//! exist at the process boundary (exit codes, one-line errors, files written or not).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn barq_opt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_barq-opt"))
        .args(args)
        .output()
        .expect("spawn barq-opt")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh scratch directory per test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("barq-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn kernel() -> PathBuf {
    common::root().join("corpus/c/dot.O2.wasm")
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Runs barq-opt on `input` with `-o`, expecting the one-line error `expected` and
/// exit code 1, with no output file left behind and the input unchanged.
fn assert_clean_failure(input: &Path, output: &Path, expected: &str) {
    let before = std::fs::read(input).ok();
    let out = barq_opt(&[s(input), "-o", s(output)]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "want exactly one line, got: {err}");
    assert!(err.starts_with("barq-opt: error: "), "{err}");
    assert!(err.contains(expected), "want `{expected}` in: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        !output.exists() || output.is_dir(),
        "an output file was written"
    );
    assert_eq!(std::fs::read(input).ok(), before, "the input was modified");
    if let Some(parent) = output.parent() {
        if let Ok(entries) = std::fs::read_dir(parent) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                assert!(
                    !name.ends_with(".tmp"),
                    "temporary file left behind: {name}"
                );
            }
        }
    }
}

#[test]
fn missing_input_file() {
    let dir = scratch("missing");
    assert_clean_failure(&dir.join("nope.wasm"), &dir.join("out.wasm"), "cannot read");
}

#[test]
fn input_that_is_not_wasm() {
    let dir = scratch("notwasm");
    let input = dir.join("kernel.c");
    std::fs::write(&input, "int main(void) { return 0; }\n").expect("write");
    assert_clean_failure(
        &input,
        &dir.join("out.wasm"),
        "neither a WebAssembly binary",
    );
    let png = dir.join("image.wasm");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").expect("write");
    assert_clean_failure(&png, &dir.join("out.wasm"), "neither a WebAssembly binary");
}

#[test]
fn truncated_module() {
    let dir = scratch("truncated");
    let bytes = std::fs::read(kernel()).expect("kernel");
    for cut in [9, bytes.len() / 3, bytes.len() - 1] {
        let input = dir.join(format!("cut{cut}.wasm"));
        std::fs::write(&input, &bytes[..cut]).expect("write");
        assert_clean_failure(&input, &dir.join("out.wasm"), "invalid module");
    }
}

#[test]
fn invalid_module() {
    let dir = scratch("invalid");
    // Well-formed binary, ill-typed body: `i32.add` on an empty stack.
    let bad = [
        0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, // header
        1, 5, 1, 0x60, 0, 1, 0x7f, // type: () -> i32
        3, 2, 1, 0, // one function of type 0
        10, 5, 1, 3, 0, 0x6a, 0x0b, // body: i32.add end
    ];
    let input = dir.join("bad.wasm");
    std::fs::write(&input, bad).expect("write");
    assert_clean_failure(&input, &dir.join("out.wasm"), "type mismatch");
}

#[test]
fn unwritable_output() {
    let dir = scratch("unwritable");
    assert_clean_failure(&kernel(), &dir.join("no/such/dir/out.wasm"), "cannot write");
    // A directory where the output file should go.
    let occupied = dir.join("occupied");
    std::fs::create_dir(&occupied).expect("mkdir");
    assert_clean_failure(&kernel(), &occupied, "cannot write");
}

#[test]
fn component_is_refused_clearly() {
    let dir = scratch("component");
    let input = dir.join("component.wasm");
    // The smallest component: magic + component version/layer.
    std::fs::write(&input, [0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]).expect("write");
    assert_clean_failure(&input, &dir.join("out.wasm"), "component");
}

#[test]
fn optimize_writes_a_valid_module() {
    let dir = scratch("ok");
    let output = dir.join("out.wasm");
    let out = barq_opt(&[s(&kernel()), "-O3", "-o", s(&output)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(&output).expect("output written");
    barq_wasm::validate(&bytes).expect("valid output");
    common::instantiate(&bytes).expect("instantiates");
}

/// `-o` at something that is not a regular file (`/dev/null`, a pipe) writes into it;
/// replacing it by a rename would leave a regular file where the device or pipe was
/// (as root, `-o /dev/null` did that to the machine's `/dev/null`). A named pipe stands
/// in for the device here, so a regression cannot break the machine running the test.
#[cfg(unix)]
#[test]
fn output_to_a_pipe_is_written_into_the_pipe() {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let dir = scratch("fifo");
    let fifo = dir.join("out.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    // Opened for reading without blocking before barq-opt runs, so its write never
    // waits and a regression (a rename over the pipe) fails instead of hanging. The
    // module fits in the pipe's buffer (64 KiB on Linux).
    let mut pipe = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(0o4000) // O_NONBLOCK
        .open(&fifo)
        .expect("open the pipe");
    let out = barq_opt(&[s(&kernel()), "-o", s(&fifo)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match std::io::Read::read(&mut pipe, &mut chunk) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("read the pipe: {e}"),
        }
    }
    barq_wasm::validate(&bytes).expect("a valid module came through the pipe");
    let kind = std::fs::symlink_metadata(&fifo)
        .expect("still there")
        .file_type();
    assert!(kind.is_fifo(), "the pipe was replaced by {kind:?}");
}

/// `-o /dev/stdout` (a link to `/proc/self/fd/1`, here a pipe) writes the module to
/// standard output. (Through a link of the test's own to `/proc/self/fd/1`, so that
/// a regression replaces that link, never the machine's `/dev/stdout`.)
#[cfg(target_os = "linux")]
#[test]
fn output_to_standard_output_through_proc() {
    let dir = scratch("stdout");
    let link = dir.join("stdout");
    std::os::unix::fs::symlink("/proc/self/fd/1", &link).expect("symlink");
    let out = barq_opt(&[s(&kernel()), "-o", s(&link)]);
    assert!(out.status.success(), "{}", stderr(&out));
    barq_wasm::validate(&out.stdout).expect("a valid module on stdout");
    let kind = std::fs::symlink_metadata(&link).expect("link").file_type();
    assert!(kind.is_symlink(), "the link was replaced by {kind:?}");
}

/// Through a symbolic link the file it points at gets the module and the link stays;
/// an existing file keeps its permissions.
#[cfg(unix)]
#[test]
fn output_through_a_link_replaces_the_target_and_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("link");
    std::fs::create_dir(dir.join("real")).expect("mkdir");
    let target = dir.join("real/out.wasm");
    std::fs::write(&target, b"old").expect("write");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let link = dir.join("out.wasm");
    std::os::unix::fs::symlink("real/out.wasm", &link).expect("symlink");
    let out = barq_opt(&[s(&kernel()), "-o", s(&link)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let meta = std::fs::symlink_metadata(&link).expect("link");
    assert!(meta.file_type().is_symlink(), "the link was replaced");
    let bytes = std::fs::read(&target).expect("target");
    barq_wasm::validate(&bytes).expect("valid output in the target");
    let mode = std::fs::metadata(&target)
        .expect("target")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640, "permissions changed");
    // A dangling link: the file it names is created.
    let dangling = dir.join("new.wasm");
    std::os::unix::fs::symlink("real/new.wasm", &dangling).expect("symlink");
    let out = barq_opt(&[s(&kernel()), "-o", s(&dangling)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(&dangling)
        .expect("link")
        .file_type()
        .is_symlink());
    barq_wasm::validate(&std::fs::read(dir.join("real/new.wasm")).expect("created"))
        .expect("valid");
}

#[test]
fn without_output_nothing_is_written_and_the_plan_is_said() {
    let dir = scratch("dry");
    let input = dir.join("in.wasm");
    std::fs::copy(kernel(), &input).expect("copy");
    let out = barq_opt(&[s(&input)]);
    assert!(out.status.success());
    assert!(stderr(&out).contains("nothing written"), "{}", stderr(&out));
    let entries: Vec<_> = std::fs::read_dir(&dir).expect("dir").collect();
    assert_eq!(entries.len(), 1, "only the input may be there");
}

#[test]
fn report_json_follows_the_schema() {
    let out = barq_opt(&[s(&kernel()), "--report=json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["target"], "portable");
    assert_eq!(json["fast_math"], false);
    assert!(json["findings"].is_array());
    for key in ["functions", "loops", "rewritten", "detected", "declined"] {
        assert!(json["summary"][key].is_u64(), "summary.{key}");
    }
    assert_eq!(json["summary"]["functions"], 4);
    assert!(json["module"]
        .as_str()
        .unwrap_or_default()
        .ends_with("dot.O2.wasm"));
}

#[test]
fn report_table_and_flags() {
    let out = barq_opt(&[
        s(&kernel()),
        "--report",
        "--fast-math",
        "--target",
        "native",
        "--no-simd",
        "-Oz",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("target: native, fast-math: on"), "{text}");
    assert!(text.contains("summary: 4 functions"), "{text}");
}

#[test]
fn pass_names_come_from_one_list() {
    let out = barq_opt(&["--list-passes"]);
    assert!(out.status.success());
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    for pass in barq_passes::passes::all() {
        assert!(listed.contains(pass.name()), "{listed}");
    }
    let out = barq_opt(&[s(&kernel()), "--pass", "no-such-pass"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("unknown pass `no-such-pass`; valid passes: "),
        "{err}"
    );
    assert!(err.contains("loop-census"), "{err}");
}

#[test]
fn bad_opt_level_is_an_error() {
    let out = barq_opt(&[s(&kernel()), "-O7"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown optimization level"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn text_input_is_accepted() {
    let dir = scratch("wat");
    let output = dir.join("out.wasm");
    let input = common::root().join("corpus/wat/simd.wat");
    let out = barq_opt(&[s(&input), "-o", s(&output), "--print"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("i32x4.add"));
    barq_wasm::validate(&std::fs::read(&output).expect("output")).expect("valid");
}

#[test]
fn bulk_memory_flag_decides_the_tier_of_copies() {
    let bytes = common_root().join("corpus/c/bytes.O2.wasm");
    let with = barq_opt(&[s(&bytes), "--report=json"]);
    assert!(with.status.success(), "{}", stderr(&with));
    assert!(String::from_utf8_lossy(&with.stdout).contains("\"bulk_memory\""));
    for flag in ["--no-bulk-memory", "--disable-bulk-memory"] {
        let without = barq_opt(&[s(&bytes), "--report=json", flag]);
        assert!(without.status.success(), "{}", stderr(&without));
        let text = String::from_utf8_lossy(&without.stdout);
        assert!(!text.contains("\"bulk_memory\""), "{text}");
        assert!(text.contains("target does not allow bulk memory"), "{text}");
    }
}

fn common_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
