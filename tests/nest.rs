//! Loop nests run in lockstep (`simd-nest`: GEMM rows, GEMV, convolutions): the
//! original and the rewritten module run the same calls with shapes the generic
//! differential test cannot make (non-square matrices, leading dimensions larger
//! than the width, sizes 1, 3, 17, 33, 65, kernel sizes 1 to 5), with C aliasing A
//! or B exactly and at offsets, and with the read matrices partly past the end of
//! memory (the original traps after some columns: the rewritten module must trap
//! with the same columns written). Results, traps and the whole memory must match;
//! fuel shows that the large disjoint cases take the lockstep path. A generator adds
//! 200 GEMM nests the corpus lacks (j loops tested at the top or bottom or walking
//! pointers, k loops by index or by pointers with a run-time step, unrolled 1, 2, 4
//! with remainders, memarg offsets, ReLU/alpha/in-place epilogues, every other
//! column of B, f32 and i32) and harmful ones (reading the previous column's
//! result, a call, a data-dependent exit, a carried maximum), run the same way.

mod common;

use barq_wasm::{optimize, Action, Options};
use wasmtime::{Engine, Instance, Linker, Module, Store, Val};

const PAGES: u64 = 16;
const MEMORY: i64 = (PAGES * 65536) as i64;

fn engine() -> &'static Engine {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = wasmtime::Config::new();
        config.consume_fuel(true);
        Engine::new(&config).expect("engine")
    })
}

struct Outcome {
    result: Result<Vec<u128>, String>,
    memory: Vec<u8>,
    fuel: u64,
}

fn run(module: &Module, name: &str, args: &[Val], seed: u64) -> Outcome {
    let mut store = Store::new(engine(), ());
    store.set_fuel(u64::MAX / 2).expect("fuel");
    let mut linker = Linker::new(engine());
    linker
        .func_wrap("env", "observe", |_: i32| {})
        .expect("observe");
    // clang may turn a zeroing loop into a libc call.
    common::link_libc(&mut linker);
    let instance: Instance = linker.instantiate(&mut store, module).expect("instantiate");
    let memory = instance.get_memory(&mut store, "memory").expect("memory");
    let have = memory.size(&store);
    if have < PAGES {
        memory.grow(&mut store, PAGES - have).expect("grow");
    }
    // Upper half: seeded floats with edge values (the lower half is the module's).
    let mut state = seed | 1;
    let data = memory.data_mut(&mut store);
    let half = data.len() / 2;
    for chunk in data[half..].chunks_mut(4) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let word: u32 = match state % 16 {
            0 => 0x7fc0_0000,
            1 => 0x8000_0000,
            2 => 0x7f80_0000,
            3 => 0x0000_0001,
            _ => (((state >> 20) % 4000) as f32 / 64.0 - 30.0).to_bits(),
        };
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    let func = instance.get_func(&mut store, name).expect("export");
    let mut results = vec![Val::I32(0); func.ty(&store).results().len()];
    let before = store.get_fuel().expect("fuel");
    let result = func
        .call(&mut store, args, &mut results)
        .map(|()| {
            results
                .iter()
                .map(|v| match v {
                    Val::I32(x) => *x as u32 as u128,
                    Val::F32(x) => *x as u128,
                    _ => 0,
                })
                .collect()
        })
        .map_err(|e| format!("{:?}", e.downcast_ref::<wasmtime::Trap>()));
    let fuel = before - store.get_fuel().expect("fuel");
    Outcome {
        result,
        memory: memory.data(&store).to_vec(),
        fuel,
    }
}

/// Runs `name(args)` in both modules; returns (original fuel, rewritten fuel).
fn same(original: &Module, output: &Module, name: &str, args: &[Val], what: &str) -> (u64, u64) {
    let seed = args.iter().fold(0x9e37_79b9u64, |h, v| {
        h.wrapping_mul(31).wrapping_add(match v {
            Val::I32(x) => *x as u64,
            Val::F32(x) => *x as u64,
            _ => 0,
        })
    });
    let a = run(original, name, args, seed);
    let b = run(output, name, args, seed);
    assert_eq!(a.result, b.result, "{what}: {name}{args:?}");
    if let Some(at) = barq_wasm::verify::first_difference(&a.memory, &b.memory) {
        panic!("{what}: {name}{args:?}: memory differs at byte {at}");
    }
    (a.fuel, b.fuel)
}

fn i(v: i64) -> Val {
    Val::I32(v as i32)
}

fn f(v: f32) -> Val {
    Val::F32(v.to_bits())
}

