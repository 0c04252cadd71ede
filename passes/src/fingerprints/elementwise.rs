//! Elementwise fingerprints (`axpy`, `scale`, `add`, `mul`, `relu`, `clamp`, `max`,
//! and the general `map`): a counted loop whose every iteration stores, at
//! consecutive elements, a pure lane-wise function of loads at the same element
//! index and of loop invariants.
//!
//! Accepted shapes, each named in the match:
//! - `map-<elem>-x<U>-<test>`: `U` stores per iteration (the compiler unrolled the
//!   loop `U` times) at offsets `0, E, .., (U-1)E` of one address stream advancing
//!   `U*E` bytes per iteration, whose values are the same expression tree with the
//!   loads shifted by the same element; `<test>` is `bottom` (rotated do-while) or
//!   `top` (top-tested, as at -Oz). 8- and 16-bit stores (`map-u8-..`,
//!   `map-i16-..`, with the lanes `i8x16` or `i16x8` the kernel computes in) when
//!   `rewrite::narrow` finds an exact lane form; byte and halfword copies and fills
//!   are left to the bulk-memory pass, and maps the narrow lanes cannot compute to
//!   the loop-nest pass's i32 lanes.
//!
//! Computing lane `j` of a v128 does exactly what scalar iteration `j` did (same
//! operators, same order), so the rewrite is exact; what vectorizing may change is
//! only the order of memory accesses, which the rewrite's guard makes unobservable
//! (written range disjoint from every read range, or exactly in place).

use super::types::{node_type, Lanes};
use super::NoMatch;
use crate::analysis::affine::{affine_i32, inductions, Affine};
use crate::analysis::trip_count::{trip_count, TripCount};
use crate::analysis::value_graph::{LoopBody, Node, Store};
use petgraph::graph::NodeIndex;
use std::collections::{HashMap, HashSet};
use walrus::ir::{StoreKind, Value};
use walrus::{LocalId, MemoryId, Module, ValType};

/// A memory access of the lane-0 expression.
#[derive(Clone, Debug)]
pub struct Access {
    /// The `i32` address operand.
    pub addr: NodeIndex,
    /// The static memarg offset.
    pub offset: u64,
    /// The address's affine form.
    pub form: Affine,
}

impl Access {
    /// The access's offset from its stream base: affine constant plus memarg offset.
    pub fn total_offset(&self) -> i64 {
        self.form.constant + self.offset as i64
    }
}

/// A load of the lane-0 expression.
#[derive(Clone, Debug)]
pub struct MapLoad {
    /// The load node.
    pub node: NodeIndex,
    /// Where it reads.
    pub access: Access,
    /// It reads exactly the element the iteration stores (`y[i] = f(y[i], ..)`).
    pub in_place: bool,
    /// Bytes per element read.
    pub width: u32,
}

/// A matched elementwise loop.
#[derive(Clone, Debug)]
pub struct MapMatch {
    /// The accepted shape's name.
    pub shape: String,
    /// The report's pattern name.
    pub pattern: &'static str,
    /// Lane shape of the kernel.
    pub lanes: Lanes,
    /// Stores per iteration (the compiler's unroll factor).
    pub unroll: u32,
    /// Bytes the streams advance per iteration.
    pub stride: i64,
    /// The memory accessed.
    pub memory: MemoryId,
    /// The lane-0 store.
    pub store: Access,
    /// Store kind.
    pub store_kind: StoreKind,
    /// The lane-0 stored value.
    pub value: NodeIndex,
    /// Distinct loads of the lane-0 value.
    pub loads: Vec<MapLoad>,
    /// Loop-invariant non-constant leaves of the lane-0 value, with their types.
    pub invariants: Vec<(NodeIndex, ValType)>,
    /// How many iterations run.
    pub trip: TripCount,
    /// Induction steps.
    pub steps: HashMap<LocalId, i64>,
    /// For 8- and 16-bit elements: how the kernel computes them (`lanes` is then
    /// `I32x4`, the type of the scalar code).
    pub narrow: Option<crate::rewrite::narrow::NarrowPlan>,
    /// The report's element type (`i8` for bytes read sign-extended).
    pub elem: crate::report::Elem,
}

