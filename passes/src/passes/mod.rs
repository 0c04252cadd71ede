//! The declaration list: every pass barq has, in pipeline order. This one list feeds
//! `--pass NAME`, `--list-passes` and the default pipeline; a pass's name is defined
//! once, by its `name()`.

pub mod attention;
pub mod bounds_checks;
pub mod bulk_memory;
pub mod inline_accessors;
pub mod inline_minmax;
pub mod load_combine;
pub mod loop_census;
pub mod native_brotli;
pub mod native_checksum;
pub mod native_conv;
pub mod native_gemm;
pub mod native_lz4;
pub mod native_quantize;
pub mod native_stencil;
pub mod native_zstd;
pub mod simd_elementwise;
pub mod simd_find;
pub mod simd_nest;
pub mod simd_reduce;
pub mod softmax;
pub mod store_combine;

use crate::pass::{Audit, Pass};

/// A registered pass of either kind.
pub enum Registered {
    /// May change the module.
    Rewrite(Box<dyn Pass>),
    /// Only reads it.
    Audit(Box<dyn Audit>),
}

impl Registered {
    /// The pass's name.
    pub fn name(&self) -> &'static str {
        match self {
            Registered::Rewrite(p) => p.name(),
            Registered::Audit(a) => a.name(),
        }
    }

    /// The pass's one-line description.
    pub fn description(&self) -> &'static str {
        match self {
            Registered::Rewrite(p) => p.description(),
            Registered::Audit(a) => a.description(),
        }
    }

    /// Whether this pass may change the module.
    pub fn is_rewrite(&self) -> bool {
        matches!(self, Registered::Rewrite(_))
    }
}

