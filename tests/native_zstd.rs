//! The native target's Zstandard decoder: @bokuweb/zstd-wasm's `ZSTD_decompress`
//! (export `r`, emscripten) is identified by probing and calls
//! `barq::zstd_decompress_v1` behind a guard, running its own body when the
//! kernel declines. Checked by running original and rewritten modules (with the
//! runner's kernels) on frames the zstd library made (text, random bytes, runs;
//! 0 to 300,000 bytes; levels -5 to 19; checksums; many blocks; concatenated,
//! skippable and unsized frames), with the exact capacity, more, far more (the
//! literals the decoder leaves past the output) and one byte less; on corrupted
//! and truncated frames; unaligned, overlapping, at the end of memory and past
//! it; negative sizes. Results (or traps) and the region holding the buffers
//! identical after every call (the rest of memory is the allocator's: the
//! original allocates its context on every call, the kernel does not); the near
//! misses (wrappers of the real decoder that differ in one detail, and C
//! functions that parse the frame but do not decode it as the library does)
//! never identified; the kernel's hostile arguments; under the portable target,
//! reported only.

mod common;

use barq_passes::fingerprints::zstd::{frame, words};
use barq_passes::probe::Rng;
use barq_wasm::{optimize, Action, Tier};
use wasmtime::{Instance, Module, Store, Val};

/// Pages grown onto memory for the buffers (the tests' region).
const PAGES: u64 = 24;

fn real_module() -> Vec<u8> {
    let module = common::realworld_modules()
        .into_iter()
        .find(|m| m.spec.starts_with("@bokuweb/zstd-wasm"))
        .expect("zstd-wasm in modules.txt");
    common::read(&module.path)
}

/// The report's one `zstd_decompress` finding, which must be for export `r`.
fn decoder_finding(report: &barq_wasm::Report) -> &barq_wasm::Finding {
    let found: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.pattern == "zstd_decompress")
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].function, "r");
    found[0]
}

struct Side {
    store: Store<()>,
    instance: Instance,
    /// Where the grown pages start.
    base: usize,
}

/// An instance with the runner's kernels, emscripten's imports as default
/// values, its constructors run, and `PAGES` grown onto its memory (export `f`).
fn side(bytes: &[u8]) -> Side {
    let engine = common::fuel_engine();
    let module = Module::new(engine, bytes).expect("compile");
    let mut store = Store::new(engine, ());
    store.set_fuel(u64::MAX).unwrap();
    let mut linker = wasmtime::Linker::new(engine);
    barq_wasm::native::add_to_linker(&mut linker).unwrap();
    linker
        .define_unknown_imports_as_default_values(&mut store, &module)
        .unwrap();
    let instance = linker
        .instantiate(&mut store, &module)
        .expect("instantiate");
    let ctors = instance.get_func(&mut store, "g").unwrap();
    ctors.call(&mut store, &[], &mut []).unwrap();
    let memory = instance.get_memory(&mut store, "f").unwrap();
    let base = memory.data_size(&store);
    memory.grow(&mut store, PAGES).unwrap();
    Side {
        store,
        instance,
        base,
    }
}

/// One call: the frames written at `src` (offsets into the region; negative:
/// from the end of memory), `export(dst, cap, src, size)`.
struct Call {
    dst: i64,
    cap: i32,
    src: i64,
    size: i32,
}

/// Runs the call; the result (or trap), the fuel used and the region afterwards.
fn run(s: &mut Side, export: &str, frames: &[u8], c: &Call) -> (Result<i32, String>, u64, Vec<u8>) {
    let memory = s.instance.get_memory(&mut s.store, "f").unwrap();
    let end = memory.data_size(&s.store) as i64;
    let at = |offset: i64| {
        if offset < 0 {
            end + offset
        } else {
            s.base as i64 + offset
        }
    };
    let (src, dst) = (at(c.src), at(c.dst));
    let data = memory.data_mut(&mut s.store);
    for (i, b) in data[s.base..].iter_mut().enumerate() {
        *b = (i * 7 % 251) as u8;
    }
    let fits = (src as usize + frames.len()).min(end as usize) - src as usize;
    data[src as usize..src as usize + fits].copy_from_slice(&frames[..fits]);
    let func = s.instance.get_func(&mut s.store, export).unwrap();
    let mut out = [Val::I32(0)];
    let before = s.store.get_fuel().unwrap();
    let args = [
        Val::I32(dst as i32),
        Val::I32(c.cap),
        Val::I32(src as i32),
        Val::I32(c.size),
    ];
    let result = func
        .call(&mut s.store, &args, &mut out)
        .map(|()| out[0].unwrap_i32())
        .map_err(|e| format!("{}", e.root_cause()));
    let used = before - s.store.get_fuel().unwrap();
    let memory = s.instance.get_memory(&mut s.store, "f").unwrap();
    (result, used, memory.data(&s.store)[s.base..].to_vec())
}

