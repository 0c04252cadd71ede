//! Copy and fill fingerprints (`memcpy`, `memset`): a counted loop whose every
//! iteration stores, at consecutive elements of one stream, either the element a
//! load of the same width read from another stream at the same index (a copy), or
//! one loop-invariant value (a fill). Elements of 1, 2, 4 and 8 bytes, integer or
//! float, forward or backward through memory, unrolled or not.
//!
//! Accepted shapes, each named in the match:
//! - `copy-w<W>-x<U>-<dir>`: `U` stores of `W`-byte elements per iteration, each the
//!   value of a `W`-byte load from the source stream at the same element.
//! - `fill-w<W>-x<U>-<dir>`: `U` stores of one invariant value.
//! - `smear-w1-x1-forward`: `buf[i] = buf[i - 1]`, which fills the range with the
//!   byte just before it.
//!
//! What `memory.copy` computes is `memmove`: every byte read before any is written.
//! A forward loop computes the same when the destination does not start inside the
//! source range past the source's start (`dst <= src` or no overlap), a backward loop
//! when it does not start before the source inside it; the guard checks the
//! direction at run time (or the match proves it, for two offsets of one array).
//! Within one iteration the loop must not store an element before it loads an
//! element that comes earlier in its direction (compilers never do; the check
//! keeps the argument honest).

use super::elementwise::{any_may_trap, lane_text, Access};
use super::NoMatch;
use crate::analysis::affine::{affine_i32, inductions};
use crate::analysis::trip_count::{trip_count, TripCount};
use crate::analysis::value_graph::{ExitTest, LoopBody, Node};
use crate::report::Elem;
use petgraph::graph::NodeIndex;
use std::collections::HashMap;
use walrus::ir::{StoreKind, Value};
use walrus::{LocalId, MemoryId};

/// What the loop writes.
#[derive(Clone, Debug)]
pub enum Fill {
    /// The elements of a source stream (lowest-address load of the first iteration).
    Copy(Access),
    /// One loop-invariant value. `check_bytes`: the value is not a constant and its
    /// element is wider than a byte, so the guard must check at run time that it
    /// repeats one byte (what `memory.fill` writes).
    Value {
        /// The invariant stored.
        node: NodeIndex,
        /// Whether the guard checks that it repeats one byte.
        check_bytes: bool,
    },
    /// `buf[i] = buf[i - 1]` over bytes: every byte becomes the one before the range.
    Smear(Access),
}

/// Which overlaps of the written and read ranges keep the loop equal to `memmove`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overlap {
    /// The written range must not overlap any read range (elementwise kernels).
    Disjoint,
    /// Forward copy: the destination must not start after the source inside it.
    Forward,
    /// Backward copy: the destination must not start before the source inside it.
    Backward,
    /// A fill reads nothing; a smear reads the byte it spreads (any overlap).
    Any,
}

/// A matched copy or fill loop.
#[derive(Clone, Debug)]
pub struct CopyMatch {
    /// The accepted shape's name.
    pub shape: String,
    /// `memcpy` or `memset`.
    pub pattern: &'static str,
    /// The report's element type.
    pub elem: Elem,
    /// Bytes per element.
    pub width: u32,
    /// Stores per iteration (the compiler's unroll factor).
    pub unroll: u32,
    /// Bytes the streams advance per iteration (negative: backward).
    pub stride: i64,
    /// The memory accessed.
    pub memory: MemoryId,
    /// The lowest-address store of the first iteration.
    pub store: Access,
    /// The store kind.
    pub store_kind: StoreKind,
    /// What is written.
    pub fill: Fill,
    /// The overlap the guard allows.
    pub overlap: Overlap,
    /// How many iterations run.
    pub trip: TripCount,
    /// Induction steps.
    pub steps: HashMap<LocalId, i64>,
}

fn store_width(kind: StoreKind) -> Option<(u32, Elem)> {
    Some(match kind {
        StoreKind::I32_8 { atomic: false } | StoreKind::I64_8 { atomic: false } => (1, Elem::U8),
        StoreKind::I32_16 { atomic: false } | StoreKind::I64_16 { atomic: false } => (2, Elem::I16),
        StoreKind::I32 { atomic: false } | StoreKind::I64_32 { atomic: false } => (4, Elem::I32),
        StoreKind::F32 => (4, Elem::F32),
        StoreKind::I64 { atomic: false } => (8, Elem::I64),
        StoreKind::F64 => (8, Elem::F64),
        _ => return None,
    })
}

