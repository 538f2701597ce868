/*
 * cli_train.c — `traind train`: trains a model definition on files in the
 * terminal, the first user of the core.
 *
 *   traind train --model FILE --train DATA... [--val DATA...] [--test DATA...]
 *                [--label COLUMN] [--epochs N] [--batch-size N] [--threads N]
 *                [--seed S] [--standardize] [--no-scale] [--out FILE]
 *
 * DATA is one CSV file, or two files: IDX images and labels, or NPY x and y.
 * On a terminal a progress bar is redrawn; otherwise one line per epoch.
 * Exit status: 0 trained, 1 failed, 2 bad usage.
 */
#include "cli_train.h"

#include "blas_env.h"
#include "cli_export.h"
#include "prep_json.h"
#include "weights_meta.h"

#include "gemm.h"
#include "model.h"
#include "prep.h"
#include "spec_json.h"
#include "train.h"
#include "version.h"

#include <errno.h>
#include <limits.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_PATHS 2

typedef struct opts {
    const char *model;
    const char *train[MAX_PATHS], *val[MAX_PATHS], *test[MAX_PATHS];
    int n_train, n_val, n_test;
    const char *label;
    const char *out;
    long epochs, batch, threads, shards;
    long long seed;
    int have_seed;
    int standardize, no_scale, quiet, profile;
} opts;

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: traind train --model FILE --train DATA... [options]\n"
            "\n"
            "Trains a model definition (JSON) on data files and reports test accuracy.\n"
            "DATA is one CSV file (with a header row), or two files: IDX images and\n"
            "labels, or NPY x and y (gzip allowed).\n"
            "\n"
            "  --model FILE        model definition with its \"training\" object\n"
            "  --train DATA...     training data\n"
            "  --val DATA...       validation data (instead of training.validation_split)\n"
            "  --test DATA...      test data, evaluated after training\n"
            "  --label COLUMN      CSV label column, by name or 0-based index (default: last)\n"
            "  --epochs N          override training.epochs\n"
            "  --batch-size N      override training.batch_size\n"
            "  --seed S            override training.seed\n"
            "  --threads N         compute threads (default: all cores, %ld here)\n"
            "  --shards N          override training.shards (the batch's cut; 1..256)\n"
            "  --profile           print where a training step's time goes: each\n"
            "                      thread's time per layer and phase, per step\n"
            "  --standardize       scale every numeric feature to mean 0, std 1 (training\n"
            "                      statistics): training.preprocess.standardize = true\n"
            "  --no-scale          keep uint8 images in 0..255 instead of 0..1\n"
            "  --out FILE          write the trained weights (safetensors; ONNX when FILE\n"
            "                      ends in .onnx)\n"
            "  --quiet             only the final results\n",
            sysconf(_SC_NPROCESSORS_ONLN));
}

static int parse_long(const char *flag, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "traind train: %s needs a whole number from %ld to %ld\n", flag, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* Collects the non-option words after a data flag. */
static int take_paths(int argc, char **argv, int *i, const char **dst, int *n, const char *flag)
{
    *n = 0;
    while (*i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0) {
        if (*n == MAX_PATHS) {
            fprintf(stderr, "traind train: %s takes one or two files\n", flag);
            return -1;
        }
        dst[(*n)++] = argv[++*i];
    }
    if (*n == 0) {
        fprintf(stderr, "traind train: %s needs a file\n", flag);
        return -1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->threads = sysconf(_SC_NPROCESSORS_ONLN);
    if (o->threads < 1)
        o->threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        long v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--model") && next) {
            o->model = argv[++i];
        } else if (!strcmp(a, "--train")) {
            if (take_paths(argc, argv, &i, o->train, &o->n_train, a))
                return -1;
        } else if (!strcmp(a, "--val")) {
            if (take_paths(argc, argv, &i, o->val, &o->n_val, a))
                return -1;
        } else if (!strcmp(a, "--test")) {
            if (take_paths(argc, argv, &i, o->test, &o->n_test, a))
                return -1;
        } else if (!strcmp(a, "--label") && next) {
            o->label = argv[++i];
        } else if (!strcmp(a, "--out") && next) {
            o->out = argv[++i];
        } else if (!strcmp(a, "--epochs")) {
            if (parse_long(a, next, 1, 1000000, &o->epochs))
                return -1;
            i++;
        } else if (!strcmp(a, "--batch-size")) {
            if (parse_long(a, next, 1, 65536, &o->batch))
                return -1;
            i++;
        } else if (!strcmp(a, "--threads")) {
            if (parse_long(a, next, 1, 256, &o->threads))
                return -1;
            i++;
        } else if (!strcmp(a, "--shards")) {
            if (parse_long(a, next, 1, 256, &o->shards))
                return -1;
            i++;
        } else if (!strcmp(a, "--profile")) {
            o->profile = 1;
        } else if (!strcmp(a, "--seed")) {
            if (parse_long(a, next, 0, LONG_MAX, &v))
                return -1;
            o->seed = v;
            o->have_seed = 1;
            i++;
        } else if (!strcmp(a, "--standardize")) {
            o->standardize = 1;
        } else if (!strcmp(a, "--no-scale")) {
            o->no_scale = 1;
        } else if (!strcmp(a, "--quiet")) {
            o->quiet = 1;
        } else {
            fprintf(stderr, "traind train: unknown or incomplete option '%s' (see --help)\n", a);
            return -1;
        }
    }
    if (!o->model || o->n_train == 0) {
        fprintf(stderr, "traind train: --model and --train are required (see --help)\n");
        return -1;
    }
    return 0;
}

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *b = cap > (64u << 20) ? NULL : realloc(buf, cap *= 2);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* ---------------------------------------------------------------------------
 * Progress */

