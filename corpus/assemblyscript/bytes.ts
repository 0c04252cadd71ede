// barq corpus: `memcpy` and `memset` loops as AssemblyScript emits them (raw
// pointers with load/store over linear memory; Binaryen does not turn them into
// memory.copy itself).

export function copy_u8(dst: usize, src: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<u8>(dst + <usize>i, load<u8>(src + <usize>i));
}

export function copy_back_u8(dst: usize, src: usize, n: i32): void {
  for (let i = n - 1; i >= 0; i--) store<u8>(dst + <usize>i, load<u8>(src + <usize>i));
}

export function fill_u8(dst: usize, v: i32, n: i32): void {
  for (let i = 0; i < n; i++) store<u8>(dst + <usize>i, <u8>v);
}

export function copy_u16(dst: usize, src: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    store<u16>(dst + (<usize>i << 1), load<u16>(src + (<usize>i << 1)));
  }
}

export function zero_u64(dst: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<u64>(dst + (<usize>i << 3), 0);
}
