/*
 * train_state.c — the trainer's saved state (nn_trainer_save and
 * nn_trainer_load, train.h): "NNTS", a version, the run's fingerprint,
 * then every field in a fixed order, little-endian, and a CRC-32 of all that
 * precedes it.  A state is decoded into temporaries first, so that a bad
 * blob changes nothing.
 */
#include "train.h"

#include "train_int.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define STATE_MAGIC "NNTS"
#define STATE_VERSION 2       /* 2: the fingerprint has the shard count; 1 is read too */

typedef struct wbuf {
    unsigned char *p;
    size_t len, cap;
    int oom;
} wbuf;

static void put(wbuf *w, const void *src, size_t n)
{
    if (w->oom)
        return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n)
            cap *= 2;
        unsigned char *p = realloc(w->p, cap);
        if (!p) {
            w->oom = 1;
            return;
        }
        w->p = p;
        w->cap = cap;
    }
    memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void put_u64(wbuf *w, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(w, b, 8);
}

static void put_f64(wbuf *w, double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    put_u64(w, v);
}

static void put_reals(wbuf *w, const nn_real *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
#ifdef NN_DOUBLE
        put_f64(w, x[i]);
#else
        uint32_t v;
        memcpy(&v, &x[i], 4);
        unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8),
                              (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
        put(w, b, 4);
#endif
    }
}

static void put_metrics(wbuf *w, const nn_epoch_metrics *m)
{
    put_u64(w, (uint64_t)m->epoch);
    put_u64(w, (uint64_t)m->global_step);
    put_u64(w, (uint64_t)m->is_best);
    const double v[] = {m->loss, m->accuracy, m->val_loss, m->val_accuracy, m->lr,
                        m->seconds, m->elapsed, m->samples_per_sec};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        put_f64(w, v[i]);
}

typedef struct rbuf {
    const unsigned char *p;
    size_t len, off;
    int bad;
} rbuf;

static const unsigned char *take(rbuf *r, size_t n)
{
    if (r->bad || r->len - r->off < n) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *p = r->p + r->off;
    r->off += n;
    return p;
}

