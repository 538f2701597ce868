/*
 * spec_json.c — the JSON model definition <-> nn_spec / nn_train_cfg (see
 * spec_json.h; docs/model.md describes every field).
 *
 * The parser walks the document with a path buffer that always holds the
 * JSON Pointer of the value being looked at: entering a member or an array
 * element appends "/<key>" (escaped as RFC 6901 says: ~ -> ~0, / -> ~1),
 * leaving it truncates back.  An error copies that buffer, so an error path
 * cannot drift from the walk.
 *
 * Within an object the checks run in a fixed order, and the first problem
 * found is the one reported: the object's own type, then its "type" member
 * where the allowed keys depend on it (layers, activations, optimizer,
 * schedule), then unknown keys, then each member in the order docs/model.md
 * lists them, then checks across members.
 *
 * Messages are built from user text (keys, strings, jansson's error text);
 * they are cut to fit and then cleaned to valid UTF-8 without control
 * characters, so that the server can put them into a JSON answer as is.
 * Paths are cleaned to valid UTF-8 only (they are cut, rarely: a key longer
 * than the buffer).
 */
#include "spec_json.h"

#include "act.h"
#include "loss.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Error reporting and the path buffer. */

typedef struct pctx {
    spec_json_err *err;
    char path[sizeof ((spec_json_err *)0)->path];
    size_t len;
} pctx;


/* Appends "/key", escaped, to the path; returns the length to restore. */
static size_t push_key(pctx *c, const char *key)
{
    size_t saved = c->len;
    char *p = c->path + c->len, *end = c->path + sizeof c->path - 1;
    if (p < end)
        *p++ = '/';
    for (const char *k = key; *k && p < end; k++) {
        if (*k == '~' || *k == '/') {
            if (end - p < 2)
                break;
            *p++ = '~';
            *p++ = *k == '~' ? '0' : '1';
        } else {
            *p++ = *k;
        }
    }
    *p = 0;
    c->len = (size_t)(p - c->path);
    return saved;
}

static size_t push_index(pctx *c, size_t i)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%zu", i);
    return push_key(c, buf);
}

static void pop(pctx *c, size_t saved)
{
    c->len = saved;
    c->path[saved] = 0;
}

/* The message and path are cleaned into UTF-8 (nn_utf8_clean) for the JSON
 * answer; the path keeps control characters: a key may hold a newline, the
 * pointer must name it exactly, and a JSON encoder escapes it. */
static int vfail(pctx *c, int code, const char *fmt, va_list ap)
{
    vsnprintf(c->err->msg, sizeof c->err->msg, fmt, ap);
    memcpy(c->err->path, c->path, sizeof c->err->path);
    nn_utf8_clean(c->err->msg, 0);
    nn_utf8_clean(c->err->path, 1);
    return code;
}

/* Reports an error about the value at the current path; returns NN_EINVAL. */
__attribute__((format(printf, 2, 3)))
static int fail(pctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(c, NN_EINVAL, fmt, ap);
    va_end(ap);
    return rc;
}

/* Reports an error about member `key` of the current object. */
__attribute__((format(printf, 3, 4)))
static int fail_at(pctx *c, const char *key, const char *fmt, ...)
{
    size_t saved = push_key(c, key);
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(c, NN_EINVAL, fmt, ap);
    va_end(ap);
    pop(c, saved);
    return rc;
}

static int fail_nomem(pctx *c)
{
    snprintf(c->err->msg, sizeof c->err->msg, "out of memory");
    memcpy(c->err->path, c->path, sizeof c->err->path);
    return NN_ENOMEM;
}

static void ctx_init(pctx *c, spec_json_err *err, spec_json_err *scratch, const char *base)
{
    c->err = err ? err : scratch;
    c->err->path[0] = 0;
    c->err->msg[0] = 0;
    snprintf(c->path, sizeof c->path, "%s", base ? base : "");
    c->len = strlen(c->path);
}

/* A real as a human would write it: "300.0" for integral values, else the
 * shortest decimal text that reads back as d ("0.1", "1e+300"). */
static void fmt_real(double d, char *buf, size_t n)
{
    if (!isfinite(d)) {
        snprintf(buf, n, "%s", isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (d == floor(d) && fabs(d) < 1e15) {
        snprintf(buf, n, "%.1f", d);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    if (!strpbrk(buf, ".e") && strlen(buf) + 3 <= n)
        strcat(buf, ".0");
}

/* What a JSON value is, for "found ..." in messages. */
static const char *found(const json_t *v, char *buf, size_t n)
{
    char num[40];
    switch (json_typeof(v)) {
    case JSON_OBJECT: snprintf(buf, n, "an object"); break;
    case JSON_ARRAY: snprintf(buf, n, "an array"); break;
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t len = strlen(s);
        snprintf(buf, n, "the string \"%.40s%s\"", s, len > 40 ? "..." : "");
        break;
    }
    case JSON_INTEGER: snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
    case JSON_REAL:
        fmt_real(json_real_value(v), num, sizeof num);
        snprintf(buf, n, "%s", num);
        break;
    case JSON_TRUE: snprintf(buf, n, "true"); break;
    case JSON_FALSE: snprintf(buf, n, "false"); break;
    default: snprintf(buf, n, "null"); break;
    }
    return buf;
}

/* ------------------------------------------------------------------------
 * Rules for numbers. */

enum { LO_GE = 1, LO_GT = 2, HI_LE = 4, HI_LT = 8 };

typedef struct num_rule {
    unsigned flags;
    double lo, hi;
} num_rule;

static const num_rule R_FINITE = {0, 0, 0};
static const num_rule R_POS = {LO_GT, 0, 0};            /* > 0 */
static const num_rule R_NONNEG = {LO_GE, 0, 0};         /* >= 0 */
static const num_rule R_FRACTION = {LO_GE | HI_LT, 0, 1}; /* [0, 1) */
static const num_rule R_UNIT = {LO_GT | HI_LE, 0, 1};   /* (0, 1]: gamma, batchnorm momentum */

static void num_rule_str(const num_rule *r, char *buf, size_t n)
{
    char lo[40], hi[40];
    fmt_real(r->lo, lo, sizeof lo);
    fmt_real(r->hi, hi, sizeof hi);
    /* "0.0" reads oddly in a range; the bounds used here are small numbers. */
    if (r->lo == 0)
        snprintf(lo, sizeof lo, "0");
    if (r->hi == 1)
        snprintf(hi, sizeof hi, "1");
    if ((r->flags & (LO_GE | LO_GT)) && (r->flags & (HI_LE | HI_LT)))
        snprintf(buf, n, "a number in %c%s, %s%c", r->flags & LO_GE ? '[' : '(', lo, hi,
                 r->flags & HI_LE ? ']' : ')');
    else if (r->flags & (LO_GE | LO_GT))
        snprintf(buf, n, "a number %s %s", r->flags & LO_GE ? ">=" : ">", lo);
    else
        snprintf(buf, n, "a finite number");
}

static int num_ok(const num_rule *r, double d)
{
    if (!isfinite(d))
        return 0;
    if ((r->flags & LO_GE) && !(d >= r->lo))
        return 0;
    if ((r->flags & LO_GT) && !(d > r->lo))
        return 0;
    if ((r->flags & HI_LE) && !(d <= r->hi))
        return 0;
    if ((r->flags & HI_LT) && !(d < r->hi))
        return 0;
    return 1;
}

static void int_rule_str(long long lo, long long hi, char *buf, size_t n)
{
    if (hi == LLONG_MAX)
        snprintf(buf, n, "an integer >= %lld", lo);
    else
        snprintf(buf, n, "an integer in %lld..%lld", lo, hi);
}

/* ------------------------------------------------------------------------
 * Name tables: the core's, behind one shape. */

typedef struct name_table {
    int count;
    const char *(*name)(int);
    int (*from_name)(const char *);
} name_table;

static const char *act_name(int i) { return nn_act_name((nn_act_kind)i); }
static const char *init_name(int i) { return nn_init_name((nn_init_kind)i); }
static const char *loss_name(int i) { return nn_loss_name((nn_loss_kind)i); }
static const char *layer_name(int i) { return nn_layer_kind_name((nn_layer_kind)i); }
static const char *optim_name(int i) { return nn_optim_name((nn_optim_kind)i); }
static const char *sched_name(int i) { return nn_sched_name((nn_sched_kind)i); }

static const char *monitor_name(int i) { return nn_monitor_name((nn_monitor)i); }
#define N_MONITORS NN_MON_COUNT

static const name_table T_ACT = {NN_ACT_COUNT, act_name, nn_act_from_name};
static const name_table T_INIT = {NN_INIT_COUNT, init_name, nn_init_from_name};
static const name_table T_LOSS = {NN_LOSS_COUNT, loss_name, nn_loss_from_name};
static const name_table T_LAYER = {NN_LAYER_COUNT, layer_name, nn_layer_kind_from_name};
static const name_table T_OPTIM = {NN_OPT_COUNT, optim_name, nn_optim_from_name};
static const name_table T_SCHED = {NN_SCHED_COUNT, sched_name, nn_sched_from_name};
static const name_table T_MONITOR = {N_MONITORS, monitor_name, nn_monitor_from_name};

/* "a, b, c" */
static void join_names(const name_table *t, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < t->count && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? ", " : "", t->name(i));
}

static void join_keys(const char *const *keys, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; keys[i] && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? ", " : "", keys[i]);
}

