/*
 * layer_act.c — an activation function as a layer of its own
 * ({"type": "tanh"}): y = f(x), dx = dy f'(x).  Element-wise functions split
 * the batch's values among threads; softmax splits whole rows.
 */
#include "act.h"
#include "layer.h"

typedef struct act_task {
    nn_layer *l;
    const nn_real *x, *y, *dy;
    nn_real *out;
    int rows, cols;
    int backward;
} act_task;

static int act_setup(nn_layer *l, nn_err *e)
{
    const nn_layer_spec *s = &l->spec;
    if (s->act == NN_ACT_LEAKY_RELU && !(nn_act_alpha(s->act, s->alpha) >= 0))
        return nn_errf_at(e, NN_EINVAL, l->index, "alpha", "leaky_relu alpha must be >= 0");
    if (s->act == NN_ACT_ELU && !(nn_act_alpha(s->act, s->alpha) > 0))
        return nn_errf_at(e, NN_EINVAL, l->index, "alpha", "elu alpha must be > 0");
    if (s->act == NN_ACT_SOFTMAX && (l->in.rank < 1 || l->in.rank == 3))
        return nn_errf_at(e, NN_EINVAL, l->index, "type",
                          "softmax runs over features; flatten an image first");
    l->out = l->in;
    return NN_OK;
}

static void act_init(nn_layer *l, uint64_t seed)
{
    (void)l;
    (void)seed;
}

static int act_reserve(nn_layer *l, int B)
{
    (void)l;
    (void)B;
    return NN_OK;
}

static void task(void *ctx, int tid, int nth)
{
    act_task *t = ctx;
    const nn_layer_spec *s = &t->l->spec;
    int lo, hi;
    nn_split(t->rows, tid, nth, 1, &lo, &hi);
    size_t o = (size_t)lo * t->cols;
    if (hi <= lo)
        return;
    if (t->backward)
        nn_act_backward(s->act, s->alpha, t->x + o, t->y + o, t->dy + o, t->out + o, hi - lo,
                        t->cols, t->cols);
    else
        nn_act_forward(s->act, s->alpha, t->x + o, t->out + o, hi - lo, t->cols, t->cols);
}

/* Softmax needs whole rows of the last dimension; the others take the whole
 * batch as one long row split into chunks. */
static void shape_of(const nn_layer *l, int B, int *rows, int *cols)
{
    if (nn_act_is_rowwise(l->spec.act)) {
        *cols = l->in.dim[l->in.rank - 1];
        *rows = (int)((int64_t)B * l->in_size / *cols);
    } else {
        *cols = 256;
        int64_t n = (int64_t)B * l->in_size;
        *rows = (int)(n / 256);
    }
}

static void run(nn_layer *l, const nn_real *x, const nn_real *y, const nn_real *dy, nn_real *out,
                int B, int backward)
{
    act_task t = {l, x, y, dy, out, 0, 0, backward};
    shape_of(l, B, &t.rows, &t.cols);
    nn_pool_run(l->pool, task, &t);
    if (!nn_act_is_rowwise(l->spec.act)) {
        /* the tail that does not fill a chunk of 256 */
        size_t done = (size_t)t.rows * 256, n = (size_t)B * (size_t)l->in_size;
        if (done < n) {
            if (backward)  /* y and dy are given exactly when backward */
                nn_act_backward(l->spec.act, l->spec.alpha, x + done, y + done, dy + done,
                                out + done, 1, (int)(n - done), (int)(n - done));
            else
                nn_act_forward(l->spec.act, l->spec.alpha, x + done, out + done, 1,
                               (int)(n - done), (int)(n - done));
        }
    }
}

static void act_forward(nn_layer *l, const nn_real *x, nn_real *y, int B, int train)
{
    (void)train;
    run(l, x, NULL, NULL, y, B, 0);
}

static void act_backward(nn_layer *l, const nn_real *x, const nn_real *y, nn_real *dy,
                         nn_real *dx, int B, int accumulate)
{
    (void)accumulate;
    if (dx)
        run(l, x, y, dy, dx, B, 1);
}

static void act_destroy(nn_layer *l)
{
    (void)l;
}

const nn_layer_ops nn_act_ops = {
    .setup = act_setup,
    .init = act_init,
    .reserve = act_reserve,
    .forward = act_forward,
    .backward = act_backward,
    .destroy = act_destroy,
};
