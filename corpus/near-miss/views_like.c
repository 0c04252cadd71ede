// barq near misses for loads hoisted out of a loop: a 16-byte pattern repeated
// from two words at a fixed address (each unrolled store has its own value; the
// kernel would splat one), as Rust's `Vec::extend` of a repeated 16-byte element
// compiles in brotli-wasm. Must not be rewritten.
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("fill_pair_u64") void fill_pair_u64(uint64_t *d, const uint64_t *v, int n) {
    for (int i = 0; i < n; i++) {
        d[2 * i] = v[0];
        d[2 * i + 1] = v[1];
    }
}
