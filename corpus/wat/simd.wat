;; barq corpus: an input that already uses SIMD128 (the report must not claim the
;; output newly needs it).
(module
  (memory (export "memory") 1)
  (func (export "run") (result i32)
    (local $i i32) (local $acc v128)
    loop $l
      local.get $i
      local.get $i
      i32x4.splat
      v128.store
      local.get $acc
      local.get $i
      v128.load
      i32x4.add
      local.set $acc
      local.get $i
      i32.const 16
      i32.add
      local.tee $i
      i32.const 256
      i32.lt_u
      br_if $l
    end
    local.get $acc
    i32x4.extract_lane 2))
