/*
 * test_cnn.c — convolutional layers in the float build: the im2col
 * convolution against the direct reference on random shapes (both matrix
 * backends, 1 and 2 threads), small hand-computed cases for convolution and
 * pooling, max pooling against a direct scan (both of its code paths), a
 * convolution fused with its max pool against the two layers run apart,
 * flatten's PyTorch order, batchnorm in train and eval mode and its
 * statistics in weight files and checkpoints, and a small CNN that learns
 * and resumes bit for bit.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "layer.h"
#include "model.h"
#include "rng.h"
#include "resume.h"
#include "specs.h"
#include "testutil.h"
#include "train.h"

static nn_model *model(nn_layer_spec *L, int n, int C, int H, int W, nn_loss_kind loss,
                       int threads)
{
    nn_spec s = {.input = {3, {C, H, W}}, .n_layers = n, .layers = L, .loss = loss};
    nn_model_opts o = {.seed = 3, .threads = threads};
    nn_model *m;
    nn_err e;
    ck_assert_msg(nn_model_new(&s, &o, &m, &e) == NN_OK, "%s", e.msg);
    return m;
}

/* One conv layer's output (through predict, back in [O, OH, OW]) against
 * the direct convolution, for random shapes and both backends. */
START_TEST(conv_matches_reference)
{
    nn_rng r;
    nn_rng_seed(&r, 17, 0);
    for (int trial = 0; trial < 48; trial++) {
        /* up to 8 channels: kernel rows of fewer than 16 values take the
         * transposed lowering, longer ones the row copies */
        int C = 1 + (int)nn_rng_below(&r, 8), H = 3 + (int)nn_rng_below(&r, 9);
        int W = 3 + (int)nn_rng_below(&r, 9), O = 1 + (int)nn_rng_below(&r, 40);
        int kh = 1 + (int)nn_rng_below(&r, 3), kw = 1 + (int)nn_rng_below(&r, 3);
        int sh = 1 + (int)nn_rng_below(&r, 2), sw = 1 + (int)nn_rng_below(&r, 2);
        int mode = trial % 3, ph = 0, pw = 0, pt = 0, pl = 0;
        nn_padding pad = mode == 0 ? NN_PAD_VALID : mode == 1 ? NN_PAD_EXPLICIT : NN_PAD_SAME;
        if (pad == NN_PAD_EXPLICIT) {
            ph = pt = (int)nn_rng_below(&r, 2);
            pw = pl = (int)nn_rng_below(&r, 2);
        }
        if (pad == NN_PAD_SAME) {
            sh = sw = 1;
            pt = (kh - 1) / 2;
            pl = (kw - 1) / 2;
        }
        int toth = pad == NN_PAD_SAME ? kh - 1 : 2 * ph, totw = pad == NN_PAD_SAME ? kw - 1 : 2 * pw;
        int OH = (H + toth - kh) / sh + 1, OW = (W + totw - kw) / sw + 1;
        nn_gemm_force_blas(trial & 1);
        nn_layer_spec L[1] = {tu_conv(O, kh, kw, sh, sw, pad, ph, pw)};
        nn_model *m = model(L, 1, C, H, W, NN_LOSS_MSE, 1 + trial % 2);
        nn_real *p = nn_model_params(m);
        for (size_t i = 0; i < nn_model_n_params(m); i++)
            p[i] = (nn_real)nn_rng_normal(&r);   /* the bias too */
        enum { B = 3 };
        size_t in = (size_t)C * H * W, out = (size_t)O * OH * OW;
        nn_real *x = malloc(B * in * sizeof *x), *y = malloc(B * out * sizeof *y);
        nn_real *want = malloc(B * out * sizeof *want);
        for (size_t i = 0; i < B * in; i++)
            x[i] = (nn_real)nn_rng_normal(&r);
        ck_assert_int_eq(nn_model_out_size(m), (int64_t)out);
        ck_assert_int_eq(nn_model_predict(m, x, B, y, NULL), NN_OK);
        nn_conv2d_ref(x, p, p + (size_t)O * C * kh * kw, want, B, C, H, W, O, kh, kw, sh, sw, pt,
                      pl, OH, OW);
        for (size_t i = 0; i < B * out; i++)
            ck_assert_msg(fabs(y[i] - want[i]) <= 1e-4 * (1 + fabs(want[i])),
                          "trial %d (C%d %dx%d O%d k%dx%d s%dx%d pad %d): %zu: %g vs %g", trial,
                          C, H, W, O, kh, kw, sh, sw, mode, i, (double)y[i], (double)want[i]);
        free(x);
        free(y);
        free(want);
        nn_model_free(m);
    }
    nn_gemm_force_blas(0);
}
END_TEST

