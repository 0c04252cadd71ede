;; barq corpus: the GC proposal (struct types). walrus cannot represent GC types, so
;; barq-opt must pass this module through byte for byte.
(module
  (type $point (struct (field $x (mut i32)) (field $y i32)))
  (func (export "run") (result i32)
    (local $p (ref $point))
    i32.const 4
    i32.const 38
    struct.new $point
    local.set $p
    local.get $p
    struct.get $point $x
    local.get $p
    struct.get $point $y
    i32.add))
