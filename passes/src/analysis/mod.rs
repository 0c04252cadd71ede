//! Analyses: read-only facts about a module that fingerprints consume. Analyses
//! never import passes; every traversal here is iterative so that deeply nested
//! control flow cannot overflow the stack.

pub mod affine;
pub mod loops;
pub mod trip_count;
pub mod value_graph;

pub use loops::{LoopForest, LoopInfo};