typedef struct progress {
    int tty, quiet;
    int epochs;
    double train_seconds;   /* the epochs' training time (validation excluded) */
    double last_draw;
    double *rates;       /* samples/s of each epoch */
    int n_rates;
} progress;

static double mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void fmt_rate(double r, char *buf, size_t n)
{
    if (r >= 1e6)
        snprintf(buf, n, "%.2fM", r / 1e6);
    else if (r >= 1e3)
        snprintf(buf, n, "%.1fk", r / 1e3);
    else
        snprintf(buf, n, "%.0f", r);
}

static void fmt_secs(double s, char *buf, size_t n)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void on_step(void *u, const nn_step_info *s)
{
    progress *p = u;
    if (!p->tty || p->quiet)
        return;
    double now = mono();
    if (s->step != s->steps_per_epoch && now - p->last_draw < 0.1)
        return;
    p->last_draw = now;
    char rate[32], eta[32], bar[31];
    int filled = (int)(30.0 * s->step / s->steps_per_epoch);
    for (int i = 0; i < 30; i++)
        bar[i] = i < filled ? '=' : i == filled ? '>' : ' ';
    bar[30] = 0;
    fmt_rate(s->samples_per_sec, rate, sizeof rate);
    double steps_left = (double)(p->epochs - s->epoch) * s->steps_per_epoch +
                        (s->steps_per_epoch - s->step);
    double per_step = s->samples_per_sec > 0 ? (double)s->global_step / s->elapsed : 0;
    fmt_secs(per_step > 0 ? steps_left / per_step : 0, eta, sizeof eta);
    printf("\repoch %d/%d [%s] %d/%d  loss %.4f  %s samples/s  ETA %s \033[K", s->epoch,
           p->epochs, bar, s->step, s->steps_per_epoch, s->loss, rate, eta);
    fflush(stdout);
}

static void on_epoch(void *u, const nn_epoch_metrics *m)
{
    progress *p = u;
    p->train_seconds += m->seconds;
    if (p->rates && p->n_rates < p->epochs)
        p->rates[p->n_rates++] = m->samples_per_sec;
    if (p->quiet)
        return;
    char rate[32], line[256];
    int n = 0;
    fmt_rate(m->samples_per_sec, rate, sizeof rate);
    n += snprintf(line + n, sizeof line - (size_t)n, "epoch %3d/%d  loss %.4f", m->epoch,
                  p->epochs, m->loss);
    if (!isnan(m->accuracy))
        n += snprintf(line + n, sizeof line - (size_t)n, "  acc %.4f", m->accuracy);
    if (!isnan(m->val_loss))
        n += snprintf(line + n, sizeof line - (size_t)n, "  val_loss %.4f", m->val_loss);
    if (!isnan(m->val_accuracy))
        n += snprintf(line + n, sizeof line - (size_t)n, "  val_acc %.4f", m->val_accuracy);
    snprintf(line + n, sizeof line - (size_t)n, "  lr %.3g  %.1fs  %s samples/s", m->lr,
             m->seconds, rate);
    printf("%s%s\n", p->tty ? "\r\033[K" : "", line);
    fflush(stdout);
}