/// Valid inputs: (frames, decoded size, what).
fn inputs(rng: &mut Rng) -> Vec<(Vec<u8>, usize, String)> {
    let text = words(rng, 300_000);
    let random: Vec<u8> = (0..100_000).map(|_| rng.next_u64() as u8).collect();
    let mut out = Vec::new();
    for n in [0usize, 1, 100, 5000, 70_000, 300_000] {
        for (kind, data) in [
            ("text", text[..n].to_vec()),
            ("random", random[..n.min(random.len())].to_vec()),
            ("runs", (0..n).map(|i| (i / 1000) as u8).collect()),
        ] {
            let level = [1, 3, 19, -5][(n + kind.len()) % 4];
            let f = frame(&data, level, n % 2 == 0, 0, true);
            out.push((f, data.len(), format!("{kind} {n} level {level}")));
        }
    }
    out.push((
        frame(&text[..40_000], 3, true, 10, true),
        40_000,
        "many blocks".into(),
    ));
    let mut two = frame(&text[..5000], 1, true, 0, true);
    two.extend_from_slice(&frame(&random[..3000], 3, false, 0, true));
    out.push((two, 8000, "two frames".into()));
    let mut skip = vec![0x5f, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9];
    skip.extend_from_slice(&frame(&text[..6000], 5, false, 0, true));
    out.push((skip, 6000, "skippable, then a frame".into()));
    out.push((
        frame(&text[..9000], 3, true, 0, false),
        9000,
        "no content size".into(),
    ));
    out
}

/// `bytes` with one to three bytes flipped, inserted or deleted.
fn mutate(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for _ in 0..1 + rng.next_u64() % 3 {
        let at = (rng.next_u64() as usize) % (out.len() + 1);
        match rng.next_u64() % 3 {
            0 if at < out.len() => out[at] ^= 1 << (rng.next_u64() % 8),
            1 => out.insert(at, rng.next_u64() as u8),
            _ if at < out.len() => {
                out.remove(at);
            }
            _ => {}
        }
    }
    out
}

