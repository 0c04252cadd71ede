// barq corpus: loops whose elements lie a run-time stride apart (a matrix's
// column read row by row, forwards and backwards): `simd-nest` runs them in
// lockstep with one element gathered per lane. The differential tests overlap
// the column with the output, so a lane may read what an earlier lane wrote.
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("column_copy")
void column_copy(const float *a, float *y, int m, int n, int c) {
    for (int i = 0; i < m; i++) y[i] = a[i * n + c] * 2.0f;
}

EXPORT("column_back")
void column_back(const float *a, float *y, int m, int n, int c) {
    for (int i = 0; i < m; i++) y[i] = a[(m - 1 - i) * n + c] + 1.0f;
}
