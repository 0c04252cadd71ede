//! `--verify`: original and rewritten functions run side by side on generated
//! inputs. It must pass on the corpus, mark what it checked, and catch a broken
//! rewrite (injected here by tampering with barq's copy kernels), drop it, and
//! leave an output that behaves like the input.

mod common;

use barq_wasm::verify::optimize_verified;
use barq_wasm::{Action, Options};

fn corpus(names: &[&str]) -> Vec<std::path::PathBuf> {
    names
        .iter()
        .map(|n| common::root().join("corpus").join(n))
        .collect()
}

#[test]
fn verify_passes_on_the_corpus_and_marks_what_it_ran() {
    let mut checked = 0;
    for path in corpus(&[
        "c/axpy.O2.wasm",
        "c/relu.Oz.wasm",
        "c/bytes.O2.wasm",
        "c/bytes.Oz.wasm",
        "c/widening.O3.wasm",
        "c/partial_sums.O2.wasm",
        "c/unrolled.Os.wasm",
        "rust/bytes.O3.wasm",
        "rust/vector.O3.wasm",
        "assemblyscript/bytes.O3.wasm",
        "assemblyscript/bytes.Oz.wasm",
        "assemblyscript/vector.Oz.wasm",
    ]) {
        let input = common::read(&path);
        let v = optimize_verified(&input, &Options::default(), None, |_, _| {})
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            v.differences.is_empty(),
            "{}: {:?}",
            path.display(),
            v.differences
        );
        assert!(
            v.cases >= v.checked * 16,
            "{}: {} cases",
            path.display(),
            v.cases
        );
        checked += v.checked;
        for f in &v.optimized.report.findings {
            if f.action == Action::Rewritten {
                assert_eq!(f.verified, Some(true), "{}: {f:?}", path.display());
            }
        }
        assert!(v
            .optimized
            .report
            .notes
            .iter()
            .any(|n| n.starts_with("verified by running")));
    }
    assert!(checked >= 40, "only {checked} functions checked");
}

/// Makes every `barq_copy_*` kernel copy one byte less than it should.
fn break_copy_kernels(module: &mut walrus::Module) {
    use walrus::ir::{BinaryOp, Instr};
    let kernels: Vec<_> = module
        .funcs
        .iter()
        .filter(|f| {
            f.name
                .as_deref()
                .is_some_and(|n| n.starts_with("barq_copy_"))
        })
        .map(|f| f.id())
        .collect();
    for id in kernels {
        let func = module.funcs.get_mut(id).kind.unwrap_local_mut();
        let entry = func.entry_block();
        let position = func
            .block(entry)
            .instrs
            .iter()
            .position(|(i, _)| matches!(i, Instr::MemoryCopy(_)))
            .expect("memory.copy in a copy kernel");
        let mut body = func.builder_mut().instr_seq(entry);
        body.instr_at(
            position,
            Instr::Binop(walrus::ir::Binop {
                op: BinaryOp::I32Sub,
            }),
        );
        body.instr_at(
            position,
            Instr::Const(walrus::ir::Const {
                value: walrus::ir::Value::I32(1),
            }),
        );
    }
}

