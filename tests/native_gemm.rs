//! The native target's GEMM: functions identified by probing as matrix products
//! call `barq::gemm_f32_v1` behind a guard. Checked by running original and
//! rewritten modules (with the runner's kernels) on odd shapes, wider leading
//! dimensions, unaligned, aliased, overlapping and out-of-bounds matrices:
//! memory and traps identical (bit for bit; NaN payloads aside), the kernel
//! actually called where the guard allows it; under --fast-math within the
//! stated bound; and near misses never identified.

mod common;

use barq_passes::probe::Rng;
use barq_wasm::{optimize, Action, Options, Target, Tier};
use wasmtime::{Instance, Linker, Module, Store, Val};

/// The C, Rust and AssemblyScript GEMMs of the corpus and how their parameters
/// map to (A, B, C) and the sizes: `Square(n)` or `Mnk(m, n, k)` or
/// `Ld(m, n, k, lda, ldb, ldc)` by parameter position.
#[derive(Clone, Copy, Debug)]
enum Sizes {
    Square(usize),
    /// One row (m = 1): n and k.
    Row(usize, usize),
    Mnk(usize, usize, usize),
    Ld([usize; 6]),
}

struct Kernel {
    export: &'static str,
    abc: [usize; 3],
    sizes: Sizes,
    trans_a: bool,
    /// f64 elements.
    f64: bool,
    /// The bias vector's parameter (a linear layer), placed after C.
    bias: Option<usize>,
}

const KERNELS: &[Kernel] = &[
    // linear(x, W, bias, y, rows, in, out): y = x W^T + bias (bias first or last).
    Kernel {
        export: "linear",
        abc: [0, 1, 3],
        sizes: Sizes::Mnk(4, 6, 5),
        trans_a: false,
        f64: false,
        bias: Some(2),
    },
    Kernel {
        export: "linear_bias_last",
        abc: [0, 1, 3],
        sizes: Sizes::Mnk(4, 6, 5),
        trans_a: false,
        f64: false,
        bias: Some(2),
    },
    // gemv(A, x, y, rows, cols): y = A x, a one-row product with B = A transposed.
    Kernel {
        export: "gemv",
        abc: [1, 0, 2],
        sizes: Sizes::Row(3, 4),
        trans_a: false,
        f64: false,
        bias: None,
    },
    // vecmat(x, A, y, rows, cols): y = x^T A.
    Kernel {
        export: "vecmat",
        abc: [0, 1, 2],
        sizes: Sizes::Row(4, 3),
        trans_a: false,
        f64: false,
        bias: None,
    },
    Kernel {
        export: "gemm_f64",
        abc: [0, 1, 2],
        sizes: Sizes::Mnk(3, 4, 5),
        trans_a: false,
        f64: true,
        bias: None,
    },
    Kernel {
        export: "gemm_f64_ptr",
        abc: [0, 1, 2],
        sizes: Sizes::Square(3),
        trans_a: false,
        f64: true,
        bias: None,
    },
    Kernel {
        export: "gemm_f64_ikj",
        abc: [0, 1, 2],
        sizes: Sizes::Square(3),
        trans_a: false,
        f64: true,
        bias: None,
    },
    Kernel {
        export: "gemm_f64_bt",
        abc: [0, 1, 2],
        sizes: Sizes::Mnk(3, 4, 5),
        trans_a: false,
        f64: true,
        bias: None,
    },
    Kernel {
        export: "matmul_ijk",
        abc: [0, 1, 2],
        // matmul_ijk(A, B, C, n, m, p): C is n x p, the sum runs over m.
        sizes: Sizes::Mnk(3, 5, 4),
        trans_a: false,
        f64: false,
        bias: None,
    },
    Kernel {
        export: "matmul_ikj",
        abc: [0, 1, 2],
        sizes: Sizes::Square(3),
        trans_a: false,
        f64: false,
        bias: None,
    },
    Kernel {
        export: "gemm_ld",
        abc: [3, 5, 7],
        sizes: Sizes::Ld([0, 1, 2, 4, 6, 8]),
        trans_a: false,
        f64: false,
        bias: None,
    },
    Kernel {
        export: "gemm_at",
        abc: [0, 1, 2],
        sizes: Sizes::Square(3),
        trans_a: true,
        f64: false,
        bias: None,
    },
    Kernel {
        export: "gemm_bt",
        abc: [0, 1, 2],
        // gemm_bt(A, B, C, m, n, k): C = A B^T, B stored n x k.
        sizes: Sizes::Mnk(3, 4, 5),
        trans_a: false,
        f64: false,
        bias: None,
    },
    Kernel {
        export: "gemm_bt_zip",
        abc: [0, 1, 2],
        sizes: Sizes::Square(3),
        trans_a: false,
        f64: false,
        bias: None,
    },
    Kernel {
        export: "gemm_bt_load",
        abc: [0, 1, 2],
        sizes: Sizes::Square(3),
        trans_a: false,
        f64: false,
        bias: None,
    },
    Kernel {
        export: "gemm_jik",
        abc: [0, 1, 2],
        sizes: Sizes::Square(3),
        trans_a: false,
        f64: false,
        bias: None,
    },
    Kernel {
        export: "gemm",
        abc: [0, 1, 2],
        sizes: Sizes::Square(3),
        trans_a: false,
        f64: false,
        bias: None,
    },
    Kernel {
        export: "gemm_ptr",
        abc: [0, 1, 2],
        sizes: Sizes::Square(3),
        trans_a: false,
        f64: false,
        bias: None,
    },
];