static int has_key(const char *const *keys, const char *key)
{
    for (int i = 0; keys && keys[i]; i++)
        if (strcmp(keys[i], key) == 0)
            return 1;
    return 0;
}

/* Layer types: the core's layer names ("dense", ..., "activation", "conv2d",
 * ...), and every activation name as a standalone activation layer. */
static void layer_types_str(char *buf, size_t n)
{
    char kinds[200], acts[160];
    join_names(&T_LAYER, kinds, sizeof kinds);
    join_names(&T_ACT, acts, sizeof acts);
    snprintf(buf, n, "%s, %s", kinds, acts);
}

/* ------------------------------------------------------------------------
 * Members.  Each getter returns 1 when the member was present and valid
 * (and stores it), 0 when it is absent and optional, or a negative status
 * after reporting the error at the member's path. */

/* Every key of obj must be in `allowed`.  A key that some other variant
 * accepts (`known`) is reported as "not an option of <owner>". */
static int check_keys(pctx *c, const json_t *obj, const char *const *allowed,
                      const char *const *known, const char *owner)
{
    const char *key;
    json_t *v;
    char list[200];
    json_object_foreach((json_t *)obj, key, v) {
        if (has_key(allowed, key))
            continue;
        join_keys(allowed, list, sizeof list);
        if (owner && has_key(known, key))
            return fail_at(c, key, "\"%s\" is not an option of %s; allowed keys: %s", key, owner,
                           list);
        return fail_at(c, key, "unknown key \"%.40s%s\"; allowed keys: %s", key,
                       strlen(key) > 40 ? "..." : "", list);
    }
    return 0;
}

/* Said after "found 3.0" where an integer is expected. */
static const char *fraction_hint(const json_t *v)
{
    double d = json_is_real(v) ? json_real_value(v) : 0.5;
    return d == floor(d) ? " (write integers without a fraction)" : "";
}

static int get_int(pctx *c, const json_t *obj, const char *key, int required, long long lo,
                   long long hi, long long *out)
{
    const json_t *v = json_object_get(obj, key);
    char want[80], f[80];
    int_rule_str(lo, hi, want, sizeof want);
    if (!v)
        return required ? fail_at(c, key, "required; expected %s", want) : 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return fail_at(c, key, "expected %s, found %s%s", want, found(v, f, sizeof f),
                       fraction_hint(v));
    *out = json_integer_value(v);
    return 1;
}

/* Like get_int for numbers (integers or reals); null is accepted (and
 * returns 2, *out untouched) when nullable. */
static int get_num_or_null(pctx *c, const json_t *obj, const char *key, int required,
                           int nullable, const num_rule *r, double *out)
{
    const json_t *v = json_object_get(obj, key);
    char want[128], f[80];
    num_rule_str(r, want, sizeof want);
    if (!v)
        return required ? fail_at(c, key, "required; expected %s", want) : 0;
    if (nullable && json_is_null(v))
        return 2;
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    if (!json_is_number(v) || !num_ok(r, d))
        return fail_at(c, key, "expected %s%s, found %s", want, nullable ? " or null" : "",
                       found(v, f, sizeof f));
    *out = d;
    return 1;
}

static int get_num(pctx *c, const json_t *obj, const char *key, int required,
                   const num_rule *r, double *out)
{
    return get_num_or_null(c, obj, key, required, 0, r, out);
}

static int get_bool(pctx *c, const json_t *obj, const char *key, int *out)
{
    const json_t *v = json_object_get(obj, key);
    char f[80];
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return fail_at(c, key, "expected true or false, found %s", found(v, f, sizeof f));
    *out = json_is_true(v);
    return 1;
}

/* Member `key` of obj is two integers in lo..hi: one integer for both, or
 * an array of two (`pair`, "[height, width]", says what they are).  `alt`
 * (NULL: none) lists other accepted values first in messages, for callers
 * that have taken those already.  Sets out[0], out[1]. */
static int get_pair(pctx *c, const json_t *obj, const char *key, int required, long long lo,
                    long long hi, const char *alt, const char *pair, int out[2])
{
    const json_t *v = json_object_get(obj, key);
    char want[80], f[80];
    int_rule_str(lo, hi, want, sizeof want);
    if (!v)
        return required ? fail_at(c, key, "required; expected %s%s or an array %s of such "
                                          "integers", alt ? alt : "", want, pair) : 0;
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        if (n != 2)
            return fail_at(c, key, "expected %s%s or an array %s of such integers, found an "
                                   "array of %zu element%s", alt ? alt : "", want, pair, n,
                           n == 1 ? "" : "s");
        for (size_t i = 0; i < 2; i++) {
            const json_t *d = json_array_get(v, i);
            if (json_is_integer(d) && json_integer_value(d) >= lo && json_integer_value(d) <= hi)
                continue;
            size_t s1 = push_key(c, key);
            size_t s2 = push_index(c, i);
            int rc = fail(c, "expected %s, found %s%s", want, found(d, f, sizeof f),
                          fraction_hint(d));
            pop(c, s2);
            pop(c, s1);
            return rc;
        }
        out[0] = (int)json_integer_value(json_array_get(v, 0));
        out[1] = (int)json_integer_value(json_array_get(v, 1));
        return 1;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return fail_at(c, key, "expected %s%s or an array %s of such integers, found %s%s",
                       alt ? alt : "", want, pair, found(v, f, sizeof f), fraction_hint(v));
    out[0] = out[1] = (int)json_integer_value(v);
    return 1;
}

/* A name from table t; `what` names the kind of thing in messages. */
static int get_name(pctx *c, const json_t *obj, const char *key, int required,
                    const name_table *t, const char *what, int *out)
{
    const json_t *v = json_object_get(obj, key);
    char list[160], f[80];
    join_names(t, list, sizeof list);
    if (!v)
        return required ? fail_at(c, key, "required; expected %s, one of: %s", what, list) : 0;
    int k = json_is_string(v) ? t->from_name(json_string_value(v)) : -1;
    if (k < 0)
        return fail_at(c, key, "expected %s, one of: %s; found %s", what, list,
                       found(v, f, sizeof f));
    *out = k;
    return 1;
}

/* ------------------------------------------------------------------------
 * The model: input, layers, loss. */

static const char *const top_keys[] = {"input", "layers", "loss", "training", NULL};
static const char *const dense_keys[] = {"type", "units", "activation", "use_bias", "init", NULL};
static const char *const dropout_keys[] = {"type", "rate", NULL};
static const char *const act_layer_keys[] = {"type", "activation", NULL};
static const char *const alpha_keys[] = {"type", "alpha", NULL};
static const char *const type_keys[] = {"type", NULL};
static const char *const conv2d_keys[] = {"type", "filters", "kernel", "stride", "padding",
                                          "activation", "use_bias", "init", NULL};
static const char *const pool_keys[] = {"type", "size", "stride", NULL};
static const char *const batchnorm_keys[] = {"type", "momentum", "eps", NULL};
static const char *const rnn_keys[] = {"type", "units", "activation", "return_sequences", "bptt",
                                       "use_bias", NULL};
static const char *const gated_keys[] = {"type", "units", "return_sequences", "bptt", "use_bias",
                                         NULL};   /* lstm, gru */
static const char *const any_layer_keys[] = {"type", "units", "activation", "use_bias", "init",
                                             "rate", "alpha", "filters", "kernel", "stride",
                                             "padding", "size", "momentum", "eps",
                                             "return_sequences", "bptt", NULL};

/* The JSON names of nn_padding's VALID and SAME; EXPLICIT is written as
 * numbers. */