#[test]
fn zstd_wasm_decoder_behaves_exactly_like_the_original() {
    let input = real_module();
    let result = optimize(&input, &common::native_options()).expect("optimize");
    let found = decoder_finding(&result.report);
    assert_eq!(
        (found.action, found.tier),
        (Action::Rewritten, Some(Tier::Native))
    );
    let (mut a, mut b) = (side(&input), side(&result.wasm));
    let mut rng = Rng(0x2575);
    let (mut calls, mut kernel_runs) = (0, 0);
    for (frames, n, what) in inputs(&mut rng) {
        let len = frames.len() as i32;
        let size = n as i32;
        let mut variants = vec![(frames.clone(), "as made".to_string())];
        for k in 0..4 {
            variants.push((mutate(&mut rng, &frames), format!("mutated {k}")));
        }
        let cut = (rng.next_u64() as usize) % frames.len();
        variants.push((frames[..cut].to_vec(), format!("cut at {cut}")));
        variants.push((Vec::new(), "empty".to_string()));
        for (bytes, how) in &variants {
            let blen = bytes.len() as i32;
            let far = (PAGES as i32 * 65536 - 2 * len - 4096).min(size + 300_000);
            let mut cases = vec![
                // Exact capacity, more, far more, one byte less; unaligned.
                Call {
                    dst: 400_000,
                    cap: size,
                    src: 0,
                    size: blen,
                },
                Call {
                    dst: 400_003,
                    cap: size + 1,
                    src: 5,
                    size: blen,
                },
                Call {
                    dst: len as i64 + 7,
                    cap: far,
                    src: 1,
                    size: blen,
                },
                Call {
                    dst: 400_000,
                    cap: size - 1,
                    src: 0,
                    size: blen,
                },
            ];
            if how == "as made" {
                cases.extend([
                    // Overlapping: the output over the frames, the frames inside the output.
                    Call {
                        dst: 0,
                        cap: size + 20,
                        src: 10,
                        size: blen,
                    },
                    Call {
                        dst: 90,
                        cap: size + len + 200,
                        src: 100,
                        size: blen,
                    },
                    // At the very end of memory, the output past it, wrapping.
                    Call {
                        dst: 0,
                        cap: size,
                        src: -(len as i64) - 16,
                        size: blen,
                    },
                    Call {
                        dst: 400_000,
                        cap: size,
                        src: -(len as i64),
                        size: blen,
                    },
                    Call {
                        dst: -(size as i64) + 1,
                        cap: size,
                        src: 0,
                        size: blen,
                    },
                    Call {
                        dst: 400_000,
                        cap: size,
                        src: 0,
                        size: -1,
                    },
                    Call {
                        dst: 400_000,
                        cap: -5,
                        src: 0,
                        size: blen,
                    },
                ]);
            }
            for c in &cases {
                if c.dst < 0 && size == 0 {
                    continue;
                }
                let (ra, fa, ma) = run(&mut a, "r", bytes, c);
                let (rb, fb, mb) = run(&mut b, "r", bytes, c);
                let case = format!(
                    "{what}, {how}: dst={} cap={} src={} size={}",
                    c.dst, c.cap, c.src, c.size
                );
                assert_eq!(ra, rb, "{case}");
                assert!(ma == mb, "{case}: memory differs");
                calls += 1;
                if ra.is_ok_and(|r| r >= 0) && fb * 10 < fa {
                    kernel_runs += 1;
                }
            }
        }
    }
    assert!(calls > 500, "{calls} calls");
    assert!(kernel_runs >= 40, "the kernel ran {kernel_runs} times");
}

/// Under the portable target (SIMD128 or not) the decoder is identified and
/// reported `detected`, and the output imports nothing from `barq`.
#[test]
fn portable_target_reports_the_decoder() {
    let input = real_module();
    for allow_simd in [true, false] {
        let options = barq_wasm::Options {
            allow_simd,
            ..barq_wasm::Options::default()
        };
        let result = optimize(&input, &options).expect("optimize");
        let found = decoder_finding(&result.report);
        assert_eq!(found.action, Action::Detected);
        assert!(found
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("no portable kernel")));
        let module = Module::new(common::fuel_engine(), &result.wasm).unwrap();
        assert!(module.imports().all(|i| i.module() != "barq"));
    }
}

/// Wrappers of the real decoder that differ from it in one detail (a 0 written
/// after the output; one byte of capacity held back; the size returned plus one;
/// the frames read one byte short) and C functions that parse a frame but do not
/// decode it as the library does (raw and RLE blocks only; the declared size
/// returned) are never identified.
#[test]
fn zstd_near_misses_are_not_identified() {
    use walrus::ir::BinaryOp;
    use walrus::{FunctionBuilder, ValType::I32};
    let mut module = walrus::Module::from_buffer(&real_module()).unwrap();
    let r = module.exports.get_func("r").unwrap();
    let memory = module.memories.iter().next().unwrap().id();
    let result = module.locals.add(I32);
    let mut add = |name: &str, body: &dyn Fn(&mut walrus::InstrSeqBuilder, &[walrus::LocalId])| {
        let mut b = FunctionBuilder::new(&mut module.types, &[I32; 4], &[I32]);
        let args: Vec<_> = (0..4).map(|_| module.locals.add(I32)).collect();
        body(&mut b.func_body(), &args);
        let f = b.finish(args, &mut module.funcs);
        module.exports.add(name, f);
    };
    let call =
        |seq: &mut walrus::InstrSeqBuilder, args: &[walrus::LocalId], cap: i32, size: i32| {
            seq.local_get(args[0])
                .local_get(args[1])
                .i32_const(cap)
                .binop(BinaryOp::I32Add)
                .local_get(args[2])
                .local_get(args[3])
                .i32_const(size)
                .binop(BinaryOp::I32Add)
                .call(r);
        };
    add("held_back", &|seq, args| call(seq, args, -1, 0));
    add("short_read", &|seq, args| call(seq, args, 0, -1));
    add("plus_one", &|seq, args| {
        call(seq, args, 0, 0);
        seq.i32_const(1).binop(BinaryOp::I32Add);
    });
    add("terminated", &|seq, args| {
        call(seq, args, 0, 0);
        // dst[n] = 0 when n < cap.
        seq.local_set(result)
            .local_get(result)
            .local_get(args[1])
            .binop(BinaryOp::I32LtU)
            .if_else(
                None,
                |then| {
                    then.local_get(args[0])
                        .local_get(result)
                        .binop(BinaryOp::I32Add)
                        .i32_const(0)
                        .store(
                            memory,
                            walrus::ir::StoreKind::I32_8 { atomic: false },
                            walrus::ir::MemArg {
                                align: 1,
                                offset: 0,
                            },
                        );
                },
                |_| {},
            )
            .local_get(result);
    });
    let wrapped = module.emit_wasm();
    let report = optimize(&wrapped, &common::native_options())
        .expect("optimize")
        .report;
    let found: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.pattern == "zstd_decompress")
        .map(|f| f.function.as_str())
        .collect();
    assert_eq!(found, ["r"], "only the decoder itself");
    common::assert_never_identified("/zstd_like.", 7, |f| f.pattern == "zstd_decompress");
}