/* A 3x3 image, one 2x2 filter of ones, bias 0.5, valid: sums of windows. */
START_TEST(conv_and_pool_by_hand)
{
    nn_layer_spec L[1] = {tu_conv(1, 2, 2, 1, 1, NN_PAD_VALID, 0, 0)};
    nn_model *m = model(L, 1, 1, 3, 3, NN_LOSS_MSE, 1);
    nn_real *p = nn_model_params(m);
    p[0] = p[1] = p[2] = p[3] = 1;
    p[4] = 0.5f;
    nn_real x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, y[4];
    ck_assert_int_eq(nn_model_predict(m, x, 1, y, NULL), NN_OK);
    const nn_real want[4] = {12.5f, 16.5f, 24.5f, 28.5f};
    for (int i = 0; i < 4; i++)
        ck_assert_double_eq(y[i], want[i]);
    nn_model_free(m);

    /* max and average pooling of a 2-channel 4x4 image by 2x2 windows */
    nn_real img[32];
    for (int i = 0; i < 32; i++)
        img[i] = (nn_real)((i * 7) % 11) - (i >= 16 ? 20 : 0);
    nn_layer_spec P[1] = {tu_window(NN_LAYER_MAXPOOL2D, 2, 2, 0, 0)};
    m = model(P, 1, 2, 4, 4, NN_LOSS_MSE, 1);
    nn_real out[8];
    ck_assert_int_eq(nn_model_predict(m, img, 1, out, NULL), NN_OK);
    for (int c = 0; c < 2; c++)
        for (int oh = 0; oh < 2; oh++)
            for (int ow = 0; ow < 2; ow++) {
                nn_real mx = -1e9f, sum = 0;
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 2; j++) {
                        nn_real v = img[c * 16 + (2 * oh + i) * 4 + 2 * ow + j];
                        mx = v > mx ? v : mx;
                        sum += v;
                    }
                ck_assert_double_eq(out[c * 4 + oh * 2 + ow], mx);
                (void)sum;
            }
    nn_model_free(m);
    nn_layer_spec A[1] = {tu_window(NN_LAYER_AVGPOOL2D, 2, 2, 0, 0)};
    m = model(A, 1, 2, 4, 4, NN_LOSS_MSE, 1);
    ck_assert_int_eq(nn_model_predict(m, img, 1, out, NULL), NN_OK);
    ck_assert_double_eq_tol(out[0], (img[0] + img[1] + img[4] + img[5]) / 4, 1e-6);
    ck_assert_double_eq_tol(out[7], (img[26] + img[27] + img[30] + img[31]) / 4, 1e-6);
    nn_model_free(m);
}
END_TEST

/* Max pooling on its own, forward and backward, against a direct scan on
 * channel-last data: channel counts that take the 16-lane path (16, 32, 48)
 * and others (1, 3, 19); windows that tile the input, overlap, or leave
 * gaps; values drawn from five levels so that windows hold ties, which go
 * to the first element in scan order. */
