//! The comparison a user reads before adopting barq (issue #9, bench/README.md): every
//! workload of `bench/suite.json`, each implementation in the same run, on this
//! machine, single-threaded.
//!
//! - Wasmtime (this crate's engine): the original module (clang -O2), barq-opt's
//!   portable output (exact, and with --fast-math), wasm-opt -O3, clang's own -O3
//!   -msimd128 (and -ffast-math), and barq-opt's native target in barq-wasm's runtime.
//! - Native: the C source with clang -O3 -march=native (exact: -ffp-contract=off; and
//!   -ffast-math), and for LZ4 and CRC-32 the Rust crates (lz4_flex, crc32fast).
//! - V8 (`bench/suite.mjs`, run from here): the same modules, plain JavaScript,
//!   TensorFlow.js's WASM backend with and without SIMD, ONNX Runtime Web.
//!
//! Every implementation's output is checked against the original module's before it
//! is timed (bit for bit where the implementation claims exactness, within the
//! workload's tolerance otherwise); a wrong one publishes no time. Timing: rounds of
//! calls (each round >= 2 ms), the implementations of a workload interleaved round by
//! round so that drift hits them alike; the median of the rounds.
//!
//! `cargo bench --bench suite` builds everything (`bench/prepare-suite.sh`) and writes
//! `bench/results/<date>-<host>.{json,md,svg}`. `BARQ_BENCH=dot,matmul128` limits the
//! run to some workloads, `BARQ_BENCH_ROUNDS` sets the rounds (15).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;
use wasmtime::{Engine, Func, Instance, Linker, Memory, Module, Store, Val};

const BASE: usize = 1 << 20;

#[derive(Deserialize)]
struct Spec {
    workloads: Vec<Workload>,
}

#[derive(Deserialize, Clone)]
struct Workload {
    id: String,
    op: String,
    name: String,
    table: String,
    file: String,
    export: String,
    #[serde(default)]
    fast_math: bool,
    inputs: Vec<Input>,
    args: Vec<Arg>,
    n: i64,
    result: Option<String>,
    output: Option<Output>,
    tolerance: f64,
}

#[derive(Deserialize, Clone)]
struct Input {
    kind: String,
    #[serde(default)]
    len: usize,
    #[serde(default)]
    seed: usize,
    scale: Option<f32>,
    path: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum Arg {
    Named(String),
    Const {
        f32: Option<f32>,
        i32: Option<i32>,
        /// The output's address plus this many bytes.
        out: Option<usize>,
    },
}

#[derive(Deserialize, Clone)]
struct Output {
    kind: String,
    len: usize,
}

/// One argument as a value: an address or integer, or a float.
#[derive(Clone, Copy)]
enum Value {
    Int(i64),
    F32(f32),
}

/// Where everything sits in memory (the same in bench/suite.mjs).
struct Layout {
    inputs: Vec<Vec<u8>>,
    addrs: Vec<usize>,
    out: usize,
    out_bytes: usize,
    /// AssemblyScript typed-array headers `{buffer, dataStart, byteLength}`, 16
    /// bytes apart: one per input, then the output's (arguments `viewK`,
    /// `viewout`).
    headers: usize,
    end: usize,
}

impl Layout {
    /// The header words of each view, by slot (inputs, then the output).
    fn views(&self) -> Vec<(usize, [u32; 3])> {
        self.addrs
            .iter()
            .zip(&self.inputs)
            .map(|(&a, b)| (a, b.len()))
            .chain(std::iter::once((self.out, self.out_bytes)))
            .enumerate()
            .map(|(slot, (a, len))| (self.headers + 16 * slot, [a as u32, a as u32, len as u32]))
            .collect()
    }
}

fn input_bytes(dir: &Path, input: &Input) -> Vec<u8> {
    match input.kind.as_str() {
        "file" => {
            let path = dir.join(input.path.as_deref().expect("file input has a path"));
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        }
        "u8" => (0..input.len)
            .map(|i| ((i + input.seed) * 7919 % 251) as u8)
            .collect(),
        _ => {
            let scale = input.scale.unwrap_or(1.0);
            (0..input.len)
                .flat_map(|i| {
                    let v = ((i + input.seed) * 7919 % 1000) as f32 / 250.0 - 2.0;
                    (v * scale).to_le_bytes()
                })
                .collect()
        }
    }
}

fn layout(dir: &Path, w: &Workload) -> Layout {
    let inputs: Vec<Vec<u8>> = w.inputs.iter().map(|i| input_bytes(dir, i)).collect();
    let mut at = BASE;
    let addrs = inputs
        .iter()
        .map(|b| {
            let a = at;
            at = (at + b.len() + 63) & !63;
            a
        })
        .collect();
    let out_bytes = w.output.as_ref().map_or(0, |o| {
        o.len
            * if o.kind == "f32" || o.kind == "i32" {
                4
            } else {
                1
            }
    });
    let headers = (at + out_bytes + 63) & !63;
    let end = headers + 16 * (inputs.len() + 1);
    Layout {
        inputs,
        addrs,
        out: at,
        out_bytes,
        headers,
        end,
    }
}

/// The arguments, with addresses relative to `base` (0 in wasm, the host buffer natively).
fn arg_values(w: &Workload, lay: &Layout, base: usize) -> Vec<Value> {
    w.args
        .iter()
        .map(|a| match a {
            Arg::Const { out: Some(k), .. } => Value::Int((base + lay.out + k) as i64),
            Arg::Const { f32: Some(f), .. } => Value::F32(*f),
            Arg::Const { i32: Some(i), .. } => Value::Int(*i as i64),
            Arg::Const { .. } => panic!("{}: a constant argument without a value", w.id),
            Arg::Named(name) => match name.as_str() {
                "n" => Value::Int(w.n),
                "out" => Value::Int((base + lay.out) as i64),
                "bytes0" => Value::Int(lay.inputs[0].len() as i64),
                "viewout" => Value::Int((base + lay.headers + 16 * lay.inputs.len()) as i64),
                other if other.starts_with("view") => {
                    let k: usize = other[4..]
                        .parse()
                        .unwrap_or_else(|_| panic!("{}: unknown argument {other}", w.id));
                    Value::Int((base + lay.headers + 16 * k) as i64)
                }
                other => {
                    let k: usize = other
                        .strip_prefix("in")
                        .and_then(|k| k.parse().ok())
                        .unwrap_or_else(|| panic!("{}: unknown argument {other}", w.id));
                    Value::Int((base + lay.addrs[k]) as i64)
                }
            },
        })
        .collect()
}

/// What an implementation produced: its scalar result (4 bytes LE), then the output.
fn pack(w: &Workload, result: Option<[u8; 4]>, out: &[u8]) -> Vec<u8> {
    let mut all = Vec::with_capacity(4 + out.len());
    if w.result.is_some() {
        all.extend_from_slice(&result.expect("a result"));
    }
    all.extend_from_slice(out);
    all
}

fn fnv1a(bytes: &[u8]) -> String {
    let h = bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    });
    format!("{h:08x}")
}

