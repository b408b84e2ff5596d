/* classify_image.c -- classify one Fashion-MNIST image with a CNN saved from Lua, in plain C:
 * no Lua at all, only libdeepmoon (dm_idx_load reads the image file, dm_model_load and
 * dm_model_forward run the model).
 *
 *   lua5.4 examples/embed/train_cnn.lua cnn.safetensors        (or any nn.save_model file)
 *   embed_classify cnn.safetensors /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz 0
 *
 * Arguments: the model, an IDX file of uint8 images [N x H x W] (gzipped or not), the image's
 * position in it (from 0, as in the file), and optionally "--normalize MEAN,STD" when the
 * model was trained on (x / 255 - MEAN) / STD (transforms.Normalize) rather than x / 255
 * (transforms.ToTensor).  The model's dm_model_input_shape must be [1 x H x W] or [H * W];
 * its input row is the image's H * W values, row-major, which the model views as its sample.
 * Prints the model's answer for every class, then "class K NAME" for the largest (K from 0,
 * the label file's numbering). */
#include "deepmoon.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[10] = { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                       "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" };

int main(int argc, char **argv)
{
    double mean = 0, std = 1;
    if (argc == 6 && strcmp(argv[4], "--normalize") == 0) {
        if (sscanf(argv[5], "%lf,%lf", &mean, &std) != 2 || !(std > 0)) {
            fprintf(stderr, "--normalize takes MEAN,STD with STD > 0, got '%s'\n", argv[5]);
            return 2;
        }
    } else if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL.safetensors IMAGES.idx[.gz] INDEX "
                "[--normalize MEAN,STD]\n", argv[0]);
        return 2;
    }
    char *end;
    long long index = strtoll(argv[3], &end, 10);
    if (end == argv[3] || *end != '\0' || index < 0) {
        fprintf(stderr, "INDEX must be an integer >= 0, got '%s'\n", argv[3]);
        return 2;
    }
    int status = 1;
    dm_tensor *images = NULL, *one = NULL, *pixels = NULL;
    float *x = NULL, *y = NULL;
    dm_model *m = dm_model_load(argv[1]);
    if (!m) goto fail;
    if (!(images = dm_idx_load(argv[2]))) goto fail;
    if (images->ndim != 3 || images->dtype != DM_UINT8) {
        char s[128];
        fprintf(stderr, "%s: expected uint8 images [N x H x W], got %s %s\n", argv[2],
                dm_dtype_name(images->dtype), dm_shape_str(images->ndim, images->shape, s, sizeof s));
        goto done;
    }
    int64_t H = images->shape[1], W = images->shape[2], shape[DM_MAX_DIMS];
    int nd = dm_model_input_shape(m, shape);
    if (!((nd == 3 && shape[0] == 1 && shape[1] == H && shape[2] == W)
          || (nd == 1 && shape[0] == H * W))) {
        char s[128];
        fprintf(stderr, "the model takes samples %s, not one %lld x %lld image\n",
                dm_shape_str(nd, shape, s, sizeof s), (long long)H, (long long)W);
        goto done;
    }
    if (index >= images->shape[0]) {
        fprintf(stderr, "INDEX %lld is past the %lld images of %s\n", index,
                (long long)images->shape[0], argv[2]);
        goto done;
    }
    /* the image as floats: x / 255, then Normalize's (x - mean) / std */
    if (!(one = dm_select(images, 0, index)) || !(pixels = dm_to_dtype(one, DM_FLOAT32)))
        goto fail;
    int64_t nin = dm_model_in_features(m), nout = dm_model_out_features(m);
    x = malloc((size_t)nin * sizeof *x);
    y = malloc((size_t)nout * sizeof *y);
    if (!x || !y) { fprintf(stderr, "out of memory\n"); goto done; }
    dm_to_buffer(pixels, x);
    for (int64_t i = 0; i < nin; i++) x[i] = (float)((x[i] / 255.0 - mean) / std);
    if (dm_model_forward(m, x, 1, y) != 0) goto fail;
    int64_t best = 0;
    for (int64_t j = 0; j < nout; j++) {
        printf("%.9g%s", y[j], j + 1 < nout ? " " : "\n");
        if (y[j] > y[best]) best = j;
    }
    printf("class %lld %s\n", (long long)best, nout == 10 ? names[best] : "");
    status = 0;
    goto done;
fail:
    fprintf(stderr, "%s\n", dm_errmsg());
done:
    free(x);
    free(y);
    dm_tensor_release(pixels);
    dm_tensor_release(one);
    dm_tensor_release(images);
    dm_model_free(m);
    return status;
}