START_TEST(maxpool_matches_direct)
{
    nn_rng r;
    nn_rng_seed(&r, 29, 0);
    const int Cs[] = {16, 32, 48, 1, 3, 19};
    for (int trial = 0; trial < 60; trial++) {
        int C = Cs[trial % 6], H = 2 + (int)nn_rng_below(&r, 8), W = 2 + (int)nn_rng_below(&r, 8);
        int kh = 1 + (int)nn_rng_below(&r, 3), kw = 1 + (int)nn_rng_below(&r, 3);
        int sh = 1 + (int)nn_rng_below(&r, 3), sw = 1 + (int)nn_rng_below(&r, 3);
        if (trial % 3 == 0) {
            /* tiling windows: the backward pass stores instead of adding */
            kh = sh = 2;
            kw = sw = 2;
            H = 2 * (1 + (int)nn_rng_below(&r, 4));
            W = 2 * (1 + (int)nn_rng_below(&r, 4));
        }
        if (kh > H)
            kh = H;
        if (kw > W)
            kw = W;
        nn_layer l = {.ops = &nn_maxpool2d_ops,
                      .spec = tu_window(NN_LAYER_MAXPOOL2D, kh, kw, sh, sw),
                      .in = {3, {C, H, W}},
                      .in_size = (int64_t)C * H * W};
        nn_err e;
        ck_assert_int_eq(l.ops->setup(&l, &e), NN_OK);
        const int OH = (H - kh) / sh + 1, OW = (W - kw) / sw + 1;
        ck_assert_int_eq(l.out.dim[1], OH);
        ck_assert_int_eq(l.out.dim[2], OW);
        l.out_size = (int64_t)C * OH * OW;
        enum { B = 2 };
        ck_assert_int_eq(l.ops->reserve(&l, B), NN_OK);
        size_t in = (size_t)l.in_size, out = (size_t)l.out_size;
        nn_real *x = malloc(B * in * sizeof *x), *y = malloc(B * out * sizeof *y);
        nn_real *dy = malloc(B * out * sizeof *dy), *dx = malloc(B * in * sizeof *dx);
        nn_real *want = calloc(B * in, sizeof *want);
        for (size_t i = 0; i < B * in; i++)
            x[i] = (nn_real)nn_rng_below(&r, 5) - 2;
        for (size_t i = 0; i < B * out; i++)
            dy[i] = (nn_real)nn_rng_normal(&r);
        int bound[2] = {0, B};
        nn_pass pass = {B, 1, bound, 1, NULL};
        nn_rows rows = {&pass, 0, 0, 1, 0, B};
        l.ops->forward(&l, &rows, x, y);
        l.ops->backward(&l, &rows, x, y, dy, dx);
        for (int b = 0; b < B; b++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++)
                    for (int c = 0; c < C; c++) {
                        size_t best = 0;
                        nn_real m = 0;
                        for (int i = 0; i < kh; i++)
                            for (int j = 0; j < kw; j++) {
                                size_t px = (size_t)(oh * sh + i) * W + ow * sw + j;
                                size_t k = b * in + px * C + c;
                                if ((i == 0 && j == 0) || x[k] > m) {
                                    m = x[k];
                                    best = k;
                                }
                            }
                        size_t o = b * out + ((size_t)oh * OW + ow) * C + c;
                        ck_assert_msg(y[o] == m,
                                      "trial %d (C%d %dx%d k%dx%d s%dx%d): y[%zu] %g vs %g", trial,
                                      C, H, W, kh, kw, sh, sw, o, (double)y[o], (double)m);
                        want[best] += dy[o];
                    }
        for (size_t i = 0; i < B * in; i++)
            ck_assert_msg(dx[i] == want[i], "trial %d (C%d %dx%d k%dx%d s%dx%d): dx[%zu] %g vs %g",
                          trial, C, H, W, kh, kw, sh, sw, i, (double)dx[i], (double)want[i]);
        l.ops->destroy(&l);
        free(x);
        free(y);
        free(dy);
        free(dx);
        free(want);
    }
}
END_TEST

/* A convolution and the max pool after it, fused (the default) and run as
 * two layers (no_fusion): the same outputs and gradients, bit for bit, for
 * activations whose derivative comes from the output, windows that tile,
 * leave gaps or drop a border, channel counts on and off the 16-lane path,
 * 1 and 2 threads.  Overlapping windows and activations that need the
 * pre-activation are not fused. */
