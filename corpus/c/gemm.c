// barq corpus: patterns `gemm`, `gemv` and `conv2d` in more styles than matmul.c and
// conv3x3.c: leading dimensions as parameters, alpha/beta scaling that reads C,
// A transposed, B transposed (a linear layer's weights, with a bias added first
// or last), f64 and integer elements, a row vector times a matrix, a convolution with
// a kernel size given at run time, and the j-i-k loop order. Exact when vectorized
// across the columns of C (or the output pixels): each output keeps its own order.
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("gemm_ld")
void gemm_ld(int m, int n, int k, const float *A, int lda, const float *B, int ldb, float *C,
             int ldc) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = 0.0f;
            for (int p = 0; p < k; p++) s += A[i * lda + p] * B[p * ldb + j];
            C[i * ldc + j] = s;
        }
}

EXPORT("gemm_alpha_beta")
void gemm_alpha_beta(int n, float alpha, const float *A, const float *B, float beta, float *C) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            float s = 0.0f;
            for (int p = 0; p < n; p++) s += A[i * n + p] * B[p * n + j];
            C[i * n + j] = alpha * s + beta * C[i * n + j];
        }
}

// C = A^T B
EXPORT("gemm_at") void gemm_at(const float *A, const float *B, float *C, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            float s = 0.0f;
            for (int p = 0; p < n; p++) s += A[p * n + i] * B[p * n + j];
            C[i * n + j] = s;
        }
}

// C = A B^T: each output a dot product of a row of A and a row of B (weights
// stored one output per row, as a linear layer keeps them).
EXPORT("gemm_bt") void gemm_bt(const float *A, const float *B, float *C, int m, int n, int k) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = 0.0f;
            for (int p = 0; p < k; p++) s += A[i * k + p] * B[j * k + p];
            C[i * n + j] = s;
        }
}

// Linear layers: y = x W^T + b over rows of x, the bias as the sum's start, or
// added to the finished sum.
EXPORT("linear")
void linear(const float *x, const float *W, const float *bias, float *y, int rows, int in,
            int out) {
    for (int r = 0; r < rows; r++)
        for (int o = 0; o < out; o++) {
            float s = bias[o];
            for (int p = 0; p < in; p++) s += x[r * in + p] * W[o * in + p];
            y[r * out + o] = s;
        }
}

EXPORT("linear_bias_last")
void linear_bias_last(const float *x, const float *W, const float *bias, float *y, int rows,
                      int in, int out) {
    for (int r = 0; r < rows; r++)
        for (int o = 0; o < out; o++) {
            float s = 0.0f;
            for (int p = 0; p < in; p++) s += x[r * in + p] * W[o * in + p];
            y[r * out + o] = s + bias[o];
        }
}

// f64: a fresh sum (i-j-k), accumulating into C (i-k-j), and B transposed.
EXPORT("gemm_f64")
void gemm_f64(const double *A, const double *B, double *C, int m, int n, int k) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int p = 0; p < k; p++) s += A[i * k + p] * B[p * n + j];
            C[i * n + j] = s;
        }
}

EXPORT("gemm_f64_ikj") void gemm_f64_ikj(const double *A, const double *B, double *C, int n) {
    for (int i = 0; i < n; i++)
        for (int p = 0; p < n; p++) {
            double a = A[i * n + p];
            for (int j = 0; j < n; j++) C[i * n + j] += a * B[p * n + j];
        }
}

EXPORT("gemm_f64_bt")
void gemm_f64_bt(const double *A, const double *B, double *C, int m, int n, int k) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int p = 0; p < k; p++) s += A[i * k + p] * B[j * k + p];
            C[i * n + j] = s;
        }
}

EXPORT("gemm_i32") void gemm_i32(const int *A, const int *B, int *C, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            int s = 0;
            for (int p = 0; p < n; p++) s += A[i * n + p] * B[p * n + j];
            C[i * n + j] = s;
        }
}

EXPORT("gemm_jik") void gemm_jik(const float *A, const float *B, float *C, int n) {
    for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++) {
            float s = 0.0f;
            for (int p = 0; p < n; p++) s += A[i * n + p] * B[p * n + j];
            C[i * n + j] = s;
        }
}

// y = x^T A (a vector times a matrix: GEMV with the matrix transposed)
EXPORT("vecmat") void vecmat(const float *x, const float *A, float *y, int rows, int cols) {
    for (int j = 0; j < cols; j++) {
        float s = 0.0f;
        for (int i = 0; i < rows; i++) s += x[i] * A[i * cols + j];
        y[j] = s;
    }
}

EXPORT("conv2d_k")
void conv2d_k(const float *in, int h, int w, const float *kern, int K, float *out) {
    for (int y = 0; y + K <= h; y++)
        for (int x = 0; x + K <= w; x++) {
            float s = 0.0f;
            for (int ky = 0; ky < K; ky++)
                for (int kx = 0; kx < K; kx++) s += in[(y + ky) * w + x + kx] * kern[ky * K + kx];
            out[y * (w - K + 1) + x] = s;
        }
}

// A stride-2 convolution (1-D): each output reads every other input (lockstep
// loads two elements per lane and picks one).
EXPORT("conv_stride2") void conv_stride2(const float *in, const float *k, float *out, int n) {
    for (int x = 0; x < n; x++) {
        float s = 0.0f;
        for (int t = 0; t < 3; t++) s += in[2 * x + t] * k[t];
        out[x] = s;
    }
}
