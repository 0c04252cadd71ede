//! Helpers shared by the integration tests: where the corpus is, and how to compile
//! and instantiate a module in Wasmtime with every import stubbed.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every committed corpus module (`.wasm`) and text module (`.wat`), sorted.
pub fn corpus_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut work = vec![root().join("corpus")];
    while let Some(dir) = work.pop() {
        for entry in std::fs::read_dir(&dir).expect("corpus directory") {
            let path = entry.expect("corpus entry").path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if path.is_dir() {
                if name != "node_modules" && !name.starts_with('.') {
                    work.push(path);
                }
            } else if name.ends_with(".wasm") || name.ends_with(".wat") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Where `corpus/realworld/fetch.sh` puts the npm packages.
pub fn realworld_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BARQ_REALWORLD_DIR") {
        return dir.into();
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
        });
    cache.join("barq/realworld")
}

/// One line of `corpus/realworld/modules.txt`.
pub struct RealWorldModule {
    pub spec: String,
    pub file: String,
    pub producer: String,
    /// `wasmtime` (the suite compiles and instantiates it) or `validate`.
    pub check: String,
    pub path: PathBuf,
}

/// The pinned real-world modules. Panics with the fix when they were not fetched:
/// a silently skipped test proves nothing.
pub fn realworld_modules() -> Vec<RealWorldModule> {
    let list =
        std::fs::read_to_string(root().join("corpus/realworld/modules.txt")).expect("modules.txt");
    let dir = realworld_dir();
    let modules: Vec<RealWorldModule> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let spec = fields[0].to_string();
            let package = &spec[..spec.rfind('@').expect("package@version")];
            RealWorldModule {
                path: dir.join("node_modules").join(package).join(fields[1]),
                file: fields[1].to_string(),
                producer: fields.get(2).unwrap_or(&"?").to_string(),
                check: fields.get(3).unwrap_or(&"wasmtime").to_string(),
                spec,
            }
        })
        .collect();
    for m in &modules {
        assert!(
            m.path.is_file(),
            "{} is missing: run corpus/realworld/fetch.sh (it installs the pinned npm packages into {})",
            m.path.display(),
            dir.display()
        );
    }
    modules
}

/// A Wasmtime engine with every proposal barq may meet turned on.
pub fn engine() -> &'static wasmtime::Engine {
    static ENGINE: OnceLock<wasmtime::Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = wasmtime::Config::new();
        config
            .wasm_threads(true)
            .shared_memory(true)
            .wasm_simd(true)
            .wasm_relaxed_simd(true)
            .wasm_multi_memory(true)
            .wasm_memory64(true)
            .wasm_tail_call(true)
            .wasm_function_references(true)
            .wasm_gc(true)
            .wasm_exceptions(true)
            .wasm_extended_const(true)
            .wasm_custom_page_sizes(true);
        wasmtime::Engine::new(&config).expect("wasmtime engine")
    })
}

/// An engine that counts fuel (tests that check a kernel ran compare fuel used).
pub fn fuel_engine() -> &'static wasmtime::Engine {
    static ENGINE: OnceLock<wasmtime::Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = wasmtime::Config::new();
        config.consume_fuel(true);
        wasmtime::Engine::new(&config).expect("wasmtime engine")
    })
}

/// Compiles `bytes` and instantiates it with every import replaced by a default
/// (trapping functions, zeroed memories, globals and tables).
pub fn instantiate(bytes: &[u8]) -> Result<(), String> {
    let engine = engine();
    let module = wasmtime::Module::new(engine, bytes).map_err(|e| format!("compile: {e:#}"))?;
    let mut store = wasmtime::Store::new(engine, ());
    let mut linker = wasmtime::Linker::new(engine);
    linker
        .define_unknown_imports_as_default_values(&mut store, &module)
        .map_err(|e| format!("imports: {e:#}"))?;
    linker
        .instantiate(&mut store, &module)
        .map(|_| ())
        .map_err(|e| format!("instantiate: {e:#}"))
}

/// Reads a corpus file as bytes (binary or text).
pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Names of the custom sections of a module, in order.
pub fn custom_sections(bytes: &[u8]) -> Vec<String> {
    wasmparser::Parser::new(0)
        .parse_all(bytes)
        .filter_map(|p| match p {
            Ok(wasmparser::Payload::CustomSection(c)) => Some(c.name().to_string()),
            _ => None,
        })
        .collect()
}

/// The `processed-by` entries of a module's producers section.
pub fn processed_by(bytes: &[u8]) -> Vec<String> {
    let mut tools = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(bytes).flatten() {
        if let wasmparser::Payload::CustomSection(c) = payload {
            if c.name() != "producers" {
                continue;
            }
            let reader = wasmparser::BinaryReader::new(c.data(), c.data_offset());
            let Ok(section) = wasmparser::ProducersSectionReader::new(reader) else {
                continue;
            };
            for field in section.into_iter().flatten() {
                if field.name == "processed-by" {
                    for value in field.values.into_iter().flatten() {
                        tools.push(value.name.to_string());
                    }
                }
            }
        }
    }
    tools
}

/// Custom sections of `input` missing from `output` (DWARF excepted: barq drops it
/// unless -g, as wasm-opt does).
pub fn lost_custom_sections(input: &[u8], output: &[u8]) -> Vec<String> {
    let after = custom_sections(output);
    custom_sections(input)
        .into_iter()
        .filter(|name| !name.starts_with(".debug") && !after.contains(name))
        .collect()
}

