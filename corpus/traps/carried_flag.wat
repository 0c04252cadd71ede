;; barq corpus (traps): a bounds check rotated into a flag the previous iteration
;; computed, as LLVM writes Rust's `y[i]` check in a nest (`ok = i + 1 < ny` at the
;; end of one iteration, `if !(ok & 1) trap` at the start of the next; the first
;; iteration tests the flag's value at entry). `bounds-checks` decides it once
;; before the loop (the entry value, then the comparison over one iteration fewer);
;; the differential tests pass `ny` one short, 0, exact and long, so the original
;; traps part-way and the output must trap after the same stores.
(module
  (memory (export "memory") 8)
  (func (export "add_one_flagged") (param $x i32) (param $y i32) (param $ny i32) (param $n i32)
    (local $i i32) (local $ok i32)
    local.get $n
    i32.eqz
    if
      return
    end
    i32.const 0
    local.get $ny
    i32.lt_u
    local.set $ok
    loop $l
      local.get $ok
      i32.const 1
      i32.and
      i32.eqz
      if
        unreachable
      end
      local.get $y
      local.get $i
      i32.const 2
      i32.shl
      i32.add
      local.get $x
      local.get $i
      i32.const 2
      i32.shl
      i32.add
      i32.load
      i32.const 1
      i32.add
      i32.store
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      local.get $ny
      i32.lt_u
      local.set $ok
      local.get $i
      local.get $n
      i32.ne
      br_if $l
    end))
