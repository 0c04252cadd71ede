// barq corpus: pattern `softmax` (f32) in AssemblyScript: Mathf.exp is compiled
// into the module.
export function softmax(x: usize, y: usize, n: i32): void {
  if (n <= 0) return;
  let m = load<f32>(x);
  for (let i = 1; i < n; i++) m = max(m, load<f32>(x + (<usize>i << 2)));
  let s: f32 = 0;
  for (let i = 0; i < n; i++) {
    const e = Mathf.exp(load<f32>(x + (<usize>i << 2)) - m);
    store<f32>(y + (<usize>i << 2), e);
    s += e;
  }
  for (let i = 0; i < n; i++) {
    const p = y + (<usize>i << 2);
    store<f32>(p, load<f32>(p) / s);
  }
}