/// "bit-exact", "within tolerance (...)", or an error starting with "wrong" (the same
/// rules as bench/suite.mjs).
fn check(w: &Workload, reference: &[u8], got: &[u8]) -> String {
    if reference.len() != got.len() {
        return format!("wrong: {} bytes, expected {}", got.len(), reference.len());
    }
    if reference == got {
        return "bit-exact".into();
    }
    let f32_at = |b: &[u8], i: usize| f32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    let mut head = 0;
    let mut worst = 0f64;
    if let Some(kind) = &w.result {
        head = 4;
        if kind == "i32" {
            return format!(
                "wrong: result {}, expected {}",
                i32::from_le_bytes(got[..4].try_into().unwrap()),
                i32::from_le_bytes(reference[..4].try_into().unwrap())
            );
        }
        let (a, b) = (f32_at(reference, 0) as f64, f32_at(got, 0) as f64);
        let err = (a - b).abs() / a.abs().max(1e-30);
        if err.is_nan() || err > w.tolerance {
            return format!("wrong: result {b}, expected {a} (relative error {err:.2e})");
        }
        worst = err;
    }
    if let Some(out) = &w.output {
        if out.kind == "f32" {
            let (mut max, mut err) = (0f64, 0f64);
            for i in 0..out.len {
                let (a, b) = (f32_at(reference, head + 4 * i), f32_at(got, head + 4 * i));
                if a.is_nan() != b.is_nan() {
                    return format!("wrong: NaN at {i}");
                }
                max = max.max((a as f64).abs());
                err = err.max((a as f64 - b as f64).abs());
            }
            let rel = err / max.max(1e-30);
            if rel.is_nan() || rel > w.tolerance {
                return format!("wrong: output off by {rel:.2e} of its largest magnitude");
            }
            worst = worst.max(rel);
        } else if out.kind == "i32" {
            return "wrong: output differs".into();
        } else {
            let signed = out.kind == "i8";
            let value = |b: u8| if signed { b as i8 as i32 } else { b as i32 };
            let off = (0..out.len)
                .map(|i| (value(reference[head + i]) - value(got[head + i])).abs())
                .max()
                .unwrap_or(0);
            if off > i32::from(w.tolerance > 0.0) {
                return format!("wrong: output bytes differ by up to {off}");
            }
            return "within tolerance (off by one at most)".into();
        }
    }
    format!("within tolerance ({worst:.2e})")
}