impl MapMatch {
    /// The fewest elements worth the guard and the kernel call. For 8- and 16-bit
    /// maps, 64: rows of 26 bytes (a 3x3 stencil on 28x28 images) ran slower
    /// through the call than the original loop (V8: 3.58 against 3.37 ms), while
    /// the loop-nest pass's inline lockstep, which takes the shorter runs, gained
    /// (3.27 against 5.48 ms in the same setting;
    /// bench/results/2026-12-06-vm-edges-{narrow,lockstep}.md).
    pub fn min_elements(&self) -> i64 {
        if self.narrow.is_some() {
            crate::rewrite::narrow::MIN_ELEMENTS
        } else {
            crate::rewrite::map::MIN_ELEMENTS
        }
    }

    /// Bytes per element stored.
    pub fn elem_bytes(&self) -> u32 {
        self.narrow
            .as_ref()
            .map_or(self.lanes.width(), |plan| plan.elem_bytes)
    }
}

/// Structural text of an invariant subtree (equal for the per-copy recomputations
/// of an unrolled loop).
fn invariant_text(body: &LoopBody, node: NodeIndex) -> String {
    match &body.graph[node] {
        Node::Phi(local) => format!("local{}", local.index()),
        Node::Const(v) => format!("{v:?}"),
        Node::GlobalGet(g) => format!("global{}", g.index()),
        other => {
            let children: Vec<String> = body
                .operands(node)
                .iter()
                .map(|c| invariant_text(body, *c))
                .collect();
            format!("{other:?}({})", children.join(","))
        }
    }
}

/// Canonical text of a store value with loads shifted back by `shift` bytes, so the
/// unrolled copies of one lane expression compare equal.
pub(crate) fn lane_text(
    body: &LoopBody,
    node: NodeIndex,
    shift: i64,
    depth: u32,
) -> Result<String, &'static str> {
    lane_text_shifted(body, node, &|_| shift, depth)
}

/// [`lane_text`] of unrolled copy `copy`: each load shifted back by `copy` of its
/// own elements (an 8-bit map's 16-bit reads move two bytes a copy).
fn lane_text_of_copy(
    body: &LoopBody,
    node: NodeIndex,
    copy: i64,
    depth: u32,
) -> Result<String, &'static str> {
    lane_text_shifted(body, node, &|width| copy * width as i64, depth)
}

fn lane_text_shifted(
    body: &LoopBody,
    node: NodeIndex,
    shift_of: &dyn Fn(u32) -> i64,
    depth: u32,
) -> Result<String, &'static str> {
    if depth > 64 {
        return Err("expression too deep");
    }
    match &body.graph[node] {
        // (First: a hoisted invariant load is one value in every copy, never a
        // stream shifted by the copy's element.)
        _ if body.is_invariant(node) => Ok(format!("inv({})", invariant_text(body, node))),
        Node::Load {
            kind, memory, arg, ..
        } => {
            let addr = body.operands(node)[0];
            let form = affine_i32(body, addr).ok_or("non-affine load")?;
            let key: Vec<(usize, i64)> = form.key().iter().map(|(n, c)| (n.index(), *c)).collect();
            let offset = form.constant + arg.offset as i64 - shift_of(kind.width());
            Ok(format!(
                "load({kind:?},{},{key:?},{offset})",
                memory.index()
            ))
        }
        Node::Phi(_) => Err("value depends on an induction variable"),
        Node::Opaque => Err("unmodelled value"),
        other => {
            let mut children = Vec::new();
            for c in body.operands(node) {
                children.push(lane_text_shifted(body, c, shift_of, depth + 1)?);
            }
            Ok(format!("{other:?}({})", children.join(",")))
        }
    }
}

fn is_zero(body: &LoopBody, n: NodeIndex) -> bool {
    match body.graph[n] {
        Node::Const(Value::F32(v)) => v == 0.0,
        Node::Const(Value::F64(v)) => v == 0.0,
        Node::Const(Value::I32(v)) => v == 0,
        Node::Const(Value::I64(v)) => v == 0,
        _ => false,
    }
}

