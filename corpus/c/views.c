// barq corpus: loops over a buffer reached through a struct (`b->data[i]`,
// `i < b->size`). A byte store may alias the struct's own fields, so clang reloads
// `data` and `size` in every iteration; the rewrite loads them once, behind a
// guard that they lie inside memory and that no store of the loop writes them.
// The struct is laid out as AssemblyScript lays out a typed array's header
// (`{ buffer, dataStart, byteLength }`), so the tests build both the same way.
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

struct buf {
    void *owner;
    uint8_t *data;
    uint32_t size;
};

EXPORT("flip_case_buf") void flip_case_buf(struct buf *b) {
    for (uint32_t i = 0; i < b->size; i++) b->data[i] ^= 0x20;
}

EXPORT("add_bufs") void add_bufs(struct buf *dst, const struct buf *src) {
    for (uint32_t i = 0; i < dst->size; i++) dst->data[i] += src->data[i];
}

struct floats {
    void *owner;
    float *data;
    uint32_t bytes;
};

EXPORT("scale_floats") void scale_floats(struct floats *v, float s) {
    for (uint32_t i = 0; i < v->bytes / 4; i++) v->data[i] *= s;
}

// The header is read only when an element is negative: a loop that finds none
// never reads it (tests/differential.rs calls it with a header past the end of
// memory and non-negative elements, which must not trap).
EXPORT("zero_negatives_buf") void zero_negatives_buf(struct floats *out, const float *x, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        if (x[i] < 0) out->data[i] = 0;
}

// The fill value is read through a pointer in every iteration (an i32 store may
// overwrite it): hoisted behind the guard, which leaves a `v` inside `d` to the loop.
EXPORT("fill_from_ptr") void fill_from_ptr(int32_t *d, const int32_t *v, int n) {
    for (int i = 0; i < n; i++) d[i] = *v;
}