/// Runs the workload once.
type Run = Box<dyn FnMut()>;
/// Reads back what the last run produced (see `pack`).
type Read = Box<dyn FnMut() -> Vec<u8>>;

/// One implementation: runs the workload once, and reads back what it produced.
struct Impl {
    id: &'static str,
    label: String,
    /// Must give the original's bytes exactly.
    exact: bool,
    run: Run,
    output: Read,
}

fn wasm_impl(engine: &Engine, dir: &Path, w: &Workload, suffix: &str) -> Option<(Run, Read)> {
    let path = dir.join(format!("{}.{suffix}.wasm", w.file));
    let module = Module::from_file(engine, &path).ok()?;
    // The store knows its instance's memory, as barq-wasm's runtime does (the
    // kernels then skip the export lookup).
    let mut store: Store<Option<Memory>> = Store::new(engine, None);
    let mut linker: Linker<Option<Memory>> = Linker::new(engine);
    barq_wasm::native::add_to_linker(&mut linker).expect("native kernels");
    barq_wasm::native::add_libc_memory_to_linker(&mut linker).expect("libc memory functions");
    linker
        .define_unknown_imports_as_traps(&module)
        .expect("imports");
    let instance: Instance = linker
        .instantiate(&mut store, &module)
        .expect("instantiate");
    *store.data_mut() = instance.get_memory(&mut store, "memory");
    if let Some(init) = instance.get_func(&mut store, "_initialize") {
        init.call(&mut store, &[], &mut []).expect("_initialize");
    }
    let memory: Memory = instance.get_memory(&mut store, "memory").expect("memory");
    let lay = layout(dir, w);
    let need = (lay.end / 65536 + 2) as u64;
    let have = memory.size(&store);
    if have < need {
        memory.grow(&mut store, need - have).expect("grow");
    }
    for (bytes, &at) in lay.inputs.iter().zip(&lay.addrs) {
        memory.data_mut(&mut store)[at..at + bytes.len()].copy_from_slice(bytes);
    }
    for (at, words) in lay.views() {
        for (i, word) in words.iter().enumerate() {
            memory.data_mut(&mut store)[at + 4 * i..at + 4 * i + 4]
                .copy_from_slice(&word.to_le_bytes());
        }
    }
    let f: Func = instance.get_func(&mut store, &w.export).expect("export");
    let args: Vec<Val> = arg_values(w, &lay, 0)
        .into_iter()
        .map(|v| match v {
            Value::Int(i) => Val::I32(i as i32),
            Value::F32(f) => Val::F32(f.to_bits()),
        })
        .collect();
    let store = std::rc::Rc::new(std::cell::RefCell::new(store));
    let results = std::rc::Rc::new(std::cell::RefCell::new(vec![
        Val::I32(0);
        usize::from(w.result.is_some())
    ]));
    let (s2, r2, w2) = (store.clone(), results.clone(), w.clone());
    let run = Box::new(move || {
        f.call(&mut *store.borrow_mut(), &args, &mut results.borrow_mut())
            .expect("call")
    });
    let output = Box::new(move || {
        let result = r2.borrow().first().map(|v| match v {
            Val::I32(i) => i.to_le_bytes(),
            Val::F32(bits) => bits.to_le_bytes(),
            other => panic!("unexpected result {other:?}"),
        });
        let store = s2.borrow();
        pack(
            &w2,
            result,
            &memory.data(&*store)[lay.out..lay.out + lay.out_bytes],
        )
    });
    Some((run, output))
}

type CallF32 =
    unsafe extern "C" fn(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, f32, f32) -> f32;
type CallI32 =
    unsafe extern "C" fn(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, f32, f32) -> i32;
type CallVoid = unsafe extern "C" fn(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, f32, f32);

