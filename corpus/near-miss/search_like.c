// barq near misses: loops that leave early like searches, but are not: each
// carries or stores something a skip loop would get wrong. Must stay untouched.
// barq-cflags: -fno-builtin
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

// A sum carried until a key: the skipped iterations would have added.
EXPORT("sum_until_key") int sum_until_key(const uint8_t *p, int n, uint8_t c) {
    int s = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] == c) return s;
        s += p[i];
    }
    return s;
}

// strcpy: it stores every byte it passes.
EXPORT("copy_until_zero") int copy_until_zero(uint8_t *dst, const uint8_t *src) {
    int i = 0;
    while ((dst[i] = src[i]) != 0) i++;
    return i;
}

// The last position seen of a second kind of element, returned at the key.
EXPORT("last_space_before") int last_space_before(const uint8_t *p, int n, uint8_t c) {
    int last = -1;
    for (int i = 0; i < n; i++) {
        if (p[i] == c) return last;
        if (p[i] == ' ') last = i;
    }
    return last;
}

// A search through an index table (the elements are not consecutive).
EXPORT("find_indirect") int find_indirect(const uint8_t *p, const int *idx, int n, uint8_t c) {
    for (int i = 0; i < n; i++)
        if (p[idx[i]] == c) return i;
    return -1;
}

// Every other byte (a stride of two).
EXPORT("find_even_u8") int find_even_u8(const uint8_t *p, int n, uint8_t c) {
    for (int i = 0; i < n; i++)
        if (p[2 * i] == c) return i;
    return -1;
}

// A linked list: the next address is loaded.
struct node { struct node *next; int key; };
EXPORT("list_find") struct node *list_find(struct node *h, int key) {
    while (h && h->key != key) h = h->next;
    return h;
}

// A hash over the bytes until the terminator (carried, not an index).
EXPORT("hash_cstr") uint32_t hash_cstr(const uint8_t *s) {
    uint32_t h = 5381;
    while (*s) h = h * 33 + *s++;
    return h;
}
