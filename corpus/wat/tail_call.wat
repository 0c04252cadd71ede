;; barq corpus: pass-through of tail calls (return_call) in a loop-free recursion.
(module
  (func $sum (param $n i64) (param $acc i64) (result i64)
    local.get $n
    i64.eqz
    if (result i64)
      local.get $acc
    else
      local.get $n
      i64.const 1
      i64.sub
      local.get $acc
      local.get $n
      i64.add
      return_call $sum
    end)
  (func (export "run") (result i64)
    i64.const 100000
    i64.const 0
    call $sum))
