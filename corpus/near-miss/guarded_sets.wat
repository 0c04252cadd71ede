;; barq near misses for reading an `if` whose arms set locals as selects (as
;; AssemblyScript leaves `if (v > m) { m = v; k = i; }`, which is rewritten as an
;; argmax): here an arm also computes something that can trap, so computing both
;; arms every iteration would trap where the loop does not. An index of the
;; maximum whose arm also divides by the index (0 in the first iteration; the arm
;; never runs here, nothing exceeds m = +inf), and one whose arm also reads memory
;; at a pointer that may lie outside it. Both are argmax loops otherwise.
(module
  (memory (export "memory") 1)
  (func (export "argmax_dividing") (param $x i32) (param $n i32) (result i32)
    (local $i i32) (local $k i32) (local $m f32) (local $v f32)
    (local.set $m (f32.const inf))
    (loop $l
      (if (i32.lt_s (local.get $i) (local.get $n))
        (then
          (local.set $v (f32.load (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2)))))
          (if (f32.gt (local.get $v) (local.get $m))
            (then
              (local.set $m (local.get $v))
              (local.set $k (local.get $i))
              (drop (i32.div_s (i32.const 1000) (local.get $i)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l))))
    (local.get $k))
  (func (export "argmax_probing") (param $x i32) (param $n i32) (param $p i32) (result i32)
    (local $i i32) (local $k i32) (local $m f32) (local $v f32)
    (local.set $m (f32.const -inf))
    (loop $l
      (if (i32.lt_s (local.get $i) (local.get $n))
        (then
          (local.set $v (f32.load (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2)))))
          (if (f32.gt (local.get $v) (local.get $m))
            (then
              (local.set $m (local.get $v))
              (local.set $k (local.get $i))
              (drop (i32.load (local.get $p)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l))))
    (local.get $k)))
