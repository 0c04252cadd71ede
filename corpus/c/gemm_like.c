// barq corpus: near misses of `gemm` for the native target's probe. Each computes
// something a matrix product's kernel would get wrong. None may become a call to
// barq::gemm_f32_v1. (The portable target rewrites them, exactly: lockstep keeps
// every column's own order, whatever it is.)
#define EXPORT(name) __attribute__((export_name(name)))

// The k order reversed: the same products, summed in another order.
EXPORT("gemm_reversed") void gemm_reversed(const float *A, const float *B, float *C, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            float s = 0.0f;
            for (int p = n - 1; p >= 0; p--) s += A[i * n + p] * B[p * n + j];
            C[i * n + j] = s;
        }
}

// Zeros of A skipped (a sparse shortcut): differs when B holds an infinity or NaN.
EXPORT("gemm_skip_zeros") void gemm_skip_zeros(const float *A, const float *B, float *C, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            float s = 0.0f;
            for (int p = 0; p < n; p++) {
                float a = A[i * n + p];
                if (a != 0.0f) s += a * B[p * n + j];
            }
            C[i * n + j] = s;
        }
}

// A double accumulator: other rounding.
EXPORT("gemm_double_acc") void gemm_double_acc(const float *A, const float *B, float *C, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int p = 0; p < n; p++) s += (double)A[i * n + p] * B[p * n + j];
            C[i * n + j] = (float)s;
        }
}

// The sum starts from 1.
EXPORT("gemm_plus_one") void gemm_plus_one(const float *A, const float *B, float *C, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            float s = 1.0f;
            for (int p = 0; p < n; p++) s += A[i * n + p] * B[p * n + j];
            C[i * n + j] = s;
        }
}

// B is C: the product reads rows it has already written.
EXPORT("gemm_in_place") void gemm_in_place(const float *A, float *C, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            float s = 0.0f;
            for (int p = 0; p < n; p++) s += A[i * n + p] * C[p * n + j];
            C[i * n + j] = s;
        }
}

// Also writes a running count past C's end.
EXPORT("gemm_counted") void gemm_counted(const float *A, const float *B, float *C, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            float s = 0.0f;
            for (int p = 0; p < n; p++) s += A[i * n + p] * B[p * n + j];
            C[i * n + j] = s;
            C[n * n] += 1.0f;
        }
}

// Only the lower triangle of C.
EXPORT("gemm_lower") void gemm_lower(const float *A, const float *B, float *C, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++) {
            float s = 0.0f;
            for (int p = 0; p < n; p++) s += A[i * n + p] * B[p * n + j];
            C[i * n + j] = s;
        }
}

// Matrix-vector products (one row) off by one detail: the sum runs backwards,
// and a double accumulator rounds otherwise.
EXPORT("gemv_reversed")
void gemv_reversed(const float *A, const float *x, float *y, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        float acc = 0.0f;
        for (int c = cols - 1; c >= 0; c--) acc += A[r * cols + c] * x[c];
        y[r] = acc;
    }
}

EXPORT("gemv_double_acc")
void gemv_double_acc(const float *A, const float *x, float *y, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        double acc = 0.0;
        for (int c = 0; c < cols; c++) acc += A[r * cols + c] * x[c];
        y[r] = (float)acc;
    }
}

// A linear layer whose bias is indexed by the row, not the output column: not a
// bias vector added to every row.
EXPORT("linear_bias_by_row")
void linear_bias_by_row(const float *x, const float *W, const float *bias, float *y, int rows,
                        int in, int out) {
    for (int r = 0; r < rows; r++)
        for (int o = 0; o < out; o++) {
            float s = bias[r];
            for (int p = 0; p < in; p++) s += x[r * in + p] * W[o * in + p];
            y[r * out + o] = s;
        }
}