static int should_stop(void *u)
{
    (void)u;
    return interrupted ? NN_HOOK_CANCEL : NN_HOOK_CONTINUE;
}

/* One row of the profile: the slot's microseconds per step, per thread. */
static void profile_row(nn_model *m, const char *what, int slot, double per_step, double *sum)
{
    int parts = nn_model_threads(m);
    double any = 0;
    for (int p = 0; p < parts; p++)
        any += nn_model_profile(m, p)[slot];
    if (any == 0)
        return;
    printf("  %-34s", what);
    for (int p = 0; p < parts; p++) {
        double us = nn_model_profile(m, p)[slot] * per_step;
        sum[p] += us;
        printf(" %9.1f", us);
    }
    printf("\n");
}

/* --profile: where a step's time goes, thread by thread (core/model.h's
 * slots), averaged over the run's steps. */
static void print_profile(nn_model *m, int64_t steps, double seconds, int batch)
{
    if (steps < 1 || seconds <= 0)
        return;
    const int n = nn_model_spec(m)->n_layers, parts = nn_model_threads(m);
    const double per_step = 1e6 / (double)steps;
    double sum[256] = {0};
    char what[64];
    printf("profile: microseconds per step (mean of %lld steps of %d samples, %d shards), "
           "per thread:\n  %-34s", (long long)steps, batch, nn_model_shards(m), "");
    for (int p = 0; p < parts; p++)
        printf(" %8s%d", "thread ", p);
    printf("\n");
    profile_row(m, "gather the batch", NN_PROF_GATHER, per_step, sum);
    profile_row(m, "prepare (transposed weights)", NN_PROF_PREPARE, per_step, sum);
    for (int i = 0; i < n; i++) {
        nn_layer_info li;
        nn_model_layer_info(m, i, &li);
        snprintf(what, sizeof what, "forward %2d %s", i, li.type);
        profile_row(m, what, NN_PROF_LAYERS + i, per_step, sum);
    }
    profile_row(m, "loss", NN_PROF_LOSS, per_step, sum);
    for (int i = n - 1; i >= 0; i--) {
        nn_layer_info li;
        nn_model_layer_info(m, i, &li);
        snprintf(what, sizeof what, "backward %2d %s", i, li.type);
        profile_row(m, what, NN_PROF_LAYERS + n + i, per_step, sum);
    }
    profile_row(m, "meeting (waiting for the others)", NN_PROF_MEET, per_step, sum);
    for (int i = 0; i < n; i++) {
        nn_layer_info li;
        nn_model_layer_info(m, i, &li);
        snprintf(what, sizeof what, "weight gradient %2d %s", i, li.type);
        profile_row(m, what, NN_PROF_LAYERS + 2 * n + i, per_step, sum);
    }
    profile_row(m, "optimizer", NN_PROF_UPDATE, per_step, sum);
    printf("  %-34s", "sum");
    for (int p = 0; p < parts; p++)
        printf(" %9.1f", sum[p]);
    printf("\n  %-34s %9.1f   (the rest: starting and ending the step's task)\n",
           "step, wall clock", seconds * per_step);
}

/* ---------------------------------------------------------------------------
 * Data */

static int load(const char *what, const char *const *paths, int n, const opts *o,
                nn_loss_kind loss, const nn_dataset *classes_from, nn_dataset *d)
{
    nn_load_opts lo;
    nn_err e;
    nn_load_opts_default(&lo);
    lo.label = o->label;
    lo.scale_u8 = !o->no_scale;
    /* the loss says what the labels are: classes for the cross-entropies,
     * numbers for regression */
    if (loss == NN_LOSS_MSE || loss == NN_LOSS_MAE)
        lo.label_kind = NN_LABEL_NUMERIC;
    else
        lo.label_kind = n == 1 ? NN_LABEL_CLASS : NN_LABEL_AUTO;
    if (classes_from && classes_from->n_classes > 0 && classes_from->class_names) {
        lo.classes = classes_from->class_names;
        lo.n_classes = classes_from->n_classes;
    }
    int rc = nn_dataset_load(paths, n, &lo, d, &e);
    if (rc) {
        fprintf(stderr, "traind train: %s data: %s\n", what, e.msg);
        return rc;
    }
    if (classes_from && classes_from->n_classes > d->n_classes && d->n_classes > 0)
        d->n_classes = classes_from->n_classes;   /* a subset of the classes is fine */
    return 0;
}