/// The C source compiled natively, called on a host buffer laid out as the wasm memory.
fn native_impl(dir: &Path, w: &Workload, ffast: bool) -> Option<(Run, Read)> {
    let suffix = if ffast { "-ffast" } else { "" };
    let path = dir.join(format!("lib{}{suffix}.so", w.file));
    // SAFETY: the library is our own C corpus file, built by bench/prepare-suite.sh.
    let lib: &'static libloading::Library =
        Box::leak(Box::new(unsafe { libloading::Library::new(&path) }.ok()?));
    let lay = layout(dir, w);
    // (Room past the end for what a kernel writes after the compared output.)
    let memory: &'static mut [u64] = Box::leak(vec![0u64; lay.end / 8 + 512].into_boxed_slice());
    let base = memory.as_mut_ptr() as usize;
    // SAFETY: `memory` holds lay.end bytes; the inputs fit below it.
    unsafe {
        for (bytes, &at) in lay.inputs.iter().zip(&lay.addrs) {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), (base + at) as *mut u8, bytes.len());
        }
    }
    // Integer-class arguments (addresses, ints, longs) and float arguments travel in
    // separate registers in the x86-64 System V ABI, each class in order (the first
    // six integers in registers, the rest on the stack in order; floats in xmm
    // registers): any of the corpus signatures (at most ten integers and two floats)
    // is called correctly through one type with ten i64 and two f32 parameters. An
    // int parameter reads the low half of its register or stack slot.
    let (mut ints, mut floats) = ([0i64; 10], [0f32; 2]);
    let (mut ni, mut nf) = (0, 0);
    for v in arg_values(w, &lay, base) {
        match v {
            Value::Int(i) => {
                ints[ni] = i;
                ni += 1;
            }
            Value::F32(f) => {
                floats[nf] = f;
                nf += 1;
            }
        }
    }
    let result = std::rc::Rc::new(std::cell::Cell::new([0u8; 4]));
    let r2 = result.clone();
    let name = w.export.as_bytes();
    let [a, b, c, d, e, g, h, i, j, k] = ints;
    let [x, y] = floats;
    // SAFETY (each arm): the symbol is the corpus function, called per the comment above.
    let run: Box<dyn FnMut()> = unsafe {
        match w.result.as_deref() {
            Some("f32") => {
                let f = *lib.get::<CallF32>(name).ok()?;
                Box::new(move || {
                    result.set(f(black_box(a), b, c, d, e, g, h, i, j, k, x, y).to_le_bytes())
                })
            }
            Some(_) => {
                let f = *lib.get::<CallI32>(name).ok()?;
                Box::new(move || {
                    result.set(f(black_box(a), b, c, d, e, g, h, i, j, k, x, y).to_le_bytes())
                })
            }
            None => {
                let f = *lib.get::<CallVoid>(name).ok()?;
                Box::new(move || f(black_box(a), b, c, d, e, g, h, i, j, k, x, y))
            }
        }
    };
    let w2 = w.clone();
    let output = Box::new(move || {
        // SAFETY: the output region lies inside `memory`.
        let out =
            unsafe { std::slice::from_raw_parts((base + lay.out) as *const u8, lay.out_bytes) };
        pack(&w2, w2.result.as_ref().map(|_| r2.get()), out)
    });
    Some((run, output))
}

/// The Rust crates natively (LZ4: lz4_flex; CRC-32: crc32fast).
fn crate_impl(dir: &Path, w: &Workload) -> Option<(&'static str, Run, Read)> {
    let lay = layout(dir, w);
    let input = lay.inputs[0].clone();
    let result = std::rc::Rc::new(std::cell::Cell::new([0u8; 4]));
    let r2 = result.clone();
    let out = std::rc::Rc::new(std::cell::RefCell::new(vec![0u8; lay.out_bytes]));
    let o2 = out.clone();
    let w2 = w.clone();
    let output: Box<dyn FnMut() -> Vec<u8>> =
        Box::new(move || pack(&w2, Some(r2.get()), &o2.borrow()));
    match w.op.as_str() {
        "lz4" => Some((
            "lz4_flex 0.11 (Rust, natively)",
            Box::new(move || {
                let n = lz4_flex::block::decompress_into(black_box(&input), &mut out.borrow_mut())
                    .map_or(-1, |n| n as i32);
                result.set(n.to_le_bytes());
            }),
            output,
        )),
        "crc32" => Some((
            "crc32fast 1 (Rust, natively)",
            Box::new(move || result.set(crc32fast::hash(black_box(&input)).to_le_bytes())),
            output,
        )),
        _ => None,
    }
}