static const char *padding_name(nn_padding p)
{
    return p == NN_PAD_VALID ? "valid" : p == NN_PAD_SAME ? "same" : NULL;
}

#define HW "[height, width]"

static int takes_alpha(int act) { return act == NN_ACT_LEAKY_RELU || act == NN_ACT_ELU; }

/* "alpha" next to an activation without a parameter gets its own message. */
static int check_alpha_allowed(pctx *c, const json_t *obj, int act)
{
    if (takes_alpha(act) || !json_object_get(obj, "alpha"))
        return 0;
    return fail_at(c, "alpha", "\"alpha\" is an option of leaky_relu and elu only; found it "
                               "with \"%s\"", nn_act_name((nn_act_kind)act));
}

/* "alpha" of a leaky_relu (>= 0) or elu (> 0) in obj, into l->alpha. */
static int parse_alpha(pctx *c, const json_t *obj, int act, nn_layer_spec *l)
{
    double a;
    int rc = get_num(c, obj, "alpha", 0, act == NN_ACT_ELU ? &R_POS : &R_NONNEG, &a);
    if (rc == 1)
        l->alpha = a;
    return rc < 0 ? rc : 0;
}

/* Member `key` of obj is an activation: a name, or {"type": name, "alpha": x}.
 * Sets l->act and l->alpha. */
static int parse_activation(pctx *c, const json_t *obj, const char *key, nn_layer_spec *l)
{
    const json_t *v = json_object_get(obj, key);
    char list[160], f[80], owner[64];
    int act = 0, rc;
    size_t saved;
    join_names(&T_ACT, list, sizeof list);
    if (!v)
        return fail_at(c, key, "required; expected an activation, one of: %s", list);
    if (json_is_string(v)) {
        act = nn_act_from_name(json_string_value(v));
        if (act < 0)
            return fail_at(c, key, "expected an activation, one of: %s; found %s", list,
                           found(v, f, sizeof f));
        l->act = (nn_act_kind)act;
        return 0;
    }
    if (!json_is_object(v))
        return fail_at(c, key, "expected an activation name or an object {\"type\", \"alpha\"}, "
                               "found %s", found(v, f, sizeof f));
    saved = push_key(c, key);
    rc = get_name(c, v, "type", 1, &T_ACT, "an activation", &act);
    if (rc >= 0)
        rc = check_alpha_allowed(c, v, act);
    if (rc >= 0) {
        snprintf(owner, sizeof owner, "activation \"%s\"", nn_act_name((nn_act_kind)act));
        rc = check_keys(c, v, takes_alpha(act) ? alpha_keys : type_keys, alpha_keys, owner);
    }
    if (rc >= 0) {
        l->act = (nn_act_kind)act;
        rc = parse_alpha(c, v, act, l);
    }
    pop(c, saved);
    return rc < 0 ? rc : 0;
}

/* "padding" of a conv2d in obj: "valid", "same", n or [rows, cols]. */
static int parse_padding(pctx *c, const json_t *obj, nn_layer_spec *l)
{
    const char *s = json_string_value(json_object_get(obj, "padding"));
    char alt[40];
    if (s && strcmp(s, padding_name(NN_PAD_VALID)) == 0) {
        l->padding = NN_PAD_VALID;
        return 0;
    }
    if (s && strcmp(s, padding_name(NN_PAD_SAME)) == 0) {
        l->padding = NN_PAD_SAME;
        return 0;
    }
    snprintf(alt, sizeof alt, "\"%s\", \"%s\", ", padding_name(NN_PAD_VALID),
             padding_name(NN_PAD_SAME));
    int rc = get_pair(c, obj, "padding", 0, 0, SPEC_JSON_MAX_PAD, alt, "[rows, cols]", l->pad);
    if (rc == 1)
        l->padding = NN_PAD_EXPLICIT;
    return rc < 0 ? rc : 0;
}

/* The options dense and conv2d share: "activation", "use_bias", "init". */
static int parse_act_bias_init(pctx *c, const json_t *v, nn_layer_spec *l)
{
    int rc, k = 0;
    if (json_object_get(v, "activation") && (rc = parse_activation(c, v, "activation", l)) < 0)
        return rc;
    if ((rc = get_bool(c, v, "use_bias", &l->use_bias)) < 0)
        return rc;
    if ((rc = get_name(c, v, "init", 0, &T_INIT, "an initializer", &k)) < 0)
        return rc;
    if (rc == 1)
        l->init = (nn_init_kind)k;
    return 0;
}

/* {"type": "conv2d", ...}; the path is at the layer. */
static int parse_conv2d(pctx *c, const json_t *v, const char *owner, nn_layer_spec *l)
{
    long long n;
    int rc;
    if ((rc = check_keys(c, v, conv2d_keys, any_layer_keys, owner)) < 0)
        return rc;
    if ((rc = get_int(c, v, "filters", 1, 1, SPEC_JSON_MAX_FILTERS, &n)) < 0)
        return rc;
    l->filters = (int)n;
    l->stride[0] = l->stride[1] = 1;
    if ((rc = get_pair(c, v, "kernel", 1, 1, SPEC_JSON_MAX_WINDOW, NULL, HW, l->kernel)) < 0 ||
        (rc = get_pair(c, v, "stride", 0, 1, SPEC_JSON_MAX_WINDOW, NULL, HW, l->stride)) < 0 ||
        (rc = parse_padding(c, v, l)) < 0 || (rc = parse_act_bias_init(c, v, l)) < 0)
        return rc;
    /* With a stride, the output size of "same" would depend on how the
     * padding is split; PyTorch refuses it, and so do we. */
    if (l->padding == NN_PAD_SAME && (l->stride[0] != 1 || l->stride[1] != 1))
        return fail_at(c, "padding", "padding \"same\" needs stride 1 (as in PyTorch); found "
                                     "stride [%d, %d]", l->stride[0], l->stride[1]);
    return 0;
}

/* {"type": "maxpool2d" | "avgpool2d", "size", "stride"}; the path is at the
 * layer. */
static int parse_pool(pctx *c, const json_t *v, const char *owner, nn_layer_spec *l)
{
    int rc;
    if ((rc = check_keys(c, v, pool_keys, any_layer_keys, owner)) < 0 ||
        (rc = get_pair(c, v, "size", 1, 1, SPEC_JSON_MAX_WINDOW, NULL, HW, l->kernel)) < 0 ||
        (rc = get_pair(c, v, "stride", 0, 1, SPEC_JSON_MAX_WINDOW, NULL, HW, l->stride)) < 0)
        return rc;
    if (rc == 0)   /* no stride: windows side by side */
        memcpy(l->stride, l->kernel, sizeof l->stride);
    return 0;
}

/* The activations an rnn allows, in the order messages list them; the
 * first is the default.  (h_t = act(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh),
 * as torch.nn.RNN's nonlinearity.) */
static const nn_act_kind rnn_acts[] = {NN_ACT_TANH, NN_ACT_RELU};
#define N_RNN_ACTS ((int)(sizeof rnn_acts / sizeof rnn_acts[0]))

static int rnn_act_ok(nn_act_kind a)
{
    for (int i = 0; i < N_RNN_ACTS; i++)
        if (rnn_acts[i] == a)
            return 1;
    return 0;
}

/* "activation" of an rnn in obj: a name, one of rnn_acts.  Only the name:
 * neither has an option, so the object form would say nothing more. */
static int parse_rnn_activation(pctx *c, const json_t *obj, nn_layer_spec *l)
{
    const json_t *v = json_object_get(obj, "activation");
    char list[64], f[80];
    size_t k = 0;
    l->act = rnn_acts[0];
    if (!v)
        return 0;
    list[0] = 0;
    for (int i = 0; i < N_RNN_ACTS; i++)
        k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "",
                              nn_act_name(rnn_acts[i]));
    int a = json_is_string(v) ? nn_act_from_name(json_string_value(v)) : -1;
    if (a >= 0 && rnn_act_ok((nn_act_kind)a)) {
        l->act = (nn_act_kind)a;
        return 0;
    }
    return fail_at(c, "activation", "expected an activation of layer type \"rnn\", one of: %s; "
                                    "found %s", list, found(v, f, sizeof f));
}

/* {"type": "rnn" | "lstm" | "gru", ...}; the path is at the layer.  The
 * members in the order docs/model.md lists them: units, activation (rnn
 * only), return_sequences, bptt, use_bias. */
