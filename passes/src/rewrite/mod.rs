//! Code generation shared by rewrite passes: SIMD lane mapping, kernels, guards.

pub mod map;
pub mod reduce;
pub mod simd;
