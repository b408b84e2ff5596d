/* infer.c -- run a saved model from plain C: no Lua at all, only libdeepmoon and the
 * inference API of deepmoon.h (dm_model_load, dm_model_forward).
 *
 *   lua5.4 examples/embed/train_and_save.lua model.safetensors     (or ./deepmoon ...)
 *   embed_infer model.safetensors 0.5,-1.2 2,0.3
 *
 * Each argument after the file is one input row of in_features comma-separated numbers;
 * prints one output row per line, values separated by spaces (%.9g). */
#include "deepmoon.h"
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.safetensors ROW [ROW ...]  (ROW: x1,x2,...)\n",
                argv[0]);
        return 2;
    }
    dm_model *m = dm_model_load(argv[1]);
    if (!m) {
        fprintf(stderr, "%s\n", dm_errmsg());
        return 1;
    }
    int64_t rows = argc - 2, in = dm_model_in_features(m), out = dm_model_out_features(m);
    float *x = malloc((size_t)(rows * in) * sizeof *x);
    float *y = malloc((size_t)(rows * out) * sizeof *y);
    int status = 1;
    if (!x || !y) { fprintf(stderr, "out of memory\n"); goto done; }
    for (int64_t i = 0; i < rows; i++) {
        const char *s = argv[2 + i];
        for (int64_t j = 0; j < in; j++) {
            char *end;
            x[i * in + j] = strtof(s, &end);
            if (end == s || *end != (j + 1 < in ? ',' : '\0')) {
                fprintf(stderr, "row %lld: expected %lld comma-separated numbers, got '%s'\n",
                        (long long)i + 1, (long long)in, argv[2 + i]);
                goto done;
            }
            s = end + 1;
        }
    }
    if (dm_model_forward(m, x, rows, y) != 0) {
        fprintf(stderr, "%s\n", dm_errmsg());
        goto done;
    }
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < out; j++)
            printf("%.9g%s", y[i * out + j], j + 1 < out ? " " : "\n");
    status = 0;
done:
    free(x);
    free(y);
    dm_model_free(m);
    return status;
}