static int parse_recurrent(pctx *c, const json_t *v, const char *owner, nn_layer_spec *l)
{
    long long n;
    int rc;
    if ((rc = check_keys(c, v, l->kind == NN_LAYER_RNN ? rnn_keys : gated_keys, any_layer_keys,
                         owner)) < 0)
        return rc;
    if ((rc = get_int(c, v, "units", 1, 1, SPEC_JSON_MAX_RNN_UNITS, &n)) < 0)
        return rc;
    l->units = (int)n;
    if (l->kind == NN_LAYER_RNN && (rc = parse_rnn_activation(c, v, l)) < 0)
        return rc;
    if ((rc = get_bool(c, v, "return_sequences", &l->return_sequences)) < 0)
        return rc;
    if ((rc = get_int(c, v, "bptt", 0, 0, SPEC_JSON_MAX_BPTT, &n)) < 0)
        return rc;
    if (rc == 1)
        l->bptt = (int)n;
    if ((rc = get_bool(c, v, "use_bias", &l->use_bias)) < 0)
        return rc;
    return 0;
}

/* One element of "layers"; the path is at the element. */
static int parse_layer(pctx *c, const json_t *v, nn_layer_spec *l)
{
    const json_t *t = json_object_get(v, "type");
    char types[400], f[80], owner[64];
    long long n;
    int rc, k = 0;

    nn_layer_spec_default(l);
    if (!json_is_object(v))
        return fail(c, "expected a layer object with a \"type\", found %s", found(v, f, sizeof f));
    layer_types_str(types, sizeof types);
    if (!t)
        return fail_at(c, "type", "required; expected a layer type, one of: %s", types);
    const char *s = json_is_string(t) ? json_string_value(t) : "";
    if ((k = nn_layer_kind_from_name(s)) >= 0) {
        l->kind = (nn_layer_kind)k;
    } else if ((k = nn_act_from_name(s)) >= 0) {
        l->kind = NN_LAYER_ACT;
        l->act = (nn_act_kind)k;
    } else {
        return fail_at(c, "type", "expected a layer type, one of: %s; found %s", types,
                       found(t, f, sizeof f));
    }
    snprintf(owner, sizeof owner, "layer type \"%.30s\"", s);

    switch (l->kind) {
    case NN_LAYER_DENSE:
        if ((rc = check_keys(c, v, dense_keys, any_layer_keys, owner)) < 0)
            return rc;
        if ((rc = get_int(c, v, "units", 1, 1, SPEC_JSON_MAX_UNITS, &n)) < 0)
            return rc;
        l->units = (int)n;
        return parse_act_bias_init(c, v, l);
    case NN_LAYER_DROPOUT:
        if ((rc = check_keys(c, v, dropout_keys, any_layer_keys, owner)) < 0)
            return rc;
        return get_num(c, v, "rate", 1, &R_FRACTION, &l->rate) < 0 ? NN_EINVAL : 0;
    case NN_LAYER_CONV2D:
        return parse_conv2d(c, v, owner, l);
    case NN_LAYER_MAXPOOL2D:
    case NN_LAYER_AVGPOOL2D:
        return parse_pool(c, v, owner, l);
    case NN_LAYER_GLOBAL_AVGPOOL:
    case NN_LAYER_FLATTEN:
        return check_keys(c, v, type_keys, any_layer_keys, owner);
    case NN_LAYER_BATCHNORM:
        if ((rc = check_keys(c, v, batchnorm_keys, any_layer_keys, owner)) < 0 ||
            (rc = get_num(c, v, "momentum", 0, &R_UNIT, &l->momentum)) < 0 ||
            (rc = get_num(c, v, "eps", 0, &R_POS, &l->eps)) < 0)
            return rc;
        return 0;
    case NN_LAYER_RNN:
    case NN_LAYER_LSTM:
    case NN_LAYER_GRU:
        return parse_recurrent(c, v, owner, l);
    default:   /* NN_LAYER_ACT: the long form, or an activation's name as the type */
        if (strcmp(s, nn_layer_kind_name(NN_LAYER_ACT)) == 0) {
            /* {"type": "activation", "activation": "relu" | {...}} */
            if ((rc = check_keys(c, v, act_layer_keys, any_layer_keys, owner)) < 0)
                return rc;
            return parse_activation(c, v, "activation", l);
        }
        if ((rc = check_alpha_allowed(c, v, l->act)) < 0 ||
            (rc = check_keys(c, v, takes_alpha(l->act) ? alpha_keys : type_keys, any_layer_keys,
                             owner)) < 0)
            return rc;
        return parse_alpha(c, v, l->act, l);
    }
}

static int parse_input(pctx *c, const json_t *doc, nn_shape *shape)
{
    const json_t *v = json_object_get(doc, "input");
    char f[80];
    int rc = 0;
    if (!v)
        return fail_at(c, "input", "required; expected an array of 1 to %d positive integers",
                       SPEC_JSON_MAX_RANK);
    if (!json_is_array(v))
        return fail_at(c, "input", "expected an array of 1 to %d positive integers, found %s",
                       SPEC_JSON_MAX_RANK, found(v, f, sizeof f));
    size_t n = json_array_size(v);
    if (n < 1 || n > SPEC_JSON_MAX_RANK)
        return fail_at(c, "input", "expected an array of 1 to %d positive integers, found %zu "
                                   "elements", SPEC_JSON_MAX_RANK, n);
    size_t saved = push_key(c, "input");
    double total = 1;   /* up to 2^72: exact enough in a double for a message */
    shape->rank = (int)n;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const json_t *d = json_array_get(v, i);
        size_t s2 = push_index(c, i);
        if (!json_is_integer(d) || json_integer_value(d) < 1 ||
            json_integer_value(d) > SPEC_JSON_MAX_DIM)
            rc = fail(c, "expected an integer in 1..%d, found %s%s", SPEC_JSON_MAX_DIM,
                      found(d, f, sizeof f), fraction_hint(d));
        else
            shape->dim[i] = (int)json_integer_value(d);
        total *= shape->dim[i];
        pop(c, s2);
    }
    if (rc == 0 && total > SPEC_JSON_MAX_INPUT)
        rc = fail(c, "expected at most %d values per sample (the product of the dimensions), "
                     "found %.0f", SPEC_JSON_MAX_INPUT, total);
    pop(c, saved);
    return rc;
}

/* A loss that fuses an activation (softmax into cross_entropy, sigmoid
 * into binary_cross_entropy) needs a last layer that ends in it or in
 * nothing (linear: logits): dense, conv2d or a standalone activation; any
 * other layer (dropout, pooling, batchnorm, flatten, rnn, lstm, gru) cannot
 * be last.  The same rule as nn_model_new's (core/model.c), checked here to
 * point at the JSON.  (A conv2d passes here, and the core then refuses its
 * image-shaped output; that is a shape rule, and shapes are the core's.  A
 * recurrent layer's output is its hidden state, squashed by tanh or the
 * gates, never logits: whatever its activation, a dense layer must follow
 * it, so it is refused by its type.) */
static int check_loss(pctx *c, const json_t *layers, const nn_spec *s)
{
    nn_act_kind want = nn_loss_fused_act(s->loss);
    int i = s->n_layers - 1;
    const nn_layer_spec *l = &s->layers[i];
    int has_act = l->kind == NN_LAYER_DENSE || l->kind == NN_LAYER_CONV2D ||
                  l->kind == NN_LAYER_ACT;
    if (want == NN_ACT_LINEAR || (has_act && (l->act == NN_ACT_LINEAR || l->act == want)))
        return 0;
    /* The activation is written in "activation" (dense, conv2d, or the
     * "activation" layer type) or is the layer's "type" itself (relu, ...);
     * a layer without one is named by its "type". */
    const char *type = json_string_value(json_object_get(json_array_get(layers, (size_t)i),
                                                         "type"));
    const char *field = has_act && (l->kind != NN_LAYER_ACT ||
                                    strcmp(type, nn_layer_kind_name(NN_LAYER_ACT)) == 0)
                        ? "activation" : "type";
    size_t s1 = push_key(c, "layers");
    size_t s2 = push_index(c, (size_t)i);
    int rc;
    if (!has_act)
        rc = fail_at(c, field, "loss \"%s\" (at /loss) expects the last layer to be dense or an "
                               "activation (%s or linear); found %s",
                     nn_loss_name(s->loss), nn_act_name(want), nn_layer_kind_name(l->kind));
    else
        rc = fail_at(c, field, "loss \"%s\" (at /loss) expects the last layer's activation to "
                               "be %s or linear (logits); found %s", nn_loss_name(s->loss),
                     nn_act_name(want), nn_act_name(l->act));
    pop(c, s2);
    pop(c, s1);
    return rc;
}

