//! The native target's Brotli decoder: Google's C library (1.1.0, built by
//! corpus/build.sh at -O1 to -Oz) exports its one-shot `BrotliDecoderDecompress`,
//! which barq identifies by probing and gives a guard calling
//! `barq::brotli_decompress_v1`, running its own body when the kernel declines.
//! Checked by running original and rewritten modules (with the runner's
//! kernels) on streams the `brotli` crate made (text with dictionary words,
//! random bytes, runs; 0 to 150,000 bytes; qualities 0 to 11; windows 2^10 to
//! 2^24), with the exact capacity, more, far more and one byte less; on
//! corrupted, truncated and extended streams; unaligned, overlapping, at the end
//! of memory and past it; the size word unaligned, inside either buffer and out
//! of bounds; sizes of 2^31 and more. Results (or traps), the region holding
//! the buffers and the size word identical after every call (the rest of memory
//! is the allocator's: the original allocates its ring buffer on every call, the
//! kernel does not); the near misses (wrappers of the library that differ in one
//! detail) never identified; the kernel's hostile arguments; under the portable
//! target, reported only.

mod common;

use barq_passes::fingerprints::brotli::{compress, words};
use barq_passes::probe::Rng;
use barq_wasm::{optimize, Action, Tier};
use wasmtime::{Module, Val};

/// Pages grown onto memory for the buffers (the tests' region).
const PAGES: u64 = 24;

const DECODER: &str = "BrotliDecoderDecompress";

fn corpus() -> Vec<(String, Vec<u8>)> {
    let paths: Vec<_> = common::corpus_files()
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/brotli/brotli."))
        .collect();
    assert_eq!(paths.len(), 5, "{paths:?}");
    paths
        .iter()
        .map(|p| (p.display().to_string(), common::read(p)))
        .collect()
}

/// The report's one `brotli_decompress` finding, which must be for the decoder.
fn decoder_finding(report: &barq_wasm::Report) -> &barq_wasm::Finding {
    let found: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.pattern == "brotli_decompress")
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].function, DECODER);
    found[0]
}

/// An instance with the runner's kernels, its `_initialize` run, then its
/// allocator set up (wasi-libc's takes the memory there is at its first call
/// for its heap: one call without input makes it), then `PAGES` grown onto its
/// memory (the heap grows past them).
fn side(module: &Module) -> common::NativeSide {
    let mut s = common::native_side(module, 0);
    let init = s.instance.get_func(&mut s.store, "_initialize").unwrap();
    init.call(&mut s.store, &[], &mut []).unwrap();
    // No input, the size word at address 0 (below the module's data): an error.
    let decoder = s.instance.get_func(&mut s.store, DECODER).unwrap();
    let mut out = [Val::I32(7)];
    decoder
        .call(&mut s.store, &[Val::I32(0); 4], &mut out)
        .unwrap();
    assert_eq!(out[0].unwrap_i32(), 0);
    let memory = s.instance.get_memory(&mut s.store, "memory").unwrap();
    s.base = memory.data_size(&s.store) as i64;
    memory.grow(&mut s.store, PAGES).unwrap();
    s
}

/// One call: the stream written at `src`, the capacity at `size_at` (offsets
/// into the region; negative: from the end of memory),
/// `BrotliDecoderDecompress(size, src, size_at, dst)`.
struct Call {
    src: i64,
    size_at: i64,
    dst: i64,
    cap: i32,
    size: i32,
}

/// Runs the call; the result (or trap), the fuel used and the region afterwards.
fn run(s: &mut common::NativeSide, stream: &[u8], c: &Call) -> (Result<i32, String>, u64, Vec<u8>) {
    let memory = s.instance.get_memory(&mut s.store, "memory").unwrap();
    let end = memory.data_size(&s.store) as i64;
    let base = s.base;
    let at = |offset: i64| {
        if offset < 0 {
            end + offset
        } else {
            base + offset
        }
    };
    let (src, dst, size_at) = (at(c.src), at(c.dst), at(c.size_at));
    let data = memory.data_mut(&mut s.store);
    // The pattern over the region only: past it lies the original's heap.
    let region = base as usize..base as usize + PAGES as usize * 65536;
    for (i, b) in data[region.clone()].iter_mut().enumerate() {
        *b = (i * 7 % 251) as u8;
    }
    let fits = (src as usize + stream.len()).min(end as usize) - src as usize;
    data[src as usize..src as usize + fits].copy_from_slice(&stream[..fits]);
    if size_at >= 0 && size_at + 4 <= end {
        data[size_at as usize..size_at as usize + 4].copy_from_slice(&c.cap.to_le_bytes());
    }
    let func = s.instance.get_func(&mut s.store, DECODER).unwrap();
    let mut out = [Val::I32(0)];
    let before = s.store.get_fuel().unwrap();
    let args = [
        Val::I32(c.size),
        Val::I32(src as i32),
        Val::I32(size_at as i32),
        Val::I32(dst as i32),
    ];
    let result = func
        .call(&mut s.store, &args, &mut out)
        .map(|()| out[0].unwrap_i32())
        .map_err(|e| format!("{}", e.root_cause()));
    let used = before - s.store.get_fuel().unwrap();
    let memory = s.instance.get_memory(&mut s.store, "memory").unwrap();
    let region = memory.data(&s.store)[region].to_vec();
    (result, used, region)
}