/// Names what the lane expression computes, for the report.
fn classify(body: &LoopBody, value: NodeIndex, loads: &[MapLoad]) -> &'static str {
    let is_load = |n: NodeIndex| matches!(body.graph[n], Node::Load { .. });
    let is_inv = |n: NodeIndex| body.is_invariant(n);
    let op_name = |n: NodeIndex| match &body.graph[n] {
        Node::Binop(op) => format!("{op:?}"),
        Node::Select => "Select".to_string(),
        _ => String::new(),
    };
    if is_load(value) {
        return "memcpy";
    }
    if is_inv(value) {
        return "memset";
    }
    let ops = body.operands(value);
    let name = op_name(value);
    let is_mul = |n: NodeIndex| op_name(n).ends_with("Mul");
    let scaled_load = |n: NodeIndex| {
        is_mul(n) && {
            let o = body.operands(n);
            (is_inv(o[0]) && is_load(o[1])) || (is_load(o[0]) && is_inv(o[1]))
        }
    };
    if name.ends_with("Mul") && scaled_load(value) {
        return "scale";
    }
    if name.ends_with("Add") && ops.len() == 2 {
        if (scaled_load(ops[0]) && is_load(ops[1])) || (scaled_load(ops[1]) && is_load(ops[0])) {
            return "axpy";
        }
        if is_load(ops[0]) && is_load(ops[1]) {
            return "add";
        }
    }
    if name.ends_with("Mul") && is_load(ops[0]) && is_load(ops[1]) {
        return "mul";
    }
    if name.ends_with("Max") && ops.len() == 2 {
        if is_load(ops[0]) && is_load(ops[1]) {
            return "max";
        }
        if (is_load(ops[0]) && is_zero(body, ops[1])) || (is_zero(body, ops[0]) && is_load(ops[1]))
        {
            return "relu";
        }
    }
    // select(x, 0, x > 0), select(0, x, x < 0) and the like, over one load.
    let mut select_count = 0;
    let mut zero_select = false;
    let mut work = vec![value];
    while let Some(n) = work.pop() {
        let on = op_name(n);
        if on == "Select" || on.ends_with("Min") || on.ends_with("Max") {
            select_count += 1;
            let o = body.operands(n);
            // (`x < 0 ? 0 : x`: zero against the element itself, under a test
            // against a constant (`x > -1` as well), not `p == key ? 0 : p`.)
            let against_zero = o.get(2).is_none_or(|c| match body.graph[*c] {
                Node::Binop(_) => body
                    .operands(*c)
                    .iter()
                    .any(|x| matches!(body.graph[*x], Node::Const(_))),
                _ => true,
            });
            if o.len() >= 2
                && against_zero
                && ((is_zero(body, o[0]) && is_load(o[1]))
                    || (is_load(o[0]) && is_zero(body, o[1])))
            {
                zero_select = true;
            }
            work.extend(o.into_iter().take(2));
        }
    }
    // (A store under a condition reads its element back as the store's type, which
    // may differ from the condition's load of it: one element all the same.)
    let elements: HashSet<_> = loads
        .iter()
        .map(|l| (l.access.form.key(), l.access.total_offset()))
        .collect();
    if elements.len() == 1 {
        if select_count == 1 && zero_select {
            return "relu";
        }
        if select_count >= 2 {
            return "clamp";
        }
    }
    // Neighbours on several rows (`img[(y-1)*w + x-1] .. img[(y+1)*w + x+1]`): a
    // convolution's inner loop across output pixels.
    let mut rows: HashMap<_, HashSet<i64>> = HashMap::new();
    for l in loads {
        rows.entry(l.access.form.key())
            .or_default()
            .insert(l.access.total_offset());
    }
    if elements.len() >= 4 && rows.len() >= 2 && rows.values().any(|offsets| offsets.len() >= 2) {
        return "conv2d";
    }
    "map"
}