static int parse_model(pctx *c, const json_t *doc, nn_spec *spec)
{
    char f[80];
    int rc, k = 0;
    if (!json_is_object(doc))
        return fail(c, "expected a model definition object, found %s", found(doc, f, sizeof f));
    if ((rc = check_keys(c, doc, top_keys, NULL, NULL)) < 0)
        return rc;
    if ((rc = parse_input(c, doc, &spec->input)) < 0)
        return rc;

    const json_t *layers = json_object_get(doc, "layers");
    if (!layers)
        return fail_at(c, "layers", "required; expected a non-empty array of layer objects");
    if (!json_is_array(layers))
        return fail_at(c, "layers", "expected a non-empty array of layer objects, found %s",
                       found(layers, f, sizeof f));
    size_t n = json_array_size(layers);
    if (n == 0)
        return fail_at(c, "layers", "expected a non-empty array of layer objects, found an "
                                    "empty array");
    if (n > SPEC_JSON_MAX_LAYERS)
        return fail_at(c, "layers", "expected at most %d layers, found %zu",
                       SPEC_JSON_MAX_LAYERS, n);
    spec->layers = calloc(n, sizeof *spec->layers);
    if (!spec->layers)
        return fail_nomem(c);
    spec->n_layers = (int)n;
    size_t s1 = push_key(c, "layers");
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t s2 = push_index(c, i);
        rc = parse_layer(c, json_array_get(layers, i), &spec->layers[i]);
        pop(c, s2);
    }
    pop(c, s1);
    if (rc < 0)
        return rc;

    if ((rc = get_name(c, doc, "loss", 1, &T_LOSS, "a loss", &k)) < 0)
        return rc;
    spec->loss = (nn_loss_kind)k;
    return check_loss(c, layers, spec);
}

int spec_json_parse_model(const json_t *doc, nn_spec *spec, spec_json_err *err)
{
    spec_json_err scratch;
    pctx c;
    ctx_init(&c, err, &scratch, "");
    memset(spec, 0, sizeof *spec);
    int rc = parse_model(&c, doc, spec);
    if (rc < 0)
        nn_spec_free(spec);
    return rc;
}

/* ------------------------------------------------------------------------
 * Training. */

static const char *const training_keys[] = {
    "optimizer", "schedule", "clip_norm", "batch_size", "epochs", "validation_split", "seed",
    "shuffle", "target_loss", "max_seconds", "early_stopping", "preprocess", "shards", NULL};
static const char *const sgd_keys[] = {"type", "lr", "momentum", "nesterov", "weight_decay", NULL};
static const char *const adam_keys[] = {"type", "lr", "beta1", "beta2", "eps", "weight_decay",
                                        NULL};
static const char *const rmsprop_keys[] = {"type", "lr", "alpha", "eps", "momentum",
                                           "weight_decay", NULL};
static const char *const any_optim_keys[] = {"type", "lr", "momentum", "nesterov", "beta1",
                                             "beta2", "eps", "alpha", "weight_decay", NULL};
static const char *const constant_keys[] = {"type", "warmup_steps", NULL};
static const char *const step_keys[] = {"type", "step_size", "gamma", "warmup_steps", NULL};
static const char *const exp_keys[] = {"type", "gamma", "warmup_steps", NULL};
static const char *const cosine_keys[] = {"type", "min_lr", "warmup_steps", NULL};
static const char *const any_sched_keys[] = {"type", "step_size", "gamma", "min_lr",
                                             "warmup_steps", NULL};
static const char *const early_keys[] = {"monitor", "patience", "min_delta", "restore_best",
                                         NULL};

static const char *const *optim_keys(nn_optim_kind k)
{
    switch (k) {
    case NN_OPT_SGD: return sgd_keys;
    case NN_OPT_RMSPROP: return rmsprop_keys;
    default: return adam_keys;
    }
}

static const char *const *sched_keys(nn_sched_kind k)
{
    switch (k) {
    case NN_SCHED_STEP: return step_keys;
    case NN_SCHED_EXPONENTIAL: return exp_keys;
    case NN_SCHED_COSINE: return cosine_keys;
    default: return constant_keys;
    }
}

/* A name, or an object whose "type" is one; the path is at the value.
 * Returns the kind (>= 0) or a negative status. */
static int parse_kind(pctx *c, const json_t *v, const name_table *t, const char *what)
{
    char list[160], f[80];
    int k = -1;
    join_names(t, list, sizeof list);
    if (json_is_string(v)) {
        k = t->from_name(json_string_value(v));
        if (k < 0)
            return fail(c, "expected %s, one of: %s; found %s", what, list, found(v, f, sizeof f));
        return k;
    }
    if (!json_is_object(v))
        return fail(c, "expected %s name or an object with a \"type\", found %s", what,
                    found(v, f, sizeof f));
    int rc = get_name(c, v, "type", 1, t, what, &k);
    return rc < 0 ? rc : k;
}

/* The value of "optimizer"; the path is at it. */
static int parse_optimizer(pctx *c, const json_t *v, nn_optim_cfg *o)
{
    char owner[48];
    int rc, k = parse_kind(c, v, &T_OPTIM, "an optimizer");
    if (k < 0)
        return k;
    nn_optim_cfg_default(o, (nn_optim_kind)k);
    if (json_is_string(v))
        return 0;
    snprintf(owner, sizeof owner, "optimizer \"%s\"", nn_optim_name(o->kind));
    if ((rc = check_keys(c, v, optim_keys(o->kind), any_optim_keys, owner)) < 0)
        return rc;
    /* Options of other optimizers were rejected above, so absent ones keep
     * their defaults and present ones belong to this optimizer. */
    if ((rc = get_num(c, v, "lr", 0, &R_POS, &o->lr)) < 0 ||
        (rc = get_num(c, v, "momentum", 0, &R_FRACTION, &o->momentum)) < 0 ||
        (rc = get_bool(c, v, "nesterov", &o->nesterov)) < 0 ||
        (rc = get_num(c, v, "beta1", 0, &R_FRACTION, &o->beta1)) < 0 ||
        (rc = get_num(c, v, "beta2", 0, &R_FRACTION, &o->beta2)) < 0 ||
        (rc = get_num(c, v, "eps", 0, &R_POS, &o->eps)) < 0 ||
        (rc = get_num(c, v, "alpha", 0, &R_FRACTION, &o->alpha)) < 0 ||
        (rc = get_num(c, v, "weight_decay", 0, &R_NONNEG, &o->weight_decay)) < 0)
        return rc;
    if (o->nesterov && !(o->momentum > 0))
        return fail_at(c, "nesterov", "nesterov needs momentum > 0; found momentum 0%s",
                       json_object_get(v, "momentum") ? "" : " (the default)");
    return 0;
}

/* The value of "schedule"; the path is at it.  lr is the optimizer's. */
static int parse_schedule(pctx *c, const json_t *v, double lr, nn_sched_cfg *s)
{
    char owner[48], a[40], f[80];
    long long n;
    int rc, k = parse_kind(c, v, &T_SCHED, "a schedule");
    if (k < 0)
        return k;
    nn_sched_cfg_default(s, (nn_sched_kind)k);
    if (json_is_string(v))
        return 0;
    snprintf(owner, sizeof owner, "schedule \"%s\"", nn_sched_name(s->kind));
    if ((rc = check_keys(c, v, sched_keys(s->kind), any_sched_keys, owner)) < 0)
        return rc;
    if ((rc = get_int(c, v, "step_size", 0, 1, SPEC_JSON_MAX_STEP_SIZE, &n)) < 0)
        return rc;
    if (rc == 1)
        s->step_size = (int)n;
    if ((rc = get_num(c, v, "gamma", 0, &R_UNIT, &s->gamma)) < 0 ||
        (rc = get_num(c, v, "min_lr", 0, &R_NONNEG, &s->min_lr)) < 0)
        return rc;
    if (s->min_lr > lr) {
        fmt_real(lr, a, sizeof a);
        return fail_at(c, "min_lr", "expected a number in [0, lr] = [0, %s], found %s", a,
                       found(json_object_get(v, "min_lr"), f, sizeof f));
    }
    if ((rc = get_int(c, v, "warmup_steps", 0, 0, SPEC_JSON_MAX_WARMUP, &n)) < 0)
        return rc;
    if (rc == 1)
        s->warmup_steps = (int)n;
    return 0;
}

