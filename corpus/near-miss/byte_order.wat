;; barq near misses for `load_combine`: byte assemblies that are not one wide
;; load (plus a byte swap where that is cheaper) and must stay untouched.
(module
  (memory (export "memory") 1)
  ;; a big-endian halfword: a load and a swap would be more instructions
  (func (export "read_u16_be") (param $p i32) (result i32)
    (i32.or
      (i32.shl (i32.load8_u (local.get $p)) (i32.const 8))
      (i32.load8_u offset=1 (local.get $p))))
  ;; bytes in neither order: 1, 0, 3, 2
  (func (export "read_mixed") (param $p i32) (result i32)
    (i32.or
      (i32.or
        (i32.shl (i32.load8_u (local.get $p)) (i32.const 8))
        (i32.load8_u offset=1 (local.get $p)))
      (i32.or
        (i32.shl (i32.load8_u offset=2 (local.get $p)) (i32.const 24))
        (i32.shl (i32.load8_u offset=3 (local.get $p)) (i32.const 16)))))
  ;; every other byte: 0, 2, 4, 6
  (func (export "read_gap") (param $p i32) (result i32)
    (i32.or
      (i32.or
        (i32.load8_u (local.get $p))
        (i32.shl (i32.load8_u offset=2 (local.get $p)) (i32.const 8)))
      (i32.or
        (i32.shl (i32.load8_u offset=4 (local.get $p)) (i32.const 16))
        (i32.shl (i32.load8_u offset=6 (local.get $p)) (i32.const 24)))))
  ;; the address arithmetic goes down: p - 1 (wraps at p = 0)
  (func (export "read_down") (param $p i32) (result i32)
    (i32.or
      (i32.load8_u (i32.sub (local.get $p) (i32.const 1)))
      (i32.shl (i32.load8_u (local.get $p)) (i32.const 8))))
  ;; two different base pointers
  (func (export "read_two_bases") (param $p i32) (param $q i32) (result i32)
    (i32.or
      (i32.load8_u (local.get $p))
      (i32.shl (i32.load8_u offset=1 (local.get $q)) (i32.const 8))))
  ;; a sign-extended byte: its high bits overlap the next byte's
  (func (export "read_signed") (param $p i32) (result i32)
    (i32.or
      (i32.load8_s (local.get $p))
      (i32.shl (i32.load8_u offset=1 (local.get $p)) (i32.const 8))))
  ;; the pointer changes between the loads (a tee in the second one)
  (func (export "read_moving") (param $p i32) (result i32)
    (i32.or
      (i32.load8_u (local.get $p))
      (i32.shl (i32.load8_u (local.tee $p (i32.add (local.get $p) (i32.const 1)))) (i32.const 8))))
  ;; wrong shift for the second byte
  (func (export "read_shifted") (param $p i32) (result i32)
    (i32.or
      (i32.load8_u (local.get $p))
      (i32.shl (i32.load8_u offset=1 (local.get $p)) (i32.const 7)))))
