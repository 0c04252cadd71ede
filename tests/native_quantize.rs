//! The native target's INT8 quantization: functions identified by probing as
//! quantize / dequantize call `barq::quantize_f32_v1` / `dequantize_f32_v1` behind
//! a guard. Checked by running original and rewritten modules (with the runner's
//! kernels) on counts around the guard's threshold, values with NaN, infinities,
//! exact halves and out-of-range magnitudes, scales including 0, -0 and NaN, zero
//! points small and huge, unaligned, overlapping and out-of-bounds arrays: memory
//! and traps identical, the kernel run where the guard allows it; near misses
//! never identified.

mod common;

use barq_passes::probe::Rng;
use barq_wasm::{optimize, Action, Options, Tier};
use wasmtime::{Module, Val};

/// (export, src, dst, n, scale, zero point, source and destination widths)
struct Form {
    export: &'static str,
    src: usize,
    dst: usize,
    n: usize,
    scale: usize,
    zp: Option<usize>,
    widths: (i64, i64),
}

const FORMS: &[Form] = &[
    Form {
        export: "quantize_i8",
        src: 0,
        dst: 1,
        n: 2,
        scale: 3,
        zp: Some(4),
        widths: (4, 1),
    },
    Form {
        export: "dequantize_i8",
        src: 0,
        dst: 1,
        n: 2,
        scale: 3,
        zp: Some(4),
        widths: (1, 4),
    },
    Form {
        export: "quantize_u8_div",
        src: 0,
        dst: 1,
        n: 2,
        scale: 3,
        zp: Some(4),
        widths: (4, 1),
    },
    Form {
        export: "quantize_no_zp",
        src: 0,
        dst: 1,
        n: 3,
        scale: 2,
        zp: None,
        widths: (4, 1),
    },
    Form {
        export: "dequantize_u8",
        src: 0,
        dst: 1,
        n: 2,
        scale: 3,
        zp: Some(4),
        widths: (1, 4),
    },
];

fn native() -> Options {
    common::native_options()
}

use common::NativeSide as Side;

fn side(module: &Module) -> Side {
    common::native_side(module, 2)
}

fn value(rng: &mut Rng) -> f32 {
    let specials = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        0.5,
        -0.5,
        2.5,
        127.5,
        -128.5,
        255.5,
        1e9,
        1e-40,
    ];
    let r = rng.next_u64();
    if r.is_multiple_of(5) {
        specials[(r >> 8) as usize % specials.len()]
    } else {
        ((r >> 16) % 1200) as f32 / 4.0 - 150.0
    }
}

/// Writes `fill` at the scratch pages, calls the export; memory, trap, fuel.
#[allow(clippy::too_many_arguments)]
fn call(
    s: &mut Side,
    f: &Form,
    fill: &[u8],
    src: i64,
    dst: i64,
    n: i32,
    scale: f32,
    zp: i32,
) -> (Vec<u8>, Option<String>, u64) {
    let memory = s.instance.get_memory(&mut s.store, "memory").unwrap();
    let base = s.base as usize;
    memory.data_mut(&mut s.store)[base..base + fill.len()].copy_from_slice(fill);
    let size = memory.data_size(&s.store) as i64;
    let at = |off: i64| (if off < 0 { size + off } else { s.base + off }) as i32;
    let func = s.instance.get_func(&mut s.store, f.export).unwrap();
    let mut args = vec![Val::I32(0); func.ty(&s.store).params().len()];
    args[f.src] = Val::I32(at(src));
    args[f.dst] = Val::I32(at(dst));
    args[f.n] = Val::I32(n);
    args[f.scale] = Val::F32(scale.to_bits());
    if let Some(z) = f.zp {
        args[z] = Val::I32(zp);
    }
    let before = s.store.get_fuel().unwrap();
    let trap = func
        .call(&mut s.store, &args, &mut [])
        .err()
        .map(|e| format!("{}", e.root_cause()));
    let used = before - s.store.get_fuel().unwrap();
    (memory.data(&s.store).to_vec(), trap, used)
}

#[test]
fn identified_quantizers_behave_exactly_like_the_originals() {
    check_quantizers(&native(), Tier::Native, 10);
}

/// The portable target's SIMD128 kernels (the pass alone, so that only the kernel
/// can make the rewritten side cheaper).
#[test]
fn portable_quantize_kernels_behave_exactly_like_the_originals() {
    let portable = Options {
        passes: Some(vec!["native-quantize".to_string()]),
        ..Options::default()
    };
    check_quantizers(&portable, Tier::Simd128, 3);
}