/* The value of "early_stopping" (an object); the path is at it. */
static int parse_early(pctx *c, const json_t *v, nn_early_stop *e)
{
    long long n;
    int rc, k = 0;
    if ((rc = check_keys(c, v, early_keys, NULL, NULL)) < 0)
        return rc;
    e->enabled = 1;
    if ((rc = get_name(c, v, "monitor", 0, &T_MONITOR, "a metric", &k)) < 0)
        return rc;
    if (rc == 1)
        e->monitor = (nn_monitor)k;
    if ((rc = get_int(c, v, "patience", 0, 0, SPEC_JSON_MAX_PATIENCE, &n)) < 0)
        return rc;
    if (rc == 1)
        e->patience = (int)n;
    if ((rc = get_num(c, v, "min_delta", 0, &R_NONNEG, &e->min_delta)) < 0 ||
        (rc = get_bool(c, v, "restore_best", &e->restore_best)) < 0)
        return rc;
    return 0;
}

/* ------------------------------------------------------------------------
 * Preprocessing: training.preprocess (core/prep.h says what each rule does). */

static const char *const preprocess_keys[] = {"standardize", "min_max", "categorical", "missing",
                                              NULL};
static const char *const missing_keys[] = {"numeric", "categorical", NULL};

/* "missing": a string for every column, or {"numeric": ..., "categorical": ...}. */
static int parse_missing(pctx *c, const json_t *v, nn_prep_cfg *p)
{
    static const char *const num_names[] = {"error", "mean", "median"};
    static const nn_impute num_rules[] = {NN_IMPUTE_ERROR, NN_IMPUTE_MEAN, NN_IMPUTE_MEDIAN};
    static const char *const cat_names[] = {"error", "most_frequent", "category"};
    static const nn_impute cat_rules[] = {NN_IMPUTE_ERROR, NN_IMPUTE_MOST_FREQUENT,
                                          NN_IMPUTE_CATEGORY};
    char f[80];
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        for (int i = 0; i < 3; i++)
            if (!strcmp(s, num_names[i])) {
                p->missing_numeric = num_rules[i];
                /* categories have no mean: they take the most frequent one */
                p->missing_categorical = i ? NN_IMPUTE_MOST_FREQUENT : NN_IMPUTE_ERROR;
                return 0;
            }
    }
    if (!json_is_object(v))
        return fail(c, "expected \"error\", \"mean\", \"median\" or an object {\"numeric\": ..., "
                       "\"categorical\": ...}, found %s", found(v, f, sizeof f));
    int rc = check_keys(c, v, missing_keys, NULL, NULL);
    if (rc < 0)
        return rc;
    const json_t *n = json_object_get(v, "numeric"), *k = json_object_get(v, "categorical");
    for (int which = 0; which < 2; which++) {
        const json_t *x = which ? k : n;
        const char *const *names = which ? cat_names : num_names;
        const nn_impute *rules = which ? cat_rules : num_rules;
        if (!x)
            continue;
        int i = 0;
        while (i < 3 && !(json_is_string(x) && !strcmp(json_string_value(x), names[i])))
            i++;
        if (i == 3)
            return fail_at(c, which ? "categorical" : "numeric",
                           "expected \"%s\", \"%s\" or \"%s\", found %s", names[0], names[1],
                           names[2], found(x, f, sizeof f));
        if (which)
            p->missing_categorical = rules[i];
        else
            p->missing_numeric = rules[i];
    }
    return 0;
}

/* "categorical": "auto" or an array of column names. */
static int parse_categorical(pctx *c, const json_t *v, nn_prep_cfg *p)
{
    char f[80];
    if (json_is_string(v) && !strcmp(json_string_value(v), "auto"))
        return 0;
    if (!json_is_array(v) || json_array_size(v) > 65536)
        return fail(c, "expected \"auto\" or an array of column names, found %s",
                    found(v, f, sizeof f));
    p->categorical_auto = 0;
    size_t n = json_array_size(v);
    if (n && !(p->categorical = calloc(n, sizeof *p->categorical)))
        return fail_nomem(c);
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(v, i);
        if (!json_is_string(x) || !json_string_length(x)) {
            size_t saved = push_index(c, i);
            int rc = fail(c, "expected a column name (a non-empty string), found %s",
                          found(x, f, sizeof f));
            pop(c, saved);
            return rc;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(p->categorical[j], json_string_value(x))) {
                size_t saved = push_index(c, i);
                int rc = fail(c, "column \"%.60s\" is listed twice", json_string_value(x));
                pop(c, saved);
                return rc;
            }
        if (!(p->categorical[i] = strdup(json_string_value(x))))
            return fail_nomem(c);
        p->n_categorical = (int)i + 1;
    }
    return 0;
}

/* The "preprocess" member of training object t (absent: the defaults). */
static int parse_preprocess(pctx *c, const json_t *t, nn_prep_cfg *p)
{
    const json_t *v = json_is_object(t) ? json_object_get(t, "preprocess") : NULL, *x;
    char f[80];
    int rc = 0;
    nn_prep_cfg_default(p);
    if (!v)
        return 0;
    size_t saved = push_key(c, "preprocess");
    if (!json_is_object(v)) {
        rc = fail(c, "expected a preprocess object, found %s", found(v, f, sizeof f));
        goto out;
    }
    if ((rc = check_keys(c, v, preprocess_keys, NULL, NULL)) < 0)
        goto out;
    if ((x = json_object_get(v, "standardize")) && json_is_string(x) &&
        !strcmp(json_string_value(x), "auto"))
        p->standardize = NN_PREP_DEFAULT;
    else if (x && !json_is_boolean(x)) {
        rc = fail_at(c, "standardize", "expected true, false or \"auto\", found %s",
                     found(x, f, sizeof f));
        goto out;
    } else if (x)
        p->standardize = json_is_true(x);
    if ((rc = get_bool(c, v, "min_max", &p->min_max)) < 0)
        goto out;
    if (p->min_max && p->standardize == 1) {
        rc = fail_at(c, "min_max", "standardize and min_max exclude each other: choose one");
        goto out;
    }
    size_t s2;
    if ((x = json_object_get(v, "categorical"))) {
        s2 = push_key(c, "categorical");
        rc = parse_categorical(c, x, p);
        pop(c, s2);
        if (rc < 0)
            goto out;
    }
    if ((x = json_object_get(v, "missing"))) {
        s2 = push_key(c, "missing");
        rc = parse_missing(c, x, p);
        pop(c, s2);
    }
out:
    pop(c, saved);
    if (rc < 0)
        nn_prep_cfg_free(p);
    return rc < 0 ? rc : 0;
}

int spec_json_parse_preprocess(const json_t *training, const char *base_path, nn_prep_cfg *prep,
                               spec_json_err *err)
{
    spec_json_err scratch;
    pctx c;
    ctx_init(&c, err, &scratch, base_path);
    return parse_preprocess(&c, training, prep);
}

/* A "training" object (NULL: absent); the path is at it. */
static int parse_training(pctx *c, const json_t *t, nn_train_cfg *cfg)
{
    const json_t *v;
    char f[80];
    long long n;
    double d;
    int rc;
    size_t saved;

    nn_train_cfg_default(cfg);
    if (!t)
        return 0;
    if (!json_is_object(t))
        return fail(c, "expected a training object, found %s", found(t, f, sizeof f));
    if ((rc = check_keys(c, t, training_keys, NULL, NULL)) < 0)
        return rc;

    if ((v = json_object_get(t, "optimizer"))) {
        saved = push_key(c, "optimizer");
        rc = parse_optimizer(c, v, &cfg->optim);
        pop(c, saved);
        if (rc < 0)
            return rc;
    }
    if ((v = json_object_get(t, "schedule"))) {
        saved = push_key(c, "schedule");
        rc = parse_schedule(c, v, cfg->optim.lr, &cfg->sched);
        pop(c, saved);
        if (rc < 0)
            return rc;
    }
    if ((rc = get_num_or_null(c, t, "clip_norm", 0, 1, &R_POS, &d)) < 0)
        return rc;
    cfg->clip_norm = rc == 1 ? d : 0;
    if ((rc = get_int(c, t, "batch_size", 0, 1, SPEC_JSON_MAX_BATCH, &n)) < 0)
        return rc;
    if (rc == 1)
        cfg->batch_size = (int)n;
    if ((rc = get_int(c, t, "epochs", 0, 1, SPEC_JSON_MAX_EPOCHS, &n)) < 0)
        return rc;
    if (rc == 1)
        cfg->epochs = (int)n;
    if ((rc = get_num(c, t, "validation_split", 0, &R_FRACTION, &cfg->validation_split)) < 0)
        return rc;
    if ((rc = get_int(c, t, "seed", 0, 0, LLONG_MAX, &n)) < 0)
        return rc;
    if (rc == 1)
        cfg->seed = (uint64_t)n;
    if ((rc = get_bool(c, t, "shuffle", &cfg->shuffle)) < 0)
        return rc;
    if ((rc = get_int(c, t, "shards", 0, 1, NN_SHARDS_MAX, &n)) < 0)
        return rc;
    if (rc == 1)
        cfg->shards = (int)n;
    if ((rc = get_num_or_null(c, t, "target_loss", 0, 1, &R_FINITE, &d)) < 0)
        return rc;
    cfg->target_loss = rc == 1 ? d : NAN;
    if ((rc = get_num_or_null(c, t, "max_seconds", 0, 1, &R_POS, &d)) < 0)
        return rc;
    cfg->max_seconds = rc == 1 ? d : 0;
    if ((v = json_object_get(t, "early_stopping")) && !json_is_null(v)) {
        if (!json_is_object(v))
            return fail_at(c, "early_stopping", "expected an early_stopping object or null, "
                                                "found %s", found(v, f, sizeof f));
        saved = push_key(c, "early_stopping");
        rc = parse_early(c, v, &cfg->early);
        pop(c, saved);
        if (rc < 0)
            return rc;
    }
    /* checked here too, so that a training object is valid or not as a whole */
    nn_prep_cfg prep;
    rc = parse_preprocess(c, t, &prep);
    nn_prep_cfg_free(&prep);
    return rc < 0 ? rc : 0;
}