START_TEST(fused_conv_pool_matches_separate)
{
    struct {
        int O, H, W, k, s;
        nn_act_kind act;
        int fuses;
    } cases[] = {
        {16, 8, 8, 2, 2, NN_ACT_RELU, 1},    {5, 7, 9, 2, 2, NN_ACT_TANH, 1},
        {32, 9, 9, 2, 3, NN_ACT_SIGMOID, 1}, {4, 8, 7, 3, 3, NN_ACT_LINEAR, 1},
        {16, 7, 7, 3, 2, NN_ACT_RELU, 0},    {6, 6, 6, 2, 2, NN_ACT_GELU, 0},
        {16, 6, 8, 2, 2, NN_ACT_LEAKY_RELU, 1},
    };
    nn_rng r;
    nn_rng_seed(&r, 41, 0);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int th = 1; th <= 2; th++) {
            const int k = cases[ci].k, st = cases[ci].s;
            nn_layer_spec L[4] = {tu_conv(cases[ci].O, 3, 3, 1, 1, NN_PAD_SAME, 0, 0),
                                  tu_window(NN_LAYER_MAXPOOL2D, k, k, st, st),
                                  tu_window(NN_LAYER_FLATTEN, 0, 0, 0, 0),
                                  tu_dense(3, NN_ACT_LINEAR)};
            L[0].act = cases[ci].act;
            const int C = 2, H = cases[ci].H, W = cases[ci].W;
            nn_spec s = {.input = {3, {C, H, W}}, .n_layers = 4, .layers = L,
                         .loss = NN_LOSS_MSE};
            nn_model *m[2];
            for (int v = 0; v < 2; v++) {
                nn_model_opts o = {.seed = 5, .threads = th, .no_fusion = v};
                nn_err e;
                ck_assert_msg(nn_model_new(&s, &o, &m[v], &e) == NN_OK, "%s", e.msg);
            }
            nn_layer_info info;
            nn_model_layer_info(m[0], 1, &info);
            ck_assert_int_eq(info.fused, cases[ci].fuses);
            nn_model_layer_info(m[1], 1, &info);
            ck_assert_int_eq(info.fused, 0);
            enum { B = 5 };
            const size_t in = (size_t)C * H * W, np = nn_model_n_params(m[0]);
            nn_real *x = malloc(B * in * sizeof *x), *g0 = malloc(np * sizeof *g0);
            nn_real dout[2][B * 3];
            for (size_t i = 0; i < B * in; i++)
                x[i] = (nn_real)nn_rng_normal(&r);
            nn_real d[B * 3];
            for (int i = 0; i < B * 3; i++)
                d[i] = (nn_real)nn_rng_normal(&r);
            for (int v = 0; v < 2; v++) {
                const nn_real *y = nn_model_forward(m[v], x, B, 1, NULL);
                ck_assert_ptr_nonnull(y);
                memcpy(dout[v], y, sizeof dout[v]);
                nn_real dv[B * 3];
                memcpy(dv, d, sizeof dv);
                nn_model_backward(m[v], dv);
            }
            ck_assert_msg(memcmp(dout[0], dout[1], sizeof dout[0]) == 0, "case %zu: outputs",
                          ci);
            memcpy(g0, nn_model_grads(m[0]), np * sizeof *g0);
            ck_assert_msg(memcmp(g0, nn_model_grads(m[1]), np * sizeof *g0) == 0,
                          "case %zu, %d threads: gradients differ", ci, th);
            free(x);
            free(g0);
            nn_model_free(m[0]);
            nn_model_free(m[1]);
        }
}
END_TEST

/* flatten keeps PyTorch's [C, H, W] order after channel-last layers */
START_TEST(flatten_order)
{
    nn_layer_spec L[1] = {tu_window(NN_LAYER_FLATTEN, 0, 0, 0, 0)};
    nn_model *m = model(L, 1, 3, 2, 2, NN_LOSS_MSE, 2);
    nn_real x[24], y[24];
    for (int i = 0; i < 24; i++)
        x[i] = (nn_real)i;
    ck_assert_int_eq(nn_model_predict(m, x, 2, y, NULL), NN_OK);
    for (int i = 0; i < 24; i++)
        ck_assert_double_eq(y[i], x[i]);
    nn_shape os = nn_model_out_shape(m);
    ck_assert_int_eq(os.rank, 1);
    ck_assert_int_eq(os.dim[0], 12);
    nn_model_free(m);
}
END_TEST

