;; The bare bulk-memory instructions, for benches/bulk.rs and bench/bulk.mjs:
;; what a copy or fill loop costs once it is one memory.copy / memory.fill, without
;; barq's guard. Same exports and signatures as corpus/c/bytes.c.
(module
  (memory (export "memory") 2)
  (func (export "copy_u8") (param $dst i32) (param $src i32) (param $n i32)
    (memory.copy (local.get $dst) (local.get $src) (local.get $n)))
  (func (export "fill_u8") (param $dst i32) (param $v i32) (param $n i32)
    (memory.fill (local.get $dst) (local.get $v) (local.get $n)))
  (func (export "copy_u32") (param $dst i32) (param $src i32) (param $n i32)
    (memory.copy (local.get $dst) (local.get $src) (i32.shl (local.get $n) (i32.const 2)))))