/// The kernel on hostile arguments: ranges past the end or wrapping trap;
/// overlapping buffers, malformed and unsized frames and a too small output
/// return -1 and leave memory alone; no frames at all decode to nothing.
#[test]
fn zstd_kernel_traps_on_bad_ranges_and_declines_the_rest() {
    let mut s = common::kernel_side("zstd_decompress_v1", 4, 0);
    let end = 4 * 65536;
    let text = words(&mut Rng(9), 5000);
    let good = frame(&text, 3, true, 0, true);
    let no_size = frame(&text, 3, true, 0, false);
    let memory = s.instance.get_memory(&mut s.store, "memory").unwrap();
    memory.data_mut(&mut s.store)[..good.len()].copy_from_slice(&good);
    memory.data_mut(&mut s.store)[100_000..100_000 + no_size.len()].copy_from_slice(&no_size);
    let call = |s: &mut common::NativeSide, a, b, c, d| common::call_kernel(s, [a, b, c, d]);
    let g = good.len() as i32;
    assert_eq!(call(&mut s, 50_000, 5000, 0, g), Ok(5000));
    assert_eq!(&memory.data(&s.store)[50_000..55_000], &text[..]);
    let snapshot = |s: &common::NativeSide| memory.data(&s.store).to_vec();
    let before = snapshot(&s);
    // No frames at all decode to nothing (as the library says).
    assert_eq!(call(&mut s, 150_000, 5000, 0, 0), Ok(0));
    // Declined: a byte too small, overlapping, empty, truncated, no_size, corrupted.
    assert_eq!(call(&mut s, 150_000, 4999, 0, g), Ok(-1));
    assert_eq!(call(&mut s, 10, 5000, 0, g), Ok(-1));
    assert_eq!(call(&mut s, 150_000, 5000, 0, g - 3), Ok(-1));
    assert_eq!(
        call(&mut s, 150_000, 6000, 100_000, no_size.len() as i32),
        Ok(-1)
    );
    memory.data_mut(&mut s.store)[g as usize / 2] ^= 0x40;
    assert_eq!(call(&mut s, 150_000, 200_000 - 150_000, 0, g), Ok(-1));
    memory.data_mut(&mut s.store)[g as usize / 2] ^= 0x40;
    assert!(snapshot(&s) == before, "declining leaves memory alone");
    // Past the end, wrapping, negative: traps.
    for (a, b, c, d) in [
        (end - 100, 5000, 0, g),
        (50_000, 5000, end - 10, g),
        (-1, 5000, 0, g),
        (50_000, -1, 0, g),
        (50_000, 5000, 0, -2),
    ] {
        let r = call(&mut s, a, b, c, d);
        assert!(
            r.as_ref().is_err_and(|e| e.contains("out of bounds")),
            "{a} {b} {c} {d}: {r:?}"
        );
    }
    assert!(snapshot(&s) == before);
}
