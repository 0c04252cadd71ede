//! Maps over 8- and 16-bit elements that no compiler in the corpus wrote: a
//! generator draws random `i32` expression trees over zero- and sign-extended
//! element loads, constants at the lane edges and a loop-invariant parameter (adds,
//! multiplies, bitwise operators, shifts by every amount, every comparison, `eqz`,
//! sign extensions, selects), stores their low 8 or 16 bits, and unrolls the loop
//! one, two or four times. Each is optimized and run, original against rewritten,
//! on random bytes with lengths around the vector width and invariants at the edges
//! of the element ranges (where clamping a comparison's invariant would go wrong):
//! memory and traps must be identical. Most must be rewritten (the rest are
//! expressions whose comparisons or right shifts see values wider than a lane).

use barq_wasm::{optimize, Action, Options};
use wasmtime::{Engine, Instance, Module, Store, Val};

#[path = "common/fuzz.rs"]
#[allow(dead_code)]
mod fuzz;

use fuzz::Rng;

fn pick<T: Copy>(rng: &mut Rng, xs: &[T]) -> T {
    xs[rng.below(xs.len())]
}

const CONSTS: &[i32] = &[
    0, 1, -1, 3, 7, 50, 127, 128, 200, 255, 256, -128, -129, 32767, -32768, 65535, 1000,
];
const INVARIANTS: &[i32] = &[
    0,
    1,
    -1,
    5,
    127,
    128,
    200,
    255,
    256,
    -129,
    -32768,
    32767,
    32768,
    65535,
    65536,
    i32::MIN,
    i32::MAX,
];
const SHIFTS: &[i32] = &[0, 1, 2, 4, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 33];
const COMPARES: &[&str] = &[
    "eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u",
];

/// One random expression of the element loads `x` and `y` (as `{X}` / `{Y}`,
/// filled in per unrolled copy) and the invariant `$k`.
fn expr(rng: &mut Rng, depth: u32, loads: &[&str; 2]) -> String {
    if depth == 0 || rng.below(5) == 0 {
        return match rng.below(6) {
            0 | 1 => format!("({} {{X}})", loads[0]),
            2 => format!("({} {{Y}})", loads[1]),
            3 => "(local.get $k)".to_string(),
            _ => format!("(i32.const {})", pick(rng, CONSTS)),
        };
    }
    let sub = |rng: &mut Rng| expr(rng, depth - 1, loads);
    match rng.below(10) {
        0 | 1 => {
            let op = pick(rng, &["add", "sub", "mul", "and", "or", "xor"]);
            format!("(i32.{op} {} {})", sub(rng), sub(rng))
        }
        2 | 3 => {
            let op = pick(rng, &["shl", "shr_s", "shr_u"]);
            format!("(i32.{op} {} (i32.const {}))", sub(rng), pick(rng, SHIFTS))
        }
        4 | 5 => {
            // Comparisons against an invariant or a constant, mostly.
            let op = pick(rng, COMPARES);
            let other = match rng.below(3) {
                0 => "(local.get $k)".to_string(),
                1 => format!("(i32.const {})", pick(rng, CONSTS)),
                _ => sub(rng),
            };
            if rng.below(2) == 0 {
                format!("(i32.{op} {} {other})", sub(rng))
            } else {
                format!("(i32.{op} {other} {})", sub(rng))
            }
        }
        6 => {
            let op = pick(rng, &["eqz", "extend8_s", "extend16_s"]);
            format!("(i32.{op} {})", sub(rng))
        }
        _ => format!("(select {} {} {})", sub(rng), sub(rng), sub(rng)),
    }
}

struct Kernel {
    wat: String,
    describe: String,
}

