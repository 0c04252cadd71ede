// barq corpus: patterns `dot`, `axpy`, `relu` as AssemblyScript emits them (raw
// pointers with load/store, as AS code over linear memory is written).

export function dot_f32(a: usize, b: usize, n: i32): f32 {
  let acc: f32 = 0;
  for (let i = 0; i < n; i++) {
    acc += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  }
  return acc;
}

export function axpy(alpha: f32, x: usize, y: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(y + off, load<f32>(y + off) + alpha * load<f32>(x + off));
  }
}

export function relu(x: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const p = x + (<usize>i << 2);
    const v = load<f32>(p);
    store<f32>(p, v > 0 ? v : 0);
  }
}

export function sum_i32(x: usize, n: i32): i32 {
  let acc = 0;
  for (let i = 0; i < n; i++) acc += load<i32>(x + (<usize>i << 2));
  return acc;
}

export function dot_u8(a: usize, b: usize, n: i32): u32 {
  let acc: u32 = 0;
  for (let i = 0; i < n; i++) {
    acc += <u32>load<u8>(a + <usize>i) * <u32>load<u8>(b + <usize>i);
  }
  return acc;
}

export function sum_i16(p: usize, n: i32): i32 {
  let acc: i32 = 0;
  for (let i = 0; i < n; i++) acc += <i32>load<i16>(p + (<usize>i << 1));
  return acc;
}

export function l2_norm(x: usize, n: i32): f32 {
  let acc: f32 = 0;
  for (let i = 0; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    acc += v * v;
  }
  return Mathf.sqrt(acc);
}

export function relu_if(x: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const p = x + (<usize>i << 2);
    if (load<f32>(p) < 0) store<f32>(p, 0);
  }
}

export function max_f32(x: usize, n: i32): f32 {
  let m: f32 = -Infinity;
  for (let i = 0; i < n; i++) m = Mathf.max(m, load<f32>(x + (<usize>i << 2)));
  return m;
}

export function min_i32(x: usize, n: i32): i32 {
  let m = i32.MAX_VALUE;
  for (let i = 0; i < n; i++) m = min(m, load<i32>(x + (<usize>i << 2)));
  return m;
}

export function invert_u8(p: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<u8>(p + i, 255 - load<u8>(p + i));
}

export function threshold_u8(inp: usize, out: usize, n: i32, t: i32): void {
  for (let i = 0; i < n; i++) store<u8>(out + i, <i32>load<u8>(inp + i) > t ? 255 : 0);
}

export function halve_i16(x: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const p = x + (<usize>i << 1);
    store<i16>(p, load<i16>(p) >> 1);
  }
}

export function argmax_scores_f32(x: usize, n: i32): i32 {
  let m: f32 = -Infinity;
  let k: i32 = -1;
  for (let i = 0; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    if (v > m) {
      m = v;
      k = i;
    }
  }
  return k;
}

// Counts: bytes equal to a value, and negative halfwords.
export function count_byte(p: usize, n: i32, c: u8): i32 {
  let k = 0;
  for (let i = 0; i < n; i++) {
    if (load<u8>(p + i) == c) k++;
  }
  return k;
}

export function count_negative_i16(p: usize, n: i32): i32 {
  let k = 0;
  for (let i = 0; i < n; i++) k += i32(load<i16>(p + (<usize>i << 1)) < 0);
  return k;
}

// Typed arrays (each one a header whose `dataStart` the loop reloads).
export function saxpy_view(a: f32, x: Float32Array, y: Float32Array): void {
  for (let i = 0, n = y.length; i < n; ++i) {
    unchecked(y[i] = a * unchecked(x[i]) + unchecked(y[i]));
  }
}

export function scale_view(x: Float32Array, s: f32): void {
  for (let i = 0; i < x.length; i++) unchecked(x[i] *= s);
}
