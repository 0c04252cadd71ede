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