/// Every pass, in the order the default pipeline runs them. Each entry says why it
/// sits where it does.
pub fn all() -> Vec<Registered> {
    vec![
        // First: a read-only census of loops. It is cheap, it feeds the summary, and it
        // is where every later fingerprint starts (fingerprints read the loop forest).
        Registered::Audit(Box::new(loop_census::LoopCensus)),
        // Whole functions computing a matrix product -> the runner's GEMM kernel
        // (--target native only; identified by probing, so it needs the driver's
        // engine). First, so that it probes functions as the input has them and
        // the loop passes below still rewrite the fallback body.
        Registered::Rewrite(Box::new(native_gemm::NativeGemm)),
        // Whole functions computing CRC-32, CRC-32C or Adler-32 -> the runner's
        // kernels (--target native, identified by probing), for the same reasons.
        Registered::Rewrite(Box::new(native_checksum::NativeChecksum)),
        // Whole functions decoding an LZ4 block -> the runner's decoder, likewise
        // (the original body runs on malformed input).
        Registered::Rewrite(Box::new(native_lz4::NativeLz4)),
        // Whole functions behaving as ZSTD_decompress -> the runner's decoder,
        // likewise (these may allocate: the prober isolates their runs).
        Registered::Rewrite(Box::new(native_zstd::NativeZstd)),
        // Whole functions behaving as BrotliDecoderDecompress -> the runner's
        // decoder, likewise.
        Registered::Rewrite(Box::new(native_brotli::NativeBrotli)),
        // INT8 quantization and dequantization of whole arrays, likewise.
        Registered::Rewrite(Box::new(native_quantize::NativeQuantize)),
        // 3x3 f32 convolutions (+bias, ReLU), likewise.
        Registered::Rewrite(Box::new(native_conv::NativeConv)),
        // 3x3 integer stencils on bytes (edge detection), likewise.
        Registered::Rewrite(Box::new(native_stencil::NativeStencil)),
        // Softmax over an array -> a vectorized exp and sum (--fast-math only; the
        // runner's kernel or a SIMD128 function), likewise identified by probing.
        Registered::Rewrite(Box::new(softmax::SoftmaxPass)),
        // Scaled dot-product attention -> the runner's kernel (--fast-math only),
        // likewise; before the loop passes, which would rewrite its loops.
        Registered::Rewrite(Box::new(attention::AttentionPass)),
        // Calls in loops to a float minimum or maximum (fmaxf, Rust's f32::max),
        // identified by probing -> its instructions, so that the loop passes
        // below see a select, not a call.
        Registered::Rewrite(Box::new(inline_minmax::InlineMinMax)),
        // Calls in loops to small straight-line functions (AssemblyScript's
        // checked typed-array accessors) -> their instructions, likewise, so that
        // `bounds-checks` below sees their length tests.
        Registered::Rewrite(Box::new(inline_accessors::InlineAccessors)),
        // Byte assemblies -> one wide load: exact, anywhere in a function. First,
        // so that loops reading words byte by byte reach the loop passes as
        // loops over words.
        Registered::Rewrite(Box::new(load_combine::LoadCombine)),
        // Values written byte by byte -> one wide store behind a bounds check:
        // exact, straight-line code, so anywhere; beside its mirror image.
        Registered::Rewrite(Box::new(store_combine::StoreCombine)),
        // Loops whose index tests trap out of range (Rust slice indexing) -> a
        // copy without them behind one entry test, so that the loop passes below
        // see plain loops; `bounds-checks-cleanup` takes out the copies they left.
        Registered::Rewrite(Box::new(bounds_checks::BoundsChecks)),
        // Copy and fill loops -> memory.copy / memory.fill: exact. Before the
        // elementwise pass, which would otherwise take the 4- and 8-byte ones as
        // SIMD maps (and skips loops guarded here).
        Registered::Rewrite(Box::new(bulk_memory::BulkMemory)),
        // Elementwise loops: exact, so in the default pipeline at every level but -O0.
        Registered::Rewrite(Box::new(simd_elementwise::SimdElementwise)),
        // Reductions: integer sums exact; float sums only under --fast-math. After
        // the elementwise pass, whose kernels and guards it skips.
        Registered::Rewrite(Box::new(simd_reduce::SimdReduce)),
        // Loops holding loops (GEMM rows, convolutions): exact. Last, so that the
        // inner loops the passes above rewrite are theirs (a nest with a rewritten
        // inner loop holds a call and is left alone).
        Registered::Rewrite(Box::new(simd_nest::SimdNest)),
        // Search loops (an exit inside the iteration, no stores): exact. After
        // the loop passes above, which leave such loops alone, so that none of
        // them sees the skip loops this puts in front.
        Registered::Rewrite(Box::new(simd_find::SimdFind)),
        // Last: versioned loops none of the passes above rewrote go back to
        // what they were.
        Registered::Rewrite(Box::new(bounds_checks::BoundsChecksCleanup)),
    ]
}

/// Why a SIMD128 rewrite pass must not rewrite a match here, if it must not: the
/// policy every vectorizing pass shares (for both targets; whether a native kernel
/// exists for the match is the pass's own question).
pub(crate) fn simd_refusal(
    options: &crate::options::Options,
    already_vectorized: bool,
) -> Option<&'static str> {
    if already_vectorized {
        Some("function already vectorized by the compiler (scalar remainder or fallback loop)")
    } else if options.target == crate::options::Target::Portable && !options.allow_simd {
        Some("target does not allow SIMD")
    } else if !options.opt_level.rewrites() {
        Some("rewrites disabled at -O0")
    } else {
        None
    }
}

/// The reason given when the native target has no kernel for a match and SIMD128
/// is not allowed either.
pub(crate) const NO_NATIVE_KERNEL: &str = "no native kernel for this pattern yet";

