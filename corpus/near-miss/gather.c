// barq near miss: a `dot` through an index array (a gather; non-affine load).
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("dot_gather") float dot_gather(const float *a, const float *b, const int *idx, int n) {
    float acc = 0.0f;
    for (int i = 0; i < n; i++) acc += a[idx[i]] * b[i];
    return acc;
}
