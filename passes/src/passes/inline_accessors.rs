//! `inline-accessors`: calls inside loops to small functions that run straight
//! through (AssemblyScript's checked typed-array accessors: `x[i]` calls a
//! function that tests `i` against the array's length, calls `abort` and traps
//! when it is out of range, and loads the element) become the callee's
//! instructions, so that the passes after this one see the loads and stores
//! (`bounds-checks` first, which takes the length tests out of the loop).
//!
//! A callee qualifies when it reads or writes memory and tests something that
//! traps (an accessor's bounds check), or only reads memory (a getter such as
//! `length`, which AssemblyScript -Oz leaves a call), has at most one result,
//! at most 32 instructions, and nothing but local, constant, arithmetic, load,
//! store and global-read instructions, plus `if`s one arm of which is empty and
//! the other a trap (a call, then `unreachable`). (Pure helpers are left to the
//! passes that identify them: `inline-minmax`.) Exact: the arguments go to fresh locals in the
//! order the call took them, the callee's other locals start at zero as they
//! would on entry, and its instructions run in their order, trap paths included.

use crate::pass::{Changed, Pass, PassCx, PassError};
use crate::report::{Action, Tier};
use std::collections::{BTreeMap, HashMap};
use walrus::ir::{Const, Instr, InstrLocId, InstrSeqId, LocalSet, Value};
use walrus::{FunctionId, FunctionKind, LocalFunction, LocalId, Module, ValType};

/// The pass.
pub struct InlineAccessors;

/// At most this many instructions in a callee.
const MAX_INSTRUCTIONS: usize = 32;

/// Whether `callee` can be inlined: see the module docs.
fn qualifies(module: &Module, id: FunctionId) -> bool {
    let FunctionKind::Local(func) = &module.funcs.get(id).kind else {
        return false;
    };
    if module.types.get(func.ty()).results().len() > 1 {
        return false;
    }
    // (A checked accessor: it reads or writes memory and traps on a test; or a
    // getter: it reads memory, writes none and tests nothing. Other helpers are
    // left alone: pure ones to the passes that identify them, `inline-minmax`;
    // ones that read and write without a test (a counter bumped in memory, or
    // AssemblyScript -Oz's unchecked setter), to themselves.)
    let entry = &func.block(func.entry_block()).instrs;
    let has = |f: fn(&Instr) -> bool| entry.iter().any(|(i, _)| f(i));
    let loads = has(|i| matches!(i, Instr::Load(_)));
    let stores = has(|i| matches!(i, Instr::Store(_)));
    let tests = has(|i| matches!(i, Instr::IfElse(_)));
    let accessor = (loads || stores) && tests;
    let getter = loads && !stores && !tests;
    if !accessor && !getter {
        return false;
    }
    let mut count = 0;
    for (instr, _) in entry {
        count += 1;
        let ok = match instr {
            Instr::LocalGet(_)
            | Instr::LocalSet(_)
            | Instr::LocalTee(_)
            | Instr::Const(_)
            | Instr::Unop(_)
            | Instr::Binop(_)
            | Instr::Select(_)
            | Instr::Drop(_)
            | Instr::GlobalGet(_) => true,
            Instr::Load(l) => !l.kind.atomic(),
            Instr::Store(s) => !s.kind.atomic(),
            Instr::IfElse(branch) => {
                let then = &func.block(branch.consequent).instrs;
                let otherwise = &func.block(branch.alternative).instrs;
                count += then.len() + otherwise.len();
                let arms_ok = (super::bounds_checks::is_trap_path(then) && otherwise.is_empty())
                    || (then.is_empty() && super::bounds_checks::is_trap_path(otherwise));
                arms_ok
                    && matches!(
                        func.block(branch.consequent).ty,
                        walrus::ir::InstrSeqType::Simple(None)
                    )
            }
            _ => false,
        };
        if !ok || count > MAX_INSTRUCTIONS {
            return false;
        }
    }
    true
}

/// The locals `func`'s instructions use besides its parameters, in first-use order.
fn other_locals(func: &LocalFunction) -> Vec<LocalId> {
    let mut out = Vec::new();
    let mut seqs = vec![func.entry_block()];
    while let Some(seq) = seqs.pop() {
        for (instr, _) in &func.block(seq).instrs {
            let local = match instr {
                Instr::LocalGet(g) => Some(g.local),
                Instr::LocalSet(s) => Some(s.local),
                Instr::LocalTee(t) => Some(t.local),
                Instr::IfElse(i) => {
                    seqs.push(i.consequent);
                    seqs.push(i.alternative);
                    None
                }
                _ => None,
            };
            if let Some(l) = local {
                if !func.args.contains(&l) && !out.contains(&l) {
                    out.push(l);
                }
            }
        }
    }
    out
}

fn zero(ty: ValType) -> Option<Value> {
    Some(match ty {
        ValType::I32 => Value::I32(0),
        ValType::I64 => Value::I64(0),
        ValType::F32 => Value::F32(0.0),
        ValType::F64 => Value::F64(0.0),
        ValType::V128 => Value::V128(0),
        _ => return None,
    })
}

