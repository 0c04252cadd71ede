;; barq corpus (traps): a `scale` loop that also loads from *p each iteration and
;; drops the value. A kernel that skipped that load would not trap where the original
;; traps, so the elementwise pass declines it. simd-nest keeps the load (checked in
;; front of the loop: out of bounds, the original loop runs and traps), so it rewrites
;; it exactly (tests/nest.rs runs it with p in and out of bounds).
(module
  (memory (export "memory") 1)
  (func (export "scale_with_probe") (param $x i32) (param $y i32) (param $n i32) (param $p i32)
    (local $i i32)
    loop $l
      local.get $p
      f32.load
      drop
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
      f32.load
      f32.const 2
      f32.mul
      f32.store
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      local.get $n
      i32.lt_u
      br_if $l
    end))
