;; barq corpus (traps): a `scale` whose factor is a loop-invariant integer division,
;; computed in every iteration before that iteration's store. The elementwise pass
;; must not evaluate it once before the loop (that would move a divide-by-zero trap
;; ahead of earlier iterations' stores): it declines. simd-nest rewrites it exactly:
;; each block computes it before any of its stores, so a trap comes after the same
;; stores as in the original (tests/nest.rs runs it with b = 0 and MIN / -1).
(module
  (memory (export "memory") 1)
  (func (export "scale_by_quotient") (param $x i32) (param $y i32) (param $n i32) (param $a i32) (param $b i32)
    (local $i i32)
    loop $l
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
      local.get $a
      local.get $b
      i32.div_s
      i32.mul
      i32.store
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      local.get $n
      i32.lt_u
      br_if $l
    end))