#[test]
fn verify_catches_a_broken_rewrite_and_drops_it() {
    let path = common::root().join("corpus/c/bytes.O2.wasm");
    let input = common::read(&path);
    let v = optimize_verified(
        &input,
        &Options::default(),
        Some(&break_copy_kernels),
        |_, _| {},
    )
    .expect("verify");
    let differing: Vec<&str> = v.differences.iter().map(|d| d.function.as_str()).collect();
    for copy in [
        "copy_u8",
        "copy_u8_ptr",
        "copy_back_u8",
        "copy_u16",
        "copy_u32",
        // (copy_u64 at -O2 copies 32 bytes a step: left alone, `wide_copy`.)
    ] {
        assert!(
            differing.contains(&copy),
            "{copy} not caught: {differing:?}"
        );
    }
    for fill in ["fill_u8", "zero_u8", "smear_u8"] {
        assert!(
            !differing.contains(&fill),
            "{fill} flagged: {:?}",
            v.differences
        );
    }
    let detail = &v.differences[0].detail;
    assert!(
        detail.contains("inputs (") && detail.contains("memory differs first at byte"),
        "{detail}"
    );
    // The dropped functions are no longer rewritten, and say why.
    for f in &v.optimized.report.findings {
        if differing.contains(&f.function.as_str()) {
            assert_ne!(f.action, Action::Rewritten, "{f:?}");
            assert_eq!(f.verified, Some(false), "{f:?}");
        }
    }
    assert!(v
        .optimized
        .report
        .findings
        .iter()
        .any(|f| f.function == "fill_u8" && f.action == Action::Rewritten));
    // And the output, checked again without tampering, has no difference left.
    let again = optimize_verified(&v.optimized.wasm, &Options::default(), None, |_, _| {})
        .expect("verify the output");
    assert!(again.differences.is_empty(), "{:?}", again.differences);
}

#[test]
fn cli_verify_modes() {
    let bin = env!("CARGO_BIN_EXE_barq-opt");
    let input = common::root().join("corpus/c/bytes.O2.wasm");
    for mode in ["--verify", "--verify=drop", "--verify=fail"] {
        let out = std::process::Command::new(bin)
            .arg(&input)
            .arg(mode)
            .arg("--report=json")
            .output()
            .expect("run barq-opt");
        assert!(
            out.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("\"verified\": true"), "{mode}: {text}");
    }
    let out = std::process::Command::new(bin)
        .arg(&input)
        .arg("--verify=sometimes")
        .output()
        .expect("run barq-opt");
    assert!(!out.status.success());
}

/// Byte assemblies with wrapping address arithmetic (`p + 3`, AssemblyScript -Oz)
/// become a wide load only when `p + 3` does not wrap; at the top of the address
/// space the original code runs. Both must behave alike at every edge.
#[test]
fn combined_loads_keep_the_original_code_where_addresses_wrap() {
    use wasmtime::{Engine, Instance, Module, Store, Val};
    let path = common::root().join("corpus/assemblyscript/bytes.Oz.wasm");
    let input = common::read(&path);
    let out = barq_wasm::optimize(&input, &Options::default()).expect("optimize");
    assert!(out
        .report
        .findings
        .iter()
        .any(|f| f.pattern == "load_combine"
            && f.reason
                .as_deref()
                .is_some_and(|r| r.contains("does not wrap"))));
    let engine = Engine::default();
    let run = |wasm: &[u8], name: &str, p: i32| -> String {
        let module = Module::new(&engine, wasm).expect("compile");
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).expect("instantiate");
        let memory = instance.get_memory(&mut store, "memory").expect("memory");
        memory.grow(&mut store, 1).expect("grow");
        for (i, b) in memory.data_mut(&mut store).iter_mut().enumerate() {
            *b = (i * 31 + 7) as u8;
        }
        let f = instance.get_func(&mut store, name).expect("export");
        let mut results = vec![Val::I64(0)];
        match f.call(&mut store, &[Val::I32(p)], &mut results) {
            Ok(()) => format!("{:?}", results[0].i64().or(results[0].i32().map(i64::from))),
            Err(e) => format!("trap {:?}", e.downcast_ref::<wasmtime::Trap>()),
        }
    };
    for name in [
        "read_u16_le",
        "read_u32_le",
        "read_u64_le",
        "read_u32_be",
        "read_u64_be",
    ] {
        for p in [0, 1, 65530, 65532, 65533, 65535, 65536, -8, -4, -3, -2, -1] {
            assert_eq!(run(&input, name, p), run(&out.wasm, name, p), "{name}({p})");
        }
    }
}

