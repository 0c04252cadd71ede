//! Kernel variants barq's corpus does not hold: a generator writes elementwise maps
//! and reductions in many shapes (element types, loop forms, unrolling, address
//! forms, operators, invariant operands) and in harmful variants (a write one
//! element ahead, a call, a data-dependent exit). Every variant is optimized and
//! run, original against rewritten, by `--verify`'s engine: no variant may behave
//! differently; the harmful ones must never be rewritten; the exact harmless ones
//! should be (at least 90% of them; the misses are printed).

use barq_wasm::verify::optimize_verified;
use barq_wasm::{Action, Options};

#[derive(Clone, Copy, Debug)]
enum Ty {
    I32,
    I64,
    F32,
    F64,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::I32 => "i32",
            Ty::I64 => "i64",
            Ty::F32 => "f32",
            Ty::F64 => "f64",
        }
    }
    fn width_log2(self) -> u32 {
        match self {
            Ty::I32 | Ty::F32 => 2,
            Ty::I64 | Ty::F64 => 3,
        }
    }
    fn float(self) -> bool {
        matches!(self, Ty::F32 | Ty::F64)
    }
    /// Binary operators applied lane-wise (all have exact SIMD forms or are
    /// for barq to decline).
    fn binops(self) -> &'static [&'static str] {
        if self.float() {
            &["add", "sub", "mul", "div", "min", "max"]
        } else {
            &["add", "sub", "mul", "and", "or", "xor"]
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Form {
    /// Index counting up, tested at the bottom behind an entry guard.
    Bottom,
    /// Index counting up, tested at the top (`block { loop { br_if; ..; br } }`).
    Top,
    /// Pointers bumped, a counter counting down to zero.
    Bumped,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// `y[i] = op(x[i], k)`
    MapInvariant,
    /// `y[i] = op(x[i], y[i])`
    MapInPlace,
    /// `acc += x[i]`
    Sum,
    /// `acc += x[i] * y[i]`
    Dot,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Harm {
    None,
    /// The store goes one element ahead of the element read from the same array.
    WriteAhead,
    /// A call to an import in the body.
    Call,
    /// An exit that depends on the data.
    DataExit,
}

struct Variant {
    ty: Ty,
    form: Form,
    kind: Kind,
    unroll: u32,
    op: &'static str,
    memarg_offsets: bool,
    harm: Harm,
}

impl Variant {
    fn describe(&self) -> String {
        format!(
            "{:?} {:?} {:?} x{} op={} offsets={} harm={:?}",
            self.ty, self.form, self.kind, self.unroll, self.op, self.memarg_offsets, self.harm
        )
    }

    /// Whether barq is expected to rewrite it by default (exact).
    fn expected_rewrite(&self) -> bool {
        self.harm == Harm::None
            && match self.kind {
                Kind::MapInvariant | Kind::MapInPlace => true,
                // Float sums need --fast-math.
                Kind::Sum | Kind::Dot => !self.ty.float(),
            }
    }

    fn wat(&self) -> String {
        let t = self.ty.name();
        let s = self.ty.width_log2();
        let w = 1u32 << s;
        let u = self.unroll;
        // The address of element (i + j) of array `base`, as an expression, plus
        // the memarg offset to use with it.
        let addr = |base: &str, j: u32| -> (String, u32) {
            match self.form {
                Form::Bumped => {
                    if self.memarg_offsets {
                        (format!("(local.get ${base})"), j * w)
                    } else {
                        (
                            format!("(i32.add (local.get ${base}) (i32.const {}))", j * w),
                            0,
                        )
                    }
                }
                Form::Bottom | Form::Top => {
                    let index = "(local.get $i)";
                    if self.memarg_offsets {
                        (
                            format!(
                                "(i32.add (local.get ${base}) (i32.shl {index} (i32.const {s})))"
                            ),
                            j * w,
                        )
                    } else {
                        (
                            format!(
                                "(i32.add (local.get ${base}) (i32.shl (i32.add {index} (i32.const {j})) (i32.const {s})))"
                            ),
                            0,
                        )
                    }
                }
            }
        };
        let load = |base: &str, j: u32| {
            let (a, o) = addr(base, j);
            format!("({t}.load offset={o} {a})")
        };
        let mut body = String::new();
        for j in 0..u {
            if self.harm == Harm::Call {
                body.push_str("(call $effect)\n");
            }
            if self.harm == Harm::DataExit {
                let zero = format!("({t}.const 0)");
                body.push_str(&format!(
                    "(br_if $exit ({t}.lt{} {} {zero}))\n",
                    if self.ty.float() { "" } else { "_s" },
                    load("x", j)
                ));
            }
            match self.kind {
                Kind::MapInvariant | Kind::MapInPlace => {
                    let second = if self.kind == Kind::MapInvariant {
                        "(local.get $k)".to_string()
                    } else {
                        load("y", j)
                    };
                    let value = format!("({t}.{} {} {second})", self.op, load("x", j));
                    let target = if self.harm == Harm::WriteAhead {
                        j + 1
                    } else {
                        j
                    };
                    let (a, o) = addr("y", target);
                    let value = if self.harm == Harm::WriteAhead {
                        // Read y[i + j], write y[i + j + 1]: a chain through memory.
                        format!("({t}.{} {} (local.get $k))", self.op, load("y", j))
                    } else {
                        value
                    };
                    body.push_str(&format!("({t}.store offset={o} {a} {value})\n"));
                }
                Kind::Sum => {
                    body.push_str(&format!(
                        "(local.set $acc ({t}.add (local.get $acc) {}))\n",
                        load("x", j)
                    ));
                }
                Kind::Dot => {
                    body.push_str(&format!(
                        "(local.set $acc ({t}.add (local.get $acc) ({t}.mul {} {})))\n",
                        load("x", j),
                        load("y", j)
                    ));
                }
            }
        }
        let reduction = matches!(self.kind, Kind::Sum | Kind::Dot);
        let result = if reduction {
            format!("(result {t})")
        } else {
            String::new()
        };
        let tail = if reduction { "(local.get $acc)" } else { "" };
        let step = match self.form {
            Form::Bumped => format!(
                "(local.set $x (i32.add (local.get $x) (i32.const {0})))\n(local.set $y (i32.add (local.get $y) (i32.const {0})))",
                u * w
            ),
            _ => format!("(local.set $i (i32.add (local.get $i) (i32.const {u})))"),
        };
        let looped = match self.form {
            Form::Bottom => format!(
                "(block $exit (br_if $exit (i32.le_s (local.get $n) (i32.const 0)))
                   (loop $l {body} {step} (br_if $l (i32.lt_s (local.get $i) (local.get $n)))))"
            ),
            Form::Top => format!(
                "(block $exit (loop $l (br_if $exit (i32.ge_s (local.get $i) (local.get $n)))
                   {body} {step} (br $l)))"
            ),
            Form::Bumped => format!(
                "(block $exit (br_if $exit (i32.eqz (local.get $n)))
                   (loop $l {body} {step}
                     (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))"
            ),
        };
        format!(
            "(module
               (import \"env\" \"effect\" (func $effect))
               (memory (export \"memory\") 1)
               (func (export \"kernel\") (param $x i32) (param $y i32) (param $n i32) (param $k {t}) {result}
                 (local $i i32) (local $acc {t})
                 {looped}
                 {tail}))"
        )
    }
}

fn variants() -> Vec<Variant> {
    let mut out = Vec::new();
    let mut pick = 0usize;
    for ty in [Ty::I32, Ty::I64, Ty::F32, Ty::F64] {
        for form in [Form::Bottom, Form::Top, Form::Bumped] {
            for kind in [Kind::MapInvariant, Kind::MapInPlace, Kind::Sum, Kind::Dot] {
                for unroll in [1, 2, 4] {
                    pick += 1;
                    let ops = ty.binops();
                    out.push(Variant {
                        ty,
                        form,
                        kind,
                        unroll,
                        op: ops[pick % ops.len()],
                        memarg_offsets: pick.is_multiple_of(2),
                        harm: Harm::None,
                    });
                }
                for harm in [Harm::WriteAhead, Harm::Call, Harm::DataExit] {
                    if harm == Harm::WriteAhead && !matches!(kind, Kind::MapInvariant) {
                        continue;
                    }
                    pick += 1;
                    let ops = ty.binops();
                    out.push(Variant {
                        ty,
                        form,
                        kind,
                        unroll: 1 + (pick % 2) as u32,
                        op: ops[pick % ops.len()],
                        memarg_offsets: pick.is_multiple_of(3),
                        harm,
                    });
                }
            }
        }
    }
    out
}

#[test]
fn generated_kernel_variants_behave_identically_and_near_misses_stay_untouched() {
    let all = variants();
    assert!(all.len() >= 150, "{}", all.len());
    let (mut expected, mut rewritten_expected) = (0, 0);
    let mut misses = Vec::new();
    let mut failures = Vec::new();
    for v in &all {
        let wasm = match wat::parse_str(v.wat()) {
            Ok(w) => w,
            Err(e) => {
                failures.push(format!(
                    "{}: generator wrote invalid WAT: {e}",
                    v.describe()
                ));
                continue;
            }
        };
        let checked = match optimize_verified(&wasm, &Options::default(), None, |_, _| {}) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{}: {e}", v.describe()));
                continue;
            }
        };
        if let Some(d) = checked.differences.first() {
            failures.push(format!(
                "{}: behaves differently: {}",
                v.describe(),
                d.detail
            ));
        }
        let rewritten = checked
            .optimized
            .report
            .findings
            .iter()
            .any(|f| f.action == Action::Rewritten);
        if v.harm != Harm::None && rewritten {
            failures.push(format!(
                "{}: near miss rewritten: {:?}",
                v.describe(),
                checked.optimized.report.findings
            ));
        }
        if v.expected_rewrite() {
            expected += 1;
            if rewritten && checked.cases > 0 {
                rewritten_expected += 1;
            } else {
                misses.push(format!(
                    "{}: {:?}",
                    v.describe(),
                    checked.optimized.report.findings
                ));
            }
        }
    }
    eprintln!(
        "{} variants; {rewritten_expected} of {expected} exact harmless ones rewritten and verified",
        all.len()
    );
    for m in &misses {
        eprintln!("not rewritten: {m}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        rewritten_expected * 10 >= expected * 9,
        "only {rewritten_expected} of {expected} rewritten"
    );
}