/// The modules under test and whether each export was rewritten.
fn load(path: &str) -> (Module, Module, Vec<String>) {
    let input = common::read(&common::root().join(path));
    let result = optimize(&input, &Options::default()).expect("optimize");
    let rewritten = result
        .report
        .findings
        .iter()
        .filter(|f| f.action == Action::Rewritten && f.pattern != "axpy")
        .map(|f| f.function.clone())
        .collect();
    (
        Module::new(engine(), &input).expect("original"),
        Module::new(engine(), &result.wasm).expect("output"),
        rewritten,
    )
}

/// Buffers in the upper half of memory: A, B, C far apart.
const A: i64 = MEMORY / 2;
const B: i64 = A + MEMORY / 8;
const C: i64 = B + MEMORY / 8;

#[test]
fn gemm_with_leading_dimensions_aliasing_and_out_of_bounds_reads() {
    for level in ["O1", "O2", "O3", "Os", "O3-simd"] {
        let path = format!("corpus/c/gemm.{level}.wasm");
        let (original, output, rewritten) = load(&path);
        assert!(
            rewritten.iter().any(|f| f == "gemm_ld"),
            "{path}: {rewritten:?}"
        );
        let mut fast = false;
        for (m, n, k) in [
            (1, 1, 1),
            (3, 17, 5),
            (17, 33, 3),
            (5, 65, 17),
            (2, 100, 7),
            (4, 16, 0),
        ] {
            let (lda, ldb, ldc) = (k + 3, n + 5, n + 1);
            let call = |a: i64, b: i64, c: i64| {
                vec![i(m), i(n), i(k), i(a), i(lda), i(b), i(ldb), i(c), i(ldc)]
            };
            let cases = [
                ("disjoint", call(A, B, C)),
                ("unaligned", call(A + 1, B + 2, C + 3)),
                ("C == A", call(A, B, A)),
                ("C == B", call(A, B, B)),
                ("C inside A", call(A, B, A + 4 * (lda / 2))),
                ("C inside B's first row", call(A, B, B + 8)),
                (
                    "B past the end",
                    call(A, MEMORY - 4 * (k * ldb) + 4 * 20, C),
                ),
                ("A past the end", call(MEMORY - 4 * (m * lda) + 8, B, C)),
                ("C past the end", call(A, B, MEMORY - 4 * (m * ldc) + 12)),
                ("B wraps", call(A, -64, C)),
            ];
            for (what, args) in cases {
                let (before, after) = same(
                    &original,
                    &output,
                    "gemm_ld",
                    &args,
                    &format!("{path} {what}"),
                );
                if what == "disjoint" && n >= 33 && k > 0 && after < before {
                    fast = true;
                }
            }
        }
        assert!(fast, "{path}: gemm_ld never took the lockstep path");
    }
}