static void describe(const char *what, const nn_dataset *d)
{
    char sh[64];
    nn_shape s = nn_tensor_sample_shape(&d->x);
    nn_shape_str(&s, sh, sizeof sh);
    printf("%s: %lld samples %s", what, (long long)nn_dataset_len(d), sh);
    if (d->n_classes > 0)
        printf(", %d classes", d->n_classes);
    printf("\n");
}

/* The metric the run ranks its epochs by (as the trainer does). */
static double monitored(const nn_train_cfg *c, const nn_epoch_metrics *m, const char **name)
{
    nn_monitor mon = nn_train_monitor(c, !isnan(m->val_loss));
    *name = nn_monitor_name(mon);
    return nn_epoch_metric(m, mon);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median training speed over the epochs, and the matrix-product rate it means. */
static void print_speed(const progress *p, const nn_model *m)
{
    if (p->n_rates == 0)
        return;
    qsort(p->rates, (size_t)p->n_rates, sizeof *p->rates, cmp_double);
    double med = p->n_rates % 2 ? p->rates[p->n_rates / 2]
                                : (p->rates[p->n_rates / 2 - 1] + p->rates[p->n_rates / 2]) / 2;
    double flops = nn_model_train_flops(m);
    printf("speed: median %.0f samples/s over %d epochs (min %.0f, max %.0f); "
           "%.1f GFLOP/s (%.4g FLOP per sample)\n",
           med, p->n_rates, p->rates[0], p->rates[p->n_rates - 1], med * flops / 1e9, flops);
}

static int64_t total_params(const nn_model *m)
{
    int64_t s = 0;
    for (int i = 0; i < nn_model_spec(m)->n_layers; i++) {
        nn_layer_info li;
        nn_model_layer_info(m, i, &li);
        s += li.n_params;
    }
    return s;
}

static long peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

/* --out FILE.onnx: the weights file in memory, then exported. */
static int write_onnx(const char *path, const nn_model *m, const weights_meta *wm)
{
    void *buf;
    size_t len;
    nn_err e;
    int rc = nn_model_save_weights_mem(m, wm->kv, wm->n, &buf, &len, &e);
    if (rc)
        fprintf(stderr, "traind train: %s\n", e.msg);
    else
        rc = cli_export_onnx("traind train", buf, len, NULL, path);
    free(buf);
    return rc;
}

/* The weights file (an ONNX model when its name ends in .onnx), with the
 * metadata every traind weights file carries. */
static int write_weights(const opts *o, nn_model *m, const nn_train_cfg *cfg,
                         const nn_prep_cfg *pc, const nn_dataset *train, const nn_prep *prep)
{
    weights_meta wm;
    char *ptext = prep && (!nn_prep_is_identity(prep) || prep->table) ? prep_json_text(prep) : NULL;
    int rc = weights_meta_build(&wm, nn_model_spec(m), cfg, pc, train->class_names,
                                train->n_classes, ptext);
    nn_err e;
    if (rc)
        fprintf(stderr, "traind train: out of memory\n");
    else if (cli_export_is_onnx(o->out))
        rc = write_onnx(o->out, m, &wm);
    else if ((rc = nn_model_save_weights(m, o->out, wm.kv, wm.n, &e)))
        fprintf(stderr, "traind train: cannot write %s: %s\n", o->out, e.msg);
    weights_meta_free(&wm);
    free(ptext);
    return rc;
}

/* The preprocessing request of the definition (its training.preprocess),
 * with --standardize on top. */
static int read_prep_cfg(const opts *o, const char *text, size_t len, nn_prep_cfg *pc)
{
    spec_json_err je;
    json_t *doc = json_loadb(text, len, 0, NULL);
    int rc = spec_json_parse_preprocess(json_object_get(doc, "training"), "/training", pc, &je);
    json_decref(doc);
    if (rc) {
        fprintf(stderr, "traind train: %s: %s: %s\n", o->model, je.path, je.msg);
        return -1;
    }
    if (o->standardize) {
        if (pc->min_max) {
            fprintf(stderr, "traind train: --standardize and training.preprocess.min_max exclude "
                            "each other\n");
            return -1;
        }
        pc->standardize = 1;
    }
    return 0;
}

/* Fits the preprocessing on the rows that train (the validation split's
 * left out) and applies it to every set. */
static int preprocess(const opts *o, const nn_train_cfg *cfg, const nn_prep_cfg *pc,
                      nn_dataset *train, nn_dataset *val, nn_dataset *test, nn_prep *p)
{
    int64_t *rows = NULL, *vrows = NULL, n_rows, n_vrows, unseen_val = 0, unseen_test = 0;
    nn_train_cfg c = *cfg;
    nn_err e;
    int rc = -1;
    if (o->n_val)
        c.validation_split = 0;
    if (nn_train_split(nn_dataset_len(train), &c, &rows, &n_rows, &vrows, &n_vrows, &e)) {
        fprintf(stderr, "traind train: %s\n", e.msg);
        goto out;
    }
    if (nn_prep_fit(pc, train, rows, n_rows, p, &e)) {
        fprintf(stderr, "traind train: %s: /training/preprocess%s%s: %s\n", o->model,
                e.field[0] ? "/" : "", e.field, e.msg);
        goto out;
    }
    if (!nn_prep_is_identity(p) &&
        (nn_prep_apply(p, train, NULL, &e) || (o->n_val && nn_prep_apply(p, val, &unseen_val, &e)) ||
         (o->n_test && nn_prep_apply(p, test, &unseen_test, &e)))) {
        fprintf(stderr, "traind train: preprocessing: %s\n", e.msg);
        goto out;
    }
    if (unseen_val + unseen_test > 0 && !o->quiet)
        printf("note: %lld validation and %lld test values are categories the training rows "
               "do not have (encoded as all zeros)\n",
               (long long)unseen_val, (long long)unseen_test);
    rc = 0;
out:
    free(rows);
    free(vrows);
    return rc;
}

/* One line on what preprocessing does, when it does anything. */
static void describe_prep(const nn_prep *p)
{
    int num = 0, hot = 0;
    if (nn_prep_is_identity(p))
        return;
    for (int j = 0; j < p->n_cols; j++)
        p->cols[j].kind == NN_PREP_NUMERIC ? num++ : hot++;
    printf("preprocess: %d numeric column%s%s, %d one-hot column%s -> %lld features\n", num,
           num == 1 ? "" : "s", p->standardize ? " standardized" : p->min_max ? " min-max scaled" : "",
           hot, hot == 1 ? "" : "s", (long long)p->n_out);
}

int cli_train_main(int argc, char **argv)
{
    opts o;
    if (parse_args(argc, argv, &o))
        return 2;
    int status = 1;
    nn_spec spec = {0};
    nn_train_cfg cfg;
    nn_dataset train = {0}, val = {0}, test = {0};
    nn_model *m = NULL;
    nn_trainer *t = NULL;
    nn_prep_cfg pc;
    nn_prep prep = {0};
    char *text = NULL;
    progress p = {0};
    nn_err e;
    const double t0 = mono();
    nn_prep_cfg_default(&pc);

    size_t len;
    text = read_text(o.model, &len);
    if (!text) {
        fprintf(stderr, "traind train: cannot read %s: %s\n", o.model, strerror(errno));
        goto out;
    }
    spec_json_err je;
    if (spec_json_parse_text(text, len, &spec, &cfg, &je)) {
        fprintf(stderr, "traind train: %s: %s%s%s\n", o.model, je.path[0] ? je.path : "",
                je.path[0] ? ": " : "", je.msg);
        goto out;
    }
    if (read_prep_cfg(&o, text, len, &pc))
        goto out;
    if (o.epochs)
        cfg.epochs = (int)o.epochs;
    if (o.batch)
        cfg.batch_size = (int)o.batch;
    if (o.have_seed)
        cfg.seed = (uint64_t)o.seed;
    if (o.shards)
        cfg.shards = (int)o.shards;

    nn_model_opts mo = {.seed = cfg.seed, .threads = (int)o.threads};
    if (nn_model_new(&spec, &mo, &m, &e)) {
        spec_json_err_from_nn(&e, &je);
        fprintf(stderr, "traind train: %s: %s%s%s\n", o.model, je.path, je.path[0] ? ": " : "",
                je.msg);
        goto out;
    }
    if (load("training", o.train, o.n_train, &o, spec.loss, NULL, &train) ||
        (o.n_val && load("validation", o.val, o.n_val, &o, spec.loss, &train, &val)) ||
        (o.n_test && load("test", o.test, o.n_test, &o, spec.loss, &train, &test)))
        goto out;
    if (preprocess(&o, &cfg, &pc, &train, &val, &test, &prep))
        goto out;
    if (nn_trainer_new(m, &cfg, &train, o.n_val ? &val : NULL, &t, &e)) {
        fprintf(stderr, "traind train: %s\n", e.msg);
        goto out;
    }

    p = (progress){.tty = isatty(STDOUT_FILENO), .quiet = o.quiet, .epochs = cfg.epochs};
    p.rates = calloc((size_t)cfg.epochs, sizeof *p.rates);
    if (!o.quiet) {
        char sh[64];
        printf("model %s: %d layers, %lld parameters, loss %s, optimizer %s (lr %g), "
               "batch %d\n",
               o.model, spec.n_layers, (long long)total_params(m), nn_loss_name(spec.loss), nn_optim_name(cfg.optim.kind), cfg.optim.lr,
               cfg.batch_size);
        for (int i = 0; i < spec.n_layers; i++) {
            nn_layer_info li;
            nn_model_layer_info(m, i, &li);
            nn_shape_str(&li.out, sh, sizeof sh);
            printf("  %2d  %-12s %-16s %10lld params\n", i, li.type, sh, (long long)li.n_params);
        }
        describe_prep(&prep);
        describe("train", &train);
        if (o.n_val)
            describe("validation", &val);
        if (o.n_test)
            describe("test", &test);
        int own = strcmp(nn_gemm_backend(), "avx512") == 0;
        printf("training on %lld samples, validating on %lld; %d threads; matrix products: %s%s\n",
               (long long)nn_trainer_train_len(t), (long long)nn_trainer_val_len(t),
               nn_model_threads(m), own ? "libnn AVX-512" : "OpenBLAS ",
               own ? "" : nn_blas_name());
        if (!own && blas_env_note())
            printf("note: %s\n", blas_env_note());
        fflush(stdout);
    }

    if (o.profile && nn_model_profile_on(m, 1)) {
        fprintf(stderr, "traind train: out of memory\n");
        goto out;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    nn_callbacks cb = {&p, on_step, on_epoch, should_stop};
    nn_train_result res;
    if (nn_trainer_run(t, &cb, &res, &e)) {
        fprintf(stderr, "traind train: %s\n", e.msg);
        goto out;
    }
    signal(SIGINT, SIG_DFL);
    if (p.tty && !o.quiet)
        printf("\r\033[K");
    printf("stopped: %s after %d epochs", nn_stop_reason_name(res.reason), res.epochs_done);
    if (res.best.epoch > 0) {
        const char *name;
        double v = monitored(&cfg, &res.best, &name);
        printf("; best epoch %d (%s %.4f)%s", res.best.epoch, name, v,
               res.restored_best ? ", its weights restored" : "");
    }
    printf("\n");
    if (o.n_test) {
        double loss, acc;
        if (nn_evaluate(m, &test, cfg.batch_size, &loss, &acc, &e)) {
            fprintf(stderr, "traind train: test data: %s\n", e.msg);
            goto out;
        }
        if (isnan(acc))
            printf("test: loss %.4f (%lld samples)\n", loss, (long long)nn_dataset_len(&test));
        else
            printf("test: loss %.4f accuracy %.4f (%lld samples)\n", loss, acc,
                   (long long)nn_dataset_len(&test));
    }
    if (o.out) {
        if (write_weights(&o, m, &cfg, &pc, &train, &prep))
            goto out;
        printf("weights: %s\n", o.out);
    }
    print_speed(&p, m);
    if (o.profile)
        print_profile(m, res.last.global_step, p.train_seconds, cfg.batch_size);
    /* both to the millisecond: the total (reading, training, evaluating,
     * writing) includes the training, and a total rounded to tenths showed
     * less than the training of a short run ("0.003 s training, 0.0 s") */
    printf("time: %.3f s training, %.3f s in all; peak RSS %ld MB\n", res.last.elapsed,
           mono() - t0, peak_rss_mb());
    status = res.reason == NN_STOP_DIVERGED || res.reason == NN_STOP_CANCELLED ? 1 : 0;
out:
    nn_trainer_free(t);
    nn_model_free(m);
    nn_dataset_free(&train);
    nn_dataset_free(&val);
    nn_dataset_free(&test);
    nn_spec_free(&spec);
    nn_prep_cfg_free(&pc);
    nn_prep_free(&prep);
    free(text);
    free(p.rates);
    return status;
}