/// Fails with every collected failure, one per line (so one run shows them all).
pub fn assert_no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `memset`, `memcpy` and `memmove` for corpus modules linked with
/// `--allow-undefined` (clang may turn loops into these calls): exact, trapping out
/// of bounds.
pub fn link_libc(linker: &mut wasmtime::Linker<()>) {
    barq_wasm::native::add_libc_memory_to_linker(linker).expect("libc memory functions");
}

/// `--target native` with everything else default.
pub fn native_options() -> barq_wasm::Options {
    barq_wasm::Options {
        target: barq_wasm::Target::Native,
        ..barq_wasm::Options::default()
    }
}

/// An instance for the native target's tests: fuel metered (unlimited, to count
/// what a call costs), the runner's `barq` kernels and libc memory functions,
/// other imports as default values, memory grown by `pages`; `base` is where the
/// grown pages start.
pub struct NativeSide {
    pub store: wasmtime::Store<()>,
    pub instance: wasmtime::Instance,
    pub base: i64,
}

pub fn native_side(module: &wasmtime::Module, pages: u64) -> NativeSide {
    let engine = fuel_engine();
    let mut store = wasmtime::Store::new(engine, ());
    store.set_fuel(u64::MAX).expect("fuel");
    let mut linker = wasmtime::Linker::new(engine);
    barq_wasm::native::add_to_linker(&mut linker).expect("kernels");
    barq_wasm::native::add_libc_memory_to_linker(&mut linker).expect("libc");
    linker
        .define_unknown_imports_as_default_values(&mut store, module)
        .expect("imports");
    let instance = linker.instantiate(&mut store, module).expect("instantiate");
    let memory = instance.get_memory(&mut store, "memory").expect("memory");
    let base = memory.data_size(&store) as i64;
    memory.grow(&mut store, pages).expect("grow");
    NativeSide {
        store,
        instance,
        base,
    }
}

/// Every corpus module whose path contains `fragment` (there must be `files`),
/// optimized for the native target: no finding `unwanted` accepts.
pub fn assert_never_identified(
    fragment: &str,
    files: usize,
    unwanted: impl Fn(&barq_wasm::Finding) -> bool,
) {
    assert_never_identified_with(fragment, files, &[native_options()], unwanted);
}

/// [`assert_never_identified`], optimized with each of `options`.
pub fn assert_never_identified_with(
    fragment: &str,
    files: usize,
    options: &[barq_wasm::Options],
    unwanted: impl Fn(&barq_wasm::Finding) -> bool,
) {
    let paths: Vec<_> = corpus_files()
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            s.contains(fragment) && s.ends_with(".wasm")
        })
        .collect();
    assert_eq!(paths.len(), files, "{fragment}: {paths:?}");
    for path in paths {
        let input = read(&path);
        for options in options {
            let result = barq_wasm::optimize(&input, options).expect("optimize");
            let found: Vec<_> = result
                .report
                .findings
                .iter()
                .filter(|f| unwanted(f))
                .collect();
            assert!(
                found.is_empty(),
                "{} {:?}: {found:?}",
                path.display(),
                options.target
            );
        }
    }
}

/// Without `--fast-math`, `corpus/<file>` gets no `pattern` finding on either
/// target (the rewrite has no exact form, so nothing is probed).
pub fn assert_needs_fast_math(file: &str, pattern: &str) {
    let input = read(&root().join("corpus").join(file));
    for target in [barq_wasm::Target::Portable, barq_wasm::Target::Native] {
        let plain = barq_wasm::Options {
            target,
            ..barq_wasm::Options::default()
        };
        let result = barq_wasm::optimize(&input, &plain).expect("optimize");
        assert!(
            result.report.findings.iter().all(|f| f.pattern != pattern),
            "{file} {target:?}"
        );
    }
}

/// A module exporting `d(a, b, c, d) -> i32` that calls the kernel `barq::name`
/// directly, with `pages` of memory exported as `memory`, instantiated as
/// [`native_side`] does (memory grown by `grow` pages): for the kernels'
/// hostile-argument tests.
pub fn kernel_side(name: &str, pages: u32, grow: u64) -> NativeSide {
    let wat = format!(
        r#"(module
        (import "barq" "{name}" (func $d (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") {pages})
        (func (export "d") (param i32 i32 i32 i32) (result i32)
          local.get 0 local.get 1 local.get 2 local.get 3 call $d))"#
    );
    let module = wasmtime::Module::new(fuel_engine(), wat::parse_str(wat).unwrap()).unwrap();
    native_side(&module, grow)
}

/// Calls export `d` of a [`kernel_side`]: its result, or the trap's root cause.
pub fn call_kernel(s: &mut NativeSide, args: [i32; 4]) -> Result<i32, String> {
    let f = s.instance.get_func(&mut s.store, "d").expect("export d");
    let mut out = [wasmtime::Val::I32(0)];
    let args = args.map(wasmtime::Val::I32);
    f.call(&mut s.store, &args, &mut out)
        .map(|()| out[0].unwrap_i32())
        .map_err(|e| format!("{}", e.root_cause()))
}

/// The initial value of `__stack_pointer` (by its name in the name section), if
/// the module has one.
pub fn initial_stack_pointer(wasm: &[u8]) -> Option<usize> {
    let text = wasmprinter::print_bytes(wasm).expect("print");
    text.lines()
        .find(|l| l.contains("(global $__stack_pointer") && l.contains("(mut i32)"))
        .and_then(|l| l.split("i32.const ").nth(1))
        .and_then(|v| {
            v.split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|d| d.parse::<usize>().ok())
        })
}
