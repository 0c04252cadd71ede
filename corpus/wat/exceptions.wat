;; barq corpus: pass-through of the exception-handling proposal (try_table, throw).
(module
  (tag $boom (param i32))
  (func $thrower (param i32)
    local.get 0
    i32.const 3
    i32.gt_s
    if
      local.get 0
      throw $boom
    end)
  (func (export "run") (result i32)
    (local $i i32) (local $caught i32)
    loop $next
      block $handler (result i32)
        try_table (catch $boom $handler)
          local.get $i
          call $thrower
        end
        i32.const 0
      end
      local.get $caught
      i32.add
      local.set $caught
      local.get $i
      i32.const 1
      i32.add
      local.tee $i
      i32.const 8
      i32.lt_s
      br_if $next
    end
    local.get $caught))
