;; barq near misses for the reduction matcher: an integer `sum` that also loads p[i]
;; and drops it (the kernel would not perform that load, so an out-of-bounds p would
;; no longer trap; a load of *p, the same address in every iteration, is read once
;; by the guard, inside memory, and no longer a near miss), and a `sum` over i < n / b, tested at the end of each iteration
;; (evaluating the division once before the loop would trap before the first load
;; instead of after it).
(module
  (memory (export "memory") 1)
  (func (export "sum_with_probe") (param $x i32) (param $n i32) (param $p i32) (result i32)
    (local $i i32) (local $s i32)
    loop $l
      local.get $p
      local.get $i
      i32.const 2
      i32.shl
      i32.add
      i32.load
      drop
      local.get $s
      local.get $x
      local.get $i
      i32.const 2
      i32.shl
      i32.add
      i32.load
      i32.add
      local.set $s
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      local.get $n
      i32.lt_u
      br_if $l
    end
    local.get $s)
  (func (export "sum_below_quotient") (param $x i32) (param $n i32) (param $b i32) (result i32)
    (local $i i32) (local $s i32)
    loop $l
      local.get $s
      local.get $x
      local.get $i
      i32.const 2
      i32.shl
      i32.add
      i32.load
      i32.add
      local.set $s
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      local.get $n
      local.get $b
      i32.div_s
      i32.lt_u
      br_if $l
    end
    local.get $s))
