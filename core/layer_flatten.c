/*
 * layer_flatten.c — any sample shape to one dimension, in PyTorch's order:
 * an image [C, H, W] (stored channel-last, layer.h) becomes [C * H * W]
 * with the channel slowest, so that a dense layer after it has the weights
 * a PyTorch nn.Flatten + nn.Linear would have.  Other shapes are already in
 * that order and are copied.
 *
 *   image:  y[c * HW + p] = x[p * C + c];   dx[p * C + c] = dy[c * HW + p]
 */
#include "layer.h"

#include <string.h>

static int is_image(const nn_layer *l)
{
    return l->in.rank == 3 && l->in.dim[0] > 1;
}

static int flatten_setup(nn_layer *l, nn_err *e)
{
    (void)e;
    l->out.rank = 1;
    l->out.dim[0] = (int)l->in_size;
    return NN_OK;
}

static void flatten_init(nn_layer *l, uint64_t seed)
{
    (void)l, (void)seed;
}

static int flatten_reserve(nn_layer *l, int B)
{
    (void)l, (void)B;
    return NN_OK;
}

/* Rows [lo, hi): to [C * H * W] (to_flat) or back to channel-last.  Both
 * directions write in order and read with a stride: the rows written were
 * read by the other threads in the last step's weight gradients, so each
 * line written is first taken back from their caches, which runs ahead
 * only for lines written in order (the reference CNN's flatten, 32 samples
 * of 1,568 values a thread: 95 us a step writing with a stride, 42 in
 * order). */
static void run(const nn_layer *l, const nn_real *src, nn_real *dst, int lo, int hi, int to_flat)
{
    const size_t n = (size_t)l->in_size;
    if (!is_image(l)) {
        memcpy(dst + lo * n, src + lo * n, (size_t)(hi - lo) * n * sizeof *dst);
        return;
    }
    const size_t C = (size_t)l->in.dim[0], HW = (size_t)l->in.dim[1] * (size_t)l->in.dim[2];
    for (int b = lo; b < hi; b++) {
        const nn_real *restrict s = src + b * n;
        nn_real *restrict d = dst + b * n;
        if (to_flat) {
            for (size_t c = 0; c < C; c++)
                for (size_t p = 0; p < HW; p++)
                    d[c * HW + p] = s[p * C + c];
        } else {
            for (size_t p = 0; p < HW; p++)
                for (size_t c = 0; c < C; c++)
                    d[p * C + c] = s[c * HW + p];
        }
    }
}

static void flatten_forward(nn_layer *l, const nn_rows *r, const nn_real *x, nn_real *y)
{
    run(l, x, y, r->lo, r->hi, 1);
}

static void flatten_backward(nn_layer *l, const nn_rows *r, const nn_real *x, const nn_real *y,
                             nn_real *dy, nn_real *dx)
{
    (void)x, (void)y;
    if (dx)
        run(l, dy, dx, r->lo, r->hi, 0);
}

static void flatten_destroy(nn_layer *l)
{
    (void)l;
}

const nn_layer_ops nn_flatten_ops = {
    .setup = flatten_setup,
    .init = flatten_init,
    .reserve = flatten_reserve,
    .forward = flatten_forward,
    .backward = flatten_backward,
    .destroy = flatten_destroy,
};
