// barq corpus: `crc32` and `adler32` in AssemblyScript over raw memory: CRC-32 bit
// by bit and Adler-32 reducing every byte.

export function crc32(buf: usize, len: i32): u32 {
  let crc: u32 = 0xffffffff;
  for (let i = 0; i < len; i++) {
    crc ^= <u32>load<u8>(buf + <usize>i);
    for (let k = 0; k < 8; k++) {
      crc = (crc >>> 1) ^ (0xedb88320 & (0 - (crc & 1)));
    }
  }
  return ~crc;
}

export function adler32(adler: u32, buf: usize, len: i32): u32 {
  let a = adler & 0xffff;
  let b = adler >>> 16;
  for (let i = 0; i < len; i++) {
    a = (a + <u32>load<u8>(buf + <usize>i)) % 65521;
    b = (b + a) % 65521;
  }
  return (b << 16) | a;
}
