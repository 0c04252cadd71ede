// barq near miss: `scale` that reads x[i + 1] while writing x[i]: the output range
// overlaps the input with an offset, so lanes would see already-written values if the
// direction were changed. Must stay untouched (or be guarded).
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("shift_scale") void shift_scale(float *x, float a, int n) {
    for (int i = 0; i < n - 1; i++) x[i] = a * x[i + 1];
}
