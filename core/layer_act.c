/*
 * layer_act.c — an activation function as a layer of its own
 * ({"type": "tanh"}): y = f(x), dx = dy f'(x), on a part's rows (layer.h);
 * softmax along the last dimension.
 */
#include "act.h"
#include "layer.h"

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

/* Softmax needs whole rows of the last dimension; the others take each
 * sample's values as one row. */
static void shape_of(const nn_layer *l, int *per_sample, int *cols)
{
    *cols = nn_act_is_rowwise(l->spec.act) ? l->in.dim[l->in.rank - 1] : (int)l->in_size;
    *per_sample = (int)(l->in_size / *cols);
}

static void act_forward(nn_layer *l, const nn_rows *r, const nn_real *x, nn_real *y)
{
    int k, cols;
    shape_of(l, &k, &cols);
    size_t o = (size_t)r->lo * l->in_size;
    if (r->hi > r->lo)
        nn_act_forward(l->spec.act, l->spec.alpha, x + o, y + o, (r->hi - r->lo) * k, cols, cols);
}

static void act_backward(nn_layer *l, const nn_rows *r, const nn_real *x, const nn_real *y,
                         nn_real *dy, nn_real *dx)
{
    int k, cols;
    shape_of(l, &k, &cols);
    size_t o = (size_t)r->lo * l->in_size;
    if (dx && r->hi > r->lo)
        nn_act_backward(l->spec.act, l->spec.alpha, x + o, y + o, dy + o, dx + o,
                        (r->hi - r->lo) * k, cols, cols);
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
