// barq corpus: bit counts. `__builtin_popcount` is `i32.popcnt`, which has no
// SIMD128 twin of its width: each lane counts its bytes' bits (`i8x16.popcnt`)
// and adds neighbouring counts up to 32 bits (two pairwise widening adds), exact.
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

// Set bits of a bitset.
EXPORT("popcount_sum") int popcount_sum(const uint32_t *p, int n) {
    int s = 0;
    for (int i = 0; i < n; i++) s += __builtin_popcount(p[i]);
    return s;
}

// Hamming distance of two binary codes (binary embeddings, perceptual hashes).
EXPORT("hamming") int hamming(const uint32_t *a, const uint32_t *b, int n) {
    int s = 0;
    for (int i = 0; i < n; i++) s += __builtin_popcount(a[i] ^ b[i]);
    return s;
}

// The same over bytes (each byte extended to 32 bits first).
EXPORT("hamming_u8") int hamming_u8(const uint8_t *a, const uint8_t *b, int n) {
    int s = 0;
    for (int i = 0; i < n; i++) s += __builtin_popcount(a[i] ^ b[i]);
    return s;
}

// Bits in common (the intersection of two sets).
EXPORT("common_bits") int common_bits(const uint32_t *a, const uint32_t *b, int n) {
    int s = 0;
    for (int i = 0; i < n; i++) s += __builtin_popcount(a[i] & b[i]);
    return s;
}

// Each word's count, stored.
EXPORT("popcounts") void popcounts(const uint32_t *p, uint32_t *out, int n) {
    for (int i = 0; i < n; i++) out[i] = __builtin_popcount(p[i]);
}