START_TEST(batchnorm_train_and_eval)
{
    nn_layer_spec L[1] = {tu_window(NN_LAYER_BATCHNORM, 0, 0, 0, 0)};
    L[0].momentum = 0.5;
    nn_model *m = model(L, 1, 2, 3, 3, NN_LOSS_MSE, 1);
    ck_assert_int_eq(nn_model_n_buffers(m) >= 5, 1);
    nn_real *gamma = nn_model_params(m);
    gamma[0] = 2;
    gamma[1] = 0.5f;
    gamma[2] = 1;   /* beta of channel 0 */
    gamma[3] = -1;
    enum { B = 4, N = B * 18 };
    nn_real x[N];
    nn_rng r;
    nn_rng_seed(&r, 2, 0);
    for (int i = 0; i < N; i++)
        x[i] = (nn_real)(3 + 2 * nn_rng_normal(&r) + (i % 18 >= 9 ? 10 : 0));
    const nn_real *y = nn_model_forward(m, x, B, 1, NULL);
    /* training mode: each channel normalised over the batch, then gamma, beta
     * (channel-last in memory: channel c of value k is y[k * 2 + c]) */
    for (int c = 0; c < 2; c++) {
        double s = 0, s2 = 0, xm = 0, xv = 0;
        for (int k = 0; k < N / 2; k++) {
            s += y[2 * k + c];
            s2 += (double)y[2 * k + c] * y[2 * k + c];
        }
        double mean = s / (N / 2), var = s2 / (N / 2) - mean * mean;
        ck_assert_double_eq_tol(mean, c == 0 ? 1 : -1, 1e-4);
        ck_assert_double_eq_tol(sqrt(var), c == 0 ? 2 : 0.5, 1e-3);
        /* the running statistics moved halfway to the batch's */
        for (int b = 0; b < B; b++)
            for (int p = 0; p < 9; p++)
                xm += x[b * 18 + c * 9 + p];
        xm /= N / 2;
        for (int b = 0; b < B; b++)
            for (int p = 0; p < 9; p++)
                xv += (x[b * 18 + c * 9 + p] - xm) * (x[b * 18 + c * 9 + p] - xm);
        xv /= N / 2 - 1;
        ck_assert_double_eq_tol(nn_model_buffers(m)[c], 0.5 * xm, 1e-4);
        ck_assert_double_eq_tol(nn_model_buffers(m)[2 + c], 0.5 * 1 + 0.5 * xv, 1e-3);
    }
    ck_assert_double_eq(nn_model_buffers(m)[4], 1);   /* batches seen */
    /* eval mode uses the running statistics */
    nn_real out[N];
    ck_assert_int_eq(nn_model_predict(m, x, B, out, NULL), NN_OK);
    const nn_real *buf = nn_model_buffers(m);
    for (int b = 0; b < B; b++)
        for (int c = 0; c < 2; c++)
            for (int p = 0; p < 9; p++) {
                int i = b * 18 + c * 9 + p;
                double want = gamma[c] * (x[i] - buf[c]) / sqrt(buf[2 + c] + 1e-5) + gamma[2 + c];
                ck_assert_double_eq_tol(out[i], want, 1e-4);
            }
    /* the statistics travel with the weights, under PyTorch's names */
    void *w;
    size_t len;
    ck_assert_int_eq(nn_model_save_weights_mem(m, NULL, 0, &w, &len, NULL), NN_OK);
    nn_model *m2 = model(L, 1, 2, 3, 3, NN_LOSS_MSE, 1);
    ck_assert_int_eq(nn_model_load_weights_mem(m2, w, len, NULL), NN_OK);
    ck_assert_int_eq(memcmp(nn_model_buffers(m2), nn_model_buffers(m),
                            nn_model_n_buffers(m) * sizeof(nn_real)), 0);
    int found = 0;
    for (int t = 0; t < nn_model_n_tensors(m); t++) {
        const char *n = nn_model_tensor(m, t)->name;
        found += !strcmp(n, "layers.0.running_mean") || !strcmp(n, "layers.0.running_var") ||
                 !strcmp(n, "layers.0.num_batches_tracked");
    }
    ck_assert_int_eq(found, 3);
    nn_layer_info li;
    nn_model_layer_info(m, 0, &li);
    ck_assert_int_eq(li.n_params, 4);   /* the buffers are not trainable parameters */
    free(w);
    nn_model_free(m2);
    nn_model_free(m);
}
END_TEST

