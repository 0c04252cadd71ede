;; barq corpus: pass-through of memory64 (i64 addresses).
(module
  (memory i64 1)
  (func (export "run") (result i64)
    (local $i i64) (local $sum i64)
    loop $l
      local.get $i
      i64.const 8
      i64.mul
      local.get $i
      i64.store
      local.get $sum
      local.get $i
      i64.const 8
      i64.mul
      i64.load
      i64.add
      local.set $sum
      local.get $i
      i64.const 1
      i64.add
      local.tee $i
      i64.const 50
      i64.lt_u
      br_if $l
    end
    local.get $sum))
