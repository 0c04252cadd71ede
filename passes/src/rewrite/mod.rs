//! Code generation shared by rewrite passes: SIMD lane mapping, kernels, guards.

pub mod bulk;
pub mod gemm;
pub mod lanes;
pub mod map;
pub mod native;
pub mod quantize;
pub mod reduce;
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
