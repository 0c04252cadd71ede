//! The native target's LZ4 decoder: functions identified by probing as LZ4 block
//! decoders call `barq::lz4_block_decompress_v1` behind a guard, and run their own
//! body when the kernel declines. Checked by running original and rewritten
//! modules (with the runner's kernels) on blocks lz4_flex made from random bytes,
//! text and runs (sizes 0 to 70,000), with the exact output capacity, more, and
//! one byte less; on corrupted blocks (truncated, bytes flipped, offsets pointed
//! before the output); unaligned, overlapping, at the end of memory and past it;
//! negative lengths. Results (or traps) and the whole memory identical after every
//! call, the kernel run where the guard allows it; the near misses never
//! identified; the kernel's hostile arguments; a tight memory maximum still
//! leaves room to probe.

mod common;

use barq_passes::probe::Rng;
use barq_wasm::{optimize, Action, Options, Tier};
use wasmtime::{Module, Val};

fn engine() -> &'static wasmtime::Engine {
    common::fuel_engine()
}

fn native() -> Options {
    common::native_options()
}

use common::NativeSide as Side;

fn side(module: &Module) -> Side {
    common::native_side(module, 4)
}

/// One call: `block` written at `src` (offsets from the start of the last 4 pages;
/// negative: from the end of memory), `export(src, src_len, dst, dst_cap)`.
struct Call {
    src: i64,
    src_len: i32,
    dst: i64,
    cap: i32,
}

fn address(size: i64, at: i64) -> i64 {
    if at < 0 {
        size + at
    } else {
        size - 4 * 65536 + at
    }
}

/// Runs the call; the result (or trap), the fuel used and the memory afterwards.
fn run(s: &mut Side, export: &str, block: &[u8], c: &Call) -> (Result<i32, String>, u64, Vec<u8>) {
    let memory = s.instance.get_memory(&mut s.store, "memory").unwrap();
    let size = memory.data_size(&s.store) as i64;
    let (src, dst) = (address(size, c.src), address(size, c.dst));
    // Fresh memory for every call: a pattern, then the block where it fits.
    let data = memory.data_mut(&mut s.store);
    let tail = data.len() - 4 * 65536;
    for (i, b) in data[tail..].iter_mut().enumerate() {
        *b = (i * 7 % 251) as u8;
    }
    let fits = (src as usize + block.len()).min(size as usize) - src as usize;
    data[src as usize..src as usize + fits].copy_from_slice(&block[..fits]);
    let func = s.instance.get_func(&mut s.store, export).unwrap();
    let mut out = [Val::I32(0)];
    let before = s.store.get_fuel().unwrap();
    let result = func
        .call(
            &mut s.store,
            &[
                Val::I32(src as i32),
                Val::I32(c.src_len),
                Val::I32(dst as i32),
                Val::I32(c.cap),
            ],
            &mut out,
        )
        .map(|()| out[0].unwrap_i32())
        .map_err(|e| format!("{}", e.root_cause()));
    let used = before - s.store.get_fuel().unwrap();
    let memory = s.instance.get_memory(&mut s.store, "memory").unwrap();
    (result, used, memory.data(&s.store)[tail..].to_vec())
}

/// Test data: random bytes, English-like text, long runs, and mixtures.
fn data(rng: &mut Rng, n: usize, kind: usize) -> Vec<u8> {
    const WORDS: [&str; 8] = [
        "the ", "block ", "format ", "of ", "lz4 ", "is ", "simple, ", "fast. ",
    ];
    match kind % 4 {
        0 => (0..n).map(|_| rng.next_u64() as u8).collect(),
        1 => {
            let mut text = Vec::with_capacity(n + 8);
            while text.len() < n {
                text.extend_from_slice(WORDS[(rng.next_u64() % 8) as usize].as_bytes());
            }
            text.truncate(n);
            text
        }
        2 => (0..n).map(|i| (i / 300) as u8).collect(),
        _ => (0..n)
            .map(|i| {
                if i % 97 < 40 {
                    b'a'
                } else {
                    rng.next_u64() as u8 % 4
                }
            })
            .collect(),
    }
}

