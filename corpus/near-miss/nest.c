// barq near misses for loop-nest vectorization: each looks like a GEMM row or a
// convolution, but one detail makes the iterations of the outer loop depend on
// each other or read memory that is not consecutive across them.
#define EXPORT(name) __attribute__((export_name(name)))
__attribute__((import_module("env"), import_name("observe"))) void observe(int);

// A call inside the nest.
EXPORT("gemm_observed") void gemm_observed(const float *A, const float *B, float *C, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            float s = 0.0f;
            for (int p = 0; p < n; p++) {
                s += A[i * n + p] * B[p * n + j];
                observe(p);
            }
            C[i * n + j] = s;
        }
}

// Columns picked through a permutation: not consecutive.
EXPORT("gemm_permuted")
void gemm_permuted(const float *A, const float *B, const int *perm, float *C, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            float s = 0.0f;
            for (int p = 0; p < n; p++) s += A[i * n + p] * B[p * n + perm[j]];
            C[i * n + j] = s;
        }
}

// Each output adds the previous one: a dependence across columns.
EXPORT("gemm_chained") void gemm_chained(const float *A, const float *B, float *C, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 1; j < n; j++) {
            float s = 0.0f;
            for (int p = 0; p < n; p++) s += A[i * n + p] * B[p * n + j];
            C[i * n + j] = s + C[i * n + j - 1];
        }
}

// A running maximum carried from column to column.
EXPORT("gemm_running_max") void gemm_running_max(const float *A, const float *B, float *C, int n) {
    for (int i = 0; i < n; i++) {
        float best = 0.0f;
        for (int j = 0; j < n; j++) {
            float s = 0.0f;
            for (int p = 0; p < n; p++) s += A[i * n + p] * B[p * n + j];
            best = s > best ? s : best;
            C[i * n + j] = best;
        }
    }
}

// A zero-padded window whose left border repeats the previous output instead of
// zeros: each output reads the one before it.
EXPORT("conv_same_carry") void conv_same_carry(const float *in, const float *k, float *out, int h, int w) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float s = 0.0f;
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) {
                    int iy = y + ky - 1, ix = x + kx - 1;
                    if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                        s += in[iy * w + ix] * k[ky * 3 + kx];
                    else if (x > 0)
                        s += out[y * w + x - 1] * k[ky * 3 + kx];
                }
            out[y * w + x] = s;
        }
}
