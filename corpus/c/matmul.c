// barq corpus: pattern `gemm` (f32), naive loop orders. Exact when vectorized across
// columns of C (each C[i][j] keeps its k order).
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("matmul_ijk") void matmul_ijk(const float *A, const float *B, float *C, int n, int m, int p) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < p; j++) {
            float sum = 0.0f;
            for (int k = 0; k < m; k++) sum += A[i * m + k] * B[k * p + j];
            C[i * p + j] = sum;
        }
}

EXPORT("matmul_ikj") void matmul_ikj(const float *A, const float *B, float *C, int n) {
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            float a = A[i * n + k];
            for (int j = 0; j < n; j++) C[i * n + j] += a * B[k * n + j];
        }
}

EXPORT("gemv") void gemv(const float *A, const float *x, float *y, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        float acc = 0.0f;
        for (int c = 0; c < cols; c++) acc += A[r * cols + c] * x[c];
        y[r] = acc;
    }
}
