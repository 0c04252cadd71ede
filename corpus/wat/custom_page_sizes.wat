;; barq corpus: the custom-page-sizes proposal, which walrus 0.28 cannot represent.
;; barq-opt must pass it through byte for byte (with a warning), never fail or break it.
(module
  (memory 4 (pagesize 1))
  (func (export "run") (result i32)
    (local $i i32) (local $sum i32)
    loop $l
      local.get $i
      local.get $i
      i32.store8
      local.get $sum
      local.get $i
      i32.load8_u
      i32.add
      local.set $sum
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      i32.const 4
      i32.lt_u
      br_if $l
    end
    local.get $sum))
