// barq corpus for `brotli_decompress`: Google's Brotli decoder (the C library,
// version 1.1.0, fetched and checked by ../build.sh; not committed) built as a
// reactor module exporting the library's one-shot API (linked with
// --export=BrotliDecoderDecompress)
//   BrotliDecoderResult BrotliDecoderDecompress(size_t encoded_size,
//       const uint8_t *encoded, size_t *decoded_size, uint8_t *decoded);
// (1 on success with *decoded_size set to the decoded size, 0 on error), which
// barq must identify by probing, and beside it near misses: wrappers with the
// same signature that differ from the library in one detail each, which it must
// not identify (their loops are the library's and may still be rewritten).
#include <brotli/decode.h>
#include <stddef.h>
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

// The decoded size reported one larger.
EXPORT("near_size_plus_one")
int near_size_plus_one(size_t encoded_size, const uint8_t *encoded, size_t *decoded_size,
                       uint8_t *decoded) {
    int r = BrotliDecoderDecompress(encoded_size, encoded, decoded_size, decoded);
    if (r == BROTLI_DECODER_RESULT_SUCCESS) *decoded_size += 1;
    return r;
}

// A 0 written after the output when there is room (a C string).
EXPORT("near_zero_after")
int near_zero_after(size_t encoded_size, const uint8_t *encoded, size_t *decoded_size,
                    uint8_t *decoded) {
    size_t cap = *decoded_size;
    int r = BrotliDecoderDecompress(encoded_size, encoded, decoded_size, decoded);
    if (r == BROTLI_DECODER_RESULT_SUCCESS && *decoded_size < cap) decoded[*decoded_size] = 0;
    return r;
}

// One byte of the capacity held back (for a terminator it never writes).
EXPORT("near_cap_held_back")
int near_cap_held_back(size_t encoded_size, const uint8_t *encoded, size_t *decoded_size,
                       uint8_t *decoded) {
    if (*decoded_size > 0) *decoded_size -= 1;
    return BrotliDecoderDecompress(encoded_size, encoded, decoded_size, decoded);
}

// The stream read one byte short.
EXPORT("near_input_short")
int near_input_short(size_t encoded_size, const uint8_t *encoded, size_t *decoded_size,
                     uint8_t *decoded) {
    return BrotliDecoderDecompress(encoded_size ? encoded_size - 1 : 0, encoded, decoded_size,
                                   decoded);
}

// Success reported as the decoded size instead of 1.
EXPORT("near_returns_size")
int near_returns_size(size_t encoded_size, const uint8_t *encoded, size_t *decoded_size,
                      uint8_t *decoded) {
    int r = BrotliDecoderDecompress(encoded_size, encoded, decoded_size, decoded);
    return r == BROTLI_DECODER_RESULT_SUCCESS ? (int)*decoded_size : -1;
}
