// barq corpus: search loops as AssemblyScript emits them (raw pointers; Binaryen
// writes the loop test at the top: `loop { if (i < n) { ...; br loop } }`).

export function find_u8_as(p: usize, n: i32, c: i32): i32 {
  for (let i = 0; i < n; i++) {
    if (<i32>load<u8>(p + <usize>i) == c) return i;
  }
  return -1;
}

export function find_i32_as(p: usize, n: i32, key: i32): i32 {
  for (let i = 0; i < n; i++) {
    if (load<i32>(p + (<usize>i << 2)) == key) return i;
  }
  return -1;
}

export function any_nonzero_as(p: usize, n: i32): bool {
  for (let i = 0; i < n; i++) {
    if (load<u8>(p + <usize>i) != 0) return true;
  }
  return false;
}