#[test]
fn gemm_variants_match_on_every_shape() {
    let modules = [
        "corpus/c/gemm.O2.wasm",
        "corpus/c/gemm.Os.wasm",
        "corpus/c/matmul.O1.wasm",
        "corpus/c/matmul.O3.wasm",
        "corpus/rust/gemm.O3.wasm",
        "corpus/rust/gemm.Os.wasm",
        "corpus/assemblyscript/matrix.O3.wasm",
        "corpus/assemblyscript/matrix.Oz.wasm",
    ];
    for path in modules {
        let (original, output, rewritten) = load(path);
        assert!(!rewritten.is_empty(), "{path}: nothing rewritten");
        for n in [1i64, 3, 17, 33, 65] {
            for (what, a, b, c) in [
                ("disjoint", A, B, C),
                ("C == A", A, B, A),
                ("C inside B", A, B, B + 4 * n),
                ("B past the end", A, MEMORY - 4 * n * n + 40, C),
            ] {
                let square = [i(a), i(b), i(c), i(n)];
                for name in [
                    "gemm_at",
                    "gemm_i32",
                    "gemm_jik",
                    "gemm_ptr",
                    "gemm",
                    "gemm_slices",
                    "gemm_bt_zip",
                    "gemm_bt_load",
                    "gemm_f64_ikj",
                    "gemm_f64_ptr",
                ] {
                    if exports(&original, name) {
                        same(&original, &output, name, &square, &format!("{path} {what}"));
                    }
                }
                if exports(&original, "gemm_alpha_beta") {
                    for (alpha, beta) in [(1.0, 0.0), (-0.5, 2.0), (f32::NAN, -0.0)] {
                        let args = [i(n), f(alpha), i(a), i(b), f(beta), i(c)];
                        same(
                            &original,
                            &output,
                            "gemm_alpha_beta",
                            &args,
                            &format!("{path} {what}"),
                        );
                    }
                }
                for name in ["gemm_bt", "gemm_f64", "gemm_f64_bt"] {
                    if exports(&original, name) {
                        for (m, k) in [(n, n), (2, n + 1), (n + 3, 1)] {
                            let args = [i(a), i(b), i(c), i(m), i(n), i(k)];
                            same(&original, &output, name, &args, &format!("{path} {what}"));
                        }
                    }
                }
                if exports(&original, "matmul_ijk") {
                    for (p, q) in [(n, 1), (1, n), (n + 2, 2 * n + 1)] {
                        let args = [i(a), i(b), i(c), i(n), i(p), i(q)];
                        same(
                            &original,
                            &output,
                            "matmul_ijk",
                            &args,
                            &format!("{path} {what}"),
                        );
                    }
                }
                if exports(&original, "vecmat") {
                    for cols in [n, 2 * n + 3] {
                        let args = [i(a), i(b), i(c), i(n), i(cols)];
                        same(
                            &original,
                            &output,
                            "vecmat",
                            &args,
                            &format!("{path} {what}"),
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn convolutions_match_for_every_kernel_size() {
    for path in [
        "corpus/c/gemm.O1.wasm",
        "corpus/c/gemm.O2.wasm",
        "corpus/c/gemm.O3.wasm",
        "corpus/c/conv3x3.O1.wasm",
        "corpus/c/conv3x3.Os.wasm",
        "corpus/assemblyscript/matrix.O3.wasm",
        "corpus/assemblyscript/matrix.Oz.wasm",
    ] {
        let (original, output, rewritten) = load(path);
        assert!(!rewritten.is_empty(), "{path}: nothing rewritten");
        let mut fast = false;
        for (h, w) in [(3, 3), (5, 40), (9, 33), (3, 100), (20, 21)] {
            for (what, src, kern, out) in [
                ("disjoint", A, B, C),
                ("out == in", A, B, A),
                ("out inside in", A, B, A + 4 * w),
                ("in past the end", MEMORY - 4 * h * w + 64, B, C),
                ("out past the end", A, B, MEMORY - 4 * h * w / 2),
            ] {
                if exports(&original, "conv2d_k") {
                    for k in [1, 2, 3, 5] {
                        let args = [i(src), i(h), i(w), i(kern), i(k), i(out)];
                        let (x, y) = same(
                            &original,
                            &output,
                            "conv2d_k",
                            &args,
                            &format!("{path} {what}"),
                        );
                        fast |= what == "disjoint" && w >= 33 && y < x;
                    }
                }
                if exports(&original, "conv3x3_relu") {
                    for bias in [0.5f32, -0.0, f32::NAN] {
                        let args = [i(src), i(kern), f(bias), i(out), i(h), i(w)];
                        let (x, y) = same(
                            &original,
                            &output,
                            "conv3x3_relu",
                            &args,
                            &format!("{path} {what}"),
                        );
                        fast |= what == "disjoint" && w >= 33 && y < x;
                    }
                }
            }
        }
        assert!(fast, "{path}: no convolution took the lockstep path");
    }
}

fn exports(module: &Module, name: &str) -> bool {
    module.exports().any(|e| e.name() == name)
}

#[test]
fn an_invariant_division_traps_after_the_same_stores() {
    let input = common::read(&common::root().join("corpus/traps/trapping_invariant.wat"));
    let input = wat::parse_bytes(&input).expect("wat").into_owned();
    let result = optimize(&input, &Options::default()).expect("optimize");
    assert!(
        result
            .report
            .findings
            .iter()
            .any(|f| f.action == Action::Rewritten),
        "{:?}",
        result.report.findings
    );
    let original = Module::new(engine(), &input).expect("original");
    let output = Module::new(engine(), &result.wasm).expect("output");
    for n in [1i64, 17, 40, 100] {
        for (a, b) in [(7, 3), (7, 0), (i32::MIN as i64, -1), (-9, 2)] {
            let args = [i(1024), i(20_000), i(n), i(a), i(b)];
            same(
                &original,
                &output,
                "scale_by_quotient",
                &args,
                "trapping_invariant",
            );
        }
    }
}

#[test]
fn a_dropped_load_still_traps() {
    let input = common::read(&common::root().join("corpus/traps/unused_load.wat"));
    let input = wat::parse_bytes(&input).expect("wat").into_owned();
    let result = optimize(&input, &Options::default()).expect("optimize");
    let original = Module::new(engine(), &input).expect("original");
    let output = Module::new(engine(), &result.wasm).expect("output");
    let mut fast = false;
    for n in [1i64, 17, 40, 100] {
        for p in [0, 4096, MEMORY - 4, MEMORY - 2, MEMORY, -1] {
            let args = [i(1024), i(20_000), i(n), i(p)];
            let (a, b) = same(&original, &output, "scale_with_probe", &args, "unused_load");
            fast |= b < a;
        }
    }
    assert!(fast, "the lockstep path never ran");
}

/// Generated GEMM nests in shapes the corpus lacks, and harmful variants.
mod variants {
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub enum JForm {
        /// `j` counts up, tested at the bottom behind an entry guard.
        Bottom,
        /// `j` counts up, tested at the top.
        Top,
        /// Pointers into B and C bumped by one element, a counter counting down.
        Bumped,
    }

    #[derive(Clone, Copy, Debug, PartialEq)]
    pub enum KForm {
        /// `A[i*m + k] * B[k*p + j]` from the index.
        Index,
        /// Pointers bumped: `pa += 4`, `pb += 4p` (a step known only at run time).
        Bumped,
    }

    #[derive(Clone, Copy, Debug, PartialEq)]
    pub enum Post {
        None,
        Relu,
        Alpha,
        /// `C[j] = s + C[j]` (reads the element the iteration writes).
        Accumulate,
    }

    #[derive(Clone, Copy, Debug, PartialEq)]
    pub enum Harm {
        None,
        /// `C[j] = s + C[j - 1]`: the previous column's result.
        ReadBehind,
        /// A call in the k loop.
        Call,
        /// An exit from the k loop on a loaded value.
        DataExit,
        /// A maximum carried from column to column.
        Carried,
        /// Columns read two apart: `B[k*p + 2j]` (harmless since strided loads).
        Strided,
    }

    #[derive(Clone, Copy, Debug)]
    pub struct Variant {
        pub float: bool,
        pub j: JForm,
        pub k: KForm,
        pub unroll: u32,
        pub post: Post,
        pub memarg: bool,
        pub harm: Harm,
    }

    impl Variant {
        pub fn describe(&self) -> String {
            format!("{self:?}")
        }

        pub fn expected_rewrite(&self) -> bool {
            // (Every other column is exact too: lockstep loads two per lane.)
            matches!(self.harm, Harm::None | Harm::Strided)
        }

        pub fn wat(&self) -> String {
            let t = if self.float { "f32" } else { "i32" };
            let zero = format!("({t}.const 0)");
            // Column address of B for row k and of C: from the index or the
            // bumped pointers.
            let (bj, cj) = match self.j {
                JForm::Bumped => (
                    "(local.get $pbj)".to_string(),
                    "(local.get $pcj)".to_string(),
                ),
                _ => {
                    let col = if self.harm == Harm::Strided {
                        "(i32.shl (local.get $j) (i32.const 3))"
                    } else {
                        "(i32.shl (local.get $j) (i32.const 2))"
                    };
                    (
                        format!("(i32.add (local.get $b) {col})"),
                        "(i32.add (local.get $crow) (i32.shl (local.get $j) (i32.const 2)))"
                            .to_string(),
                    )
                }
            };
            // One k step reading A at element offset `d` past the cursor.
            let term = |d: u32| -> String {
                let (a_addr, b_addr, a_off, b_off) = match self.k {
                    KForm::Index => (
                        format!("(i32.add (local.get $arow) (i32.shl (i32.add (local.get $k) (i32.const {d})) (i32.const 2)))"),
                        format!("(i32.add {bj} (i32.mul (i32.add (local.get $k) (i32.const {d})) (local.get $p4)))"),
                        0,
                        0,
                    ),
                    KForm::Bumped => (
                        "(local.get $pa)".to_string(),
                        if d == 0 {
                            "(local.get $pb)".to_string()
                        } else {
                            "(i32.add (local.get $pb) (local.get $p4))".to_string()
                        },
                        4 * d,
                        0,
                    ),
                };
                // With memarg offsets, A's element k + d is `offset=4d` from k's.
                let (a_addr, a_off) = if self.memarg && self.k == KForm::Index {
                    (
                        "(i32.add (local.get $arow) (i32.shl (local.get $k) (i32.const 2)))"
                            .to_string(),
                        4 * d,
                    )
                } else {
                    (a_addr, a_off)
                };
                let mut s = String::new();
                if self.harm == Harm::Call {
                    s.push_str("(call $effect (i32.const 0))\n");
                }
                if self.harm == Harm::DataExit {
                    s.push_str(&format!(
                        "(br_if $kexit ({t}.lt{} ({t}.load offset={b_off} {b_addr}) {zero}))\n",
                        if self.float { "" } else { "_s" }
                    ));
                }
                s.push_str(&format!(
                    "(local.set $s ({t}.add (local.get $s) ({t}.mul ({t}.load offset={a_off} {a_addr}) ({t}.load offset={b_off} {b_addr}))))\n"
                ));
                s
            };
            let advance = |steps: u32| -> String {
                match self.k {
                    KForm::Index => format!("(local.set $k (i32.add (local.get $k) (i32.const {steps})))"),
                    KForm::Bumped => format!(
                        "(local.set $pa (i32.add (local.get $pa) (i32.const {})))
                         (local.set $pb (i32.add (local.get $pb) (i32.mul (local.get $p4) (i32.const {steps}))))",
                        4 * steps
                    ),
                }
            };
            let u = self.unroll;
            let main: String = (0..u).map(term).collect();
            // k loop: `k + u <= m` main loop, then single steps for the rest.
            let k_init = match self.k {
                KForm::Index => String::new(),
                KForm::Bumped => format!("(local.set $pa (local.get $arow)) (local.set $pb {bj})"),
            };
            let k_loop = format!(
                "(local.set $k (i32.const 0)) {k_init}
                 (block $kexit
                   (block $kdone
                     (loop $kl
                       (br_if $kdone (i32.gt_s (i32.add (local.get $k) (i32.const {u})) (local.get $m)))
                       {main}
                       {adv_u}
                       {kstep}
                       (br $kl)))
                   (block $rdone
                     (loop $rl
                       (br_if $rdone (i32.ge_s (local.get $k) (local.get $m)))
                       {one}
                       {adv_1}
                       {kstep1}
                       (br $rl))))",
                adv_u = advance(u),
                kstep = if self.k == KForm::Bumped {
                    format!("(local.set $k (i32.add (local.get $k) (i32.const {u})))")
                } else {
                    String::new()
                },
                one = term(0),
                adv_1 = advance(1),
                kstep1 = if self.k == KForm::Bumped {
                    "(local.set $k (i32.add (local.get $k) (i32.const 1)))".to_string()
                } else {
                    String::new()
                },
            );
            let init = zero.clone();
            let mut value = "(local.get $s)".to_string();
            match self.post {
                Post::None => {}
                Post::Relu => {
                    value = format!(
                        "(select (local.get $s) {zero} ({t}.gt_s_or (local.get $s) {zero}))"
                    )
                    .replace("gt_s_or", if self.float { "gt" } else { "gt_s" });
                }
                Post::Alpha => value = format!("({t}.mul (local.get $alpha) (local.get $s))"),
                Post::Accumulate => {
                    value = format!("({t}.add (local.get $s) ({t}.load {cj}))");
                }
            }
            if self.harm == Harm::ReadBehind {
                value = format!("({t}.add {value} ({t}.load (i32.sub {cj} (i32.const 4))))");
            }
            if self.harm == Harm::Carried {
                value = format!(
                    "(local.tee $best (select {value} (local.get $best) ({t}.gt{} {value} (local.get $best))))",
                    if self.float { "" } else { "_s" }
                );
            }
            let store = format!("({t}.store {cj} {value})");
            let j_step = match self.j {
                JForm::Bumped => "(local.set $pbj (i32.add (local.get $pbj) (i32.const 4)))
                                  (local.set $pcj (i32.add (local.get $pcj) (i32.const 4)))
                                  (local.set $j (i32.add (local.get $j) (i32.const 1)))"
                    .to_string(),
                _ => "(local.set $j (i32.add (local.get $j) (i32.const 1)))".to_string(),
            };
            let j_body = format!("(local.set $s {init}) {k_loop} {store} {j_step}");
            let j_loop = match self.j {
                JForm::Bottom => format!(
                    "(block $jexit (br_if $jexit (i32.le_s (local.get $p) (i32.const 0)))
                       (local.set $j (i32.const 0))
                       (loop $jl {j_body} (br_if $jl (i32.lt_s (local.get $j) (local.get $p)))))"
                ),
                JForm::Top => format!(
                    "(local.set $j (i32.const 0))
                     (block $jexit (loop $jl (br_if $jexit (i32.ge_s (local.get $j) (local.get $p)))
                       {j_body} (br $jl)))"
                ),
                JForm::Bumped => format!(
                    "(local.set $j (i32.const 0))
                     (local.set $pbj (local.get $b)) (local.set $pcj (local.get $crow))
                     (block $jexit (br_if $jexit (i32.le_s (local.get $p) (i32.const 0)))
                       (loop $jl {j_body} (br_if $jl (i32.ne (local.get $j) (local.get $p)))))"
                ),
            };
            format!(
                "(module
                   (import \"env\" \"observe\" (func $effect (param i32)))
                   (memory (export \"memory\") 1)
                   (func (export \"kernel\") (param $a i32) (param $b i32) (param $c i32)
                         (param $n i32) (param $m i32) (param $p i32) (param $alpha {t})
                     (local $i i32) (local $j i32) (local $k i32) (local $s {t}) (local $best {t})
                     (local $arow i32) (local $crow i32) (local $p4 i32)
                     (local $pa i32) (local $pb i32) (local $pbj i32) (local $pcj i32)
                     (local.set $p4 (i32.shl (local.get $p) (i32.const 2)))
                     (block $iexit (br_if $iexit (i32.le_s (local.get $n) (i32.const 0)))
                       (loop $il
                         (local.set $arow (i32.add (local.get $a) (i32.shl (i32.mul (local.get $i) (local.get $m)) (i32.const 2))))
                         (local.set $crow (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $p4))))
                         {j_loop}
                         (local.set $i (i32.add (local.get $i) (i32.const 1)))
                         (br_if $il (i32.lt_s (local.get $i) (local.get $n)))))))"
            )
        }
    }

    pub fn all() -> Vec<Variant> {
        let mut out = Vec::new();
        let mut pick = 0usize;
        for float in [true, false] {
            for j in [JForm::Bottom, JForm::Top, JForm::Bumped] {
                for k in [KForm::Index, KForm::Bumped] {
                    for unroll in [1, 2, 4] {
                        for post in [Post::None, Post::Relu, Post::Alpha, Post::Accumulate] {
                            pick += 1;
                            out.push(Variant {
                                float,
                                j,
                                k,
                                unroll,
                                post,
                                memarg: pick.is_multiple_of(2),
                                harm: Harm::None,
                            });
                        }
                    }
                    for harm in [
                        Harm::ReadBehind,
                        Harm::Call,
                        Harm::DataExit,
                        Harm::Carried,
                        Harm::Strided,
                    ] {
                        if harm == Harm::Strided && j == JForm::Bumped {
                            continue;
                        }
                        pick += 1;
                        out.push(Variant {
                            float,
                            j,
                            k,
                            unroll: 1 + (pick % 2) as u32,
                            post: Post::None,
                            memarg: false,
                            harm,
                        });
                    }
                }
            }
        }
        out
    }
}

#[test]
fn generated_gemm_nests_behave_identically_and_harmful_ones_stay_untouched() {
    let all = variants::all();
    let mut failures = Vec::new();
    let (mut expected, mut fast_seen) = (0, 0);
    for v in &all {
        let wasm = match wat::parse_str(v.wat()) {
            Ok(w) => w,
            Err(e) => {
                failures.push(format!("{}: invalid WAT: {e}", v.describe()));
                continue;
            }
        };
        let result = optimize(&wasm, &Options::default()).expect("optimize");
        let rewritten = result
            .report
            .findings
            .iter()
            .any(|f| f.action == Action::Rewritten);
        if !v.expected_rewrite() && rewritten {
            failures.push(format!("{}: harmful variant rewritten", v.describe()));
        }
        if v.expected_rewrite() && !rewritten {
            failures.push(format!(
                "{}: not rewritten: {:?}",
                v.describe(),
                result.report.findings
            ));
        }
        let original = Module::new(engine(), &wasm).expect("original");
        let output = Module::new(engine(), &result.wasm).expect("output");
        let alpha = if v.float { f(-1.5) } else { Val::I32(3) };
        let mut fast = false;
        for (n, m, p) in [(1, 1, 1), (2, 3, 17), (3, 5, 33), (2, 17, 40)] {
            for (what, a, b, c) in [
                ("disjoint", A, B, C),
                ("C == A", A, B, A),
                ("C inside B", A, B, B + 8),
                ("B past the end", A, MEMORY - 4 * m * p + 40, C),
                ("C past the end", A, B, MEMORY - 4 * n * p + 12),
            ] {
                let args = [i(a), i(b), i(c), i(n), i(m), i(p), alpha];
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    same(&original, &output, "kernel", &args, &v.describe())
                }));
                match outcome {
                    Ok((x, y)) => fast |= what == "disjoint" && p >= 33 && y < x,
                    Err(_) => {
                        failures.push(format!("{}: {what} ({n},{m},{p}) differs", v.describe()))
                    }
                }
            }
        }
        if v.expected_rewrite() {
            expected += 1;
            fast_seen += usize::from(fast);
        }
    }
    eprintln!(
        "{} nest variants; {fast_seen} of {expected} harmless ones took the lockstep path",
        all.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        fast_seen, expected,
        "some rewritten variants never ran the lockstep path"
    );
}

#[test]
fn a_trapping_conversion_traps_at_the_same_element() {
    // y[i] = (i32) x[i] with the trapping conversion: NaN or out of range traps.
    let wat = r#"(module
      (memory (export "memory") 1)
      (func (export "to_int") (param $x i32) (param $y i32) (param $n i32)
        (local $i i32)
        (block $done (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
          (loop $l
            (i32.store (i32.add (local.get $y) (i32.shl (local.get $i) (i32.const 2)))
              (i32.trunc_f32_s (f32.load (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2))))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $l (i32.lt_s (local.get $i) (local.get $n)))))))"#;
    let input = wat::parse_str(wat).expect("wat");
    let result = optimize(&input, &Options::default()).expect("optimize");
    assert!(
        result
            .report
            .findings
            .iter()
            .any(|f| f.action == Action::Rewritten),
        "{:?}",
        result.report.findings
    );
    let original = Module::new(engine(), &input).expect("original");
    let output = Module::new(engine(), &result.wasm).expect("output");
    // The upper half of memory holds NaN, +inf and large values among ordinary
    // ones (see `run`): long runs trap somewhere inside; short ones may not.
    let mut fast = false;
    for n in [1i64, 5, 17, 40, 300] {
        for x in [A, A + 4 * 37, A + 2] {
            let (a, b) = same(&original, &output, "to_int", &[i(x), i(C), i(n)], "to_int");
            fast |= b < a;
        }
    }
    // In-range inputs only (the lower half of memory is zeros): the fast path runs.
    let (a, b) = same(
        &original,
        &output,
        "to_int",
        &[i(4096), i(C), i(400)],
        "to_int zeros",
    );
    assert!(b < a || fast, "the lockstep path never ran");
}

/// Loops whose lanes take different paths (branches on the element's value inside a
/// block): run under lane masks. Each kernel maps x[i] (f32) to y[i] (i32).
#[test]
fn lanes_that_branch_differently_compute_what_each_iteration_computed() {
    // Both paths of a branch on the element set the counter $i to $c + 1; the
    // second path first sets $v to `second`.
    let counter_set_on = |second: &str| {
        format!(
            "(local.set $c (local.get $i))
             (block $j
               (block $k
                 (br_if $k (f32.lt (local.get $x) (f32.const 0)))
                 (local.set $i (i32.add (local.get $c) (i32.const 1)))
                 (local.set $v (i32.const 1))
                 (br $j))
               (local.set $v {second})
               (local.set $i (i32.add (local.get $c) (i32.const 1))))"
        )
    };
    // (name, body computing local $v from local $x, expected to be rewritten)
    let cases: &[(&str, &str, bool)] = &[
        // clamp with branches: v = x < -1 ? -1 : (x > 1 ? 1 : x), then a trapping
        // conversion of 100 v.
        (
            "branchy_clamp",
            "(block $done
               (block $low
                 (br_if $low (f32.lt (local.get $x) (f32.const -1)))
                 (block $high
                   (br_if $high (f32.gt (local.get $x) (f32.const 1)))
                   (local.set $f (local.get $x))
                   (br $done))
                 (local.set $f (f32.const 1))
                 (br $done))
               (local.set $f (f32.const -1)))
             (local.set $v (i32.trunc_f32_s (f32.mul (local.get $f) (f32.const 100))))",
            true,
        ),
        // clang's guard around the trapping conversion, unsigned this time.
        (
            "guarded_unsigned",
            "(block $done
               (block $out
                 (br_if $out (i32.eqz (f32.lt (f32.abs (local.get $x)) (f32.const 1e9))))
                 (local.set $v (i32.trunc_f32_u (f32.abs (local.get $x))))
                 (br $done))
               (local.set $v (i32.const -1)))",
            true,
        ),
        // a load of a fixed address on one path only (out of bounds: only lanes
        // that take the path may trap).
        (
            "load_on_one_path",
            "(local.set $v (i32.const 7))
             (block $skip
               (br_if $skip (f32.lt (local.get $x) (f32.const 0)))
               (local.set $v (i32.load (local.get $p))))",
            true,
        ),
        // the unguarded trapping conversion on every path.
        (
            "plain_conversion",
            "(local.set $v (i32.trunc_f32_s (local.get $x)))",
            true,
        ),
        // $v written on one path only: the other path keeps the previous
        // iteration's value (a value carried across iterations).
        (
            "written_on_one_path",
            "(block $skip
               (br_if $skip (f32.lt (local.get $x) (f32.const 0)))
               (local.set $v (i32.trunc_sat_f32_s (local.get $x))))",
            false,
        ),
        // A branch every lane takes (on a parameter) reaches the end of a block
        // where, on the other path, only some lanes run (a padded window's row
        // outside the image, then its column outside for some pixels).
        (
            "every_lane_then_some",
            "(local.set $v (i32.const 7))
             (block $done
               (block $row
                 (br_if $row (i32.gt_u (local.get $p) (i32.const 1000)))
                 (br_if $done (f32.lt (local.get $x) (f32.const 0)))
                 (local.set $v (i32.const 5))
                 (br $done))
               (local.set $v (i32.trunc_sat_f32_s (local.get $x))))",
            true,
        ),
        // The counter advanced on both paths (clang -O2's unrolled padded window):
        // every lane's path sets it to the same value.
        (
            "counter_on_both_paths",
            &counter_set_on("(i32.const 2)"),
            true,
        ),
        // ... but one path reads it before setting it: those lanes must see the
        // old value, which the lanes that set it first have replaced.
        (
            "counter_read_before_set",
            &counter_set_on("(local.get $i)"),
            false,
        ),
    ];
    for (name, body, expected) in cases {
        // (Bodies that advance the counter themselves store at the next element.)
        let step = if body.contains("(local.set $i") {
            ""
        } else {
            "(local.set $i (i32.add (local.get $i) (i32.const 1)))"
        };
        let wat = format!(
            r#"(module
              (memory (export "memory") 1)
              (func (export "map") (param $xs i32) (param $ys i32) (param $n i32) (param $p i32)
                (local $i i32) (local $x f32) (local $f f32) (local $v i32) (local $c i32)
                (block $end (br_if $end (i32.le_s (local.get $n) (i32.const 0)))
                  (loop $l
                    (local.set $x (f32.load (i32.add (local.get $xs) (i32.shl (local.get $i) (i32.const 2)))))
                    {body}
                    (i32.store (i32.add (local.get $ys) (i32.shl (local.get $i) (i32.const 2))) (local.get $v))
                    {step}
                    (br_if $l (i32.lt_s (local.get $i) (local.get $n)))))))"#
        );
        let input = wat::parse_str(&wat).expect("wat");
        let result = optimize(&input, &Options::default()).expect("optimize");
        let rewritten = result
            .report
            .findings
            .iter()
            .any(|f| f.action == Action::Rewritten);
        assert_eq!(rewritten, *expected, "{name}: {:?}", result.report.findings);
        let original = Module::new(engine(), &input).expect("original");
        let output = Module::new(engine(), &result.wasm).expect("output");
        let mut fast = false;
        for n in [1i64, 17, 40, 300] {
            for p in [64, MEMORY - 2, MEMORY + 8] {
                // x: seeded data with NaN, infinities, denormals (upper half), or
                // zeros and small values (lower half).
                for xs in [A, A + 4 * 13, 4096] {
                    let args = [i(xs), i(C), i(n), i(p)];
                    let (a, b) = same(&original, &output, "map", &args, name);
                    fast |= b < a;
                }
            }
        }
        assert!(!expected || fast, "{name}: the lockstep path never ran");
    }
}