/// The blocks of one size: a valid one, and corruptions of it.
fn blocks(rng: &mut Rng, n: usize, kind: usize) -> Vec<(Vec<u8>, usize, &'static str)> {
    let original = data(rng, n, kind);
    let block = lz4_flex::block::compress(&original);
    let mut out = vec![(block.clone(), n, "valid")];
    if block.len() > 2 {
        let cut = 1 + (rng.next_u64() as usize) % (block.len() - 1);
        out.push((block[..cut].to_vec(), n, "truncated"));
        let mut flipped = block.clone();
        for _ in 0..3 {
            let at = (rng.next_u64() as usize) % flipped.len();
            flipped[at] ^= 1 << (rng.next_u64() % 8);
        }
        out.push((flipped, n, "flipped"));
        let mut far = block.clone();
        let at = (rng.next_u64() as usize) % far.len();
        far[at] = 0xff;
        out.push((far, n, "0xff"));
    }
    out
}

#[test]
fn identified_decoders_behave_exactly_like_the_originals() {
    let files: Vec<_> = common::corpus_files()
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            (s.contains("/c/lz4.") || s.contains("/rust/lz4.")) && s.ends_with(".wasm")
        })
        .collect();
    assert_eq!(files.len(), 7 + 2, "{files:?}");
    let mut rng = Rng(0x1247);
    let (mut calls, mut kernel_runs) = (0, 0);
    for path in &files {
        let input = common::read(path);
        let result = optimize(&input, &native()).expect("optimize");
        let found: Vec<_> = result
            .report
            .findings
            .iter()
            .filter(|f| f.tier == Some(Tier::Native) && f.action == Action::Rewritten)
            .collect();
        assert_eq!(found.len(), 1, "{}: {found:?}", path.display());
        assert_eq!(found[0].pattern, "lz4_decompress");
        let export = found[0].function.as_str();
        let original = Module::new(engine(), &input).unwrap();
        let rewritten = Module::new(engine(), &result.wasm).unwrap();
        let (mut a, mut b) = (side(&original), side(&rewritten));
        for (t, n) in [0usize, 1, 15, 16, 100, 1000, 4096, 20_000, 70_000]
            .into_iter()
            .enumerate()
        {
            for (block, size, what) in blocks(&mut rng, n, t) {
                let len = block.len() as i32;
                let cases = [
                    // Exact capacity, more, one byte less; unaligned.
                    Call {
                        src: 0,
                        src_len: len,
                        dst: 70_007,
                        cap: size as i32,
                    },
                    Call {
                        src: 3,
                        src_len: len,
                        dst: 80_001,
                        cap: size as i32 + 100,
                    },
                    Call {
                        src: 0,
                        src_len: len,
                        dst: 70_000,
                        cap: size as i32 - 1,
                    },
                    // Overlapping: the output over the block, and the block inside the output.
                    Call {
                        src: 10,
                        src_len: len,
                        dst: 0,
                        cap: size as i32 + 20,
                    },
                    Call {
                        src: 100,
                        src_len: len,
                        dst: 90,
                        cap: size as i32,
                    },
                    // At the very end of memory, the output past it, a wrapping pointer.
                    Call {
                        src: -(len as i64) - 16,
                        src_len: len,
                        dst: 0,
                        cap: size as i32,
                    },
                    Call {
                        src: -(len as i64),
                        src_len: len,
                        dst: 100_000,
                        cap: size as i32,
                    },
                    Call {
                        src: 0,
                        src_len: len,
                        dst: -(size as i64) + 1,
                        cap: size as i32,
                    },
                    // Negative lengths.
                    Call {
                        src: 0,
                        src_len: -1,
                        dst: 100_000,
                        cap: size as i32,
                    },
                    Call {
                        src: 0,
                        src_len: len,
                        dst: 100_000,
                        cap: -5,
                    },
                ];
                for c in &cases {
                    if c.dst < 0 && size == 0 {
                        continue;
                    }
                    let (ra, fa, ma) = run(&mut a, export, &block, c);
                    let (rb, fb, mb) = run(&mut b, export, &block, c);
                    let case = format!(
                        "{} n={n} {what} src={} len={} dst={} cap={}",
                        path.display(),
                        c.src,
                        c.src_len,
                        c.dst,
                        c.cap
                    );
                    assert_eq!(ra, rb, "{case}");
                    assert!(ma == mb, "{case}: memory differs");
                    calls += 1;
                    if ra.is_ok() && n >= 4096 && fb * 10 < fa {
                        kernel_runs += 1;
                    }
                }
            }
        }
    }
    assert!(calls > 1000, "{calls} calls");
    // Per file: the valid blocks of 4096, 20000 and 70000 bytes, at two placements each.
    assert!(
        kernel_runs >= files.len() * 3 * 2,
        "the kernel ran {kernel_runs} times"
    );
}

