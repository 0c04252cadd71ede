// WASI file I/O scenarios for the runner's I/O fast path (tests/io.rs, bench/io.sh).
// Usage: io SCENARIO DIR [N]. Each scenario works on files in DIR (a preopened
// directory) and prints what it observes (positions, sizes, bytes read back,
// errnos), so that runs with the fast path on and off, and other runtimes, can be
// compared by their output, exit code and the files they leave.
// Built with wasi-libc: clang-19 --target=wasm32-wasi -O2 io.c -o io.wasm
// (natively too, for the benchmarks: cc -O2 io.c -o io).

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef __wasi__
#include <wasi/api.h>
#endif

static char path_buf[4096];

static const char *in_dir(const char *dir, const char *name) {
    snprintf(path_buf, sizeof path_buf, "%s/%s", dir, name);
    return path_buf;
}

static int open_or_die(const char *path, int flags) {
    int fd = open(path, flags, 0644);
    if (fd < 0) {
        printf("open %s: errno %d\n", path, errno);
        exit(3);
    }
    return fd;
}

static long long size_of(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -errno;
    return (long long)st.st_size;
}

static long long tell(int fd) { return (long long)lseek(fd, 0, SEEK_CUR); }

static uint32_t checksum(const unsigned char *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static void fill_record(unsigned char *r, size_t len, unsigned i) {
    for (size_t k = 0; k < len; k++) r[k] = (unsigned char)('a' + (i * 7 + k) % 26);
    r[len - 1] = '\n';
}

// One million (or N) 64-byte records appended with write().
static int records(const char *dir, long n) {
    int fd = open_or_die(in_dir(dir, "records.log"), O_WRONLY | O_CREAT | O_TRUNC);
    unsigned char r[64];
    for (long i = 0; i < n; i++) {
        fill_record(r, sizeof r, (unsigned)i);
        if (write(fd, r, sizeof r) != (ssize_t)sizeof r) return 4;
    }
    printf("records %ld pos %lld size %lld\n", n, tell(fd), size_of(fd));
    return close(fd) ? 5 : 0;
}

// A BSON-style document log: a header rewritten in place, documents written with
// pwrite at explicit offsets, each a little-endian length then fields.
static int bson(const char *dir, long n) {
    int fd = open_or_die(in_dir(dir, "docs.bson"), O_RDWR | O_CREAT | O_TRUNC);
    unsigned char doc[96];
    uint64_t offset = 16;
    for (long i = 0; i < n; i++) {
        uint32_t len = 40 + (uint32_t)(i % 48);
        memcpy(doc, &len, 4);
        doc[4] = 0x10;
        memcpy(doc + 5, "id\0", 3);
        uint32_t id = (uint32_t)i;
        memcpy(doc + 8, &id, 4);
        doc[12] = 0x02;
        for (uint32_t k = 13; k < len - 1; k++) doc[k] = (unsigned char)('A' + (i + k) % 26);
        doc[len - 1] = 0;
        if (pwrite(fd, doc, len, (off_t)offset) != (ssize_t)len) return 4;
        offset += len;
        if (i % 1000 == 999) {
            // The header: count and end, rewritten at offset 0 now and then.
            uint64_t header[2] = {(uint64_t)i + 1, offset};
            if (pwrite(fd, header, sizeof header, 0) != (ssize_t)sizeof header) return 4;
        }
    }
    uint64_t header[2] = {(uint64_t)n, offset};
    if (pwrite(fd, header, sizeof header, 0) != (ssize_t)sizeof header) return 4;
    unsigned char back[16];
    ssize_t got = pread(fd, back, sizeof back, 0);
    printf("bson %ld end %llu size %lld pos %lld header %zd %u\n", n,
           (unsigned long long)offset, size_of(fd), tell(fd), got, checksum(back, 16));
    return close(fd) ? 5 : 0;
}

// Copies SRC (made first, N bytes) to DST through read/write with 4 KiB buffers.
static int copy(const char *dir, long n) {
    int out = open_or_die(in_dir(dir, "copy.src"), O_WRONLY | O_CREAT | O_TRUNC);
    static unsigned char buf[4096];
    for (long done = 0; done < n;) {
        size_t chunk = (size_t)(n - done < (long)sizeof buf ? n - done : (long)sizeof buf);
        for (size_t k = 0; k < chunk; k++) buf[k] = (unsigned char)((done + (long)k) * 31 >> 3);
        if (write(out, buf, chunk) != (ssize_t)chunk) return 4;
        done += (long)chunk;
    }
    close(out);
    int in = open_or_die(in_dir(dir, "copy.src"), O_RDONLY);
    out = open_or_die(in_dir(dir, "copy.dst"), O_WRONLY | O_CREAT | O_TRUNC);
    long total = 0;
    uint32_t h = 0;
    for (;;) {
        ssize_t got = read(in, buf, sizeof buf);
        if (got < 0) return 4;
        if (got == 0) break;
        h ^= checksum(buf, (size_t)got);
        if (write(out, buf, (size_t)got) != got) return 4;
        total += got;
    }
    printf("copy %ld bytes %u\n", total, h);
    close(in);
    return close(out) ? 5 : 0;
}

// Reads, writes and seeks interleaved on one file, through two descriptors.
static int interleave(const char *dir) {
    const char *name = in_dir(dir, "mixed.dat");
    int a = open_or_die(name, O_RDWR | O_CREAT | O_TRUNC);
    int b = open_or_die(name, O_RDONLY);
    char buf[64];
    write(a, "hello ", 6);
    write(a, "world", 5);
    ssize_t got = read(b, buf, sizeof buf);
    printf("b read %zd '%.*s'\n", got, (int)(got > 0 ? got : 0), buf);
    printf("a pos %lld\n", tell(a));
    lseek(a, 2, SEEK_SET);
    write(a, "LL", 2);
    printf("a pos %lld size %lld\n", tell(a), size_of(a));
    got = read(a, buf, 3);
    printf("a read %zd '%.*s' pos %lld\n", got, (int)(got > 0 ? got : 0), buf, tell(a));
    lseek(a, 4, SEEK_END);
    write(a, "!", 1);
    printf("a pos %lld size %lld\n", tell(a), size_of(a));
    lseek(b, 0, SEEK_SET);
    got = read(b, buf, sizeof buf);
    printf("b read %zd checksum %u\n", got, checksum((unsigned char *)buf, (size_t)got));
    got = read(b, buf, sizeof buf);
    printf("b read at end %zd\n", got);
    printf("seek -1: %lld errno %d\n", (long long)lseek(a, -1, SEEK_SET), errno);
    errno = 0;
    printf("read on O_WRONLY-less? %zd\n", write(b, "x", 1));
    printf("errno %d\n", errno);
    ftruncate(a, 3);
    printf("after truncate size %lld pos %lld\n", size_of(a), tell(a));
    write(a, "Z", 1);
    printf("size %lld\n", size_of(a));
    close(b);
    return close(a) ? 5 : 0;
}

// writev/pwritev until every buffer is written: a call may write fewer bytes than
// asked (wasmtime-wasi writes the first non-empty buffer per call, node's WASI and
// barq's fast path all of them), so programs loop, as POSIX asks them to.
static ssize_t write_all_v(int fd, struct iovec *iov, int n, off_t at, int positional) {
    ssize_t total = 0;
    while (n > 0) {
        ssize_t got = positional ? pwritev(fd, iov, n, at + total) : writev(fd, iov, n);
        if (got < 0) return got;
        total += got;
        while (n > 0 && (size_t)got >= iov->iov_len) got -= (ssize_t)iov->iov_len, iov++, n--;
        if (n > 0) iov->iov_base = (char *)iov->iov_base + got, iov->iov_len -= (size_t)got;
    }
    return total;
}

static ssize_t read_all_v(int fd, struct iovec *iov, int n) {
    ssize_t total = 0;
    while (n > 0) {
        ssize_t got = readv(fd, iov, n);
        if (got <= 0) return got < 0 ? got : total;
        total += got;
        while (n > 0 && (size_t)got >= iov->iov_len) got -= (ssize_t)iov->iov_len, iov++, n--;
        if (n > 0) iov->iov_base = (char *)iov->iov_base + got, iov->iov_len -= (size_t)got;
    }
    return total;
}

// Scatter/gather: writev and readv with several buffers, some empty.
static int vectors(const char *dir) {
    int fd = open_or_die(in_dir(dir, "vec.dat"), O_RDWR | O_CREAT | O_TRUNC);
    struct iovec w[4] = {{"abc", 3}, {"", 0}, {"defgh", 5}, {"ij", 2}};
    printf("writev %zd pos %lld\n", write_all_v(fd, w, 4, 0, 0), tell(fd));
    struct iovec w2[2] = {{"defgh", 5}, {"ij", 2}};
    printf("writev %zd pos %lld\n", write_all_v(fd, w2, 2, 0, 0), tell(fd));
    char x[4], y[1], z[16];
    struct iovec r[3] = {{x, 4}, {y, 0}, {z, 16}};
    lseek(fd, 1, SEEK_SET);
    ssize_t got = read_all_v(fd, r, 3);
    printf("readv %zd '%.4s' '%.*s' pos %lld\n", got, x, (int)(got > 4 ? got - 4 : 0), z,
           tell(fd));
    struct iovec p[2] = {{"PQ", 2}, {"RS", 2}};
    printf("pwritev %zd\n", write_all_v(fd, p, 2, 20, 1));
    printf("size %lld pos %lld\n", size_of(fd), tell(fd));
    return close(fd) ? 5 : 0;
}

// lseek with a whence WASI does not define: wasmtime-wasi traps.
static int bad_whence(const char *dir) {
    int fd = open_or_die(in_dir(dir, "whence.dat"), O_WRONLY | O_CREAT | O_TRUNC);
    write(fd, "x", 1);
    printf("lseek bad whence: %lld\n", (long long)lseek(fd, 0, 7));
    return 0;
}

// O_APPEND: writes go to the end whatever the position; pwrite too (Linux).
static int append(const char *dir) {
    const char *name = in_dir(dir, "append.log");
    int fd = open_or_die(name, O_WRONLY | O_CREAT | O_TRUNC);
    write(fd, "0123456789", 10);
    close(fd);
    fd = open_or_die(name, O_RDWR | O_APPEND);
    printf("pos %lld\n", tell(fd));
    write(fd, "ab", 2);
    printf("pos %lld\n", tell(fd));
    lseek(fd, 0, SEEK_SET);
    write(fd, "cd", 2);
    write(fd, "ef", 2);
    printf("pos %lld size %lld\n", tell(fd), size_of(fd));
    printf("pwrite %zd pos %lld\n", pwrite(fd, "PW", 2, 0), tell(fd));
    char buf[32];
    ssize_t got = pread(fd, buf, sizeof buf, 0);
    printf("content '%.*s'\n", (int)got, buf);
    // (node's WASI does not report O_APPEND in F_GETFL, so it is not printed.)
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_APPEND);
    lseek(fd, 1, SEEK_SET);
    write(fd, "X", 1);
    printf("after clearing O_APPEND pos %lld size %lld\n", tell(fd), size_of(fd));
    return close(fd) ? 5 : 0;
}