START_TEST(bad_shapes)
{
    struct {
        nn_layer_spec l[3];
        int n;
        int C, H, W;
        int layer;
        const char *field;
    } cases[4];
    memset(cases, 0, sizeof cases);
    cases[0].l[0] = tu_conv(4, 5, 5, 1, 1, NN_PAD_VALID, 0, 0);
    cases[0].n = 1, cases[0].C = 1, cases[0].H = 3, cases[0].W = 3, cases[0].field = "kernel";
    cases[1].l[0] = tu_window(NN_LAYER_MAXPOOL2D, 4, 4, 0, 0);
    cases[1].n = 1, cases[1].C = 1, cases[1].H = 3, cases[1].W = 8, cases[1].field = "size";
    nn_layer_spec_default(&cases[2].l[0]);
    cases[2].l[0].units = 3;   /* dense on an image */
    cases[2].n = 1, cases[2].C = 1, cases[2].H = 3, cases[2].W = 3, cases[2].field = "type";
    cases[3].l[0] = tu_conv(2, 2, 2, 2, 2, NN_PAD_SAME, 0, 0);
    cases[3].n = 1, cases[3].C = 1, cases[3].H = 4, cases[3].W = 4, cases[3].field = "padding";
    for (int i = 0; i < 4; i++) {
        nn_spec s = {.input = {3, {cases[i].C, cases[i].H, cases[i].W}}, .n_layers = cases[i].n,
                     .layers = cases[i].l, .loss = NN_LOSS_MSE};
        nn_model_opts o = {.threads = 1};
        nn_model *m;
        nn_err e;
        ck_assert_int_eq(nn_model_new(&s, &o, &m, &e), NN_EINVAL);
        ck_assert_int_eq(e.layer, cases[i].layer);
        ck_assert_str_eq(e.field, cases[i].field);
    }
    /* conv2d needs an image */
    nn_layer_spec c[1] = {tu_conv(2, 1, 1, 1, 1, NN_PAD_VALID, 0, 0)};
    nn_spec s = {.input = {1, {8}}, .n_layers = 1, .layers = c, .loss = NN_LOSS_MSE};
    nn_model_opts o = {.threads = 1};
    nn_model *m;
    nn_err e;
    ck_assert_int_eq(nn_model_new(&s, &o, &m, &e), NN_EINVAL);
    ck_assert_str_eq(e.field, "type");
}
END_TEST

/* Images with a bright 3x3 patch in one of four quadrants; the class is the
 * quadrant.  Two channels, so the channel-last conversion of the input is
 * exercised too. */
static void quadrants(nn_dataset *d, int n, uint64_t seed)
{
    nn_rng r;
    nn_rng_seed(&r, seed, 0);
    memset(d, 0, sizeof *d);
    int64_t xd[4] = {n, 2, 8, 8}, yd[1] = {n};
    ck_assert_int_eq(nn_tensor_alloc(&d->x, 4, xd), NN_OK);
    ck_assert_int_eq(nn_tensor_alloc(&d->y, 1, yd), NN_OK);
    d->n_classes = 4;
    for (int i = 0; i < n; i++) {
        nn_real *img = d->x.data + (size_t)i * 128;
        for (int k = 0; k < 128; k++)
            img[k] = (nn_real)(0.3 * nn_rng_uniform(&r));
        int q = (int)nn_rng_below(&r, 4), ch = (int)nn_rng_below(&r, 2);
        int r0 = (q / 2) * 4 + (int)nn_rng_below(&r, 2), c0 = (q % 2) * 4 + (int)nn_rng_below(&r, 2);
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
                img[ch * 64 + (r0 + a) * 8 + c0 + b] += 1;
        d->y.data[i] = (nn_real)q;
    }
}