int spec_json_parse_training(const json_t *training, const char *base_path, nn_train_cfg *cfg,
                             spec_json_err *err)
{
    spec_json_err scratch;
    pctx c;
    ctx_init(&c, err, &scratch, base_path);
    int rc = parse_training(&c, training, cfg);
    if (rc < 0)
        memset(cfg, 0, sizeof *cfg);
    return rc;
}

int spec_json_parse_doc(const json_t *doc, nn_spec *spec, nn_train_cfg *cfg, spec_json_err *err)
{
    nn_train_cfg scratch;
    int rc = spec_json_parse_model(doc, spec, err);
    if (rc < 0) {
        if (cfg)
            memset(cfg, 0, sizeof *cfg);
        return rc;
    }
    rc = spec_json_parse_training(json_object_get(doc, "training"), "/training",
                                  cfg ? cfg : &scratch, err);
    if (rc < 0)
        nn_spec_free(spec);
    return rc;
}

int spec_json_parse_text(const char *text, size_t len, nn_spec *spec, nn_train_cfg *cfg,
                         spec_json_err *err)
{
    spec_json_err scratch;
    json_error_t je;
    json_t *doc = NULL;
    pctx c;

    ctx_init(&c, err, &scratch, "");
    if (text)
        doc = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        int rc = NN_EFORMAT;
        memset(spec, 0, sizeof *spec);
        if (cfg)
            memset(cfg, 0, sizeof *cfg);
        if (!text)
            snprintf(c.err->msg, sizeof c.err->msg, "invalid JSON: no text");
        else if (json_error_code(&je) == json_error_out_of_memory)
            rc = fail_nomem(&c);
        else
            snprintf(c.err->msg, sizeof c.err->msg, "invalid JSON at line %d, column %d: %s",
                     je.line, je.column, je.text);
        nn_utf8_clean(c.err->msg, 0);
        return rc;
    }
    int rc = spec_json_parse_doc(doc, spec, cfg, err);
    json_decref(doc);
    return rc;
}

/* ------------------------------------------------------------------------
 * Dumping. */

/* Sets o[key] = v, taking v; returns -1 when v is NULL or the set failed. */
static int put(json_t *o, const char *key, json_t *v)
{
    return v && json_object_set_new(o, key, v) == 0 ? 0 : -1;
}

/* null when is_null, else a real (NULL for a non-finite d, as json_real does). */
static json_t *real_or_null(double d, int is_null)
{
    return is_null ? json_null() : json_real(d);
}

