;; barq corpus: pass-through of multi-memory: a copy loop between two memories.
(module
  (memory $a 1)
  (memory $b 1)
  (func (export "run") (result i32)
    (local $i i32) (local $sum i32)
    loop $fill
      local.get $i
      local.get $i
      i32.const 7
      i32.mul
      i32.store8 $a
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      i32.const 100
      i32.lt_u
      br_if $fill
    end
    i32.const 0
    local.set $i
    loop $copy
      local.get $i
      local.get $i
      i32.load8_u $a
      i32.store8 $b
      local.get $sum
      local.get $i
      i32.load8_u $b
      i32.add
      local.set $sum
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      i32.const 100
      i32.lt_u
      br_if $copy
    end
    local.get $sum))