// Two files written in turn, one renamed and one removed while writes are pending.
static int two_files(const char *dir) {
    int a = open_or_die(in_dir(dir, "one.txt"), O_WRONLY | O_CREAT | O_TRUNC);
    int b = open_or_die(in_dir(dir, "two.txt"), O_WRONLY | O_CREAT | O_TRUNC);
    char line[32];
    for (int i = 0; i < 100; i++) {
        int n = snprintf(line, sizeof line, "line %d\n", i);
        write(i % 3 ? a : b, line, (size_t)n);
    }
    char from[4096], to[4096];
    snprintf(from, sizeof from, "%s/one.txt", dir);
    snprintf(to, sizeof to, "%s/renamed.txt", dir);
    printf("rename %d\n", rename(from, to));
    write(a, "after rename\n", 13);
    struct stat st;
    stat(to, &st);
    printf("renamed size %lld\n", (long long)st.st_size);
    write(b, "tail\n", 5);
    printf("unlink %d\n", unlink(in_dir(dir, "two.txt")));
    write(b, "after unlink\n", 13);
    printf("b size %lld\n", size_of(b));
    close(a);
    return close(b) ? 5 : 0;
}

// Buffered stdio (fopen/fprintf/fwrite) and a prompt on stdout before reading stdin.
static int stdio(const char *dir) {
    FILE *f = fopen(in_dir(dir, "stdio.txt"), "w+");
    if (!f) return 3;
    for (int i = 0; i < 500; i++) fprintf(f, "%d squared is %d\n", i, i * i);
    fwrite("end\n", 1, 4, f);
    printf("name? ");
    fflush(stdout);
    char name[64] = {0};
    if (!fgets(name, sizeof name, stdin)) strcpy(name, "(eof)\n");
    fprintf(f, "name: %s", name);
    printf("hello %s", name);
    rewind(f);
    char first[32] = {0};
    fgets(first, sizeof first, f);
    printf("first line %s", first);
    return fclose(f) ? 5 : 0;
}

