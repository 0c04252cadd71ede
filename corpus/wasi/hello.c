// barq runner corpus: a WASI command that prints its arguments and an environment
// variable, writes and reads back a file in a preopened directory, then exits with
// the code given as its first argument (or 0).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    for (int i = 0; i < argc; i++) printf("arg %d: %s\n", i, argv[i]);
    const char *greeting = getenv("GREETING");
    printf("GREETING=%s\n", greeting ? greeting : "(unset)");
    FILE *f = fopen("out/note.txt", "w");
    if (f) {
        fputs("written by hello.wasm\n", f);
        fclose(f);
        f = fopen("out/note.txt", "r");
        char line[64] = {0};
        if (f && fgets(line, sizeof line, f)) printf("read back: %s", line);
        if (f) fclose(f);
    } else {
        printf("no out/ directory\n");
    }
    fflush(stdout);
    return argc > 1 ? atoi(argv[1]) : 0;
}
