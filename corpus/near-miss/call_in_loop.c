// barq near miss: an `axpy` whose body calls an unknown import.
#define EXPORT(name) __attribute__((export_name(name)))
__attribute__((import_module("env"), import_name("observe"))) void observe(int);

EXPORT("axpy_observed") void axpy_observed(float a, const float *x, float *y, int n) {
    for (int i = 0; i < n; i++) {
        y[i] += a * x[i];
        observe(i);
    }
}