static json_t *dump_activation(nn_act_kind a, double alpha)
{
    if (!takes_alpha(a))
        return json_string(nn_act_name(a));
    alpha = nn_act_alpha(a, alpha);
    json_t *o = json_object();
    if (put(o, "type", json_string(nn_act_name(a))) < 0 || put(o, "alpha", json_real(alpha)) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* [a, b] */
static json_t *dump_pair(int a, int b)
{
    json_t *x = json_array();
    if (x && (json_array_append_new(x, json_integer(a)) < 0 ||
              json_array_append_new(x, json_integer(b)) < 0)) {
        json_decref(x);
        return NULL;
    }
    return x;
}

/* "valid", "same" or [rows, cols]; NULL for an enum out of range. */
static json_t *dump_padding(const nn_layer_spec *l)
{
    if (l->padding == NN_PAD_EXPLICIT)
        return dump_pair(l->pad[0], l->pad[1]);
    const char *name = padding_name(l->padding);
    return name ? json_string(name) : NULL;
}

static json_t *dump_layer(const nn_layer_spec *l)
{
    json_t *o = json_object();
    int bad = !o || (unsigned)l->act >= NN_ACT_COUNT;
    /* A stride of 0 (a spec not made by the parser) means what the core
     * reads it as: 1 for conv2d, the window for pooling. */
    int sh = l->stride[0], sw = l->stride[1];
    switch (bad ? NN_LAYER_COUNT : l->kind) {
    case NN_LAYER_DENSE:
        bad = (unsigned)l->init >= NN_INIT_COUNT ||
              put(o, "type", json_string(nn_layer_kind_name(NN_LAYER_DENSE))) < 0 ||
              put(o, "units", json_integer(l->units)) < 0 ||
              put(o, "activation", dump_activation(l->act, l->alpha)) < 0 ||
              put(o, "use_bias", json_boolean(l->use_bias)) < 0 ||
              put(o, "init", json_string(nn_init_name(l->init))) < 0;
        break;
    case NN_LAYER_DROPOUT:
        bad = put(o, "type", json_string(nn_layer_kind_name(NN_LAYER_DROPOUT))) < 0 ||
              put(o, "rate", json_real(l->rate)) < 0;
        break;
    case NN_LAYER_CONV2D:
        bad = (unsigned)l->init >= NN_INIT_COUNT ||
              put(o, "type", json_string(nn_layer_kind_name(NN_LAYER_CONV2D))) < 0 ||
              put(o, "filters", json_integer(l->filters)) < 0 ||
              put(o, "kernel", dump_pair(l->kernel[0], l->kernel[1])) < 0 ||
              put(o, "stride", dump_pair(sh > 0 ? sh : 1, sw > 0 ? sw : 1)) < 0 ||
              put(o, "padding", dump_padding(l)) < 0 ||
              put(o, "activation", dump_activation(l->act, l->alpha)) < 0 ||
              put(o, "use_bias", json_boolean(l->use_bias)) < 0 ||
              put(o, "init", json_string(nn_init_name(l->init))) < 0;
        break;
    case NN_LAYER_MAXPOOL2D:
    case NN_LAYER_AVGPOOL2D:
        bad = put(o, "type", json_string(nn_layer_kind_name(l->kind))) < 0 ||
              put(o, "size", dump_pair(l->kernel[0], l->kernel[1])) < 0 ||
              put(o, "stride", dump_pair(sh > 0 ? sh : l->kernel[0],
                                         sw > 0 ? sw : l->kernel[1])) < 0;
        break;
    case NN_LAYER_GLOBAL_AVGPOOL:
    case NN_LAYER_FLATTEN:
        bad = put(o, "type", json_string(nn_layer_kind_name(l->kind))) < 0;
        break;
    case NN_LAYER_BATCHNORM:
        bad = put(o, "type", json_string(nn_layer_kind_name(NN_LAYER_BATCHNORM))) < 0 ||
              put(o, "momentum", json_real(l->momentum)) < 0 ||
              put(o, "eps", json_real(l->eps)) < 0;
        break;
    case NN_LAYER_RNN:
    case NN_LAYER_LSTM:
    case NN_LAYER_GRU: {
        /* Only an rnn has an activation; linear (a spec not made by the
         * parser) is what the core reads it as, tanh.  An lstm's or gru's
         * act must stay linear, as the core demands. */
        nn_act_kind a = l->kind == NN_LAYER_RNN && l->act == NN_ACT_LINEAR ? rnn_acts[0] : l->act;
        bad = l->bptt < 0 ||
              (l->kind == NN_LAYER_RNN ? !rnn_act_ok(a) : a != NN_ACT_LINEAR) ||
              put(o, "type", json_string(nn_layer_kind_name(l->kind))) < 0 ||
              put(o, "units", json_integer(l->units)) < 0 ||
              (l->kind == NN_LAYER_RNN && put(o, "activation", json_string(nn_act_name(a))) < 0) ||
              put(o, "return_sequences", json_boolean(l->return_sequences)) < 0 ||
              put(o, "bptt", json_integer(l->bptt)) < 0 ||
              put(o, "use_bias", json_boolean(l->use_bias)) < 0;
        break;
    }
    case NN_LAYER_ACT: {
        /* The short form: {"type": "relu"}, {"type": "elu", "alpha": 1.0}. */
        json_t *a = dump_activation(l->act, l->alpha);
        if (json_is_object(a))
            bad = json_object_update(o, a) < 0;
        else
            bad = !a || put(o, "type", json_incref(a)) < 0;
        json_decref(a);
        break;
    }
    default:
        bad = 1;
        break;
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *spec_json_dump_model(const nn_spec *spec)
{
    json_t *o = json_object(), *input = json_array(), *layers = json_array();
    int bad = !o || !input || !layers || spec->input.rank < 1 ||
              spec->input.rank > NN_MAX_RANK || (unsigned)spec->loss >= NN_LOSS_COUNT;
    for (int i = 0; !bad && i < spec->input.rank; i++)
        bad = json_array_append_new(input, json_integer(spec->input.dim[i])) < 0;
    for (int i = 0; !bad && i < spec->n_layers; i++)
        bad = json_array_append_new(layers, dump_layer(&spec->layers[i])) < 0;
    /* put() takes the arrays even on failure, so hand them over exactly once. */
    if (put(o, "input", bad ? NULL : json_incref(input)) < 0 ||
        put(o, "layers", bad ? NULL : json_incref(layers)) < 0 ||
        put(o, "loss", json_string(nn_loss_name(spec->loss))) < 0)
        bad = 1;
    json_decref(input);
    json_decref(layers);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *dump_optimizer(const nn_optim_cfg *c)
{
    json_t *o = json_object();
    int bad = !o || (unsigned)c->kind >= NN_OPT_COUNT ||
              put(o, "type", json_string(nn_optim_name(c->kind))) < 0 ||
              put(o, "lr", json_real(c->lr)) < 0;
    switch (bad ? NN_OPT_COUNT : c->kind) {
    case NN_OPT_SGD:
        bad = put(o, "momentum", json_real(c->momentum)) < 0 ||
              put(o, "nesterov", json_boolean(c->nesterov)) < 0;
        break;
    case NN_OPT_ADAM:
    case NN_OPT_ADAMW:
        bad = put(o, "beta1", json_real(c->beta1)) < 0 || put(o, "beta2", json_real(c->beta2)) < 0 ||
              put(o, "eps", json_real(c->eps)) < 0;
        break;
    case NN_OPT_RMSPROP:
        bad = put(o, "alpha", json_real(c->alpha)) < 0 || put(o, "eps", json_real(c->eps)) < 0 ||
              put(o, "momentum", json_real(c->momentum)) < 0;
        break;
    default:
        bad = 1;
        break;
    }
    if (bad || put(o, "weight_decay", json_real(c->weight_decay)) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *dump_schedule(const nn_sched_cfg *c)
{
    json_t *o = json_object();
    int bad = !o || (unsigned)c->kind >= NN_SCHED_COUNT ||
              put(o, "type", json_string(nn_sched_name(c->kind))) < 0;
    if (!bad && c->kind == NN_SCHED_STEP)
        bad = put(o, "step_size", json_integer(c->step_size)) < 0;
    if (!bad && (c->kind == NN_SCHED_STEP || c->kind == NN_SCHED_EXPONENTIAL))
        bad = put(o, "gamma", json_real(c->gamma)) < 0;
    if (!bad && c->kind == NN_SCHED_COSINE)
        bad = put(o, "min_lr", json_real(c->min_lr)) < 0;
    if (bad || put(o, "warmup_steps", json_integer(c->warmup_steps)) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *dump_early(const nn_early_stop *e)
{
    if (!e->enabled)
        return json_null();
    if ((unsigned)e->monitor >= N_MONITORS)
        return NULL;
    json_t *o = json_object();
    if (!o || put(o, "monitor", json_string(monitor_name((int)e->monitor))) < 0 ||
        put(o, "patience", json_integer(e->patience)) < 0 ||
        put(o, "min_delta", json_real(e->min_delta)) < 0 ||
        put(o, "restore_best", json_boolean(e->restore_best)) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *spec_json_dump_training(const nn_train_cfg *cfg)
{
    json_t *o = json_object();
    if (!o || cfg->seed > (uint64_t)LLONG_MAX ||
        put(o, "optimizer", dump_optimizer(&cfg->optim)) < 0 ||
        put(o, "schedule", dump_schedule(&cfg->sched)) < 0 ||
        put(o, "clip_norm", real_or_null(cfg->clip_norm, cfg->clip_norm <= 0)) < 0 ||
        put(o, "batch_size", json_integer(cfg->batch_size)) < 0 ||
        put(o, "epochs", json_integer(cfg->epochs)) < 0 ||
        put(o, "validation_split", json_real(cfg->validation_split)) < 0 ||
        put(o, "seed", json_integer((json_int_t)cfg->seed)) < 0 ||
        put(o, "shuffle", json_boolean(cfg->shuffle)) < 0 ||
        put(o, "shards", json_integer(cfg->shards)) < 0 ||
        put(o, "target_loss", real_or_null(cfg->target_loss, isnan(cfg->target_loss))) < 0 ||
        put(o, "max_seconds", real_or_null(cfg->max_seconds, cfg->max_seconds <= 0)) < 0 ||
        put(o, "early_stopping", dump_early(&cfg->early)) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static const char *impute_name(nn_impute m)
{
    switch (m) {
    case NN_IMPUTE_MEAN: return "mean";
    case NN_IMPUTE_MEDIAN: return "median";
    case NN_IMPUTE_MOST_FREQUENT: return "most_frequent";
    case NN_IMPUTE_CATEGORY: return "category";
    default: return "error";
    }
}

json_t *spec_json_dump_preprocess(const nn_prep_cfg *p)
{
    json_t *o = json_object(), *cat;
    if (p->categorical_auto) {
        cat = json_string("auto");
    } else {
        cat = json_array();
        for (int i = 0; cat && i < p->n_categorical; i++)
            if (json_array_append_new(cat, json_string(p->categorical[i])))
                cat = (json_decref(cat), NULL);
    }
    if (!o ||
        put(o, "standardize", p->standardize == NN_PREP_DEFAULT ? json_string("auto")
                                                                : json_boolean(p->standardize)) < 0 ||
        put(o, "min_max", json_boolean(p->min_max)) < 0 || put(o, "categorical", cat) < 0 ||
        put(o, "missing", json_pack("{s:s,s:s}", "numeric", impute_name(p->missing_numeric),
                                    "categorical", impute_name(p->missing_categorical))) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *spec_json_dump_training_prep(const nn_train_cfg *cfg, const nn_prep_cfg *prep)
{
    nn_prep_cfg def;
    nn_prep_cfg_default(&def);
    json_t *o = spec_json_dump_training(cfg);
    if (o && put(o, "preprocess", spec_json_dump_preprocess(prep ? prep : &def)) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *spec_json_dump(const nn_spec *spec, const nn_train_cfg *cfg)
{
    return spec_json_dump_prep(spec, cfg, NULL);
}

json_t *spec_json_dump_prep(const nn_spec *spec, const nn_train_cfg *cfg, const nn_prep_cfg *prep)
{
    json_t *o = spec_json_dump_model(spec);
    if (o && cfg && put(o, "training", spec_json_dump_training_prep(cfg, prep)) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ------------------------------------------------------------------------
 * Core errors. */

void spec_json_err_from_nn(const nn_err *e, spec_json_err *err)
{
    pctx c;
    c.err = err;
    c.path[0] = 0;
    c.len = 0;
    if (e->layer >= 0) {
        push_key(&c, "layers");
        push_index(&c, (size_t)e->layer);
    }
    if (e->field[0])
        push_key(&c, e->field);
    memcpy(err->path, c.path, sizeof err->path);
    snprintf(err->msg, sizeof err->msg, "%s", e->msg);
    nn_utf8_clean(err->path, 1);
    nn_utf8_clean(err->msg, 0);
}