/// Valid inputs: (stream, decoded size, what).
fn inputs(rng: &mut Rng) -> Vec<(Vec<u8>, usize, String)> {
    let text = words(rng, 150_000);
    let random: Vec<u8> = (0..100_000).map(|_| rng.next_u64() as u8).collect();
    let mut out = Vec::new();
    for n in [0usize, 1, 100, 5000, 40_000, 150_000] {
        for (kind, data) in [
            ("text", text[..n].to_vec()),
            ("random", random[..n.min(random.len())].to_vec()),
            ("runs", (0..n).map(|i| (i / 1000) as u8).collect()),
        ] {
            let quality = [0, 1, 5, 9, 11][(n + kind.len()) % 5];
            let lgwin = [10, 16, 22, 24][(n / 7 + kind.len()) % 4];
            let stream = compress(&data, quality, lgwin, false);
            out.push((
                stream,
                data.len(),
                format!("{kind} {n} quality {quality} window {lgwin}"),
            ));
        }
    }
    let mut trailing = compress(&text[..6000], 5, 18, false);
    trailing.extend_from_slice(b"\x00\xffmore");
    out.push((trailing, 6000, "bytes after the stream".into()));
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
fn brotli_library_decoder_behaves_exactly_like_the_original() {
    let mut rng = Rng(0xb07);
    let inputs = inputs(&mut rng);
    for (path, input) in corpus() {
        let result = optimize(&input, &common::native_options()).expect("optimize");
        let found = decoder_finding(&result.report);
        assert_eq!(
            (found.action, found.tier),
            (Action::Rewritten, Some(Tier::Native)),
            "{path}"
        );
        let engine = common::fuel_engine();
        let (original, rewritten) = (
            Module::new(engine, &input).expect("compile"),
            Module::new(engine, &result.wasm).expect("compile"),
        );
        let (mut a, mut b) = (side(&original), side(&rewritten));
        let (mut calls, mut kernel_runs) = (0, 0);
        for (stream, n, what) in &inputs {
            let len = stream.len() as i64;
            let size = *n as i32;
            let mut variants = vec![(stream.clone(), "as made".to_string())];
            // Malformed streams at two levels (the others decode the same code).
            let malformed = if path.contains(".O2.") || path.contains(".Oz.") {
                3
            } else {
                0
            };
            for k in 0..malformed {
                variants.push((mutate(&mut rng, stream), format!("mutated {k}")));
            }
            if malformed > 0 {
                let cut = (rng.next_u64() as usize) % stream.len();
                variants.push((stream[..cut].to_vec(), format!("cut at {cut}")));
                variants.push((Vec::new(), "empty".to_string()));
            }
            for (bytes, how) in &variants {
                let blen = bytes.len() as i32;
                let far = (PAGES as i32 * 65536 - 2 * len as i32 - 4096).min(size + 300_000);
                let mut cases = vec![
                    // Exact capacity, more, far more, one byte less; unaligned.
                    Call {
                        src: 0,
                        size_at: 350_000,
                        dst: 400_000,
                        cap: size,
                        size: blen,
                    },
                    Call {
                        src: 5,
                        size_at: 350_001,
                        dst: 400_003,
                        cap: size + 1,
                        size: blen,
                    },
                    Call {
                        src: 1,
                        size_at: len + 2,
                        dst: len + 7,
                        cap: far,
                        size: blen,
                    },
                    Call {
                        src: 0,
                        size_at: 350_000,
                        dst: 400_000,
                        cap: size - 1,
                        size: blen,
                    },
                ];
                if how == "as made" {
                    cases.extend([
                        // Overlapping: the output over the stream, the stream inside it.
                        Call {
                            src: 10,
                            size_at: 350_000,
                            dst: 0,
                            cap: size + 20,
                            size: blen,
                        },
                        Call {
                            src: 100,
                            size_at: 350_000,
                            dst: 90,
                            cap: size + len as i32 + 200,
                            size: blen,
                        },
                        // The size word inside the output, inside the stream.
                        Call {
                            src: 0,
                            size_at: 400_000 + size as i64 / 2,
                            dst: 400_000,
                            cap: size + 8,
                            size: blen,
                        },
                        Call {
                            src: 0,
                            size_at: len / 2,
                            dst: 400_000,
                            cap: size,
                            size: blen,
                        },
                        // The size word out of bounds, at the very end.
                        Call {
                            src: 0,
                            size_at: -2,
                            dst: 400_000,
                            cap: size,
                            size: blen,
                        },
                        Call {
                            src: 0,
                            size_at: -4,
                            dst: 400_000,
                            cap: size,
                            size: blen,
                        },
                        // The stream at the very end of memory, the output past it.
                        Call {
                            src: -len - 16,
                            size_at: 350_000,
                            dst: 0,
                            cap: size,
                            size: blen,
                        },
                        Call {
                            src: -len,
                            size_at: 350_000,
                            dst: 400_000,
                            cap: size,
                            size: blen,
                        },
                        Call {
                            src: 0,
                            size_at: 350_000,
                            dst: -(size as i64) + 1,
                            cap: size,
                            size: blen,
                        },
                        // Sizes of 2^31 and more.
                        Call {
                            src: 0,
                            size_at: 350_000,
                            dst: 400_000,
                            cap: size,
                            size: -1,
                        },
                        Call {
                            src: 0,
                            size_at: 350_000,
                            dst: 400_000,
                            cap: -5,
                            size: blen,
                        },
                    ]);
                }
                for c in &cases {
                    if (c.dst < 0 && size == 0) || (c.src < 0 && len + 16 > 350_000) {
                        continue;
                    }
                    // At the end of memory: fresh instances (the original's heap
                    // grows past the region, and its end is the allocator's).
                    let at_end = c.src < 0 || c.dst < 0 || c.size_at < 0;
                    let mut fresh = at_end.then(|| (side(&original), side(&rewritten)));
                    let (a, b) = match &mut fresh {
                        Some((a, b)) => (a, b),
                        None => (&mut a, &mut b),
                    };
                    let (ra, fa, ma) = run(a, bytes, c);
                    let (rb, fb, mb) = run(b, bytes, c);
                    let case = format!(
                        "{path}: {what}, {how}: src={} size_at={} dst={} cap={} size={}",
                        c.src, c.size_at, c.dst, c.cap, c.size
                    );
                    assert_eq!(ra, rb, "{case}");
                    // The region (the heap past it is the allocator's).
                    assert!(ma == mb, "{case}: memory differs");
                    calls += 1;
                    if ra == Ok(1) && fb * 10 < fa {
                        kernel_runs += 1;
                    }
                }
            }
        }
        assert!(calls > 200, "{path}: {calls} calls");
        assert!(
            kernel_runs >= 40,
            "{path}: the kernel ran {kernel_runs} times"
        );
    }
}

/// Under the portable target (SIMD128 or not) the decoder is identified and
/// reported `detected`, and the output imports nothing from `barq`.
#[test]
fn portable_target_reports_the_decoder() {
    let (_, input) = corpus().swap_remove(1);
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

/// The wrappers in corpus/brotli/wrap.c that differ from the library in one
/// detail (the size reported plus one, a 0 written after the output, a byte of
/// capacity held back, the stream read one byte short, the size returned for
/// success) are never identified, at any level; the library itself is, once.
#[test]
fn brotli_near_misses_are_not_identified() {
    for (path, input) in corpus() {
        let report = optimize(&input, &common::native_options())
            .expect("optimize")
            .report;
        let found: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.pattern == "brotli_decompress")
            .map(|f| f.function.as_str())
            .collect();
        assert_eq!(found, [DECODER], "{path}: only the library's decoder");
    }
}

/// The kernel on hostile arguments: ranges past the end or wrapping trap;
/// overlapping buffers, malformed streams and a too small output return -1 and
/// leave memory alone; an empty input is malformed (the library says so).
#[test]
fn brotli_kernel_traps_on_bad_ranges_and_declines_the_rest() {
    let mut s = common::kernel_side("brotli_decompress_v1", 4, 0);
    let end = 4 * 65536;
    let text = words(&mut Rng(9), 5000);
    let good = compress(&text, 9, 22, false);
    let memory = s.instance.get_memory(&mut s.store, "memory").unwrap();
    memory.data_mut(&mut s.store)[..good.len()].copy_from_slice(&good);
    let call = |s: &mut common::NativeSide, a, b, c, d| common::call_kernel(s, [a, b, c, d]);
    let g = good.len() as i32;
    assert_eq!(call(&mut s, 50_000, 5000, 0, g), Ok(5000));
    assert_eq!(&memory.data(&s.store)[50_000..55_000], &text[..]);
    let snapshot = |s: &common::NativeSide| memory.data(&s.store).to_vec();
    let before = snapshot(&s);
    // Declined: no bytes, a byte too small, overlapping, truncated, corrupted.
    assert_eq!(call(&mut s, 150_000, 5000, 0, 0), Ok(-1));
    assert_eq!(call(&mut s, 150_000, 4999, 0, g), Ok(-1));
    assert_eq!(call(&mut s, 10, 5000, 0, g), Ok(-1));
    assert_eq!(call(&mut s, 150_000, 5000, 0, g - 3), Ok(-1));
    memory.data_mut(&mut s.store)[0] ^= 0x0f;
    assert_eq!(call(&mut s, 150_000, 6000, 0, g), Ok(-1));
    memory.data_mut(&mut s.store)[0] ^= 0x0f;
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