/// Pages grown onto memory for the matrices.
const SCRATCH_PAGES: u64 = 4;
/// Bytes of random floats written there before each case.
const FILL: usize = SCRATCH_PAGES as usize * 65536;

/// Bytes between the matrices' regions (a 128x129 matrix fits).
const BIG: i64 = 72 << 10;

/// Bytes of random elements for `k`: f32s, or f64s with full mantissas, with
/// edge values among them.
fn fill_for(rng: &mut Rng, k: &Kernel) -> Vec<u8> {
    if k.f64 {
        (0..FILL / 8)
            .flat_map(|_| {
                let r = rng.next_u64();
                let special = [0.0, -0.0, f64::INFINITY, f64::NAN, 1e-310, -f64::MAX];
                let v = if r.is_multiple_of(29) {
                    special[(r >> 8) as usize % special.len()]
                } else {
                    ((r >> 11) as f64 / (1u64 << 53) as f64) * 4.0 - 2.0
                };
                v.to_le_bytes()
            })
            .collect()
    } else {
        (0..FILL / 4)
            .flat_map(|_| float(rng, false).to_le_bytes())
            .collect()
    }
}

/// Floats with edge values among them (unless `finite`).
fn float(rng: &mut Rng, finite: bool) -> f32 {
    let r = rng.next_u64();
    let special = [0.0, -0.0, f32::INFINITY, f32::NAN, 1e-40, -f32::MAX];
    if !finite && r.is_multiple_of(29) {
        return special[(r >> 8) as usize % special.len()];
    }
    ((r >> 16) as u32 as f32 / u32::MAX as f32) * 4.0 - 2.0
}

struct Instanced {
    store: Store<()>,
    instance: Instance,
    /// Where the scratch pages grown onto memory start.
    base: usize,
}

fn engine() -> &'static wasmtime::Engine {
    common::fuel_engine()
}

fn instantiate(module: &Module) -> Instanced {
    let engine = engine();
    let mut store = Store::new(engine, ());
    store.set_fuel(u64::MAX).ok();
    let mut linker = Linker::new(engine);
    barq_wasm::native::add_to_linker(&mut linker).expect("kernels");
    linker
        .define_unknown_imports_as_default_values(&mut store, module)
        .expect("imports");
    let instance = linker.instantiate(&mut store, module).expect("instantiate");
    let memory = instance.get_memory(&mut store, "memory").expect("memory");
    let base = memory.data_size(&store);
    memory.grow(&mut store, SCRATCH_PAGES).expect("grow");
    Instanced {
        store,
        instance,
        base,
    }
}

/// One case: where the matrices go and how big they are.
#[derive(Clone, Copy, Debug)]
struct Case {
    m: i32,
    n: i32,
    k: i32,
    /// Extra elements per row beyond the width (leading dimension parameters only).
    pad: i32,
    /// Byte offsets of A, B, C from the start of the scratch pages; may be
    /// negative from the end of memory (out of bounds cases).
    at: [i64; 3],
}

