// barq corpus: pattern `attention` (f32) in AssemblyScript: out = softmax(Q K^T /
// sqrt(d)) V with no scores buffer: the maximum score first, then each key's
// weight recomputed and its row of V added into the output row, then a division.
// Mathf.exp and Mathf.sqrt are compiled into the module.
function dot(q: usize, k: usize, d: i32): f32 {
  let s: f32 = 0;
  for (let c = 0; c < d; c++) {
    s += load<f32>(q + (<usize>c << 2)) * load<f32>(k + (<usize>c << 2));
  }
  return s;
}

export function attention(q: usize, k: usize, v: usize, out: usize, n: i32, d: i32): void {
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>d);
  const row = <usize>d << 2;
  for (let i = 0; i < n; i++) {
    const qi = q + <usize>i * row;
    const o = out + <usize>i * row;
    let mx: f32 = -Infinity;
    for (let j = 0; j < n; j++) mx = max(mx, dot(qi, k + <usize>j * row, d) * scale);
    for (let c = 0; c < d; c++) store<f32>(o + (<usize>c << 2), 0);
    let sum: f32 = 0;
    for (let j = 0; j < n; j++) {
      const p = Mathf.exp(dot(qi, k + <usize>j * row, d) * scale - mx);
      sum += p;
      const vj = v + <usize>j * row;
      for (let c = 0; c < d; c++) {
        const at = o + (<usize>c << 2);
        store<f32>(at, load<f32>(at) + p * load<f32>(vj + (<usize>c << 2)));
      }
    }
    for (let c = 0; c < d; c++) {
      const at = o + (<usize>c << 2);
      store<f32>(at, load<f32>(at) / sum);
    }
  }
}