/// The bits of a constant, if `node` is one.
fn constant_bits(body: &LoopBody, node: NodeIndex) -> Option<u64> {
    match body.graph[node] {
        Node::Const(Value::I32(v)) => Some(v as u32 as u64),
        Node::Const(Value::I64(v)) => Some(v as u64),
        Node::Const(Value::F32(v)) => Some(v.to_bits() as u64),
        Node::Const(Value::F64(v)) => Some(v.to_bits()),
        _ => None,
    }
}

/// Whether the low `width` bytes of `bits` are one byte repeated.
pub fn repeats_one_byte(bits: u64, width: u32) -> bool {
    (0..width).all(|i| (bits >> (8 * i)) & 0xff == bits & 0xff)
}

/// Matches a copy or fill loop. Loops whose stores are 4 or 8 bytes wide and that
/// are not copies or byte-repeating fills are `Unrelated` here: the elementwise
/// fingerprint covers them (and reports them).
pub fn match_copy_fill(body: &LoopBody) -> Result<CopyMatch, NoMatch> {
    let Some(first) = body.stores.first() else {
        return Err(NoMatch::Unrelated);
    };
    let Some((width, elem)) = store_width(first.kind) else {
        return Err(NoMatch::Unrelated);
    };
    let Some(store_form) = affine_i32(body, first.addr) else {
        return Err(NoMatch::Unrelated);
    };
    let narrow = width < 4;
    // Wide stores that are not ours are the elementwise fingerprint's to report.
    let mine = |pattern: &'static str, reason: &str| {
        if narrow {
            NoMatch::declined(pattern, reason)
        } else {
            NoMatch::Unrelated
        }
    };
    // What is stored decides the pattern; the value of the first store says which.
    // (Other byte loops, which compute what they store, are not this fingerprint's.)
    let first_value = first.value;
    let is_copy = matches!(body.graph[first_value], Node::Load { .. });
    let is_fill = !is_copy && body.is_invariant(first_value);
    let pattern = match (is_copy, is_fill) {
        (true, _) => "memcpy",
        (_, true) => "memset",
        _ => return Err(NoMatch::Unrelated),
    };
    let decline = |reason: &str| mine(pattern, reason);
    let steps = inductions(body);
    let counted = !steps.is_empty() && trip_count(body, &steps).is_ok();
    if let Some(blocker) = body.blockers.first() {
        return Err(if counted {
            decline(blocker)
        } else {
            NoMatch::Unrelated
        });
    }
    if !counted {
        return Err(NoMatch::Unrelated);
    }
    let trip = trip_count(body, &steps).map_err(decline)?;
    for (local, end) in &body.end_values {
        let carried = body.phis.contains_key(local) && !steps.contains_key(local);
        if carried && body.phis.get(local) != Some(end) {
            return Err(decline("loop-carried value"));
        }
    }

    // The stores: one stream, consecutive elements, advancing U*W per iteration.
    let mut stores = Vec::new();
    for store in &body.stores {
        if store.memory != first.memory || store_width(store.kind) != Some((width, elem)) {
            return Err(decline("stores of mixed widths or memories"));
        }
        let form = affine_i32(body, store.addr).ok_or_else(|| decline("non-affine store"))?;
        if form.key() != store_form.key() {
            return Err(decline("stores to several arrays"));
        }
        let access = Access {
            addr: store.addr,
            offset: store.arg.offset,
            form,
        };
        stores.push((store, access));
    }
    stores.sort_by_key(|(_, a)| a.total_offset());
    let base = stores[0].1.total_offset();
    for (u, (_, access)) in stores.iter().enumerate() {
        if access.total_offset() != base + u as i64 * width as i64 {
            return Err(decline("stores are not consecutive elements"));
        }
    }
    let unroll = stores.len() as u32;
    let stride = stores[0]
        .1
        .form
        .exact_increment(body, &steps)
        .unwrap_or(i64::MIN);
    if stride.unsigned_abs() != unroll as u64 * width as u64 {
        return Err(decline("non-contiguous store"));
    }
    let forward = stride > 0;

    // Every copy stores the same lane expression, shifted by whole elements.
    let lane0 = lane_text(body, stores[0].0.value, 0, 0).map_err(decline)?;
    for (u, (store, _)) in stores.iter().enumerate().skip(1) {
        let text = lane_text(body, store.value, u as i64 * width as i64, 0).map_err(decline)?;
        if text != lane0 {
            return Err(decline("unrolled copies differ"));
        }
    }
    let store = stores[0].1.clone();
    let value0 = stores[0].0.value;

    let (fill, overlap) = if is_copy {
        let Node::Load {
            kind, memory, arg, ..
        } = body.graph[value0]
        else {
            unreachable!("checked above");
        };
        if memory != first.memory {
            return Err(decline("copy from another memory"));
        }
        if kind.width() != width {
            return Err(decline("load and store widths differ"));
        }
        let addr = body.operands(value0)[0];
        let form = affine_i32(body, addr).ok_or_else(|| decline("non-affine load"))?;
        if form.exact_increment(body, &steps).unwrap_or(i64::MIN) != stride {
            return Err(decline("non-contiguous load"));
        }
        let source = Access {
            addr,
            offset: arg.offset,
            form,
        };
        // Only the copies' loads: a load whose value is not stored could trap.
        let loads = body
            .graph
            .node_indices()
            .filter(|n| matches!(body.graph[*n], Node::Load { .. }))
            .count();
        if loads != stores.len() {
            return Err(decline("load whose value is not stored"));
        }
        // No store of an element before the load of an element it precedes.
        let rank = |u: usize| if forward { u } else { stores.len() - 1 - u };
        for (u, (s, _)) in stores.iter().enumerate() {
            for (v, (t, _)) in stores.iter().enumerate() {
                let Node::Load { order, .. } = body.graph[t.value] else {
                    return Err(decline("unrolled copies differ"));
                };
                if s.order < order && rank(u) >= rank(v) {
                    return Err(decline("stores an element before loading an earlier one"));
                }
            }
        }
        if source.form.key() == store.form.key() {
            // Two offsets of one array: the distance decides, statically.
            let distance = source.total_offset() - store.total_offset();
            let behind = if forward { distance < 0 } else { distance > 0 };
            if !behind {
                (Fill::Copy(source), Overlap::Any)
            } else if forward && distance == -1 && width == 1 && unroll == 1 {
                (Fill::Smear(source), Overlap::Any)
            } else {
                return Err(decline("loop-carried memory dependence"));
            }
        } else if forward {
            (Fill::Copy(source), Overlap::Forward)
        } else {
            (Fill::Copy(source), Overlap::Backward)
        }
    } else {
        if body
            .graph
            .node_indices()
            .any(|n| matches!(body.graph[n], Node::Load { .. }))
        {
            return Err(decline("load whose value is not stored"));
        }
        let check_bytes = match constant_bits(body, value0) {
            Some(bits) if repeats_one_byte(bits, width) => false,
            Some(_) => {
                return Err(mine(
                    "memset",
                    "fill value is not one repeated byte (memory.fill writes bytes)",
                ))
            }
            // A variable 16-bit fill: checked at run time. Wider ones are SIMD maps.
            None if width == 2 => true,
            None if width == 1 => false,
            None => return Err(NoMatch::Unrelated),
        };
        (
            Fill::Value {
                node: value0,
                check_bytes,
            },
            Overlap::Any,
        )
    };

    let entry_values = [trip.x, trip.bound, store.addr]
        .into_iter()
        .chain(match &fill {
            Fill::Copy(source) | Fill::Smear(source) => Some(source.addr),
            Fill::Value { node, .. } => Some(*node),
        });
    if any_may_trap(body, entry_values) {
        return Err(decline("loop-invariant value that may trap"));
    }
    // A smear fills: every byte becomes one value.
    let pattern = if matches!(fill, Fill::Smear(_)) {
        "memset"
    } else {
        pattern
    };
    let kind_name = match fill {
        Fill::Copy(_) => "copy",
        Fill::Value { .. } => "fill",
        Fill::Smear(_) => "smear",
    };
    let direction = if forward { "forward" } else { "backward" };
    let test = match trip.test {
        ExitTest::Bottom => "bottom",
        ExitTest::Top => "top",
    };
    Ok(CopyMatch {
        shape: format!("{kind_name}-w{width}-x{unroll}-{direction}-{test}"),
        pattern,
        elem,
        width,
        unroll,
        stride,
        memory: first.memory,
        store,
        store_kind: first.kind,
        fill,
        overlap,
        trip,
        steps,
    })
}

#[cfg(test)]
mod tests {
    use super::repeats_one_byte;

    #[test]
    fn byte_repetition() {
        assert!(repeats_one_byte(0, 8));
        assert!(repeats_one_byte(u64::MAX, 8));
        assert!(repeats_one_byte(0x4141, 2));
        assert!(repeats_one_byte(0x12_4141, 2));
        assert!(!repeats_one_byte(0x4142, 2));
        assert!(!repeats_one_byte(0x3f80_0000, 4));
    }
}