/// Runs `case` on `side`: the memory afterwards, the trap if any, and fuel used.
fn run(
    side: &mut Instanced,
    k: &Kernel,
    case: &Case,
    fill: &[u8],
) -> (Vec<u8>, Option<String>, u64) {
    let memory = side
        .instance
        .get_memory(&mut side.store, "memory")
        .expect("memory");
    let base = side.base;
    memory.data_mut(&mut side.store)[base..base + fill.len()].copy_from_slice(fill);
    let size = memory.data_size(&side.store) as i64;
    // (Negative offsets count from the end of memory; below -2^40, from 2^32.)
    let ptr = |off: i64| {
        if off < -(1 << 40) {
            (off + (1 << 40) + (1 << 32)) as i32
        } else if off < 0 {
            (size + off) as i32
        } else {
            (base as i64 + off) as i32
        }
    };
    let func = side
        .instance
        .get_func(&mut side.store, k.export)
        .expect("export");
    let params = func.ty(&side.store).params().len();
    let mut args = vec![Val::I32(0); params];
    for (p, off) in k.abc.iter().zip(case.at) {
        args[*p] = Val::I32(ptr(off));
    }
    if let Some(p) = k.bias {
        args[p] = Val::I32(ptr(3 * BIG));
    }
    match k.sizes {
        Sizes::Square(p) => args[p] = Val::I32(case.n),
        Sizes::Row(n, kk) => {
            args[n] = Val::I32(case.n);
            args[kk] = Val::I32(case.k);
        }
        Sizes::Mnk(m, n, kk) => {
            args[m] = Val::I32(case.m);
            args[n] = Val::I32(case.n);
            args[kk] = Val::I32(case.k);
        }
        Sizes::Ld([m, n, kk, lda, ldb, ldc]) => {
            args[m] = Val::I32(case.m);
            args[n] = Val::I32(case.n);
            args[kk] = Val::I32(case.k);
            args[lda] = Val::I32(if k.trans_a { case.m } else { case.k } + case.pad);
            args[ldb] = Val::I32(case.n + case.pad);
            args[ldc] = Val::I32(case.n + case.pad);
        }
    }
    let before = side.store.get_fuel().unwrap_or(0);
    let trap = func
        .call(&mut side.store, &args, &mut [])
        .err()
        .map(|e| format!("{}", e.root_cause()));
    let used = before - side.store.get_fuel().unwrap_or(0);
    let memory = memory.data(&side.store).to_vec();
    (memory, trap, used)
}

/// The first byte where `a` and `b` differ, comparing elements of `size` bytes
/// (f32 or f64) that start at `shift` mod `size` (where C's elements are) and
/// letting NaNs differ in payload.
fn same_bits(a: &[u8], b: &[u8], shift: usize, size: usize) -> Option<usize> {
    if a.len() != b.len() || a[..shift] != b[..shift] {
        return Some(0);
    }
    let nan = |x: &[u8]| match size {
        8 => f64::from_le_bytes(x.try_into().unwrap()).is_nan(),
        _ => f32::from_le_bytes(x.try_into().unwrap()).is_nan(),
    };
    let mut i = shift;
    while i + size <= a.len() {
        if a[i..i + size] != b[i..i + size] && !(nan(&a[i..i + size]) && nan(&b[i..i + size])) {
            return Some(i);
        }
        i += size;
    }
    (a[i..] != b[i..]).then_some(i)
}

fn cases(k: &Kernel) -> Vec<Case> {
    let square = matches!(k.sizes, Sizes::Square(_));
    let shapes: Vec<(i32, i32, i32)> = if matches!(k.sizes, Sizes::Row(..)) {
        vec![
            (1, 1, 1),
            (1, 17, 33),
            (1, 33, 3),
            (1, 9, 10),
            (1, 5, 0),
            (1, 0, 5),
            (1, 19, 300),
            (1, 64, 64),
        ]
    } else if square {
        // 129: more than one panel of k in the portable kernel (f64 matrices of
        // 129 do not fit the regions: their panels are crossed by 9x19x300).
        [0, 1, 3, 8, 9, 17, 33, if k.f64 { 65 } else { 129 }]
            .iter()
            .map(|&n| (n, n, n))
            .collect()
    } else {
        vec![
            (1, 1, 1),
            (3, 17, 33),
            (17, 33, 3),
            (8, 9, 10),
            (33, 17, 65),
            (16, 16, 16),
            (0, 5, 5),
            (5, 5, 0),
            (9, 19, 300),
        ]
    };
    let big = BIG;
    let mut out = Vec::new();
    for (m, n, kk) in shapes {
        for pad in [0, 3] {
            let case = |at: [i64; 3]| Case {
                m,
                n,
                k: kk,
                pad,
                at,
            };
            // Apart, aligned and not.
            out.push(case([0, big, 2 * big]));
            out.push(case([1, big + 2, 2 * big + 3]));
            // C is A; C is B; C starts inside B.
            out.push(case([0, big, 0]));
            out.push(case([0, big, big]));
            out.push(case([0, big, big + 64]));
            // C past the end of memory; A wrapping past 2^32 (traps in both).
            out.push(case([0, big, -64]));
            out.push(case([-(1 << 40) - 8, big, 2 * big]));
            // C running into the bias vector (placed at 3 * BIG).
            if k.bias.is_some() {
                out.push(case([0, big, 3 * big - 8]));
            }
        }
    }
    out
}

