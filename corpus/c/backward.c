// barq corpus: elementwise loops that walk memory from the end to the start
// (`for (i = n; i > 0; --i)`, `while (n--)` over an index, a pointer walking down).
// Each element's value depends only on the same index, so the kernel may take the
// elements in memory order; the guard leaves overlapping arrays to the loop.
#include <stddef.h>
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("axpy_back") void axpy_back(size_t n, float a, const float *x, float *y) {
    for (size_t i = n; i > 0; --i) y[i - 1] = a * x[i - 1] + y[i - 1];
}

EXPORT("add_back") void add_back(float *out, const float *a, const float *b, int n) {
    for (int i = n - 1; i >= 0; --i) out[i] = a[i] + b[i];
}

EXPORT("scale_back") void scale_back(float *y, int n, float s) {
    float *p = y + n;
    while (p != y) {
        --p;
        *p *= s;
    }
}

EXPORT("relu_back") void relu_back(float *x, int n) {
    while (n-- > 0)
        if (x[n] < 0) x[n] = 0;
}

EXPORT("flip_case_back") void flip_case_back(uint8_t *y, const uint8_t *x, int n) {
    for (int i = n; i-- > 0;) y[i] = x[i] ^ 0x20;
}

EXPORT("offset_back_i16") void offset_back_i16(int16_t *y, const int16_t *x, int n) {
    for (int i = n - 1; i >= 0; --i) y[i] = x[i] + 100;
}
