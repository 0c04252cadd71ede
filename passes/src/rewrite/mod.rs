//! Code generation shared by rewrite passes: SIMD lane mapping, kernels, guards.

pub mod adler;
pub mod attention;
pub mod bulk;
pub mod gemm;
pub mod lanes;
pub mod map;
pub mod narrow;
pub mod native;
pub mod quantize;
pub mod reduce;
pub mod search;
pub mod simd;
pub mod softmax;

/// The function named `name` in `module`, if there is one: a kernel function
/// already added by an earlier rewrite (kernels are added once per module).
pub fn named_function(module: &walrus::Module, name: &str) -> Option<walrus::FunctionId> {
    module
        .funcs
        .iter()
        .find(|f| f.name.as_deref() == Some(name))
        .map(|f| f.id())
}

/// `block { loop { exit; br_if out; body; counter += step; br loop } }`: a loop
/// over `counter` (i32) that leaves when `exit` pushes a nonzero i32, as the
/// kernels added by the whole-function rewrites write their loops.
pub fn emit_counted_loop(
    seq: &mut walrus::InstrSeqBuilder,
    counter: walrus::LocalId,
    step: i32,
    exit: impl FnOnce(&mut walrus::InstrSeqBuilder),
    body: impl FnOnce(&mut walrus::InstrSeqBuilder),
) {
    seq.block(None, |done| {
        let done_id = done.id();
        done.loop_(None, |each| {
            let again = each.id();
            exit(each);
            each.br_if(done_id);
            body(each);
            each.local_get(counter)
                .i32_const(step)
                .binop(walrus::ir::BinaryOp::I32Add)
                .local_set(counter)
                .br(again);
        });
    });
}