/// Runs every corpus GEMM that `options` rewrites at `tier` against the original on
/// every case; returns how many were identified and how often the kernel ran.
fn check_identified(options: &Options, tier: Tier) -> (usize, usize) {
    let mut identified = 0;
    let mut kernel_runs = 0;
    for path in common::corpus_files().iter().filter(|p| {
        let s = p.to_string_lossy();
        s.ends_with(".wasm")
            && (s.contains("/matmul.") || s.contains("/gemm.") || s.contains("/matrix."))
    }) {
        let input = common::read(path);
        let result = optimize(&input, options).expect("optimize");
        let engine = engine();
        let original = Module::new(engine, &input).expect("compile original");
        let rewritten = Module::new(engine, &result.wasm).expect("compile output");
        for finding in result.report.findings.iter().filter(|f| {
            f.tier == Some(tier)
                && (f.pattern == "gemm" || f.pattern == "gemv")
                && f.action == Action::Rewritten
                && f.reason
                    .as_deref()
                    .is_some_and(|r| r.contains("by probing"))
        }) {
            assert!(finding.exact, "{finding:?}");
            let k = KERNELS
                .iter()
                .find(|k| k.export == finding.function)
                .unwrap_or_else(|| panic!("{}: unexpected {finding:?}", path.display()));
            identified += 1;
            let (mut a, mut b) = (instantiate(&original), instantiate(&rewritten));
            let mut rng = Rng(0x5eed ^ identified as u64);
            for case in cases(k) {
                let fill = fill_for(&mut rng, k);
                let (ma, ta, fuel_a) = run(&mut a, k, &case, &fill);
                let (mb, tb, fuel_b) = run(&mut b, k, &case, &fill);
                let what = format!("{tier:?} {} {} {case:?}", path.display(), k.export);
                assert_eq!(ta, tb, "{what}: traps differ");
                let size = if k.f64 { 8 } else { 4 };
                let shift = (a.base as i64 + case.at[2]).rem_euclid(size) as usize;
                if let Some(at) = same_bits(&ma, &mb, shift, size as usize) {
                    panic!("{what}: memory differs at byte {at}");
                }
                // The kernel ran: the rewritten side used a fraction of the fuel.
                if ta.is_none() && case.m * case.n * case.k >= 4096 && fuel_b * 4 < fuel_a {
                    kernel_runs += 1;
                }
            }
        }
    }
    (identified, kernel_runs)
}

/// Every corpus GEMM the probe identifies runs exactly like the original, and the
/// kernel runs where the guard lets it.
#[test]
fn identified_gemms_behave_exactly_like_the_originals() {
    let native = Options {
        target: Target::Native,
        ..Options::default()
    };
    let (identified, kernel_runs) = check_identified(&native, Tier::Native);
    // (92 on 2026-12-06, clang -O3's linear layers included.)
    assert!(identified >= 92, "only {identified} GEMMs identified");
    assert!(
        kernel_runs >= 4 * identified,
        "the kernel ran only {kernel_runs} times"
    );
}

/// The portable target's SIMD128 GEMM kernel (the gemm pass alone, so that only the
/// kernel can make the rewritten side cheaper): exact on every case, and it runs.
#[test]
fn portable_gemm_kernel_behaves_exactly_like_the_originals() {
    let portable = Options {
        passes: Some(vec!["native-gemm".to_string()]),
        ..Options::default()
    };
    let (identified, kernel_runs) = check_identified(&portable, Tier::Simd128);
    // (92 on 2026-12-06, clang -O3's linear layers included.)
    assert!(identified >= 92, "only {identified} GEMMs identified");
    assert!(
        kernel_runs >= 4 * identified,
        "the kernel ran only {kernel_runs} times"
    );
}