fn remap(instr: &mut Instr, locals: &HashMap<LocalId, LocalId>) {
    match instr {
        Instr::LocalGet(g) => g.local = locals[&g.local],
        Instr::LocalSet(s) => s.local = locals[&s.local],
        Instr::LocalTee(t) => t.local = locals[&t.local],
        _ => {}
    }
}

impl Pass for InlineAccessors {
    fn name(&self) -> &'static str {
        "inline-accessors"
    }

    fn description(&self) -> &'static str {
        "calls in loops to small straight-line functions (AssemblyScript's checked typed-array accessors) -> their instructions"
    }

    fn run(&self, module: &mut Module, cx: &mut PassCx<'_>) -> Result<Changed, PassError> {
        let mut changed = Changed::nothing();
        if !cx.options.opt_level.rewrites() {
            return Ok(changed);
        }
        let mut qualified: HashMap<FunctionId, bool> = HashMap::new();
        let mut by_caller: BTreeMap<FunctionId, Vec<(InstrSeqId, usize, FunctionId)>> =
            BTreeMap::new();
        for caller in super::simd_elementwise::own_functions(module) {
            let local = module.funcs.get(caller).kind.unwrap_local();
            for (seq, at, callee) in super::inline_minmax::calls_in_loops(local) {
                if callee == caller {
                    continue;
                }
                if *qualified
                    .entry(callee)
                    .or_insert_with(|| qualifies(module, callee))
                {
                    by_caller.entry(caller).or_default().push((seq, at, callee));
                }
            }
        }
        for (caller, mut sites) in by_caller {
            let (mut finding, refusal) =
                super::scalar_candidate(cx, caller, "inline", crate::report::Elem::I32);
            finding.elem = None;
            if refusal.is_some() {
                continue; // (nothing to report: the loops' own findings say it)
            }
            // Last site first within a sequence, so that positions stay valid.
            sites.sort_by_key(|(seq, at, _)| (seq.index(), std::cmp::Reverse(*at)));
            let mut callees: BTreeMap<FunctionId, usize> = BTreeMap::new();
            for (seq, at, callee) in sites {
                let Some(code) = inline_code(module, caller, callee) else {
                    continue;
                };
                let func = module.funcs.get_mut(caller).kind.unwrap_local_mut();
                let instrs = &mut func.block_mut(seq).instrs;
                let loc = instrs[at].1;
                let code: Vec<(Instr, InstrLocId)> = code.into_iter().map(|i| (i, loc)).collect();
                instrs.splice(at..=at, code);
                *callees.entry(callee).or_default() += 1;
            }
            if callees.is_empty() {
                continue;
            }
            let described: Vec<String> = callees
                .iter()
                .map(|(callee, n)| {
                    format!(
                        "{n} call{} to {} inlined",
                        if *n == 1 { "" } else { "s" },
                        cx.names.get(*callee)
                    )
                })
                .collect();
            finding.action = Action::Rewritten;
            finding.tier = Some(Tier::Scalar);
            finding.reason = Some(format!(
                "{} (small straight-line functions called in loops)",
                described.join("; ")
            ));
            cx.findings.push(finding);
            changed.functions.push(caller);
        }
        Ok(changed)
    }
}

/// The instructions that stand for one call of `callee` in `caller`.
fn inline_code(module: &mut Module, caller: FunctionId, callee: FunctionId) -> Option<Vec<Instr>> {
    let FunctionKind::Local(body) = &module.funcs.get(callee).kind else {
        return None;
    };
    let args = body.args.clone();
    let others = other_locals(body);
    let entry: Vec<Instr> = body
        .block(body.entry_block())
        .instrs
        .iter()
        .map(|(i, _)| i.clone())
        .collect();
    let arms: HashMap<InstrSeqId, Vec<Instr>> = entry
        .iter()
        .filter_map(|i| match i {
            Instr::IfElse(branch) => Some([branch.consequent, branch.alternative]),
            _ => None,
        })
        .flatten()
        .map(|seq| {
            (
                seq,
                body.block(seq)
                    .instrs
                    .iter()
                    .map(|(i, _)| i.clone())
                    .collect(),
            )
        })
        .collect();
    let mut locals = HashMap::new();
    for l in args.iter().chain(&others) {
        let ty = module.locals.get(*l).ty();
        locals.insert(*l, module.locals.add(ty));
    }
    let mut code = Vec::new();
    for a in args.iter().rev() {
        code.push(Instr::LocalSet(LocalSet { local: locals[a] }));
    }
    for l in &others {
        let value = zero(module.locals.get(*l).ty())?;
        code.push(Instr::Const(Const { value }));
        code.push(Instr::LocalSet(LocalSet { local: locals[l] }));
    }
    let func = module.funcs.get_mut(caller).kind.unwrap_local_mut();
    let builder = func.builder_mut();
    for mut instr in entry {
        if let Instr::IfElse(branch) = &mut instr {
            for arm in [&mut branch.consequent, &mut branch.alternative] {
                let new = builder.dangling_instr_seq(None).id();
                let mut copied = arms[arm].clone();
                for i in &mut copied {
                    remap(i, &locals);
                }
                *builder.instr_seq(new).instrs_mut() = copied
                    .into_iter()
                    .map(|i| (i, InstrLocId::default()))
                    .collect();
                *arm = new;
            }
        }
        remap(&mut instr, &locals);
        code.push(instr);
    }
    Some(code)
}