static uint64_t get_u64(rbuf *r)
{
    const unsigned char *b = take(r, 8);
    uint64_t v = 0;
    for (int i = 0; b && i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static double get_f64(rbuf *r)
{
    uint64_t v = get_u64(r);
    double d;
    memcpy(&d, &v, 8);
    return d;
}

static void get_reals(rbuf *r, nn_real *x, size_t n)
{
    for (size_t i = 0; i < n && !r->bad; i++) {
#ifdef NN_DOUBLE
        x[i] = get_f64(r);
#else
        const unsigned char *b = take(r, 4);
        if (!b)
            return;
        uint32_t v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                     (uint32_t)b[3] << 24;
        memcpy(&x[i], &v, 4);
#endif
    }
}

static void get_metrics(rbuf *r, nn_epoch_metrics *m)
{
    m->epoch = (int)get_u64(r);
    m->global_step = (int64_t)get_u64(r);
    m->is_best = (int)get_u64(r);
    double *v[] = {&m->loss, &m->accuracy, &m->val_loss, &m->val_accuracy, &m->lr,
                   &m->seconds, &m->elapsed, &m->samples_per_sec};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        *v[i] = get_f64(r);
}

/* What must agree between the run that saved and the run that loads (a
 * version 1 state has no shard count: it continues with the run's). */
static void put_fingerprint(wbuf *w, const nn_trainer *t, uint64_t version)
{
    put_u64(w, sizeof(nn_real));
    put_u64(w, nn_model_n_params(t->m));
    put_u64(w, nn_model_n_buffers(t->m));
    put_u64(w, t->n_state);
    put_u64(w, (uint64_t)t->n_train);
    put_u64(w, (uint64_t)t->n_val);
    put_u64(w, (uint64_t)t->B);
    put_u64(w, t->cfg.seed);
    put_u64(w, (uint64_t)t->cfg.optim.kind);
    if (version >= 2)
        put_u64(w, (uint64_t)t->cfg.shards);
}

int nn_trainer_save(const nn_trainer *t, void **buf, size_t *len, nn_err *e)
{
    wbuf w = {0};
    uint64_t st[4];
    size_t np = nn_model_n_params(t->m), nbuf = nn_model_n_buffers(t->m);
    *buf = NULL;
    *len = 0;
    put(&w, STATE_MAGIC, 4);
    put_u64(&w, STATE_VERSION);
    put_fingerprint(&w, t, STATE_VERSION);
    put_reals(&w, nn_model_params(t->m), np);
    put_reals(&w, nn_model_buffers(t->m), nbuf);
    put_reals(&w, t->opt_state, t->n_state);
    for (int i = 0; i < 4; i++)
        put_u64(&w, t->shuffle_rng.s[i]);
    for (int i = 0; i < 4; i++)
        put_u64(&w, t->epoch_rng.s[i]);
    nn_model_dropout_state(t->m, st);
    for (int i = 0; i < 4; i++)
        put_u64(&w, st[i]);
    put_u64(&w, (uint64_t)t->epoch);
    put_u64(&w, (uint64_t)t->step);
    put_u64(&w, (uint64_t)t->epoch_open);
    put_u64(&w, (uint64_t)t->global_step);
    put_f64(&w, t->sum_loss);
    put_u64(&w, (uint64_t)t->seen);
    put_u64(&w, (uint64_t)t->correct);
    put_u64(&w, (uint64_t)t->counted);
    put_f64(&w, t->elapsed);
    put_f64(&w, t->epoch_seconds);
    put_u64(&w, (uint64_t)t->has_best);
    put_f64(&w, t->best_value);
    put_u64(&w, (uint64_t)t->since_best);
    put_metrics(&w, &t->best);
    put_metrics(&w, &t->last);
    put_u64(&w, (uint64_t)t->has_best_params);
    if (t->has_best_params)
        put_reals(&w, t->best_params, np + nbuf);
    put_u64(&w, (uint64_t)t->done);
    put_u64(&w, (uint64_t)t->reason);
    put_u64(&w, (uint64_t)t->restored_best);
    if (!w.oom) {
        uint32_t crc = (uint32_t)crc32(0L, w.p, (uInt)w.len);
        put_u64(&w, crc);
    }
    if (w.oom) {
        free(w.p);
        return nn_errf(e, NN_ENOMEM, "out of memory while saving the training state");
    }
    *buf = w.p;
    *len = w.len;
    return NN_OK;
}

/* The magic, the checksum, the version and the fingerprint; r is left at
 * the first field. */
static int check_header(const nn_trainer *t, rbuf *r, nn_err *e)
{
    const unsigned char *buf = r->p;
    size_t len = r->len;
    if (len < 4 + 8 + 8 || memcmp(buf, STATE_MAGIC, 4) != 0)
        return nn_errf(e, NN_EFORMAT, "not a training state (bad magic)");
    rbuf c = {buf, len, len - 8, 0};
    if (get_u64(&c) != (uint32_t)crc32(0L, buf, (uInt)(len - 8)))
        return nn_errf(e, NN_EFORMAT, "training state is damaged (checksum mismatch)");
    take(r, 4);
    uint64_t version = get_u64(r);
    if (version < 1 || version > STATE_VERSION)
        return nn_errf(e, NN_EFORMAT, "training state has an unknown version");
    wbuf fp = {0};
    put_fingerprint(&fp, t, version);
    const unsigned char *have = take(r, fp.len);
    int same = !fp.oom && have && memcmp(have, fp.p, fp.len) == 0;
    free(fp.p);
    if (fp.oom)
        return nn_errf(e, NN_ENOMEM, "out of memory");
    if (!same)
        return nn_errf(e, NN_EINVAL,
                       "the training state belongs to another run (model size, data size, "
                       "batch size, seed, optimizer or shard count differ)");
    return NN_OK;
}

/* What a state holds besides the trainer's own fields. */
typedef struct decoded {
    nn_real *params;          /* parameters, then buffers */
    nn_real *opt;             /* optimizer state */
    nn_real *best;            /* the best epoch's parameters and buffers, or NULL */
    uint64_t drop[4];         /* the dropout stream */
} decoded;

/* Every field after the fingerprint, in nn_trainer_save's order, into n
 * (a copy of the trainer) and d. */
static void get_fields(rbuf *r, nn_trainer *n, decoded *d, size_t nall)
{
    get_reals(r, d->params, nall);
    get_reals(r, d->opt, n->n_state);
    for (int i = 0; i < 4; i++)
        n->shuffle_rng.s[i] = get_u64(r);
    for (int i = 0; i < 4; i++)
        n->epoch_rng.s[i] = get_u64(r);
    for (int i = 0; i < 4; i++)
        d->drop[i] = get_u64(r);
    n->epoch = (int)get_u64(r);
    n->step = (int)get_u64(r);
    n->epoch_open = (int)get_u64(r);
    n->global_step = (int64_t)get_u64(r);
    n->sum_loss = get_f64(r);
    n->seen = (int64_t)get_u64(r);
    n->correct = (int64_t)get_u64(r);
    n->counted = (int64_t)get_u64(r);
    n->elapsed = get_f64(r);
    n->epoch_seconds = get_f64(r);
    n->has_best = (int)get_u64(r);
    n->best_value = get_f64(r);
    n->since_best = (int)get_u64(r);
    get_metrics(r, &n->best);
    get_metrics(r, &n->last);
    n->has_best_params = (int)get_u64(r);
    if (n->has_best_params) {
        if (d->best)
            get_reals(r, d->best, nall);
        else
            r->bad = 1;
    }
    n->done = (int)get_u64(r);
    n->reason = (nn_stop_reason)get_u64(r);
    n->restored_best = (int)get_u64(r);
    get_u64(r);   /* the checksum, verified first */
}

/* The decoded state into the trainer and its model. */
static void apply(nn_trainer *t, const nn_trainer *n, const decoded *d)
{
    size_t np = nn_model_n_params(t->m), nbuf = nn_model_n_buffers(t->m);
    memcpy(nn_model_params(t->m), d->params, np * sizeof *d->params);
    memcpy(nn_model_buffers(t->m), d->params + np, nbuf * sizeof *d->params);
    memcpy(t->opt_state, d->opt, t->n_state * sizeof *d->opt);
    nn_real *keep_best = t->best_params;
    if (n->has_best_params)
        memcpy(keep_best, d->best, (np + nbuf) * sizeof *d->best);
    *t = *n;
    t->best_params = keep_best;
    nn_model_set_dropout_state(t->m, d->drop);
    if (t->epoch_open) {
        /* redraw this epoch's order from the stream as it stood at its start */
        nn_rng r = t->epoch_rng;
        nn_trainer_draw_order(t, &r);
    }
}

int nn_trainer_load(nn_trainer *t, const void *buf, size_t len, nn_err *e)
{
    rbuf r = {buf, len, 0, 0};
    size_t nall = nn_model_n_params(t->m) + nn_model_n_buffers(t->m);
    int rc = check_header(t, &r, e);
    if (rc)
        return rc;
    decoded d = {0};
    d.params = malloc((nall ? nall : 1) * sizeof *d.params);
    d.opt = malloc((t->n_state ? t->n_state : 1) * sizeof *d.opt);
    d.best = t->best_params ? malloc((nall ? nall : 1) * sizeof *d.best) : NULL;
    if (!d.params || !d.opt || (t->best_params && !d.best)) {
        rc = nn_errf(e, NN_ENOMEM, "out of memory");
        goto out;
    }
    nn_trainer n = *t;
    get_fields(&r, &n, &d, nall);
    if (r.bad || r.off != len || n.epoch < 0 || n.epoch > t->cfg.epochs || n.step < 0 ||
        n.step > t->steps_per_epoch) {
        rc = nn_errf(e, NN_EFORMAT, "training state is malformed");
        goto out;
    }
    apply(t, &n, &d);
out:
    free(d.params);
    free(d.opt);
    free(d.best);
    return rc;
}
