// barq corpus: loops over AssemblyScript typed arrays indexed the ordinary,
// checked way (`y[i] = a * x[i] + y[i]`): each access calls a small accessor that
// tests the index against the array's length (a load from its header), calls
// `abort` and traps when it is out of range. barq inlines the accessors
// (`inline-accessors`), decides the length tests once before the loop
// (`bounds-checks`: the header words inside memory and never written by the
// loop, the first and last index in range) and vectorizes the copy without them.
// The differential tests pass arrays shorter than `n` (the original aborts
// part-way) and headers inside the written buffer.

export function saxpy_checked(a: f32, x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < y.length; i++) {
    y[i] = a * x[i] + y[i];
  }
}

export function scale_checked(x: Float32Array, s: f32): void {
  for (let i = 0; i < x.length; i++) x[i] *= s;
}

export function relu_checked(x: Float32Array, n: i32): void {
  for (let i = 0; i < n; i++) {
    const v = x[i];
    x[i] = v > 0 ? v : 0;
  }
}

export function add_u8_checked(a: Uint8Array, b: Uint8Array, c: Uint8Array, n: i32): void {
  for (let i = 0; i < n; i++) c[i] = a[i] + b[i];
}

export function sum_checked(x: Int32Array): i32 {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return s;
}

export function count_checked(x: Uint8Array, c: u8): i32 {
  let k = 0;
  for (let i = 0, n = x.length; i < n; i++) {
    if (x[i] == c) k++;
  }
  return k;
}