/// Every corpus (de)quantizer `options` rewrites at `tier` against the original;
/// the kernel counts as run when the rewritten side used `ratio` times less fuel.
fn check_quantizers(options: &Options, tier: Tier, ratio: u64) {
    let mut identified = 0;
    let mut kernel_runs = 0;
    let mut rng = Rng(0x0b17);
    for path in common::corpus_files().iter().filter(|p| {
        let s = p.to_string_lossy();
        (s.contains("/c/quantize.") || s.contains("/c/quantize_forms.")) && s.ends_with(".wasm")
    }) {
        let input = common::read(path);
        let result = optimize(&input, options).expect("optimize");
        let original = Module::new(common::fuel_engine(), &input).unwrap();
        let rewritten = Module::new(common::fuel_engine(), &result.wasm).unwrap();
        let found: Vec<_> = result
            .report
            .findings
            .iter()
            .filter(|f| f.tier == Some(tier) && f.action == Action::Rewritten)
            .collect();
        let expected = if path.to_string_lossy().contains("forms") {
            3
        } else {
            2
        };
        assert_eq!(found.len(), expected, "{}: {found:?}", path.display());
        for finding in found {
            let f = FORMS
                .iter()
                .find(|f| f.export == finding.function)
                .unwrap_or_else(|| panic!("unexpected {finding:?}"));
            identified += 1;
            let (mut a, mut b) = (side(&original), side(&rewritten));
            for n in [0i32, 1, 15, 16, 17, 100, 1000, 5000] {
                let (ws, wd) = f.widths;
                let far = 40_000i64;
                let layouts = [
                    (0, far),
                    (3, far + 1),
                    // Overlapping (the original runs), past the end (traps).
                    (0, 8),
                    (0, -(wd * n as i64) + 4),
                    (-(ws * n as i64) + 2, far),
                ];
                for (src, dst) in layouts {
                    for (scale, zp) in [
                        (0.37f32, 3),
                        (1.0, 0),
                        (12.5, -20),
                        (-0.0, 1),
                        (f32::NAN, 0),
                        (0.5, 1 << 20),
                    ] {
                        let fill: Vec<u8> = (0..2 * 65536 / 4)
                            .flat_map(|_| value(&mut rng).to_le_bytes())
                            .collect();
                        let (ma, ta, fa) = call(&mut a, f, &fill, src, dst, n, scale, zp);
                        let (mb, tb, fb) = call(&mut b, f, &fill, src, dst, n, scale, zp);
                        let what = format!(
                            "{tier:?} {} {} n={n} src={src} dst={dst} scale={scale} zp={zp}",
                            path.display(),
                            f.export
                        );
                        assert_eq!(ta, tb, "{what}: traps");
                        // (Dequantized floats may be NaN: compare NaN payload-blind.)
                        let differs = ma.chunks(4).zip(mb.chunks(4)).position(|(x, y)| {
                            x != y
                                && !(x.len() == 4
                                    && f32::from_le_bytes(x.try_into().unwrap()).is_nan()
                                    && f32::from_le_bytes(y.try_into().unwrap()).is_nan())
                        });
                        assert!(
                            differs.is_none(),
                            "{what}: memory differs at word {differs:?}"
                        );
                        if ta.is_none() && n >= 1000 && fb * ratio < fa {
                            kernel_runs += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(identified, 7 * 2 + 7 * 3);
    assert!(
        kernel_runs >= 4 * identified,
        "the kernel ran {kernel_runs} times"
    );
}

/// Rounding by `(int)(v + 0.5f)`, a symmetric clamp and an added offset are not
/// quantizations the kernels compute: never identified.
#[test]
fn quantize_near_misses_are_not_identified() {
    for path in common::corpus_files().iter().filter(|p| {
        let s = p.to_string_lossy();
        s.contains("/c/quantize_forms.") && s.ends_with(".wasm")
    }) {
        let result = optimize(&common::read(path), &native()).expect("optimize");
        for f in &result.report.findings {
            let near_miss = [
                "quantize_half_up",
                "quantize_symmetric",
                "dequantize_offset",
            ]
            .contains(&f.function.as_str());
            assert!(
                !(near_miss && f.tier == Some(Tier::Native)),
                "{}: {f:?}",
                path.display()
            );
        }
    }
}

/// The kernels trap on ranges outside memory and refuse overlapping arrays.
#[test]
fn quantize_kernels_refuse_bad_ranges() {
    let wat = r#"(module
        (import "barq" "quantize_f32_v1" (func $q (param i32 i32 i32 f32 i32 i32)))
        (import "barq" "dequantize_f32_v1" (func $d (param i32 i32 i32 f32 i32 i32)))
        (memory (export "memory") 1)
        (func (export "q") (param i32 i32 i32) local.get 0 local.get 1 local.get 2 f32.const 1 i32.const 0 i32.const 0 call $q)
        (func (export "d") (param i32 i32 i32) local.get 0 local.get 1 local.get 2 f32.const 1 i32.const 0 i32.const 0 call $d))"#;
    let module = Module::new(common::fuel_engine(), wat::parse_str(wat).unwrap()).unwrap();
    let mut s = side(&module);
    let end = 3 * 65536;
    for name in ["q", "d"] {
        let f = s.instance.get_func(&mut s.store, name).unwrap();
        let mut run = |src: i32, dst: i32, n: i32| {
            f.call(
                &mut s.store,
                &[Val::I32(src), Val::I32(dst), Val::I32(n)],
                &mut [],
            )
            .err()
            .map(|e| format!("{}", e.root_cause()))
        };
        assert_eq!(run(0, 8192, 100), None, "{name}");
        for (src, dst, n) in [
            (end - 8, 0, 100),
            (0, end - 8, 100),
            (-4, 0, 2),
            (0, 4096, -1),
        ] {
            let err = run(src, dst, n).unwrap_or_else(|| panic!("{name} {src} {dst} {n}"));
            assert!(err.contains("out of bounds"), "{name}: {err}");
        }
        assert!(run(0, 8, 100).is_some(), "{name}: overlap accepted");
    }
}
