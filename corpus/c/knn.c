// barq corpus: pattern `cosine` over the rows of a matrix (one query against many
// vectors) and k-nearest neighbours by cosine similarity (the k most similar rows,
// most similar first, ties to the lower index): the inner loops are dot products and
// norms, float reductions rewritten only under --fast-math.
#include <math.h>
#define EXPORT(name) __attribute__((export_name(name)))

static float norm_squared(const float *v, int dim) {
    float s = 0.0f;
    for (int i = 0; i < dim; i++) s += v[i] * v[i];
    return s;
}

EXPORT("cosine_rows")
void cosine_rows(const float *rows, int count, int dim, const float *q, float *out) {
    float qq = norm_squared(q, dim);
    for (int r = 0; r < count; r++) {
        const float *v = rows + (long)r * dim;
        float d = 0.0f, vv = 0.0f;
        for (int i = 0; i < dim; i++) {
            d += v[i] * q[i];
            vv += v[i] * v[i];
        }
        out[r] = d / sqrtf(qq * vv);
    }
}

EXPORT("knn_cosine")
int knn_cosine(const float *rows, int count, int dim, const float *q, int k, int *idx, float *sim) {
    float qq = norm_squared(q, dim);
    int found = 0;
    for (int r = 0; r < count; r++) {
        const float *v = rows + (long)r * dim;
        float d = 0.0f;
        for (int i = 0; i < dim; i++) d += v[i] * q[i];
        float s = d / sqrtf(qq * norm_squared(v, dim));
        if (found == k && !(s > sim[k - 1])) continue;
        int at = found < k ? found++ : k - 1;
        while (at > 0 && s > sim[at - 1]) {
            sim[at] = sim[at - 1];
            idx[at] = idx[at - 1];
            at--;
        }
        sim[at] = s;
        idx[at] = r;
    }
    return found;
}