/// Under --fast-math the kernel may reorder and fuse: every output stays within
/// |error| <= k * 2^-23 * sum |a b| (plus a tiny absolute term) of the exact one.
#[test]
fn fast_math_gemm_stays_within_the_bound() {
    let path = common::root().join("corpus/c/gemm.O2.wasm");
    let input = common::read(&path);
    let fast = Options {
        target: Target::Native,
        fast_math: true,
        ..Options::default()
    };
    let result = optimize(&input, &fast).expect("optimize");
    let f = result
        .report
        .findings
        .iter()
        .find(|f| f.function == "gemm_ld" && f.tier == Some(Tier::Native))
        .expect("gemm_ld identified");
    assert!(!f.exact, "--fast-math GEMM must say it is not exact");
    let engine = engine();
    let module = Module::new(engine, &result.wasm).expect("compile");
    let k = KERNELS.iter().find(|k| k.export == "gemm_ld").unwrap();
    let mut side = instantiate(&module);
    let mut rng = Rng(77);
    for (m, n, kk) in [(65, 33, 129), (128, 128, 128), (7, 200, 50)] {
        let fill: Vec<u8> = (0..FILL / 4)
            .flat_map(|_| float(&mut rng, true).to_le_bytes())
            .collect();
        let case = Case {
            m,
            n,
            k: kk,
            pad: 1,
            at: [0, BIG, 2 * BIG],
        };
        let (mem, trap, _) = run(&mut side, k, &case, &fill);
        assert!(trap.is_none());
        let base = side.base;
        let f = |off: usize, idx: usize| {
            f32::from_le_bytes(fill[off + 4 * idx..off + 4 * idx + 4].try_into().unwrap())
        };
        let (lda, ldb, ldc) = ((kk + 1) as usize, (n + 1) as usize, (n + 1) as usize);
        for i in 0..m as usize {
            for j in 0..n as usize {
                let (mut exact, mut magnitude) = (0f64, 0f64);
                for p in 0..kk as usize {
                    let t = f(0, i * lda + p) as f64 * f(BIG as usize, p * ldb + j) as f64;
                    exact += t;
                    magnitude += t.abs();
                }
                let at = base + 2 * BIG as usize + 4 * (i * ldc + j);
                let got = f32::from_le_bytes(mem[at..at + 4].try_into().unwrap()) as f64;
                let bound = kk as f64 * f32::EPSILON as f64 * magnitude + 1e-30;
                assert!(
                    (got - exact).abs() <= bound,
                    "{m}x{n}x{kk} C[{i}][{j}] = {got}, exact {exact}, bound {bound}"
                );
            }
        }
    }
}

/// The same for f64 (`gemm_f64_v1`, matrixmultiply's dgemm under --fast-math):
/// within k * 2^-52 * sum |a b| of the exact product.
#[test]
fn fast_math_f64_gemm_stays_within_the_bound() {
    let input = common::read(&common::root().join("corpus/c/gemm.O2.wasm"));
    let fast = Options {
        target: Target::Native,
        fast_math: true,
        ..Options::default()
    };
    let result = optimize(&input, &fast).expect("optimize");
    assert!(result
        .report
        .findings
        .iter()
        .any(|f| f.function == "gemm_f64" && f.tier == Some(Tier::Native) && !f.exact));
    let module = Module::new(engine(), &result.wasm).expect("compile");
    let k = KERNELS.iter().find(|k| k.export == "gemm_f64").unwrap();
    let mut side = instantiate(&module);
    let mut rng = Rng(78);
    for (m, n, kk) in [(65, 33, 129), (7, 40, 50)] {
        let fill: Vec<u8> = (0..FILL / 8)
            .flat_map(|_| (float(&mut rng, true) as f64 * (1.0 + 1e-9)).to_le_bytes())
            .collect();
        let case = Case {
            m,
            n,
            k: kk,
            pad: 0,
            at: [0, BIG, 2 * BIG],
        };
        let (mem, trap, _) = run(&mut side, k, &case, &fill);
        assert!(trap.is_none());
        let f = |off: usize, idx: usize| {
            f64::from_le_bytes(fill[off + 8 * idx..off + 8 * idx + 8].try_into().unwrap())
        };
        let (m, n, kk) = (m as usize, n as usize, kk as usize);
        for i in 0..m {
            for j in 0..n {
                let (mut exact, mut magnitude) = (0f64, 0f64);
                for p in 0..kk {
                    let t = f(0, i * kk + p) * f(BIG as usize, p * n + j);
                    exact += t;
                    magnitude += t.abs();
                }
                let at = side.base + 2 * BIG as usize + 8 * (i * n + j);
                let got = f64::from_le_bytes(mem[at..at + 8].try_into().unwrap());
                let bound = 2.0 * kk as f64 * f64::EPSILON * magnitude + 1e-300;
                assert!(
                    (got - exact).abs() <= bound,
                    "{m}x{n}x{kk} C[{i}][{j}] = {got}, exact {exact}, bound {bound}"
                );
            }
        }
    }
}