// Writes, fsync, more writes, then a trap: everything up to the fsync is on disk.
static int sync_trap(const char *dir) {
    int fd = open_or_die(in_dir(dir, "synced.log"), O_WRONLY | O_CREAT | O_TRUNC);
    for (int i = 0; i < 1000; i++) write(fd, "before sync\n", 12);
    printf("fsync %d\n", fsync(fd));
    printf("fdatasync %d\n", fdatasync(fd));
    for (int i = 0; i < 10; i++) write(fd, "after sync\n", 11);
    fflush(stdout);
    __builtin_trap();
}

// Writes, fsync, says so, writes more and never ends: the test kills the runner
// (a host crash) and finds everything up to the fsync on disk.
static int sync_hang(const char *dir) {
    int fd = open_or_die(in_dir(dir, "hang.log"), O_WRONLY | O_CREAT | O_TRUNC);
    for (int i = 0; i < 1000; i++) write(fd, "before sync\n", 12);
    printf("fsync %d\n", fsync(fd));
    fflush(stdout);
    for (volatile unsigned i = 0;; i++)
        if (i % 1000000 == 0) write(fd, "after sync\n", 11);
}

// Lines written straight to stdout (no stdio buffering) with progress on stderr:
// the runner batches stdout when it is redirected to a regular file.
static int lines(long n) {
    char line[48];
    for (long i = 0; i < n; i++) {
        int len = snprintf(line, sizeof line, "line %ld\n", i);
        write(1, line, (size_t)len);
        if (i % 1000 == 999) write(2, "progress\n", 9);
    }
    return 0;
}