fn implementations(engine: &Engine, dir: &Path, w: &Workload) -> Vec<Impl> {
    let mut impls = Vec::new();
    let variants: [(&'static str, &str, &str, bool); 8] = [
        ("original", "clang -O2 (the original)", "O2", false),
        ("barq", "barq-opt", "O2.barq", true),
        ("barq-fast", "barq-opt --fast-math", "O2.barq-fast", false),
        ("wasm-opt", "wasm-opt -O3", "O2.wasmopt", true),
        ("clang-simd", "clang -O3 -msimd128", "O3-simd", false),
        (
            "clang-simd-ffast",
            "clang -O3 -msimd128 -ffast-math",
            "O3-simd-ffast",
            false,
        ),
        (
            "barq-native",
            "barq-opt --target native, in barq-wasm",
            "O2.native",
            true,
        ),
        (
            "barq-native-fast",
            "barq-opt --target native --fast-math, in barq-wasm",
            "O2.native-fast",
            false,
        ),
    ];
    for (id, label, suffix, exact) in variants {
        if id.ends_with("-fast") && !w.fast_math && w.op != "matmul" {
            continue; // the same module as without --fast-math
        }
        if let Some((run, output)) = wasm_impl(engine, dir, w, suffix) {
            impls.push(Impl {
                id,
                label: label.into(),
                exact,
                run,
                output,
            });
        }
    }
    for (id, label, ffast) in [
        ("native-c", "C natively (clang -O3 -march=native)", false),
        (
            "native-c-ffast",
            "C natively (clang -O3 -march=native -ffast-math)",
            true,
        ),
    ] {
        if let Some((run, output)) = native_impl(dir, w, ffast) {
            impls.push(Impl {
                id,
                label: label.into(),
                exact: false,
                run,
                output,
            });
        }
    }
    if let Some((label, run, output)) = crate_impl(dir, w) {
        impls.push(Impl {
            id: "native-crate",
            label: label.into(),
            exact: false,
            run,
            output,
        });
    }
    impls
}

#[derive(Serialize, Deserialize, Clone)]
struct Row {
    workload: String,
    #[serde(rename = "impl")]
    implementation: String,
    label: String,
    engine: String,
    check: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    median_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rounds: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    calls: Option<u32>,
}

#[derive(Deserialize)]
struct V8Run {
    engine: String,
    digests: BTreeMap<String, String>,
    rows: Vec<Row>,
}

fn rounds() -> usize {
    std::env::var("BARQ_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(15)
}

/// Median microseconds per call of each, in interleaved rounds of >= 2 ms.
fn interleaved(impls: &mut [&mut Impl]) -> Vec<(f64, u32)> {
    let calls: Vec<u32> = impls
        .iter_mut()
        .map(|i| {
            for _ in 0..3 {
                (i.run)();
            }
            let start = Instant::now();
            (i.run)();
            let once = start.elapsed().as_secs_f64().max(1e-7);
            ((0.002 / once).round() as u32).clamp(1, 1000)
        })
        .collect();
    let rounds = rounds();
    let mut times = vec![Vec::with_capacity(rounds); impls.len()];
    for _ in 0..rounds {
        for (i, imp) in impls.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..calls[i] {
                (imp.run)();
            }
            times[i].push(start.elapsed().as_secs_f64() * 1e6 / calls[i] as f64);
        }
    }
    times
        .into_iter()
        .zip(calls)
        .map(|(mut t, c)| {
            t.sort_by(f64::total_cmp);
            (t[rounds / 2], c)
        })
        .collect()
}

fn shell(cmd: &str) -> String {
    std::process::Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Real English prose for the LZ4 rows: the license texts every Debian system ships,
/// concatenated in name order and cut to `len` bytes; compressed with lz4_flex.
/// The 10 MiB row continues past the texts (~0.5 MB) with a word-level chain over
/// them: each next word one that follows the current word somewhere in the texts,
/// picked by a seeded generator (prose-like, not a repetition LZ4 would take whole).
fn prose_inputs(dir: &Path) {
    let mut files: Vec<PathBuf> = std::fs::read_dir("/usr/share/common-licenses")
        .expect("/usr/share/common-licenses (Debian's base-files)")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut text: Vec<u8> = files
        .iter()
        .flat_map(|f| std::fs::read(f).unwrap())
        .collect();
    let words: Vec<&[u8]> = text
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .collect();
    let mut next: std::collections::HashMap<&[u8], Vec<&[u8]>> = Default::default();
    for pair in words.windows(2) {
        next.entry(pair[0]).or_default().push(pair[1]);
    }
    let mut chain = Vec::new();
    let (mut word, mut state) = (words[0], 0x9e37_79b9_7f4a_7c15u64);
    while text.len() + chain.len() < 10 << 20 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let choices = next.get(word).map_or(&words[..], |v| &v[..]);
        word = choices[(state % choices.len() as u64) as usize];
        chain.extend_from_slice(word);
        chain.push(if state % 11 == 0 { b'\n' } else { b' ' });
    }
    text.extend_from_slice(&chain);
    for (name, len) in [
        ("prose-100k", 102_400),
        ("prose-180k", 184_320),
        ("prose-10m", 10 << 20),
    ] {
        assert!(
            text.len() >= len,
            "only {} bytes of license texts",
            text.len()
        );
        let block = lz4_flex::block::compress(&text[..len]);
        std::fs::write(dir.join(format!("{name}.lz4")), block).unwrap();
    }
    // (The newline count reads the 10 MiB uncompressed.)
    std::fs::write(dir.join("prose-10m.txt"), &text[..10 << 20]).unwrap();
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` asks for a listing: nothing to run here.
    }
    let status = std::process::Command::new("bash")
        .arg(root.join("bench/prepare-suite.sh"))
        .status()
        .expect("run bench/prepare-suite.sh");
    assert!(status.success(), "bench/prepare-suite.sh failed");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or(root.join("target"), PathBuf::from);
    let dir = target.join("bench/suite");
    prose_inputs(&dir);
    let spec: Spec =
        serde_json::from_slice(&std::fs::read(root.join("bench/suite.json")).unwrap()).unwrap();
    let only: Vec<String> = std::env::var("BARQ_BENCH")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let workloads: Vec<&Workload> = spec
        .workloads
        .iter()
        .filter(|w| only.is_empty() || only.contains(&w.id))
        .collect();

    // V8 first (node), then Wasmtime and native here.
    let node = |extra: &[&str]| -> V8Run {
        let mut cmd = std::process::Command::new("node");
        cmd.arg(root.join("bench/suite.mjs")).arg(&dir).args(extra);
        if !only.is_empty() {
            cmd.arg(format!("--only={}", only.join(",")));
        }
        let out = cmd
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("run node");
        assert!(out.status.success(), "bench/suite.mjs failed");
        serde_json::from_slice(&out.stdout).expect("bench/suite.mjs output")
    };
    let v8 = node(&["--tfjs=simd"]);
    let v8_plain_tfjs = node(&["--tfjs=plain", "--others=off"]);
    // (A run of some workloads only does not overwrite the day's full results.)
    let subset = if only.is_empty() { "" } else { "-subset" };
    let stem = format!("{}-{}{subset}", shell("date -u +%F"), shell("hostname"));
    let results_dir = root.join("bench/results");
    std::fs::create_dir_all(&results_dir).unwrap();
    let screenshot = results_dir.join(format!("{stem}-chromium.png"));
    let browser = {
        let mut cmd = std::process::Command::new("node");
        cmd.arg(root.join("bench/browser.mjs"))
            .arg(&dir)
            .arg(format!("--screenshot={}", screenshot.display()));
        if !only.is_empty() {
            cmd.arg(format!("--only={}", only.join(",")));
        }
        let out = cmd
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("run node");
        assert!(out.status.success(), "bench/browser.mjs failed");
        serde_json::from_slice::<V8Run>(&out.stdout).expect("bench/browser.mjs output")
    };

    let engine = Engine::default();
    let mut rows: Vec<Row> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for w in &workloads {
        let mut impls = implementations(&engine, &dir, w);
        (impls[0].run)();
        let reference = (impls[0].output)();
        let digest = fnv1a(&reference);
        if v8.digests.get(&w.id) != Some(&digest) {
            notes.push(format!(
                "{}: the original's output differs between V8 ({}) and Wasmtime ({digest})",
                w.id,
                v8.digests.get(&w.id).map_or("-", |s| s.as_str())
            ));
        }
        let mut timed: Vec<&mut Impl> = Vec::new();
        let mut verdicts = Vec::new();
        for imp in impls.iter_mut() {
            (imp.run)();
            let mut verdict = check(w, &reference, &(imp.output)());
            if imp.exact && verdict != "bit-exact" && !verdict.starts_with("wrong") {
                verdict = format!("wrong: not bit-exact ({verdict})");
            }
            let engine = if imp.id.starts_with("native") {
                "native"
            } else {
                "Wasmtime 48"
            };
            if verdict.starts_with("wrong") {
                rows.push(Row {
                    workload: w.id.clone(),
                    implementation: imp.id.into(),
                    label: imp.label.clone(),
                    engine: engine.into(),
                    check: verdict,
                    median_us: None,
                    rounds: None,
                    calls: None,
                });
            } else {
                verdicts.push((engine, verdict));
                timed.push(imp);
            }
        }
        let results = interleaved(&mut timed);
        for ((imp, (engine, verdict)), (median, calls)) in timed.iter().zip(verdicts).zip(results) {
            rows.push(Row {
                workload: w.id.clone(),
                implementation: imp.id.into(),
                label: imp.label.clone(),
                engine: engine.into(),
                check: verdict,
                median_us: Some(median),
                rounds: Some(rounds()),
                calls: Some(calls),
            });
        }
        eprintln!("wasmtime/native: {} done", w.id);
    }
    for r in v8.rows.iter().chain(&v8_plain_tfjs.rows) {
        let mut r = r.clone();
        r.engine = v8.engine.clone();
        rows.push(r);
    }
    for (id, digest) in &browser.digests {
        if v8.digests.get(id) != Some(digest) {
            notes.push(format!(
                "{id}: the original's output differs between V8 in node and Chromium"
            ));
        }
    }
    rows.extend(browser.rows.iter().cloned());
    report(&results_dir.join(stem), &workloads, &rows, &notes);
}

/// The implementations in the order the tables and the chart show them.
const ORDER: &[(&str, &str)] = &[
    ("js", "V8"),
    ("tfjs-wasm", "V8"),
    ("tfjs-wasm-simd", "V8"),
    ("ort-web", "V8"),
    ("original", "V8"),
    ("wasm-opt", "V8"),
    ("clang-simd", "V8"),
    ("clang-simd-ffast", "V8"),
    ("barq", "V8"),
    ("barq-fast", "V8"),
    ("js", "Chromium"),
    ("original", "Chromium"),
    ("wasm-opt", "Chromium"),
    ("clang-simd", "Chromium"),
    ("clang-simd-ffast", "Chromium"),
    ("barq", "Chromium"),
    ("barq-fast", "Chromium"),
    ("original", "Wasmtime"),
    ("wasm-opt", "Wasmtime"),
    ("clang-simd", "Wasmtime"),
    ("clang-simd-ffast", "Wasmtime"),
    ("barq", "Wasmtime"),
    ("barq-fast", "Wasmtime"),
    ("barq-native", "Wasmtime"),
    ("barq-native-fast", "Wasmtime"),
    ("native-c", "native"),
    ("native-c-ffast", "native"),
    ("native-crate", "native"),
];

fn engine_kind(engine: &str) -> &'static str {
    if engine.starts_with("V8") {
        "V8"
    } else if engine.starts_with("Chromium") {
        "Chromium"
    } else if engine.starts_with("Wasmtime") {
        "Wasmtime"
    } else {
        "native"
    }
}

fn find<'a>(rows: &'a [Row], workload: &str, id: &str, kind: &str) -> Option<&'a Row> {
    rows.iter().find(|r| {
        r.workload == workload && r.implementation == id && engine_kind(&r.engine) == kind
    })
}

fn report(stem: &Path, workloads: &[&Workload], rows: &[Row], notes: &[String]) {
    let date = shell("date -u +%F");
    let host = shell("hostname");
    let cpu = shell("sed -n 's/^model name\\s*: //p' /proc/cpuinfo | head -1");
    let json = serde_json::json!({
        "date": date,
        "host": host,
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "threads": 1,
        "node": shell("node --version"),
        "rustc": shell("rustc --version"),
        "notes": notes,
        "workloads": workloads.iter().map(|w| serde_json::json!({"id": w.id, "name": w.name, "table": w.table})).collect::<Vec<_>>(),
        "rows": rows,
    });
    let file = |ext: &str| PathBuf::from(format!("{}.{ext}", stem.display()));
    std::fs::write(file("json"), serde_json::to_string_pretty(&json).unwrap()).unwrap();

    let mut md = format!(
        "Measured {date} on {cpu} ({host}), one thread; median µs per call of {} interleaved rounds (each >= 2 ms), and in brackets the speedup over plain JavaScript in V8. \"wrong\" means the output failed the check and no time is published.\n",
        rounds()
    );
    for note in notes {
        md.push_str(&format!("\nNote: {note}\n"));
    }
    for table in ["vectors", "matrices", "bytes", "real data"] {
        let ws: Vec<&&Workload> = workloads.iter().filter(|w| w.table == table).collect();
        if ws.is_empty() {
            continue;
        }
        md.push_str(&format!("\n#### {table}\n\n| implementation | engine |"));
        for w in &ws {
            md.push_str(&format!(" {} |", w.name));
        }
        md.push_str("\n|---|---|");
        md.push_str(&"---:|".repeat(ws.len()));
        md.push('\n');
        for (id, kind) in ORDER {
            let cells: Vec<Option<&Row>> = ws.iter().map(|w| find(rows, &w.id, id, kind)).collect();
            let Some(any) = cells.iter().flatten().next() else {
                continue;
            };
            md.push_str(&format!("| {} | {kind} |", any.label));
            for (w, cell) in ws.iter().zip(&cells) {
                let js = find(rows, &w.id, "js", "V8").and_then(|r| r.median_us);
                md.push_str(&match cell {
                    None => " - |".into(),
                    Some(r) => match (r.median_us, js) {
                        (Some(t), Some(js)) => format!(" {} ({:.2}x) |", micros(t), js / t),
                        (Some(t), None) => format!(" {} |", micros(t)),
                        _ => " wrong |".into(),
                    },
                });
            }
            md.push('\n');
        }
    }
    let wrong: Vec<&Row> = rows
        .iter()
        .filter(|r| r.check.starts_with("wrong"))
        .collect();
    if !wrong.is_empty() {
        md.push_str("\nFailed checks (no time published):\n\n");
        for r in wrong {
            md.push_str(&format!(
                "- {} / {} ({}): {}\n",
                r.workload, r.label, r.engine, r.check
            ));
        }
    }
    std::fs::write(file("md"), &md).unwrap();
    std::fs::write(file("svg"), chart(workloads, rows)).unwrap();
    println!("{md}");
    println!("written: {}.{{json,md,svg}}", stem.display());
}

fn micros(t: f64) -> String {
    if t >= 1000.0 {
        format!("{:.2} ms", t / 1000.0)
    } else {
        format!("{t:.1} µs")
    }
}

/// Speedup over plain JavaScript (log scale) of the main implementations, one group
/// of bars per workload.
fn chart(workloads: &[&Workload], rows: &[Row]) -> String {
    use plotters::prelude::*;
    const SHOWN: &[(&str, &str, &str, RGBColor)] = &[
        (
            "tfjs-wasm-simd",
            "V8",
            "TensorFlow.js WASM SIMD",
            RGBColor(255, 160, 0),
        ),
        ("ort-web", "V8", "ONNX Runtime Web", RGBColor(120, 120, 120)),
        (
            "original",
            "V8",
            "original (clang -O2), V8",
            RGBColor(190, 190, 220),
        ),
        (
            "clang-simd",
            "V8",
            "clang -O3 -msimd128, V8",
            RGBColor(100, 150, 230),
        ),
        ("barq", "V8", "barq portable, V8", RGBColor(40, 170, 90)),
        (
            "barq-fast",
            "V8",
            "barq portable --fast-math, V8",
            RGBColor(20, 110, 60),
        ),
        (
            "barq-native",
            "Wasmtime",
            "barq native target",
            RGBColor(200, 40, 40),
        ),
        (
            "native-c",
            "native",
            "C natively (clang -march=native)",
            RGBColor(40, 40, 40),
        ),
    ];
    let (width, group, bar) = (1100u32, 18 * SHOWN.len() as i32 + 16, 18);
    let top = 40 + 22 * SHOWN.len() as i32;
    let height = (top + group * workloads.len() as i32 + 40) as u32;
    let mut svg = String::new();
    {
        let area = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        area.fill(&WHITE).unwrap();
        let text = |s: &str, x: i32, y: i32, size: i32| {
            Text::new(s.to_string(), (x, y), ("sans-serif", size).into_font())
        };
        area.draw(&text(
            "Speedup over plain JavaScript in V8 (log scale; 1x = JavaScript)",
            10,
            10,
            16,
        ))
        .unwrap();
        for (i, (_, _, name, color)) in SHOWN.iter().enumerate() {
            let y = 36 + 22 * i as i32;
            area.draw(&Rectangle::new([(260, y), (280, y + 14)], color.filled()))
                .unwrap();
            area.draw(&text(name, 290, y, 13)).unwrap();
        }
        let (x0, x1) = (260i32, width as i32 - 20);
        let (lo, hi) = (0.1f64.log10(), 1000f64.log10());
        let x_of =
            |v: f64| x0 + ((v.log10().clamp(lo, hi) - lo) / (hi - lo) * (x1 - x0) as f64) as i32;
        let bottom = top + group * workloads.len() as i32;
        for v in [0.1, 1.0, 10.0, 100.0, 1000.0] {
            let x = x_of(v);
            area.draw(&PathElement::new(
                vec![(x, top - 4), (x, bottom)],
                BLACK.mix(0.3),
            ))
            .unwrap();
            area.draw(&text(&format!("{v}x"), x - 10, bottom + 6, 12))
                .unwrap();
        }
        for (g, w) in workloads.iter().enumerate() {
            let y0 = top + group * g as i32;
            area.draw(&text(&w.name, 10, y0 + group / 2 - 8, 13))
                .unwrap();
            let js = find(rows, &w.id, "js", "V8").and_then(|r| r.median_us);
            for (b, (id, kind, _, color)) in SHOWN.iter().enumerate() {
                let t = find(rows, &w.id, id, kind).and_then(|r| r.median_us);
                if let (Some(t), Some(js)) = (t, js) {
                    let y = y0 + 8 + bar * b as i32;
                    let s = js / t;
                    area.draw(&Rectangle::new(
                        [(x_of(0.1), y), (x_of(s), y + bar - 3)],
                        color.filled(),
                    ))
                    .unwrap();
                    area.draw(&text(&format!("{s:.1}x"), x_of(s) + 4, y + 1, 11))
                        .unwrap();
                }
            }
        }
        area.present().unwrap();
    }
    svg
}