/// Values written byte by byte (AssemblyScript), little-endian or 8 big-endian
/// bytes, become one wide store (big-endian: of the bytes shuffled) behind a
/// bounds check: at the end of memory, where the byte stores write the bytes that
/// fit and then trap, the original stores run. Memory and traps must be the same
/// at every edge.
#[test]
fn combined_stores_keep_partial_writes_at_the_end_of_memory() {
    use wasmtime::{Engine, Instance, Module, Store, Val};
    for level in ["O3", "Oz"] {
        let path = common::root().join(format!("corpus/assemblyscript/bytes.{level}.wasm"));
        let input = common::read(&path);
        let out = barq_wasm::optimize(&input, &Options::default()).expect("optimize");
        let combined: Vec<_> = out
            .report
            .findings
            .iter()
            .filter(|f| f.pattern == "store_combine" && f.action == Action::Rewritten)
            .map(|f| f.function.as_str())
            .collect();
        for name in [
            "write_u32_le",
            "write_u64_le",
            "write_u64_be",
            "encode_u64_be",
            "bson_encode",
        ] {
            assert!(combined.contains(&name), "{level}: {combined:?}");
        }
        // Bytes in neither order, and 4 big-endian bytes (not cheaper): left alone.
        for name in ["write_u32_mixed", "write_u32_be"] {
            assert!(!combined.contains(&name), "{level}: {combined:?}");
        }
        let engine = Engine::default();
        let run = |wasm: &[u8], name: &str, args: &[Val]| -> (String, Vec<u8>) {
            let module = Module::new(&engine, wasm).expect("compile");
            let mut store = Store::new(&engine, ());
            let instance = Instance::new(&mut store, &module, &[]).expect("instantiate");
            let memory = instance.get_memory(&mut store, "memory").expect("memory");
            memory.grow(&mut store, 1).expect("grow");
            for (i, b) in memory.data_mut(&mut store).iter_mut().enumerate() {
                *b = (i * 31 + 7) as u8;
            }
            let f = instance.get_func(&mut store, name).expect("export");
            let mut results = vec![Val::I32(0); f.ty(&store).results().len()];
            let outcome = match f.call(&mut store, args, &mut results) {
                Ok(()) => format!("{:?}", results.first().and_then(|r| r.i32())),
                Err(e) => format!("trap {:?}", e.downcast_ref::<wasmtime::Trap>()),
            };
            (outcome, memory.data(&store).to_vec())
        };
        let end = {
            let module = Module::new(&engine, &input).unwrap();
            let mut store = Store::new(&engine, ());
            let instance = Instance::new(&mut store, &module, &[]).unwrap();
            let memory = instance.get_memory(&mut store, "memory").unwrap();
            (memory.data_size(&store) + 65536) as i32
        };
        let value = 0x0102_0304_0506_0708i64;
        for p in [
            0,
            1,
            4096,
            end - 9,
            end - 8,
            end - 7,
            end - 5,
            end - 4,
            end - 3,
            end - 1,
            end,
            -4,
            -1,
        ] {
            for (name, args) in [
                ("write_u32_le", vec![Val::I32(p), Val::I32(value as i32)]),
                ("write_u64_le", vec![Val::I32(p), Val::I64(value)]),
                ("write_u32_be", vec![Val::I32(p), Val::I32(value as i32)]),
                ("write_u64_be", vec![Val::I32(p), Val::I64(value)]),
                ("write_u32_mixed", vec![Val::I32(p), Val::I32(value as i32)]),
                ("bson_encode", vec![Val::I32(p), Val::I32(64), Val::I32(3)]),
                (
                    "encode_u64_be",
                    vec![Val::I32(p), Val::I32(64), Val::I32(2)],
                ),
                (
                    "bson_encode",
                    vec![Val::I32(4096), Val::I32(p), Val::I32(2)],
                ),
            ] {
                let (a, ma) = run(&input, name, &args);
                let (b, mb) = run(&out.wasm, name, &args);
                assert_eq!(a, b, "{level} {name}({p})");
                assert!(ma == mb, "{level} {name}({p}): memory differs");
            }
        }
    }
}