/// A column read row by row (corpus/c/strided.c, forwards and backwards: lanes
/// a run-time stride apart, gathered) with the output placed between the rows it
/// reads, so that a lane may read what an earlier lane of its block writes
/// (only the whole lanes' range, lowest lane to highest, sees that), and with
/// the matrix partly past the end of memory.
#[test]
fn gathered_columns_match_with_the_output_between_the_rows() {
    for level in ["O1", "Os", "Oz"] {
        let path = format!("corpus/c/strided.{level}.wasm");
        let (original, output, rewritten) = load(&path);
        for name in ["column_copy", "column_back"] {
            assert!(rewritten.iter().any(|f| f == name), "{path}: {rewritten:?}");
            let mut fast = false;
            for (m, n, c) in [
                (17, 1, 0),
                (33, 3, 2),
                (40, 8, 5),
                (65, 40, 0),
                (20, 100, 99),
            ] {
                let call = |a: i64, y: i64| vec![i(a), i(y), i(m), i(n), i(c)];
                let mut cases = vec![
                    ("disjoint".to_string(), call(A, C)),
                    (
                        "y == the first element read".to_string(),
                        call(A, A + 4 * c),
                    ),
                    (
                        "A past the end".to_string(),
                        call(MEMORY - 4 * (m * n) + 8, C),
                    ),
                    ("y past the end".to_string(), call(A, MEMORY - 4 * m + 12)),
                ];
                // y starting inside row r of A (just after its element c).
                for r in [1, m / 2, m - 3, m - 1] {
                    cases.push((
                        format!("y inside row {r}"),
                        call(A, A + 4 * (r * n + c + 1)),
                    ));
                }
                for (what, args) in cases {
                    let (before, after) =
                        same(&original, &output, name, &args, &format!("{path} {what}"));
                    if what == "disjoint" && m >= 33 && after < before {
                        fast = true;
                    }
                }
            }
            assert!(fast, "{path}: {name} never took the lockstep path");
        }
    }
}