fn kernel(rng: &mut Rng) -> Kernel {
    // Element widths: the store's, and each read stream's (mixed in a third of
    // the kernels: 16-bit samples clipped to bytes, bytes widened to 16 bits).
    let wide = rng.below(3) == 0;
    let (w, store) = if wide {
        (2u32, "i32.store16")
    } else {
        (1, "i32.store8")
    };
    let mixed = rng.below(3) == 0;
    let load_of = |rng: &mut Rng| {
        let width = if mixed && rng.below(2) == 0 { 3 - w } else { w };
        let kind = if width == 2 {
            pick(rng, &["i32.load16_u", "i32.load16_s"])
        } else {
            pick(rng, &["i32.load8_u", "i32.load8_s"])
        };
        (kind, width)
    };
    let ((x_load, x_width), (y_load, y_width)) = (load_of(rng), load_of(rng));
    let loads = [x_load, y_load];
    let unroll = pick(rng, &[1u32, 1, 2, 4]);
    // (In place only where y's elements are the store's.)
    let in_place = y_width == w && rng.below(2) == 0;
    let e = expr(rng, 3, &loads);
    let at = |base: &str, j: u32, width: u32| {
        let s = width.trailing_zeros();
        format!("(i32.add (local.get ${base}) (i32.shl (i32.add (local.get $i) (i32.const {j})) (i32.const {s})))")
    };
    let mut body = String::new();
    for j in 0..unroll {
        let value = e
            .replace("{X}", &at("x", j, x_width))
            .replace("{Y}", &at("y", j, y_width));
        let target = if in_place { "y" } else { "z" };
        body.push_str(&format!("({store} {} {value})\n", at(target, j, w)));
    }
    let wat = kernel_wat(&body, unroll);
    Kernel {
        describe: format!(
            "{store} x{unroll} {} loads {loads:?}: {e}",
            if in_place { "in place" } else { "to z" }
        ),
        wat,
    }
}

