//! The native target's 3x3 convolution: functions identified by probing as one
//! call `barq::conv3x3_f32_v1` behind a guard. Checked by running original and
//! rewritten modules (with the runner's kernels) on image sizes around the guard's
//! threshold and the kernel's 8-wide steps, values with NaN, infinities and signed
//! zeros, biases including -0 and NaN, unaligned, overlapping and out-of-bounds
//! buffers: memory and traps identical, the kernel run where the guard allows it;
//! near misses never identified.

mod common;

use barq_passes::probe::Rng;
use barq_wasm::{optimize, Action, Options, Tier};
use wasmtime::{Module, Val};

fn native() -> Options {
    common::native_options()
}

use common::NativeSide as Side;

fn side(module: &Module) -> Side {
    common::native_side(module, 4)
}

fn value(rng: &mut Rng) -> f32 {
    let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, 1e-40];
    let r = rng.next_u64();
    if r.is_multiple_of(23) {
        specials[(r >> 8) as usize % specials.len()]
    } else {
        ((r >> 16) as u32 as f32 / u32::MAX as f32) * 4.0 - 2.0
    }
}

/// `conv3x3_relu(in, k, bias, out, h, w)` with buffers at offsets from the scratch
/// pages (negative: from the end of memory); memory, trap, fuel.
#[allow(clippy::too_many_arguments)]
fn call(
    s: &mut Side,
    fill: &[u8],
    at: [i64; 3],
    bias: f32,
    h: i32,
    w: i32,
) -> (Vec<u8>, Option<String>, u64) {
    let memory = s.instance.get_memory(&mut s.store, "memory").unwrap();
    let base = s.base as usize;
    memory.data_mut(&mut s.store)[base..base + fill.len()].copy_from_slice(fill);
    let size = memory.data_size(&s.store) as i64;
    let ptr = |off: i64| Val::I32((if off < 0 { size + off } else { s.base + off }) as i32);
    let func = s.instance.get_func(&mut s.store, "conv3x3_relu").unwrap();
    let args = [
        ptr(at[0]),
        ptr(at[1]),
        Val::F32(bias.to_bits()),
        ptr(at[2]),
        Val::I32(h),
        Val::I32(w),
    ];
    let before = s.store.get_fuel().unwrap();
    let trap = func
        .call(&mut s.store, &args, &mut [])
        .err()
        .map(|e| format!("{}", e.root_cause()));
    let used = before - s.store.get_fuel().unwrap();
    (memory.data(&s.store).to_vec(), trap, used)
}

#[test]
fn identified_convolutions_behave_exactly_like_the_originals() {
    let mut identified = 0;
    let mut kernel_runs = 0;
    let mut rng = Rng(0xc0c0);
    for path in common::corpus_files().iter().filter(|p| {
        let s = p.to_string_lossy();
        (s.contains("/c/conv3x3.") || s.contains("/assemblyscript/matrix.")) && s.ends_with(".wasm")
    }) {
        let input = common::read(path);
        let result = optimize(&input, &native()).expect("optimize");
        let found = result.report.findings.iter().any(|f| {
            f.function == "conv3x3_relu"
                && f.tier == Some(Tier::Native)
                && f.action == Action::Rewritten
        });
        if path.to_string_lossy().contains("ffast") {
            // (-ffast-math reassociates the sum: not this kernel's order.)
            assert!(!found, "{}", path.display());
            continue;
        }
        assert!(found, "{}: conv3x3_relu not identified", path.display());
        identified += 1;
        let original = Module::new(common::fuel_engine(), &input).unwrap();
        let rewritten = Module::new(common::fuel_engine(), &result.wasm).unwrap();
        let (mut a, mut b) = (side(&original), side(&rewritten));
        let far = 100_000i64;
        for (h, w) in [
            (0, 0),
            (3, 3),
            (5, 11),
            (10, 10),
            (11, 10),
            (17, 33),
            (64, 9),
            (40, 67),
            (2, 100),
            (100, 2),
        ] {
            let pixels = (h * w) as i64;
            for at in [
                [0, far, 2 * far],
                [1, far + 2, 2 * far + 3],
                // The output over the image or the kernel (the original runs).
                [0, far, 8],
                [0, far, far - 4],
                // Past the end of memory (both trap).
                [0, far, -4 * pixels + 16],
                [-4 * pixels + 8, far, 2 * far],
            ] {
                for bias in [0.25f32, -0.0, f32::NAN, -3.0] {
                    let fill: Vec<u8> = (0..4 * 65536 / 4)
                        .flat_map(|_| value(&mut rng).to_le_bytes())
                        .collect();
                    let (ma, ta, fa) = call(&mut a, &fill, at, bias, h, w);
                    let (mb, tb, fb) = call(&mut b, &fill, at, bias, h, w);
                    let what = format!("{} {h}x{w} at {at:?} bias {bias}", path.display());
                    assert_eq!(ta, tb, "{what}: traps");
                    let shift = (s_base(&a) + at[2]).rem_euclid(4) as usize;
                    let differs = (shift..ma.len().saturating_sub(3)).step_by(4).find(|&i| {
                        ma[i..i + 4] != mb[i..i + 4]
                            && !(word(&ma, i).is_nan() && word(&mb, i).is_nan())
                    });
                    assert!(
                        differs.is_none() && ma[..shift] == mb[..shift],
                        "{what}: memory differs at {differs:?}"
                    );
                    if ta.is_none() && pixels >= 600 && fb * 5 < fa {
                        kernel_runs += 1;
                    }
                }
            }
        }
    }
    assert_eq!(identified, 6 + 2);
    assert!(
        kernel_runs >= 8 * identified,
        "the kernel ran {kernel_runs} times"
    );
}

fn s_base(s: &Side) -> i64 {
    s.base
}

fn word(m: &[u8], i: usize) -> f32 {
    f32::from_le_bytes(m[i..i + 4].try_into().unwrap())
}

/// Another summation order, a flipped kernel, wide output rows, a leaky ReLU:
/// never identified, at any level.
#[test]
fn convolution_near_misses_are_not_identified() {
    common::assert_never_identified("/conv_like.", 7, |f| f.tier == Some(Tier::Native));
}