/// Which native kernel a match gets: `Ok(Some(kernel))` to call it, `Ok(None)` to
/// use the SIMD128 kernel (the portable target, or the native target's fallback
/// where no host kernel computes the loop), `Err` when neither is allowed.
pub(crate) fn native_choice<K>(
    options: &crate::options::Options,
    module: &walrus::Module,
    memory: walrus::MemoryId,
    kernel: impl FnOnce() -> Option<K>,
) -> Result<Option<K>, &'static str> {
    if options.target != crate::options::Target::Native {
        return Ok(None);
    }
    let found = match crate::rewrite::native::memory_refusal(module, memory) {
        Some(reason) if !options.allow_simd => return Err(reason),
        Some(_) => None,
        None => kernel(),
    };
    match found {
        Some(k) => Ok(Some(k)),
        None if options.allow_simd => Ok(None),
        None => Err(NO_NATIVE_KERNEL),
    }
}

/// Why a loop is too short to rewrite, when its trip count is a constant so small
/// that the guard would never call the kernel (`for (j = 0; j < 8; j++)`).
pub(crate) fn too_short(
    func: &walrus::LocalFunction,
    parent_seq: walrus::ir::InstrSeqId,
    position: usize,
    body: &crate::analysis::value_graph::LoopBody,
    trip: &crate::analysis::trip_count::TripCount,
    unroll: u32,
    min_elements: i64,
) -> Option<String> {
    use crate::analysis::trip_count::static_iterations;
    let entry = |local| entry_constant(func, parent_seq, position, local, false);
    // A loop counting down from `n & C` (a compiler's remainder loop) runs at most
    // as often as it would from `C`.
    let at_most = |local| entry_constant(func, parent_seq, position, local, true);
    let iterations = static_iterations(body, trip, entry)
        .or_else(|| (trip.inc < 0).then(|| static_iterations(body, trip, at_most))?)?;
    (iterations * unroll as i64 <= min_elements + unroll as i64).then(|| {
        format!(
            "too few iterations to pay ({} elements)",
            iterations * unroll as i64
        )
    })
}

/// The constant a local holds when the instruction at `position` of `seq` runs, if
/// straight-line code just before it sets one (`i32.const 0; local.set $j`); with
/// `masks`, also the largest value a mask leaves (`i32.const 3; i32.and; local.set`).
fn entry_constant(
    func: &walrus::LocalFunction,
    seq: walrus::ir::InstrSeqId,
    position: usize,
    local: walrus::LocalId,
    masks: bool,
) -> Option<i64> {
    use walrus::ir::{Instr, Value};
    let instrs = &func.block(seq).instrs[..position];
    for (i, (instr, _)) in instrs.iter().enumerate().rev() {
        match instr {
            Instr::LocalSet(s) if s.local == local => {
                let constant = |at: usize| match instrs.get(at)?.0 {
                    Instr::Const(walrus::ir::Const {
                        value: Value::I32(c),
                    }) => Some(c as i64),
                    _ => None,
                };
                let previous = i.checked_sub(1)?;
                return match &instrs[previous].0 {
                    Instr::Binop(b) if masks && matches!(b.op, walrus::ir::BinaryOp::I32And) => {
                        constant(previous.checked_sub(1)?).filter(|c| *c >= 0)
                    }
                    _ => constant(previous),
                };
            }
            Instr::LocalTee(t) if t.local == local => return None,
            // Code between the set and the loop that completes without writing the
            // local leaves it as set (branches out of `seq` never reach the loop).
            Instr::Block(_) | Instr::Loop(_) | Instr::IfElse(_) => {
                let nested = crate::analysis::loops::nested_sequences(func, &instrs[i..=i]);
                let writes =
                    nested
                        .iter()
                        .flat_map(|s| &func.block(*s).instrs)
                        .any(|(nested_instr, _)| match nested_instr {
                            Instr::LocalSet(s) => s.local == local,
                            Instr::LocalTee(t) => t.local == local,
                            _ => false,
                        });
                if writes {
                    return None;
                }
            }
            Instr::Try(_) | Instr::TryTable(_) => return None,
            _ => {}
        }
    }
    None
}