/// The i64 forms of byte assemblies (4 bytes into an i64, both byte orders, and
/// bytes extended from i32 loads) are combined and behave alike.
#[test]
fn i64_byte_assemblies_are_combined_exactly() {
    let byte = |k: u32, shift: u32| {
        format!("(i64.shl (i64.extend_i32_u (i32.load8_u offset={k} (local.get $p))) (i64.const {shift}))")
    };
    let tree = |shifts: [u32; 4]| {
        format!(
            "(i64.or (i64.or {} {}) (i64.or {} {}))",
            byte(0, shifts[0]),
            byte(1, shifts[1]),
            byte(2, shifts[2]),
            byte(3, shifts[3])
        )
    };
    let wat = format!(
        r#"(module (memory (export "memory") 1)
             (func (export "le") (param $p i32) (result i64) {})
             (func (export "be") (param $p i32) (result i64) {}))"#,
        tree([0, 8, 16, 24]),
        tree([24, 16, 8, 0])
    );
    let wasm = wat::parse_str(&wat).expect("wat");
    let v = optimize_verified(&wasm, &Options::default(), None, |_, _| {}).expect("verify");
    assert!(v.differences.is_empty(), "{:?}", v.differences);
    let rewritten: Vec<_> = v
        .optimized
        .report
        .findings
        .iter()
        .filter(|f| f.action == Action::Rewritten && f.verified == Some(true))
        .map(|f| f.function.as_str())
        .collect();
    assert_eq!(rewritten, ["le", "be"], "{:?}", v.optimized.report.findings);
}

#[test]
fn verify_runs_modules_with_an_imported_shared_memory() {
    // A byte copy loop in a module built for threads: its memory is imported and
    // shared, not exported. --verify must still run it on a scratch region (and so
    // catch a broken copy).
    let wasm = wat::parse_str(
        r#"(module
          (import "env" "memory" (memory 1 16384 shared))
          (func (export "copy_u8") (param $dst i32) (param $src i32) (param $n i32)
            (local $i i32)
            block $done
              local.get $n
              i32.const 1
              i32.lt_s
              br_if $done
              loop $next
                local.get $dst
                local.get $i
                i32.add
                local.get $src
                local.get $i
                i32.add
                i32.load8_u
                i32.store8
                local.get $i
                i32.const 1
                i32.add
                local.tee $i
                local.get $n
                i32.ne
                br_if $next
              end
            end))"#,
    )
    .expect("wat");
    let clean = optimize_verified(&wasm, &Options::default(), None, |_, _| {}).expect("verify");
    assert!(clean.differences.is_empty(), "{:?}", clean.differences);
    assert!(
        clean
            .optimized
            .report
            .findings
            .iter()
            .any(|f| f.function == "copy_u8" && f.verified == Some(true)),
        "{:?}",
        clean.optimized.report.findings
    );
    let broken = optimize_verified(
        &wasm,
        &Options::default(),
        Some(&break_copy_kernels),
        |_, _| {},
    )
    .expect("verify");
    assert_eq!(
        broken
            .differences
            .iter()
            .map(|d| d.function.as_str())
            .collect::<Vec<_>>(),
        ["copy_u8"]
    );
}

/// Eight big-endian bytes are combined with a shuffle only where SIMD128 is
/// allowed: with `--no-simd` they are reported and the stores stay.
#[test]
fn big_endian_stores_need_simd() {
    let input = common::read(&common::root().join("corpus/assemblyscript/bytes.O3.wasm"));
    let no_simd = Options {
        allow_simd: false,
        ..Options::default()
    };
    let out = barq_wasm::optimize(&input, &no_simd).expect("optimize");
    let found: Vec<_> = out
        .report
        .findings
        .iter()
        .filter(|f| f.pattern == "store_combine" && f.function == "write_u64_be")
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].action, Action::Detected, "{found:?}");
    assert!(
        found[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("SIMD128")),
        "{found:?}"
    );
}