/// The module of a kernel `(x, y, z, n, k)` whose loop runs `body` for
/// `i = 0, unroll, 2 * unroll, ...` while `unroll` more elements are left.
fn kernel_wat(body: &str, unroll: u32) -> String {
    format!(
        "(module
           (memory (export \"memory\") 1)
           (func (export \"kernel\") (param $x i32) (param $y i32) (param $z i32) (param $n i32) (param $k i32)
             (local $i i32)
             (block $exit
               (br_if $exit (i32.lt_s (local.get $n) (i32.const {unroll})))
               (loop $l
                 {body}
                 (local.set $i (i32.add (local.get $i) (i32.const {unroll})))
                 (br_if $l (i32.le_s (i32.add (local.get $i) (i32.const {unroll})) (local.get $n)))))))"
    )
}

fn run(
    engine: &Engine,
    module: &Module,
    memory: &[u8],
    args: &[Val],
) -> (Result<(), String>, Vec<u8>) {
    let mut store = Store::new(engine, ());
    let instance = Instance::new(&mut store, module, &[]).expect("instantiate");
    let mem = instance.get_memory(&mut store, "memory").expect("memory");
    mem.data_mut(&mut store)[..memory.len()].copy_from_slice(memory);
    let f = instance.get_func(&mut store, "kernel").expect("kernel");
    let result = f
        .call(&mut store, args, &mut [])
        .map_err(|e| format!("{:?}", e.downcast_ref::<wasmtime::Trap>()));
    (result, mem.data(&store).to_vec())
}

#[test]
fn generated_narrow_maps_behave_identically() {
    let engine = Engine::default();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut total, mut rewritten) = (0, 0);
    let mut failures = Vec::new();
    let mut declined = Vec::new();
    for _ in 0..300 {
        let k = kernel(&mut rng);
        let wasm = wat::parse_str(&k.wat).expect("generator writes valid WAT");
        let optimized = match optimize(&wasm, &Options::default()) {
            Ok(o) => o,
            Err(e) => {
                failures.push(format!("{}: {e}", k.describe));
                continue;
            }
        };
        total += 1;
        if optimized
            .report
            .findings
            .iter()
            .any(|f| f.action == Action::Rewritten)
        {
            rewritten += 1;
        } else {
            declined.push(format!("{}: {:?}", k.describe, optimized.report.findings));
        }
        let original = Module::new(&engine, &wasm).expect("compile original");
        let output = Module::new(&engine, &optimized.wasm).expect("compile output");
        let mut memory = vec![0u8; 65536];
        for b in memory.iter_mut() {
            *b = rng.next() as u8;
        }
        // x, y and z 4 KiB apart (z at the end of memory in the last case).
        for (case, n) in [0i32, 1, 17, 33, 100, 257, 1000, 40]
            .into_iter()
            .enumerate()
        {
            let invariant = pick(&mut rng, INVARIANTS);
            let (x, y, z) = if case == 7 {
                (1024, 8192, 65536 - 48)
            } else {
                (1024 + case as i32, 8192, 16384 + 3)
            };
            let args = [
                Val::I32(x),
                Val::I32(y),
                Val::I32(z),
                Val::I32(n),
                Val::I32(invariant),
            ];
            let (ra, ma) = run(&engine, &original, &memory, &args);
            let (rb, mb) = run(&engine, &output, &memory, &args);
            if ra != rb || ma != mb {
                let at = ma.iter().zip(&mb).position(|(p, q)| p != q);
                failures.push(format!(
                    "{} (n={n}, k={invariant}): {ra:?} vs {rb:?}, memory first differs at {at:?}",
                    k.describe
                ));
                break;
            }
        }
    }
    eprintln!("{rewritten} of {total} generated narrow maps rewritten");
    for d in declined.iter().take(10) {
        eprintln!("not rewritten: {d}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        rewritten * 2 >= total,
        "only {rewritten} of {total} rewritten"
    );
}

/// Every comparison of an element with a parameter, the parameter on either side,
/// on bytes and 16-bit samples, zero- and sign-extended: one past the element
/// range does not fit the lane, so the kernel compares with the parameter as is
/// and takes, once per call, the outcome every element has when the parameter lies
/// outside their range. Run with every edge parameter; bytes stay in `i8x16` lanes.
/// (Unsigned comparisons of sign-extended elements, whose range is no interval of
/// the unsigned order, are left to the loop-nest pass's `i32` lanes.)
#[test]
fn comparisons_with_a_parameter_behave_identically() {
    let engine = Engine::default();
    let mut rng = Rng(0x5eed_0c0f_fee0_0002);
    let mut failures = Vec::new();
    for (store, load, width) in [
        ("i32.store8", "i32.load8_u", 1),
        ("i32.store8", "i32.load8_s", 1),
        ("i32.store16", "i32.load16_u", 2),
        ("i32.store16", "i32.load16_s", 2),
    ] {
        for compare in COMPARES {
            for swapped in [false, true] {
                for selected in [false, true] {
                    let x = format!(
                        "({load} (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const {}))))",
                        width / 2
                    );
                    let (a, b) = if swapped {
                        ("(local.get $k)".to_string(), x.clone())
                    } else {
                        (x.clone(), "(local.get $k)".to_string())
                    };
                    let test = format!("(i32.{compare} {a} {b})");
                    let value = if selected {
                        format!("(select (i32.const 200) {x} {test})")
                    } else {
                        test
                    };
                    let wat = kernel_wat(
                        &format!(
                            "({store} (i32.add (local.get $z) (i32.shl (local.get $i) (i32.const {}))) {value})",
                            width / 2
                        ),
                        1,
                    );
                    let describe = format!("{store} {value}");
                    let wasm = wat::parse_str(&wat).expect("valid WAT");
                    let optimized = optimize(&wasm, &Options::default()).expect("optimize");
                    let shape = optimized
                        .report
                        .findings
                        .iter()
                        .find(|f| f.action == Action::Rewritten)
                        .and_then(|f| f.reason.clone());
                    let unsigned_of_signed = compare.ends_with("_u") && load.ends_with("_s");
                    let lanes = if width == 1 { "i8x16" } else { "i16x8" };
                    let narrow = shape
                        .as_ref()
                        .is_some_and(|s| s.contains(&format!("-{lanes}")));
                    if narrow == unsigned_of_signed {
                        failures.push(format!("{describe}: rewritten as {shape:?}"));
                    }
                    let original = Module::new(&engine, &wasm).expect("compile original");
                    let output = Module::new(&engine, &optimized.wasm).expect("compile output");
                    let mut memory = vec![0u8; 65536];
                    for (i, b) in memory.iter_mut().enumerate() {
                        // (Every byte value, and random ones.)
                        *b = if i < 4096 { i as u8 } else { rng.next() as u8 };
                    }
                    for invariant in INVARIANTS.iter().chain(&[-1, -2, 254, 65534, -32769]) {
                        for (x, n) in [(0, 2048), (4096 + 1, 100), (0, 7)] {
                            let args = [
                                Val::I32(x),
                                Val::I32(0),
                                Val::I32(32768 + 1),
                                Val::I32(n),
                                Val::I32(*invariant),
                            ];
                            let (ra, ma) = run(&engine, &original, &memory, &args);
                            let (rb, mb) = run(&engine, &output, &memory, &args);
                            if ra != rb || ma != mb {
                                failures
                                    .push(format!("{describe} (k={invariant}, n={n}): differs"));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
