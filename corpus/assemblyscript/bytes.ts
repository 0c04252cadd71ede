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

// `load_combine`: little-endian values read byte by byte (Binaryen does not
// combine them; clang and rustc do).
export function read_u16_le(p: usize): u32 {
  return <u32>load<u8>(p) | (<u32>load<u8>(p, 1) << 8);
}

export function read_u32_le(p: usize): u32 {
  return <u32>load<u8>(p) | (<u32>load<u8>(p + 1) << 8) | (<u32>load<u8>(p + 2) << 16) | (<u32>load<u8>(p + 3) << 24);
}

export function read_u64_le(p: usize): u64 {
  let v: u64 = 0;
  v |= <u64>load<u8>(p, 7) << 56;
  v |= <u64>load<u8>(p, 6) << 48;
  v |= <u64>load<u8>(p, 5) << 40;
  v |= <u64>load<u8>(p, 4) << 32;
  v |= <u64>load<u8>(p, 3) << 24;
  v |= <u64>load<u8>(p, 2) << 16;
  v |= <u64>load<u8>(p, 1) << 8;
  v |= <u64>load<u8>(p);
  return v;
}

export function sum_u32_le(p: usize, n: i32): u32 {
  let s: u32 = 0;
  for (let i = 0; i < n; i++) {
    const q = p + (<usize>i << 2);
    s += <u32>load<u8>(q) | (<u32>load<u8>(q + 1) << 8) | (<u32>load<u8>(q + 2) << 16) | (<u32>load<u8>(q + 3) << 24);
  }
  return s;
}

// Big-endian (network order) values: a wide load and a byte swap.
export function read_u32_be(p: usize): u32 {
  return (<u32>load<u8>(p) << 24) | (<u32>load<u8>(p, 1) << 16) | (<u32>load<u8>(p, 2) << 8) | <u32>load<u8>(p, 3);
}

export function read_u64_be(p: usize): u64 {
  return (<u64>load<u8>(p) << 56) | (<u64>load<u8>(p, 1) << 48) | (<u64>load<u8>(p, 2) << 40) |
    (<u64>load<u8>(p, 3) << 32) | (<u64>load<u8>(p, 4) << 24) | (<u64>load<u8>(p, 5) << 16) |
    (<u64>load<u8>(p, 6) << 8) | <u64>load<u8>(p, 7);
}

// Values written byte by byte, little-endian (`store_combine`): a 32-bit and a
// 64-bit one, and a BSON-style document encoder (int64 elements named "a".."z",
// the document's length written last, in front).
export function write_u32_le(p: usize, v: u32): void {
  store<u8>(p, v);
  store<u8>(p, v >> 8, 1);
  store<u8>(p, v >> 16, 2);
  store<u8>(p, v >> 24, 3);
}

export function write_u64_le(p: usize, v: u64): void {
  store<u8>(p, <u8>v);
  store<u8>(p, <u8>(v >> 8), 1);
  store<u8>(p, <u8>(v >> 16), 2);
  store<u8>(p, <u8>(v >> 24), 3);
  store<u8>(p, <u8>(v >> 32), 4);
  store<u8>(p, <u8>(v >> 40), 5);
  store<u8>(p, <u8>(v >> 48), 6);
  store<u8>(p, <u8>(v >> 56), 7);
}

// Big-endian (network order) values written byte by byte: 8 bytes become a
// shuffle and one lane store; 4 bytes, and bytes in neither order (a near
// miss), are left alone.
export function write_u32_be(p: usize, v: u32): void {
  store<u8>(p, v >> 24);
  store<u8>(p, v >> 16, 1);
  store<u8>(p, v >> 8, 2);
  store<u8>(p, v, 3);
}

export function write_u64_be(p: usize, v: u64): void {
  store<u8>(p, <u8>(v >> 56));
  store<u8>(p, <u8>(v >> 48), 1);
  store<u8>(p, <u8>(v >> 40), 2);
  store<u8>(p, <u8>(v >> 32), 3);
  store<u8>(p, <u8>(v >> 24), 4);
  store<u8>(p, <u8>(v >> 16), 5);
  store<u8>(p, <u8>(v >> 8), 6);
  store<u8>(p, <u8>v, 7);
}

// An array of u64 written out big-endian (a network encoder's inner loop).
export function encode_u64_be(out: usize, values: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const v = load<u64>(values + (<usize>i << 3));
    const p = out + (<usize>i << 3);
    store<u8>(p, <u8>(v >> 56));
    store<u8>(p, <u8>(v >> 48), 1);
    store<u8>(p, <u8>(v >> 40), 2);
    store<u8>(p, <u8>(v >> 32), 3);
    store<u8>(p, <u8>(v >> 24), 4);
    store<u8>(p, <u8>(v >> 16), 5);
    store<u8>(p, <u8>(v >> 8), 6);
    store<u8>(p, <u8>v, 7);
  }
}

export function write_u32_mixed(p: usize, v: u32): void {
  store<u8>(p, v >> 8);
  store<u8>(p, v, 1);
  store<u8>(p, v >> 24, 2);
  store<u8>(p, v >> 16, 3);
}

export function bson_encode(out: usize, values: usize, n: i32): u32 {
  let p = out + 4;
  for (let i = 0; i < n; i++) {
    const v = load<u64>(values + (<usize>i << 3));
    store<u8>(p, 0x12);
    store<u8>(p, 0x61 + i % 26, 1);
    store<u8>(p, 0, 2);
    store<u8>(p, <u8>v, 3);
    store<u8>(p, <u8>(v >> 8), 4);
    store<u8>(p, <u8>(v >> 16), 5);
    store<u8>(p, <u8>(v >> 24), 6);
    store<u8>(p, <u8>(v >> 32), 7);
    store<u8>(p, <u8>(v >> 40), 8);
    store<u8>(p, <u8>(v >> 48), 9);
    store<u8>(p, <u8>(v >> 56), 10);
    p += 11;
  }
  store<u8>(p, 0);
  const len = <u32>(p + 1 - out);
  store<u8>(out, len);
  store<u8>(out, len >> 8, 1);
  store<u8>(out, len >> 16, 2);
  store<u8>(out, len >> 24, 3);
  return len;
}
