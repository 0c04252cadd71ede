;; barq corpus: a shared memory with atomics in a loop (loops with atomics must never
;; be rewritten; the module must pass through intact).
(module
  (memory 1 1 shared)
  (func (export "run") (result i32)
    (local $i i32)
    loop $again
      i32.const 64
      i32.const 3
      i32.atomic.rmw.add
      drop
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      i32.const 10
      i32.lt_u
      br_if $again
    end
    i32.const 64
    i32.atomic.load))
