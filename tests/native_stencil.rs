//! The native target's byte stencils: functions identified by probing as a 3x3
//! integer stencil on an 8-bit image (weights read off the function) call
//! `barq::stencil3x3_u8_v1` behind a guard. Checked by running original and
//! rewritten modules (with the runner's kernels) on image sizes around the guard's
//! threshold and the kernel's 16-wide steps, unaligned, overlapping and
//! out-of-bounds images: memory and traps identical, the kernel run where the guard
//! allows it; near misses never identified.

mod common;

use barq_passes::probe::Rng;
use barq_wasm::{optimize, Action, Options, Tier};
use wasmtime::{Module, Val};

/// (export, parameter positions of image, out, h, w)
const FORMS: &[(&str, [usize; 4])] = &[
    ("edges_u8", [0, 1, 2, 3]),
    ("sharpen_u8", [2, 3, 1, 0]),
    ("sobel_y_u8", [1, 0, 2, 3]),
];

fn native() -> Options {
    common::native_options()
}

use common::NativeSide as Side;

fn side(module: &Module) -> Side {
    common::native_side(module, 2)
}

fn call(
    s: &mut Side,
    export: &str,
    roles: [usize; 4],
    fill: &[u8],
    at: [i64; 2],
    h: i32,
    w: i32,
) -> (Vec<u8>, Option<String>, u64) {
    let memory = s.instance.get_memory(&mut s.store, "memory").unwrap();
    let base = s.base as usize;
    memory.data_mut(&mut s.store)[base..base + fill.len()].copy_from_slice(fill);
    let size = memory.data_size(&s.store) as i64;
    let ptr = |off: i64| Val::I32((if off < 0 { size + off } else { s.base + off }) as i32);
    let func = s.instance.get_func(&mut s.store, export).unwrap();
    let mut args = vec![Val::I32(0); 4];
    args[roles[0]] = ptr(at[0]);
    args[roles[1]] = ptr(at[1]);
    args[roles[2]] = Val::I32(h);
    args[roles[3]] = Val::I32(w);
    let before = s.store.get_fuel().unwrap();
    let trap = func
        .call(&mut s.store, &args, &mut [])
        .err()
        .map(|e| format!("{}", e.root_cause()));
    let used = before - s.store.get_fuel().unwrap();
    (memory.data(&s.store).to_vec(), trap, used)
}

#[test]
fn identified_stencils_behave_exactly_like_the_originals() {
    let mut identified = 0;
    let mut kernel_runs = 0;
    let mut rng = Rng(0x57e);
    for path in common::corpus_files().iter().filter(|p| {
        let s = p.to_string_lossy();
        (s.contains("/c/conv3x3.") || s.contains("/c/stencils.")) && s.ends_with(".wasm")
    }) {
        let input = common::read(path);
        let result = optimize(&input, &native()).expect("optimize");
        let original = Module::new(common::fuel_engine(), &input).unwrap();
        let rewritten = Module::new(common::fuel_engine(), &result.wasm).unwrap();
        for &(export, roles) in FORMS {
            if original.get_export(export).is_none() {
                continue;
            }
            let found = result.report.findings.iter().any(|f| {
                f.function == export
                    && f.tier == Some(Tier::Native)
                    && f.action == Action::Rewritten
            });
            assert!(found, "{}: {export} not identified", path.display());
            identified += 1;
            let (mut a, mut b) = (side(&original), side(&rewritten));
            for (h, w) in [
                (0, 0),
                (3, 3),
                (16, 16),
                (17, 18),
                (5, 100),
                (64, 33),
                (100, 2),
                (2, 100),
            ] {
                let pixels = (h * w) as i64;
                let far = 50_000i64;
                for at in [
                    [0, far],
                    [1, far + 3],
                    [0, 8],
                    [8, 0],
                    [0, -pixels + 5],
                    [-pixels + 1, far],
                ] {
                    let fill: Vec<u8> = (0..2 * 65536).map(|_| rng.next_u64() as u8).collect();
                    let (ma, ta, fa) = call(&mut a, export, roles, &fill, at, h, w);
                    let (mb, tb, fb) = call(&mut b, export, roles, &fill, at, h, w);
                    let what = format!("{} {export} {h}x{w} at {at:?}", path.display());
                    assert_eq!(ta, tb, "{what}: traps");
                    assert!(ma == mb, "{what}: memory differs");
                    if ta.is_none() && pixels >= 1000 && fb * 5 < fa {
                        kernel_runs += 1;
                    }
                }
            }
        }
    }
    assert_eq!(identified, 7 + 7 * 2);
    assert!(
        kernel_runs >= 2 * identified,
        "the kernel ran {kernel_runs} times"
    );
}

/// A blur that divides, an absolute Sobel and an output in the valid layout are
/// not stencils the kernel computes: never identified.
#[test]
fn stencil_near_misses_are_not_identified() {
    for path in common::corpus_files().iter().filter(|p| {
        let s = p.to_string_lossy();
        s.contains("/c/stencils.") && s.ends_with(".wasm")
    }) {
        let result = optimize(&common::read(path), &native()).expect("optimize");
        for f in &result.report.findings {
            let near_miss =
                ["blur_u8", "sobel_abs_u8", "edges_valid_u8"].contains(&f.function.as_str());
            assert!(
                !(near_miss && f.tier == Some(Tier::Native)),
                "{}: {f:?}",
                path.display()
            );
        }
    }
}