// Writes, then exit() with a code without closing.
static int exit_code(const char *dir) {
    int fd = open_or_die(in_dir(dir, "exit.log"), O_WRONLY | O_CREAT | O_TRUNC);
    for (int i = 0; i < 300; i++) write(fd, "record\n", 7);
    exit(42);
}

// Errors: writes to a read-only descriptor, reads from a write-only one, bad
// offsets, big and small writes mixed around the batch bound.
static int errors(const char *dir) {
    const char *name = in_dir(dir, "err.dat");
    int w = open_or_die(name, O_WRONLY | O_CREAT | O_TRUNC);
    int r = open_or_die(name, O_RDONLY);
    char buf[8];
    errno = 0;
    printf("read on write-only: %zd errno %d\n", read(w, buf, 8), errno);
    errno = 0;
    printf("write on read-only: %zd errno %d\n", write(r, "x", 1), errno);
    errno = 0;
    printf("pread negative: %zd errno %d\n", pread(r, buf, 8, -5), errno);
    static unsigned char big[200000];
    for (size_t k = 0; k < sizeof big; k++) big[k] = (unsigned char)(k * 13);
    write(w, "small", 5);
    printf("big %zd\n", write(w, big, sizeof big));
    write(w, "small", 5);
    printf("big at 7 %zd\n", pwrite(w, big, 70000, 7));
    printf("pos %lld size %lld\n", tell(w), size_of(w));
    ssize_t got = pread(r, buf, 8, 199990);
    printf("pread %zd %u\n", got, checksum((unsigned char *)buf, (size_t)(got > 0 ? got : 0)));
    printf("read at 2^40: %zd\n", pread(r, buf, 8, (off_t)1 << 40));
    errno = 0;
    printf("write at 2^63-2: %zd errno %d\n", pwrite(w, "abc", 3, INT64_MAX - 1), errno);
    errno = 0;
    printf("write at 2^62: %zd errno %d\n", pwrite(w, "abc", 3, (off_t)1 << 62), errno);
    close(r);
    errno = 0;
    printf("write after close: %zd errno %d\n", write(r, "x", 1), errno);
    return close(w) ? 5 : 0;
}