static nn_model *small_cnn(uint64_t seed)
{
    static nn_layer_spec L[7];
    L[0] = tu_conv(6, 3, 3, 1, 1, NN_PAD_SAME, 0, 0);
    L[1] = tu_window(NN_LAYER_BATCHNORM, 0, 0, 0, 0);
    L[2] = tu_window(NN_LAYER_ACT, 0, 0, 0, 0);
    L[2].act = NN_ACT_RELU;
    L[3] = tu_window(NN_LAYER_MAXPOOL2D, 2, 2, 0, 0);
    L[4] = tu_window(NN_LAYER_FLATTEN, 0, 0, 0, 0);
    nn_layer_spec_default(&L[5]);
    L[5].kind = NN_LAYER_DROPOUT;
    L[5].rate = 0.1;
    nn_layer_spec_default(&L[6]);
    L[6].units = 4;
    L[6].act = NN_ACT_SOFTMAX;
    nn_spec s = {.input = {3, {2, 8, 8}}, .n_layers = 7, .layers = L,
                 .loss = NN_LOSS_CROSS_ENTROPY};
    nn_model_opts o = {.seed = seed, .threads = tu_threads()};
    nn_model *m;
    nn_err e;
    ck_assert_msg(nn_model_new(&s, &o, &m, &e) == NN_OK, "%s", e.msg);
    return m;
}

static void cnn_cfg(nn_train_cfg *c)
{
    nn_train_cfg_default(c);
    c->optim.lr = 0.01;
    c->batch_size = 32;
    c->epochs = 6;
    c->validation_split = 0.2;
    c->seed = 4;
}

START_TEST(small_cnn_learns_and_resumes)
{
    nn_dataset tr, te;
    quadrants(&tr, 800, 1);
    quadrants(&te, 400, 2);
    nn_train_cfg c;
    cnn_cfg(&c);
    nn_model *m = small_cnn(4);
    nn_trainer *t;
    nn_err e;
    ck_assert_msg(nn_trainer_new(m, &c, &tr, NULL, &t, &e) == NN_OK, "%s", e.msg);
    nn_train_result r;
    ck_assert_int_eq(nn_trainer_run(t, NULL, &r, NULL), NN_OK);
    nn_trainer_free(t);
    double loss, acc;
    ck_assert_int_eq(nn_evaluate(m, &te, 64, &loss, &acc, NULL), NN_OK);
    ck_assert_msg(acc >= 0.95, "held-out accuracy %.3f", acc);
    size_t np = nn_model_n_params(m), nb = nn_model_n_buffers(m);
    nn_real *want = malloc((np + nb) * sizeof *want);
    memcpy(want, nn_model_params(m), np * sizeof *want);
    memcpy(want + np, nn_model_buffers(m), nb * sizeof *want);
    nn_model_free(m);

    /* paused before step 31 (inside epoch 2), saved, loaded into a fresh
     * model and trainer: the same end, batchnorm statistics included */
    m = tu_resume_run(small_cnn, 4, &c, &tr, 30);
    ck_assert_int_eq(memcmp(nn_model_params(m), want, np * sizeof *want), 0);
    ck_assert_int_eq(memcmp(nn_model_buffers(m), want + np, nb * sizeof *want), 0);
    nn_model_free(m);
    free(want);
    nn_dataset_free(&tr);
    nn_dataset_free(&te);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cnn");
    TCase *tc = tcase_create("cnn");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, conv_matches_reference);
    tcase_add_test(tc, conv_and_pool_by_hand);
    tcase_add_test(tc, maxpool_matches_direct);
    tcase_add_test(tc, fused_conv_pool_matches_separate);
    tcase_add_test(tc, flatten_order);
    tcase_add_test(tc, batchnorm_train_and_eval);
    tcase_add_test(tc, bad_shapes);
    tcase_add_test(tc, small_cnn_learns_and_resumes);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
