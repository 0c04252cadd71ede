// barq corpus: patterns `gemm` and `conv2d` as AssemblyScript emits them (raw
// pointers with load/store).

export function gemm(a: usize, b: usize, c: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s: f32 = 0;
      for (let k = 0; k < n; k++) {
        s += load<f32>(a + (<usize>(i * n + k) << 2)) * load<f32>(b + (<usize>(k * n + j) << 2));
      }
      store<f32>(c + (<usize>(i * n + j) << 2), s);
    }
  }
}

// C = A B^T (B holds one output's weights per row).
export function gemm_bt_load(a: usize, b: usize, c: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s: f32 = 0;
      for (let k = 0; k < n; k++) {
        s += load<f32>(a + (<usize>(i * n + k) << 2)) * load<f32>(b + (<usize>(j * n + k) << 2));
      }
      store<f32>(c + (<usize>(i * n + j) << 2), s);
    }
  }
}

export function conv3x3_relu(src: usize, k: usize, bias: f32, dst: usize, h: i32, w: i32): void {
  for (let y = 0; y < h - 2; y++) {
    for (let x = 0; x < w - 2; x++) {
      let s = bias;
      for (let ky = 0; ky < 3; ky++) {
        for (let kx = 0; kx < 3; kx++) {
          s += load<f32>(src + (<usize>((y + ky) * w + x + kx) << 2)) * load<f32>(k + (<usize>(ky * 3 + kx) << 2));
        }
      }
      store<f32>(dst + (<usize>(y * (w - 2) + x) << 2), s > 0 ? s : 0);
    }
  }
}