/// Functions that look like matrix products but compute something else (another
/// summation order, skipped zeros, a double accumulator, a sum from 1, B == C, an
/// extra store, a triangle; matrix-vector products summed backwards or in
/// double; a linear layer's bias indexed by the row) are never identified, at any
/// optimization level.
#[test]
fn gemm_near_misses_are_not_identified() {
    let native = Options {
        target: Target::Native,
        ..Options::default()
    };
    let files: Vec<_> = common::corpus_files()
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            s.contains("/gemm_like.") && s.ends_with(".wasm")
        })
        .collect();
    assert_eq!(files.len(), 7);
    for path in files {
        let result = optimize(&common::read(&path), &native).expect("optimize");
        let native_gemm: Vec<_> = result
            .report
            .findings
            .iter()
            .filter(|f| {
                f.tier == Some(Tier::Native) && (f.pattern == "gemm" || f.pattern == "gemv")
            })
            .collect();
        assert!(
            native_gemm.is_empty(),
            "{}: {native_gemm:?}",
            path.display()
        );
        assert!(!result
            .wasm
            .windows(KERNEL.len())
            .any(|w| w == KERNEL.as_bytes()));
    }
}

const KERNEL: &str = "gemm_f32_v1";

/// The host kernels (f32 and f64) on hostile arguments: ranges past the end or
/// wrapping trap, zero sizes do nothing, C overlapping A or B and `ldc < n` are
/// refused.
#[test]
fn gemm_kernel_refuses_hostile_arguments() {
    for (name, scale) in [("gemm_f32_v1", 1), ("gemm_f64_v1", 2)] {
        let wat = format!(
            r#"(module
        (import "barq" "{name}" (func $g (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))
        (memory (export "memory") 1)
        (func (export "g") (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)
          local.get 0 local.get 1 local.get 2 local.get 3 local.get 4
          local.get 5 local.get 6 local.get 7 local.get 8 local.get 9
          call $g))"#
        );
        let module = Module::new(engine(), wat::parse_str(&wat).unwrap()).unwrap();
        let mut side = instantiate(&module);
        let g = side.instance.get_func(&mut side.store, "g").unwrap();
        // (Addresses scale with the element size.)
        let mut call = |mut args: [i32; 10]| {
            for a in &mut args[..3] {
                *a = a.wrapping_mul(scale);
            }
            let args: Vec<Val> = args.iter().map(|v| Val::I32(*v)).collect();
            g.call(&mut side.store, &args, &mut [])
                .err()
                .map(|e| format!("{e:?}"))
        };
        // Fine: 4x4 apart; zero sizes anywhere (even with wild pointers).
        assert_eq!(call([0, 64, 128, 4, 4, 4, 4, 4, 4, 0]), None, "{name}");
        assert_eq!(call([-1, -1, 128, 0, 4, 4, 4, 4, 4, 0]), None, "{name}");
        assert_eq!(call([0, 64, 128, 4, 4, 4, 4, 4, 4, 8]), None, "{name}");
        // Past the end, at the end, wrapping, huge sizes, huge leading dimensions.
        let end = (1 + SCRATCH_PAGES as i32) * 65536 / scale;
        for args in [
            [0, 64, end - 60, 4, 4, 4, 4, 4, 4, 0],
            [end - 63, 64, 128, 4, 4, 4, 4, 4, 4, 0],
            [-16, 64, 128, 4, 4, 4, 4, 4, 4, 0],
            [0, 64, 128, -1, -1, -1, -1, -1, -1, 0],
            [0, 64, 128, 2, 2, 2, i32::MAX, 2, 2, 8],
        ] {
            let err = call(args).unwrap_or_else(|| panic!("{name} {args:?} did not trap"));
            assert!(err.contains("out of bounds"), "{name} {args:?}: {err}");
        }
        // C overlapping A or B; C's rows overlapping (ldc < n).
        for args in [
            [0, 256, 32, 4, 4, 4, 4, 4, 4, 0],
            [0, 256, 300, 4, 4, 4, 4, 4, 4, 4],
            [0, 256, 1024, 4, 4, 4, 4, 4, 3, 0],
        ] {
            assert!(call(args).is_some(), "{name} {args:?} was accepted");
        }
    }
}