/// Matches an elementwise loop. (A loop of 8- or 16-bit stores that does not match
/// is the loop-nest pass's to report: `Unrelated` here.)
pub fn match_map(module: &Module, body: &LoopBody) -> Result<MapMatch, NoMatch> {
    let narrow = body.stores.first().is_some_and(|s| {
        matches!(
            s.kind,
            StoreKind::I32_8 { atomic: false } | StoreKind::I32_16 { atomic: false }
        )
    });
    match match_any_map(module, body) {
        Err(NoMatch::Declined { .. }) if narrow => Err(NoMatch::Unrelated),
        other => other,
    }
}

fn match_any_map(module: &Module, body: &LoopBody) -> Result<MapMatch, NoMatch> {
    // Cheap reject: an elementwise loop stores.
    let Some(first) = body.stores.first() else {
        return Err(NoMatch::Unrelated);
    };
    // Only loops whose stores look like array writes are worth a report line.
    let store_form = affine_i32(body, first.addr);
    // 8- and 16-bit elements, computed in i32 by the scalar code.
    let narrow_width = match first.kind {
        StoreKind::I32_8 { atomic: false } => Some(1),
        StoreKind::I32_16 { atomic: false } => Some(2),
        _ => None,
    };
    if store_form.is_none() || (Lanes::of_store(first.kind).is_none() && narrow_width.is_none()) {
        return Err(NoMatch::Unrelated);
    }
    // Byte and halfword copies and fills are the bulk-memory pass's.
    if narrow_width.is_some()
        && (matches!(body.graph[first.value], Node::Load { .. }) || body.is_invariant(first.value))
    {
        return Err(NoMatch::Unrelated);
    }
    let decline = |reason: &str| NoMatch::declined("map", reason);
    let steps = inductions(body);
    if let Some(blocker) = body.blockers.first() {
        // A near miss is a counted loop that one thing rules out; a loop with a
        // call or inner control flow that is not even counted is simply unrelated.
        let counted = !steps.is_empty() && trip_count(body, &steps).is_ok();
        return Err(if counted {
            decline(blocker)
        } else {
            NoMatch::Unrelated
        });
    }
    if steps.is_empty() {
        return Err(decline("no induction variable"));
    }
    for (local, end) in &body.end_values {
        let carried = body.phis.contains_key(local) && !steps.contains_key(local);
        if carried && body.phis.get(local) != Some(end) {
            return Err(decline("loop-carried value"));
        }
    }
    let trip = trip_count(body, &steps).map_err(decline)?;

    // The stores: one stream, consecutive elements, advancing U*E per iteration.
    let memory = first.memory;
    // (The guard checks a hoisted load's bounds against the stores' memory.)
    if body
        .invariant_loads()
        .iter()
        .any(|l| !matches!(body.graph[*l], Node::Load { memory: m, .. } if m == memory))
    {
        return Err(decline("loads from another memory"));
    }
    let lanes = Lanes::of_store(first.kind).unwrap_or(Lanes::I32x4);
    let width = narrow_width.unwrap_or(lanes.width()) as i64;
    let mut stores: Vec<(&Store, Access)> = Vec::new();
    for store in &body.stores {
        if store.memory != memory || format!("{:?}", store.kind) != format!("{:?}", first.kind) {
            return Err(decline("stores of mixed widths or memories"));
        }
        let form = affine_i32(body, store.addr).ok_or_else(|| decline("non-affine store"))?;
        stores.push((
            store,
            Access {
                addr: store.addr,
                offset: store.arg.offset,
                form,
            },
        ));
    }
    let key = stores[0].1.form.key();
    if stores.iter().any(|(_, a)| a.form.key() != key) {
        return Err(decline("stores to several arrays"));
    }
    stores.sort_by_key(|(_, a)| a.total_offset());
    let base_offset = stores[0].1.total_offset();
    for (u, (_, access)) in stores.iter().enumerate() {
        if access.total_offset() != base_offset + u as i64 * width {
            return Err(decline("stores are not consecutive elements"));
        }
    }
    let unroll = stores.len() as u32;
    let stride = stores[0]
        .1
        .form
        .exact_increment(body, &steps)
        .unwrap_or(i64::MIN);
    // A loop walking down memory (`for (i = n; i > 0; --i)`) is taken too: its
    // elements depend on their own index only (checked below: every load reads
    // the stored element or another array, and the guard leaves overlapping arrays
    // to the loop), so the kernel may run them in memory order from the lowest
    // address the guard computes.
    if stride == 0 || stride == i64::MIN {
        return Err(decline("store address does not advance"));
    }
    if stride.abs() != unroll as i64 * width {
        return Err(decline("non-contiguous store"));
    }

    // Every unrolled copy computes the same lane expression.
    let lane0 = lane_text_of_copy(body, stores[0].0.value, 0, 0).map_err(decline)?;
    for (u, (store, _)) in stores.iter().enumerate().skip(1) {
        if lane_text_of_copy(body, store.value, u as i64, 0).map_err(decline)? != lane0 {
            return Err(decline("unrolled copies differ"));
        }
    }

    // Loads of the lane-0 value: same stride, same width, and never a different
    // element of the array being written.
    let (store0, store_access) = (stores[0].0, stores[0].1.clone());
    let value = store0.value;
    let mut loads = Vec::new();
    let mut seen_accesses = HashSet::new();
    for node in body.loads_under(value) {
        // (A hoisted invariant load is a kernel parameter, not a stream.)
        if body.is_invariant(node) {
            continue;
        }
        let Node::Load {
            kind,
            memory: load_memory,
            arg,
            ..
        } = body.graph[node]
        else {
            continue;
        };
        if load_memory != memory {
            return Err(decline("loads from another memory"));
        }
        // (8- and 16-bit maps may read elements of either width: each stream
        // advances by its own element per store.)
        let load_width = kind_width(kind);
        let mixed_ok = narrow_width.is_some() && matches!(load_width, 1 | 2);
        if load_width != width as u32 && !mixed_ok {
            return Err(decline("mixed element widths"));
        }
        let addr = body.operands(node)[0];
        let form = affine_i32(body, addr).ok_or_else(|| decline("non-affine load"))?;
        if form.exact_increment(body, &steps).unwrap_or(i64::MIN)
            != stride / width * load_width as i64
        {
            return Err(decline("non-contiguous load"));
        }
        let access = Access {
            addr,
            offset: arg.offset,
            form,
        };
        let same_array = access.form.key() == key;
        let in_place = same_array
            && access.total_offset() == store_access.total_offset()
            && load_width == width as u32;
        if same_array && !in_place {
            return Err(NoMatch::declined("map", "loop-carried memory dependence"));
        }
        if seen_accesses.insert((
            access.form.key(),
            access.total_offset(),
            format!("{kind:?}"),
        )) {
            loads.push(MapLoad {
                node,
                access,
                in_place,
                width: load_width,
            });
        }
    }

    // Invariant leaves become kernel parameters; every other node must vectorize.
    let mut invariants: Vec<(NodeIndex, ValType)> = Vec::new();
    collect_invariants(module, body, value, &mut invariants).map_err(decline)?;
    invariants.sort_by_key(|(n, _)| n.index());
    let narrow = match narrow_width {
        // (One the narrow lanes cannot compute exactly is left to the loop-nest
        // pass, whose i32 lanes may.)
        Some(bytes) => Some(
            crate::rewrite::narrow::plan(body, value, bytes, &invariants)
                .map_err(|_| NoMatch::Unrelated)?,
        ),
        None if !crate::rewrite::simd::vectorizes(body, value, lanes) => {
            return Err(decline("no exact SIMD form for an operation"));
        }
        None => None,
    };

    // Every load of the iteration must be one the kernel performs (and so one the
    // guard bounds-checks): a load whose value is unused could still trap.
    // (The unrolled copies' loads are the same streams, shifted by whole elements.)
    let performed: HashSet<NodeIndex> = body
        .stores
        .iter()
        .flat_map(|store| body.loads_under(store.value))
        .collect();
    let all_loads = body
        .graph
        .node_indices()
        .filter(|n| matches!(body.graph[*n], Node::Load { .. }));
    if all_loads
        .into_iter()
        .any(|n| !performed.contains(&n) && !body.is_invariant(n))
    {
        return Err(decline("load whose value is not stored"));
    }
    // Everything the guard evaluates once at loop entry must not trap: the original
    // would evaluate it later (after some stores), so a trap would move.
    let entry_values = invariants
        .iter()
        .map(|(n, _)| *n)
        .chain([trip.x, trip.bound])
        .chain(loads.iter().map(|l| l.access.addr))
        .chain([store_access.addr]);
    if any_may_trap(body, entry_values) {
        return Err(decline("loop-invariant value that may trap"));
    }

    let pattern = classify(body, value, &loads);

    let test = match trip.test {
        crate::analysis::value_graph::ExitTest::Bottom => "bottom",
        crate::analysis::value_graph::ExitTest::Top => "top",
    };
    let elem = crate::fingerprints::types::store_elem(body, first.kind).unwrap_or(lanes.elem());
    let shape = match &narrow {
        Some(plan) => format!("map-{elem:?}-x{unroll}-{test}-{}", plan.lanes_name()),
        None => format!("map-{elem:?}-x{unroll}-{test}"),
    }
    .to_lowercase();
    Ok(MapMatch {
        shape,
        pattern,
        lanes,
        unroll,
        stride,
        memory,
        store: store_access,
        store_kind: store0.kind,
        value,
        loads,
        invariants,
        trip,
        steps,
        narrow,
        elem,
    })
}