/// The names of every registered pass, comma-separated (for error messages).
pub fn valid_names() -> String {
    all()
        .iter()
        .map(Registered::name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a whole-function fingerprint says of a function it identified.
pub(crate) struct Identified<M> {
    /// The match, for the rewrite.
    pub matched: M,
    /// The report's pattern, element type, exactness and reason.
    pub pattern: &'static str,
    pub elem: Option<crate::report::Elem>,
    pub exact: bool,
    pub reason: String,
    /// Under `--target portable`: reported `detected` with this reason, the
    /// function unchanged (no portable kernel for this match).
    pub detected: Option<&'static str>,
}

/// A plain-code rewrite's finding in `id` (detected, exact, no tier yet), and why
/// the rewrite may not be made: `--verify` dropped the function, `-O0`, or the
/// `--bisect` budget (consumed only when the rest allows the rewrite). `None`: go.
pub(crate) fn scalar_candidate(
    cx: &mut crate::pass::PassCx<'_>,
    id: walrus::FunctionId,
    pattern: &str,
    elem: crate::report::Elem,
) -> (crate::report::Finding, Option<String>) {
    let finding = crate::report::Finding {
        function: cx.names.get(id).to_string(),
        func_index: cx.func_index(id).unwrap_or(u32::MAX),
        pattern: pattern.to_string(),
        elem: Some(elem),
        action: crate::report::Action::Detected,
        tier: None,
        exact: true,
        reason: None,
        verified: None,
    };
    let refusal = if let Some(reason) = cx.dropped(id) {
        Some(reason.to_string())
    } else if !cx.options.opt_level.rewrites() {
        Some("rewrites disabled at -O0".to_string())
    } else if !cx.allow_rewrite() {
        Some("bisect limit reached".to_string())
    } else {
        None
    };
    (finding, refusal)
}

/// What a whole-function pass does under `--target portable`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnPortable {
    /// Nothing: the pass is for the native target.
    Skip,
    /// Rewrites with its SIMD128 kernel (when SIMD is allowed).
    Rewrite,
    /// Identifies and reports the match as `detected`, with this reason, and
    /// leaves the function to the loop passes.
    Report(&'static str),
}

/// The frame of a pass that replaces whole functions identified by probing with a
/// native kernel call (`--target native` only, and only with a prober): for each
/// function `prefilter` accepts, `identify` probes it (given its parameter types); an identified function is reported and, unless `--verify` dropped it or
/// `--bisect` ran out, `rewrite` puts the guarded call in front of its body.
pub(crate) fn run_whole_function<M>(
    module: &mut walrus::Module,
    cx: &mut crate::pass::PassCx<'_>,
    prefilter: impl Fn(&walrus::Module, &walrus::LocalFunction) -> Option<usize>,
    mut identify: impl FnMut(
        &walrus::LocalFunction,
        u32,
        &[walrus::ValType],
        &mut dyn crate::probe::Probe,
    ) -> Option<Identified<M>>,
    mut rewrite: impl FnMut(&mut walrus::Module, walrus::FunctionId, walrus::MemoryId, &M),
) -> crate::pass::Changed {
    run_whole_function_tiered(
        module,
        cx,
        OnPortable::Skip,
        prefilter,
        |local, index, params, probe, _| identify(local, index, params, probe),
        |module, func, memory, m, _| rewrite(module, func, memory, m),
    )
}

/// Whether `func` calls one of barq's kernels (a function barq added, or a `barq`
/// import): barq rewrote it already (a second run must not wrap it again).
fn calls_barq_kernel(module: &walrus::Module, func: &walrus::LocalFunction) -> bool {
    simd_elementwise::instructions(func).any(|i| match i {
        walrus::ir::Instr::Call(c) => {
            let callee = module.funcs.get(c.func);
            let imported = match callee.kind {
                walrus::FunctionKind::Import(walrus::ImportedFunction { import, .. }) => {
                    module.imports.get(import).module == crate::rewrite::native::MODULE
                }
                _ => false,
            };
            imported
                || callee
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with(simd_elementwise::KERNEL_PREFIX))
        }
        _ => false,
    })
}

/// [`run_whole_function`] for a pass that also does something under `--target
/// portable` (`portable`): with [`OnPortable::Rewrite`] (SIMD128 allowed, a
/// prober given, a 32-bit memory) `identify` and `rewrite` are told the tier is
/// [`Tier::Simd128`](crate::report::Tier); with [`OnPortable::Report`] `identify`
/// runs (told [`Tier::Scalar`](crate::report::Tier)) and a match is reported
/// `detected` with the given reason, the function unchanged.
pub(crate) fn run_whole_function_tiered<M>(
    module: &mut walrus::Module,
    cx: &mut crate::pass::PassCx<'_>,
    portable: OnPortable,
    prefilter: impl Fn(&walrus::Module, &walrus::LocalFunction) -> Option<usize>,
    mut identify: impl FnMut(
        &walrus::LocalFunction,
        u32,
        &[walrus::ValType],
        &mut dyn crate::probe::Probe,
        crate::report::Tier,
    ) -> Option<Identified<M>>,
    mut rewrite: impl FnMut(
        &mut walrus::Module,
        walrus::FunctionId,
        walrus::MemoryId,
        &M,
        crate::report::Tier,
    ),
) -> crate::pass::Changed {
    use crate::options::Target;
    use crate::report::{Action, Finding, Tier};
    let mut changed = crate::pass::Changed::nothing();
    let (tier, report_only) = match (cx.options.target, portable) {
        (Target::Native, _) => (Tier::Native, None),
        (Target::Portable, OnPortable::Rewrite) if cx.options.allow_simd => (Tier::Simd128, None),
        (Target::Portable, OnPortable::Report(why)) => (Tier::Scalar, Some(why)),
        _ => return changed,
    };
    if cx.probe.is_none() {
        return changed;
    }
    let Some(memory) = module.memories.iter().next().map(|m| m.id()) else {
        return changed;
    };
    let refused = match tier {
        Tier::Native => crate::rewrite::native::memory_refusal(module, memory).is_some(),
        _ => module.memories.get(memory).memory64,
    };
    if refused {
        return changed;
    }
    let candidates: Vec<walrus::FunctionId> = simd_elementwise::own_functions(module)
        .into_iter()
        .filter(|f| {
            let local = module.funcs.get(*f).kind.unwrap_local();
            !calls_barq_kernel(module, local) && prefilter(module, local).is_some()
        })
        .collect();
    // The prober compiles once for all of this pass's candidates.
    for func in &candidates {
        if let (Some(index), Some(probe)) = (cx.func_index(*func), cx.probe.as_deref_mut()) {
            probe.want(index);
        }
    }
    for func in candidates {
        let local = module.funcs.get(func).kind.unwrap_local();
        let params = module.types.get(local.ty()).params();
        let (Some(index), Some(probe)) = (cx.func_index(func), cx.probe.as_deref_mut()) else {
            continue;
        };
        let Some(found) = identify(local, index, params, probe, tier) else {
            continue;
        };
        let detected = found.detected.filter(|_| tier != Tier::Native);
        let mut finding = Finding {
            function: cx.names.get(func).to_string(),
            func_index: index,
            pattern: found.pattern.to_string(),
            elem: found.elem,
            action: Action::Rewritten,
            tier: Some(tier),
            exact: found.exact,
            reason: Some(found.reason),
            verified: None,
        };
        let refused = match (report_only.or(detected), cx.dropped(func)) {
            (Some(why), _) => Some(why.to_string()),
            (None, Some(why)) => Some(why.to_string()),
            (None, None) => (!cx.allow_rewrite()).then(|| "--bisect limit reached".to_string()),
        };
        if let Some(why) = refused {
            finding.action = Action::Detected;
            finding.tier = None;
            finding.reason = Some(why);
        } else {
            rewrite(module, func, memory, &found.matched, tier);
            changed.functions.push(func);
        }
        cx.findings.push(finding);
    }
    changed
}