#ifdef __wasi__
// fd_renumber moves a descriptor (wasi-libc has no dup2).
static int renumber(const char *dir) {
    int a = open_or_die(in_dir(dir, "ren_a.txt"), O_WRONLY | O_CREAT | O_TRUNC);
    int b = open_or_die(in_dir(dir, "ren_b.txt"), O_WRONLY | O_CREAT | O_TRUNC);
    write(a, "to a\n", 5);
    write(b, "to b\n", 5);
    printf("renumber %d\n", __wasi_fd_renumber((__wasi_fd_t)a, (__wasi_fd_t)b));
    write(b, "a again\n", 8);
    errno = 0;
    printf("old a: %zd errno %d\n", write(a, "x", 1), errno);
    printf("size %lld\n", size_of(b));
    return close(b) ? 5 : 0;
}

// A write whose iovec array starts in memory and runs past its end: the first
// buffer is written, then the program traps where wasmtime-wasi traps.
static int bad_iovec(const char *dir) {
    int fd = open_or_die(in_dir(dir, "iov.dat"), O_WRONLY | O_CREAT | O_TRUNC);
    write(fd, "ok\n", 3);
    __wasi_ciovec_t iov[2] = {{(const uint8_t *)"first\n", 6},
                              {(const uint8_t *)0xfffffff0u, 64}};
    __wasi_size_t n = 0;
    __wasi_errno_t e = __wasi_fd_write((__wasi_fd_t)fd, iov, 2, &n);
    printf("first call %d %lu\n", e, (unsigned long)n);
    fflush(stdout);
    e = __wasi_fd_write((__wasi_fd_t)fd, iov + 1, 1, &n);
    printf("unreachable %d\n", e);
    return 0;
}
#endif

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: io SCENARIO DIR [N]\n");
        return 2;
    }
    const char *s = argv[1], *dir = argv[2];
    long n = argc > 3 ? atol(argv[3]) : 1000;
    if (!strcmp(s, "records")) return records(dir, n);
    if (!strcmp(s, "lines")) return lines(n);
    if (!strcmp(s, "bson")) return bson(dir, n);
    if (!strcmp(s, "copy")) return copy(dir, n);
    if (!strcmp(s, "interleave")) return interleave(dir);
    if (!strcmp(s, "vectors")) return vectors(dir);
    if (!strcmp(s, "append")) return append(dir);
    if (!strcmp(s, "two_files")) return two_files(dir);
    if (!strcmp(s, "stdio")) return stdio(dir);
    if (!strcmp(s, "sync_trap")) return sync_trap(dir);
    if (!strcmp(s, "exit_code")) return exit_code(dir);
    if (!strcmp(s, "sync_hang")) return sync_hang(dir);
    if (!strcmp(s, "errors")) return errors(dir);
#ifdef __wasi__
    if (!strcmp(s, "renumber")) return renumber(dir);
    if (!strcmp(s, "bad_whence")) return bad_whence(dir);
    if (!strcmp(s, "bad_iovec")) return bad_iovec(dir);
#endif
    fprintf(stderr, "unknown scenario %s\n", s);
    return 2;
}