/// Adds the maximal loop-invariant, non-constant subtrees of the expression at
/// `root` (the values a kernel takes as parameters) to `out`, without duplicates.
pub(crate) fn collect_invariants(
    module: &Module,
    body: &LoopBody,
    root: NodeIndex,
    out: &mut Vec<(NodeIndex, ValType)>,
) -> Result<(), &'static str> {
    let mut work = vec![root];
    let mut visited = HashSet::new();
    while let Some(n) = work.pop() {
        if !visited.insert(n) {
            continue;
        }
        match &body.graph[n] {
            Node::Const(_) => {}
            Node::Load { .. } if !body.is_invariant(n) => {}
            _ if body.is_invariant(n) => {
                let ty = node_type(module, body, n).ok_or("unknown type")?;
                if !out.iter().any(|(x, _)| *x == n) {
                    out.push((n, ty));
                }
            }
            _ => work.extend(body.operands(n)),
        }
    }
    Ok(())
}

/// Whether any of the values a guard evaluates once at loop entry can trap (the
/// original would evaluate them later, after some stores, so a trap would move).
/// `NodeIndex::end()` stands for an absent bound and is skipped.
pub(crate) fn any_may_trap(body: &LoopBody, nodes: impl IntoIterator<Item = NodeIndex>) -> bool {
    nodes
        .into_iter()
        .any(|node| node != NodeIndex::end() && may_trap(body, node))
}

/// Whether evaluating `node` can trap: integer division and remainder, and the
/// trapping float-to-int truncations.
pub fn may_trap(body: &LoopBody, node: NodeIndex) -> bool {
    let mut work = vec![node];
    let mut seen = HashSet::new();
    while let Some(n) = work.pop() {
        if !seen.insert(n) {
            continue;
        }
        let trapping = match &body.graph[n] {
            Node::Binop(op) => {
                let name = format!("{op:?}");
                (name.contains("Div") && name.starts_with('I')) || name.contains("Rem")
            }
            Node::Unop(op) => {
                let name = format!("{op:?}");
                name.contains("Trunc") && name.starts_with('I') && !name.contains("Sat")
            }
            // (A hoisted invariant load: the guard checks its bounds first.)
            Node::Load { .. } => !body.is_invariant(n),
            Node::Opaque => true,
            _ => false,
        };
        if trapping {
            return true;
        }
        work.extend(body.operands(n));
    }
    false
}

fn kind_width(kind: walrus::ir::LoadKind) -> u32 {
    kind.width()
}