/// Decoders that differ from LZ4 in one detail (minimum match 3, big-endian
/// offsets, five last literals required, a 0 written after the output, no
/// length bytes) are never identified, at any level.
#[test]
fn lz4_near_misses_are_not_identified() {
    common::assert_never_identified("/lz4_like.", 7, |f| f.pattern == "lz4_decompress");
}

/// The kernel on hostile arguments: ranges past the end or wrapping trap;
/// overlapping buffers, an empty or malformed block and a too small output
/// return -1 and leave memory alone.
#[test]
fn lz4_kernel_traps_on_bad_ranges_and_declines_the_rest() {
    let mut s = common::kernel_side("lz4_block_decompress_v1", 1, 4);
    let end = 5 * 65536;
    let memory = s.instance.get_memory(&mut s.store, "memory").unwrap();
    // "abc" and a match of 6 at offset 3.
    memory.data_mut(&mut s.store)[..7].copy_from_slice(&[0x32, b'a', b'b', b'c', 3, 0, 0x00]);
    let call = |s: &mut Side, a, b, c, d| common::call_kernel(s, [a, b, c, d]);
    assert_eq!(call(&mut s, 0, 7, 1000, 9), Ok(9));
    assert_eq!(&memory.data(&s.store)[1000..1009], b"abcabcabc");
    let before = memory.data(&s.store).to_vec();
    for (a, b, c, d) in [
        (0, 7, 2000, 8),
        (0, 6, 2000, 100),
        (0, 0, 2000, 100),
        (0, 7, 3, 100),
    ] {
        assert_eq!(call(&mut s, a, b, c, d), Ok(-1), "{a} {b} {c} {d}");
    }
    assert!(memory.data(&s.store) == &before[..]);
    for (a, b, c, d) in [
        (end - 3, 7, 0, 10),
        (0, 7, end - 5, 10),
        (-4, 8, 100, 10),
        (0, -1, 100, 10),
        (0, 7, 100, i32::MAX),
        (-1, 0, 100, 10),
    ] {
        let err = call(&mut s, a, b, c, d).expect_err("trap");
        assert!(err.contains("out of bounds"), "{a} {b} {c} {d}: {err}");
    }
}

/// A memory whose maximum leaves room for only a small scratch region (four
/// pages past the initial size) is still probed: the prober falls back from its
/// 1 MiB region to 256 KiB.
#[test]
fn a_tight_memory_maximum_still_allows_probing() {
    let path = common::root().join("corpus/c/lz4.O2.wasm");
    let mut module = walrus::Module::from_buffer(&common::read(&path)).unwrap();
    let memory = module.memories.iter_mut().next().unwrap();
    memory.maximum = Some(memory.initial + 4);
    let tight = module.emit_wasm();
    let result = optimize(&tight, &native()).expect("optimize");
    assert!(
        result
            .report
            .findings
            .iter()
            .any(|f| f.pattern == "lz4_decompress" && f.action == Action::Rewritten),
        "{:?}",
        result.report.findings
    );
}
