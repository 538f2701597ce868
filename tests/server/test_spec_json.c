/*
 * test_spec_json.c — the JSON model definition (server/spec_json.c).
 *
 * What is checked: the Fashion-MNIST example parses to the expected structs
 * and dumps to the expected canonical JSON; every error the parser reports
 * (table-driven: document -> status, JSON Pointer, part of the message),
 * with the pointer resolved in the document to prove that it names the
 * offending value (or the missing member of an existing object); malformed,
 * truncated, mutated, oversized and deeply nested input; the round trip
 * dump -> parse -> dump; every examples/<name>.json; and agreement with
 * schema/model.schema.json, through tests/schema_check.py, on the same
 * tables (the schema must reject every invalid document it can express and
 * accept every valid document and its canonical dump).
 *
 * In the tables a ' stands for a " to keep the documents readable.  Files
 * are found relative to $TRAIND_SRCDIR, else the current directory (make
 * runs the suites from the repository root).
 */
#include "model.h"
#include "spec_json.h"
#include "testutil.h"

#include <check.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ------------------------------------------------------------------------
 * Helpers. */

/* A malloc'd copy of s with every ' turned into ". */
static char *dq(const char *s)
{
    char *d = strdup(s);
    ck_assert_ptr_nonnull(d);
    for (char *p = d; *p; p++)
        if (*p == '\'')
            *p = '"';
    return d;
}

static char *src_path(const char *rel)
{
    const char *dir = getenv("TRAIND_SRCDIR");
    char *p = NULL;
    ck_assert_int_ge(asprintf(&p, "%s/%s", dir && *dir ? dir : ".", rel), 0);
    return p;
}

/* The value a JSON Pointer names in root, or NULL. */
static const json_t *resolve(const json_t *root, const char *ptr)
{
    const json_t *v = root;
    char tok[300];
    if (!*ptr)
        return root;
    if (*ptr != '/')
        return NULL;
    while (*ptr == '/' && v) {
        size_t n = 0;
        ptr++;
        for (; *ptr && *ptr != '/' && n + 1 < sizeof tok; ptr++) {
            if (*ptr == '~' && (ptr[1] == '0' || ptr[1] == '1')) {
                tok[n++] = ptr[1] == '0' ? '~' : '/';
                ptr++;
            } else {
                tok[n++] = *ptr;
            }
        }
        tok[n] = 0;
        if (json_is_object(v)) {
            v = json_object_get(v, tok);
        } else if (json_is_array(v)) {
            char *end;
            unsigned long i = strtoul(tok, &end, 10);
            v = *tok && !*end ? json_array_get(v, i) : NULL;
        } else {
            v = NULL;
        }
    }
    return v;
}

/* An error path must name a value of the document, or a member that is
 * missing from an existing object (then the message says "required"). */
static void assert_path_in_doc(const char *text, const spec_json_err *err, const char *what)
{
    json_t *doc = json_loads(text, JSON_DECODE_ANY, NULL);
    ck_assert_msg(doc != NULL, "%s: the document is not JSON", what);
    if (!resolve(doc, err->path)) {
        char parent[256];
        snprintf(parent, sizeof parent, "%s", err->path);
        char *slash = strrchr(parent, '/');
        ck_assert_msg(slash != NULL, "%s: path '%s' names nothing", what, err->path);
        *slash = 0;
        ck_assert_msg(json_is_object(resolve(doc, parent)) && strstr(err->msg, "required"),
                      "%s: path '%s' names nothing in the document (msg: %s)", what, err->path,
                      err->msg);
    }
    json_decref(doc);
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

/* After a failed parse the outputs are zeroed and the error texts can go
 * into a JSON answer (valid UTF-8). */
static void assert_failed_cleanly(const nn_spec *spec, const nn_train_cfg *cfg,
                                  const spec_json_err *err, const char *what)
{
    ck_assert_msg(spec->layers == NULL && spec->n_layers == 0 && all_zero(spec, sizeof *spec),
                  "%s: spec not zeroed", what);
    ck_assert_msg(all_zero(cfg, sizeof *cfg), "%s: cfg not zeroed", what);
    ck_assert_msg(err->msg[0] != 0, "%s: empty message", what);
    json_t *m = json_string(err->msg), *p = json_string(err->path);
    ck_assert_msg(m && p, "%s: message or path is not valid UTF-8", what);
    json_decref(m);
    json_decref(p);
    for (const char *c = err->msg; *c; c++)
        ck_assert_msg((unsigned char)*c >= 0x20, "%s: control character in message", what);
}

/* Parses text; on success checks the round trip dump -> parse -> dump. */
static int parse_checked(const char *text, size_t len, spec_json_err *err, const char *what)
{
    nn_spec spec;
    nn_train_cfg cfg;
    memset(&spec, 0xA5, sizeof spec);
    memset(&cfg, 0xA5, sizeof cfg);
    int rc = spec_json_parse_text(text, len, &spec, &cfg, err);
    if (rc < 0) {
        assert_failed_cleanly(&spec, &cfg, err, what);
        return rc;
    }
    json_t *d1 = spec_json_dump(&spec, &cfg);
    ck_assert_msg(d1 != NULL, "%s: dump failed", what);
    char *t1 = json_dumps(d1, SPEC_JSON_DUMP_FLAGS);
    nn_spec spec2;
    nn_train_cfg cfg2;
    spec_json_err err2;
    int rc2 = spec_json_parse_text(t1, strlen(t1), &spec2, &cfg2, &err2);
    ck_assert_msg(rc2 == 0, "%s: the dump does not parse: %s: %s (%s)", what, err2.path,
                  err2.msg, t1);
    json_t *d2 = spec_json_dump(&spec2, &cfg2);
    ck_assert_msg(d2 && json_equal(d1, d2), "%s: dump -> parse -> dump differs", what);
    /* The parsed structs agree too, apart from defaults made explicit. */
    ck_assert_int_eq(spec2.n_layers, spec.n_layers);
    ck_assert_int_eq(spec2.loss, spec.loss);
    ck_assert_mem_eq(&spec2.input, &spec.input, sizeof spec.input);
    for (int i = 0; i < spec.n_layers; i++) {
        const nn_layer_spec *a = &spec.layers[i], *b = &spec2.layers[i];
        ck_assert_int_eq(a->kind, b->kind);
        ck_assert_int_eq(a->act, b->act);
        if (a->kind == NN_LAYER_DENSE) {
            ck_assert_int_eq(a->units, b->units);
            ck_assert_int_eq(a->use_bias, b->use_bias);
            ck_assert_int_eq(a->init, b->init);
        }
        ck_assert(a->rate == b->rate);
        ck_assert_int_eq(a->filters, b->filters);
        ck_assert_mem_eq(a->kernel, b->kernel, sizeof a->kernel);
        ck_assert_mem_eq(a->stride, b->stride, sizeof a->stride);
        ck_assert_int_eq(a->padding, b->padding);
        ck_assert_mem_eq(a->pad, b->pad, sizeof a->pad);
        ck_assert(a->momentum == b->momentum && a->eps == b->eps);
        if (a->kind == NN_LAYER_CONV2D) {
            ck_assert_int_eq(a->use_bias, b->use_bias);
            ck_assert_int_eq(a->init, b->init);
        }
        if (a->kind == NN_LAYER_RNN || a->kind == NN_LAYER_LSTM || a->kind == NN_LAYER_GRU) {
            ck_assert_int_eq(a->units, b->units);
            ck_assert_int_eq(a->use_bias, b->use_bias);
            ck_assert_int_eq(a->return_sequences, b->return_sequences);
            ck_assert_int_eq(a->bptt, b->bptt);
            /* parsing resolves an rnn's activation: tanh unless relu */
            if (a->kind == NN_LAYER_RNN)
                ck_assert(a->act == NN_ACT_TANH || a->act == NN_ACT_RELU);
        }
        /* Parsing resolves every stride: never 0 in a parsed struct. */
        if (a->kind == NN_LAYER_CONV2D || a->kind == NN_LAYER_MAXPOOL2D ||
            a->kind == NN_LAYER_AVGPOOL2D)
            ck_assert(a->stride[0] >= 1 && a->stride[1] >= 1);
        double alpha = a->alpha;   /* the dump resolves the default */
        if (isnan(alpha) && a->act == NN_ACT_LEAKY_RELU)
            alpha = 0.01;
        if (isnan(alpha) && a->act == NN_ACT_ELU)
            alpha = 1.0;
        ck_assert(isnan(alpha) ? isnan(b->alpha) : b->alpha == alpha);
    }
    ck_assert(cfg2.optim.kind == cfg.optim.kind && cfg2.optim.lr == cfg.optim.lr);
    ck_assert(cfg2.sched.kind == cfg.sched.kind && cfg2.sched.warmup_steps == cfg.sched.warmup_steps);
    ck_assert(cfg2.batch_size == cfg.batch_size && cfg2.epochs == cfg.epochs);
    ck_assert(cfg2.seed == cfg.seed && cfg2.early.enabled == cfg.early.enabled);
    json_decref(d1);
    json_decref(d2);
    free(t1);
    nn_spec_free(&spec);
    nn_spec_free(&spec2);
    return rc;
}

/* Asserts that got dumps to the same text as the JSON in want (' for "):
 * the same values and the same key order. */
static void assert_json_text(const json_t *got, const char *want)
{
    char *w = dq(want);
    json_t *wj = json_loads(w, JSON_DECODE_ANY, NULL);
    ck_assert_msg(wj != NULL, "expected text is not JSON: %s", w);
    char *a = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
    char *b = json_dumps(wj, JSON_COMPACT | JSON_ENCODE_ANY);
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    free(w);
    json_decref(wj);
}

/* While the core does not build a layer kind added to the definition
 * language, nn_model_new() refuses it with "unknown layer type" at that
 * layer.  The checks that build parsed specs skip such specs (and say so on
 * stderr); once the core knows the kind they check it again by themselves. */
static int core_lacks_layer(int rc, const nn_err *e, const nn_spec *spec, const char *what)
{
    if (rc == 0 || e->layer < 0 || e->layer >= spec->n_layers ||
        strcmp(e->msg, "unknown layer type") != 0)
        return 0;
    fprintf(stderr, "%s: not built: the core does not know layer %d (%s) yet\n", what, e->layer,
            nn_layer_kind_name(spec->layers[e->layer].kind));
    return 1;
}

/* The tensor of m called name, or NULL. */
static const nn_param_tensor *find_tensor(const nn_model *m, const char *name)
{
    for (int i = 0; i < nn_model_n_tensors(m); i++)
        if (strcmp(nn_model_tensor(m, i)->name, name) == 0)
            return nn_model_tensor(m, i);
    return NULL;
}

/* Asserts that m has a trainable tensor name of the given 1-D or 2-D shape
 * (cols 0: 1-D); returns its size. */
static size_t assert_tensor(const nn_model *m, const char *name, int64_t rows, int64_t cols)
{
    const nn_param_tensor *t = find_tensor(m, name);
    ck_assert_msg(t != NULL, "no tensor %s", name);
    ck_assert_msg(!t->buffer, "%s is not trainable", name);
    ck_assert_int_eq(t->rank, cols ? 2 : 1);
    ck_assert_int_eq(t->shape[0], rows);
    if (cols)
        ck_assert_int_eq(t->shape[1], cols);
    ck_assert_uint_eq(t->numel, (size_t)(rows * (cols ? cols : 1)));
    return t->numel;
}

/* Runs tests/schema_check.py with args; returns its exit status. */
static int run_schema_check(const char *args)
{
    char *script = src_path("tests/schema_check.py"), *cmd = NULL;
    FILE *f = fopen(script, "r");
    ck_assert_msg(f != NULL, "cannot find %s (run from the repository root or set TRAIND_SRCDIR)",
                  script);
    fclose(f);
    ck_assert_int_ge(asprintf(&cmd, "/usr/bin/python3 '%s' %s", script, args), 0);
    fflush(NULL);
    int st = system(cmd);
    free(cmd);
    free(script);
    ck_assert_msg(st != -1 && WIFEXITED(st), "could not run python3");
    return WEXITSTATUS(st);
}

/* ------------------------------------------------------------------------
 * The example. */

static const char *const FMNIST =
    "{'input': [784],\n"
    " 'layers': [{'type': 'dense', 'units': 256, 'activation': 'relu'},\n"
    "            {'type': 'dense', 'units': 128, 'activation': 'relu'},\n"
    "            {'type': 'dense', 'units': 10, 'activation': 'softmax'}],\n"
    " 'loss': 'cross_entropy',\n"
    " 'training': {'optimizer': {'type': 'adam', 'lr': 0.001}, 'batch_size': 64, 'epochs': 10,\n"
    "              'validation_split': 0.1, 'seed': 42,\n"
    "              'early_stopping': {'monitor': 'val_loss', 'patience': 3}}}\n";

/* Its canonical dump: every default explicit, in the dump's key order. */
static const char *const FMNIST_CANONICAL =
    "{'input':[784],'layers':["
    "{'type':'dense','units':256,'activation':'relu','use_bias':true,'init':'default'},"
    "{'type':'dense','units':128,'activation':'relu','use_bias':true,'init':'default'},"
    "{'type':'dense','units':10,'activation':'softmax','use_bias':true,'init':'default'}],"
    "'loss':'cross_entropy','training':{"
    "'optimizer':{'type':'adam','lr':0.001,'beta1':0.9,'beta2':0.999,'eps':1e-8,"
    "'weight_decay':0.0},"
    "'schedule':{'type':'constant','warmup_steps':0},'clip_norm':null,'batch_size':64,"
    "'epochs':10,'validation_split':0.1,'seed':42,'shuffle':true,'shards':8,"
    "'target_loss':null,'max_seconds':null,"
    "'early_stopping':{'monitor':'val_loss','patience':3,'min_delta':0.0,'restore_best':true},"
    "'preprocess':{'standardize':'auto','min_max':false,'categorical':'auto',"
    "'missing':{'numeric':'error','categorical':'error'}}}}";

static void check_fmnist(const nn_spec *s, const nn_train_cfg *c)
{
    ck_assert_int_eq(s->input.rank, 1);
    ck_assert_int_eq(s->input.dim[0], 784);
    ck_assert_int_eq(s->n_layers, 3);
    const int units[3] = {256, 128, 10};
    const nn_act_kind acts[3] = {NN_ACT_RELU, NN_ACT_RELU, NN_ACT_SOFTMAX};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(s->layers[i].kind, NN_LAYER_DENSE);
        ck_assert_int_eq(s->layers[i].units, units[i]);
        ck_assert_int_eq(s->layers[i].act, acts[i]);
        ck_assert_int_eq(s->layers[i].use_bias, 1);
        ck_assert_int_eq(s->layers[i].init, NN_INIT_DEFAULT);
        ck_assert(isnan(s->layers[i].alpha));
    }
    ck_assert_int_eq(s->loss, NN_LOSS_CROSS_ENTROPY);
    ck_assert_int_eq(c->optim.kind, NN_OPT_ADAM);
    ck_assert_double_eq(c->optim.lr, 0.001);
    ck_assert_double_eq(c->optim.beta1, 0.9);
    ck_assert_double_eq(c->optim.beta2, 0.999);
    ck_assert_double_eq(c->optim.eps, 1e-8);
    ck_assert_double_eq(c->optim.weight_decay, 0);
    ck_assert_int_eq(c->sched.kind, NN_SCHED_CONSTANT);
    ck_assert_int_eq(c->batch_size, 64);
    ck_assert_int_eq(c->epochs, 10);
    ck_assert_double_eq(c->validation_split, 0.1);
    ck_assert_uint_eq(c->seed, 42);
    ck_assert_int_eq(c->shuffle, 1);
    ck_assert(isnan(c->target_loss));
    ck_assert_double_eq(c->max_seconds, 0);
    ck_assert_double_eq(c->clip_norm, 0);
    ck_assert_int_eq(c->early.enabled, 1);
    ck_assert_int_eq(c->early.monitor, NN_MON_VAL_LOSS);
    ck_assert_int_eq(c->early.patience, 3);
    ck_assert_double_eq(c->early.min_delta, 0);
    ck_assert_int_eq(c->early.restore_best, 1);
}

START_TEST(test_fmnist_example)
{
    char *text = dq(FMNIST);
    nn_spec spec;
    nn_train_cfg cfg;
    spec_json_err err;
    ck_assert_int_eq(spec_json_parse_text(text, strlen(text), &spec, &cfg, &err), 0);
    check_fmnist(&spec, &cfg);

    /* examples/fmnist-mlp.json is this document. */
    char *path = src_path("examples/fmnist-mlp.json");
    size_t len;
    char *file = tu_read(path, &len);
    json_t *a = json_loads(text, 0, NULL), *b = json_loads(file, 0, NULL);
    ck_assert_msg(a && b && json_equal(a, b), "%s differs from the example of the brief", path);
    nn_spec spec2;
    nn_train_cfg cfg2;
    ck_assert_int_eq(spec_json_parse_text(file, len, &spec2, &cfg2, &err), 0);
    check_fmnist(&spec2, &cfg2);

    /* The canonical dump (values and key order), and its text as the
     * server writes it. */
    json_t *d = spec_json_dump(&spec, &cfg);
    assert_json_text(d, FMNIST_CANONICAL);
    char *dumped = json_dumps(d, SPEC_JSON_DUMP_FLAGS), *want = dq(FMNIST_CANONICAL);
    ck_assert_str_eq(dumped, want);
    free(dumped);
    free(want);

    json_decref(a);
    json_decref(b);
    json_decref(d);
    free(file);
    free(path);
    free(text);
    nn_spec_free(&spec);
    nn_spec_free(&spec2);
}
END_TEST

/* The CNN for Fashion-MNIST: examples/fmnist-cnn.json. */
static const char *const FMNIST_CNN =
    "{'input': [1, 28, 28],\n"
    " 'layers': [{'type': 'conv2d', 'filters': 32, 'kernel': 3, 'padding': 'same'},\n"
    "            {'type': 'batchnorm'}, {'type': 'relu'},\n"
    "            {'type': 'maxpool2d', 'size': 2},\n"
    "            {'type': 'conv2d', 'filters': 64, 'kernel': 3, 'padding': 'same'},\n"
    "            {'type': 'batchnorm'}, {'type': 'relu'},\n"
    "            {'type': 'maxpool2d', 'size': 2},\n"
    "            {'type': 'flatten'},\n"
    "            {'type': 'dense', 'units': 128, 'activation': 'relu'},\n"
    "            {'type': 'dropout', 'rate': 0.3},\n"
    "            {'type': 'dense', 'units': 10, 'activation': 'softmax'}],\n"
    " 'loss': 'cross_entropy',\n"
    " 'training': {'optimizer': {'type': 'adam', 'lr': 0.001}, 'batch_size': 64, 'epochs': 10,\n"
    "              'validation_split': 0.1, 'seed': 42,\n"
    "              'early_stopping': {'monitor': 'val_loss', 'patience': 3}}}\n";

#define CONV_SAME(f) \
    "{'type':'conv2d','filters':" f ",'kernel':[3,3],'stride':[1,1],'padding':'same'," \
    "'activation':'linear','use_bias':true,'init':'default'}"
#define BN_DEFAULT "{'type':'batchnorm','momentum':0.1,'eps':1e-5}"
#define POOL2 "{'type':'maxpool2d','size':[2,2],'stride':[2,2]}"

static const char *const FMNIST_CNN_LAYERS =
    "[" CONV_SAME("32") "," BN_DEFAULT ",{'type':'relu'}," POOL2 ","
    CONV_SAME("64") "," BN_DEFAULT ",{'type':'relu'}," POOL2 ",{'type':'flatten'},"
    "{'type':'dense','units':128,'activation':'relu','use_bias':true,'init':'default'},"
    "{'type':'dropout','rate':0.3},"
    "{'type':'dense','units':10,'activation':'softmax','use_bias':true,'init':'default'}]";

static void check_fmnist_cnn(const nn_spec *s)
{
    const nn_layer_kind kinds[12] = {
        NN_LAYER_CONV2D, NN_LAYER_BATCHNORM, NN_LAYER_ACT, NN_LAYER_MAXPOOL2D,
        NN_LAYER_CONV2D, NN_LAYER_BATCHNORM, NN_LAYER_ACT, NN_LAYER_MAXPOOL2D,
        NN_LAYER_FLATTEN, NN_LAYER_DENSE, NN_LAYER_DROPOUT, NN_LAYER_DENSE};
    ck_assert_int_eq(s->input.rank, 3);
    ck_assert_int_eq(s->input.dim[0], 1);
    ck_assert_int_eq(s->input.dim[1], 28);
    ck_assert_int_eq(s->input.dim[2], 28);
    ck_assert_int_eq(s->n_layers, 12);
    for (int i = 0; i < 12; i++)
        ck_assert_int_eq(s->layers[i].kind, kinds[i]);
    for (int i = 0; i <= 4; i += 4) {
        const nn_layer_spec *c = &s->layers[i];
        ck_assert_int_eq(c->filters, i ? 64 : 32);
        ck_assert(c->kernel[0] == 3 && c->kernel[1] == 3);
        ck_assert(c->stride[0] == 1 && c->stride[1] == 1);
        ck_assert_int_eq(c->padding, NN_PAD_SAME);
        ck_assert(c->pad[0] == 0 && c->pad[1] == 0);
        ck_assert_int_eq(c->act, NN_ACT_LINEAR);
        ck_assert_int_eq(c->use_bias, 1);
        ck_assert_int_eq(c->init, NN_INIT_DEFAULT);
        ck_assert_double_eq(s->layers[i + 1].momentum, 0.1);
        ck_assert_double_eq(s->layers[i + 1].eps, 1e-5);
        ck_assert_int_eq(s->layers[i + 2].act, NN_ACT_RELU);
        const nn_layer_spec *p = &s->layers[i + 3];
        ck_assert(p->kernel[0] == 2 && p->kernel[1] == 2);
        ck_assert(p->stride[0] == 2 && p->stride[1] == 2);   /* the default: the window */
    }
    ck_assert_int_eq(s->layers[9].units, 128);
    ck_assert_double_eq(s->layers[10].rate, 0.3);
    ck_assert_int_eq(s->layers[11].units, 10);
    ck_assert_int_eq(s->layers[11].act, NN_ACT_SOFTMAX);
    ck_assert_int_eq(s->loss, NN_LOSS_CROSS_ENTROPY);
}

START_TEST(test_fmnist_cnn_example)
{
    char *text = dq(FMNIST_CNN);
    nn_spec spec, spec2;
    nn_train_cfg cfg, cfg2;
    spec_json_err err;
    ck_assert_int_eq(spec_json_parse_text(text, strlen(text), &spec, &cfg, &err), 0);
    check_fmnist_cnn(&spec);

    /* examples/fmnist-cnn.json is this document, and trains as the MLP. */
    char *path = src_path("examples/fmnist-cnn.json");
    size_t len;
    char *file = tu_read(path, &len);
    json_t *a = json_loads(text, 0, NULL), *b = json_loads(file, 0, NULL);
    ck_assert_msg(a && b && json_equal(a, b), "%s differs from the example of the brief", path);
    ck_assert_int_eq(spec_json_parse_text(file, len, &spec2, &cfg2, &err), 0);
    check_fmnist_cnn(&spec2);
    nn_spec mlp;
    nn_train_cfg mlp_cfg;
    char *mlp_text = dq(FMNIST);
    ck_assert_int_eq(spec_json_parse_text(mlp_text, strlen(mlp_text), &mlp, &mlp_cfg, &err), 0);
    ck_assert_mem_eq(&cfg2, &mlp_cfg, sizeof cfg2);
    ck_assert_mem_eq(&cfg, &mlp_cfg, sizeof cfg);
    nn_spec_free(&mlp);
    free(mlp_text);

    /* The canonical dump spells out kernel, stride, padding and the
     * batchnorm options. */
    json_t *d = spec_json_dump(&spec, &cfg);
    assert_json_text(json_object_get(d, "layers"), FMNIST_CNN_LAYERS);
    char *dumped = json_dumps(json_object_get(d, "layers"), SPEC_JSON_DUMP_FLAGS);
    char *want = dq(FMNIST_CNN_LAYERS);
    ck_assert_str_eq(dumped, want);

    /* The core builds it with PyTorch's tensors: 28 -> 28 ("same") -> 14
     * (the pool's stride is its size) -> 14 -> 7, so the first dense layer
     * sees 64 * 7 * 7 = 3136 values. */
    nn_model_opts mo = {.seed = 1, .threads = 1};
    nn_model *m = NULL;
    nn_err e;
    int rc = nn_model_new(&spec, &mo, &m, &e);
    if (!core_lacks_layer(rc, &e, &spec, "fmnist-cnn")) {
        ck_assert_msg(rc == 0, "the core refuses it: layer %d %s: %s", e.layer, e.field, e.msg);
        static const struct {
            const char *name;
            int rank;
            int64_t shape[4];
        } want_t[] = {
            {"layers.0.weight", 4, {32, 1, 3, 3}}, {"layers.0.bias", 1, {32}},
            {"layers.1.weight", 1, {32}}, {"layers.1.bias", 1, {32}},
            {"layers.1.running_mean", 1, {32}}, {"layers.1.running_var", 1, {32}},
            {"layers.1.num_batches_tracked", 0, {0}},
            {"layers.4.weight", 4, {64, 32, 3, 3}}, {"layers.4.bias", 1, {64}},
            {"layers.5.weight", 1, {64}}, {"layers.5.bias", 1, {64}},
            {"layers.5.running_mean", 1, {64}}, {"layers.5.running_var", 1, {64}},
            {"layers.5.num_batches_tracked", 0, {0}},
            {"layers.9.weight", 2, {128, 3136}}, {"layers.9.bias", 1, {128}},
            {"layers.11.weight", 2, {10, 128}}, {"layers.11.bias", 1, {10}},
        };
        ck_assert_int_eq(nn_model_n_tensors(m), COUNT(want_t));
        size_t trainable = 0;
        for (int i = 0; i < COUNT(want_t); i++) {
            const nn_param_tensor *t = nn_model_tensor(m, i);
            ck_assert_str_eq(t->name, want_t[i].name);
            ck_assert_int_eq(t->rank, want_t[i].rank);
            for (int k = 0; k < t->rank; k++)
                ck_assert_int_eq(t->shape[k], want_t[i].shape[k]);
            if (!t->buffer)
                trainable += t->numel;
        }
        /* 320 + 64 + 18496 + 128 + 401536 + 1290 */
        ck_assert_uint_eq(trainable, 421834);
        nn_shape out = nn_model_out_shape(m);
        ck_assert(out.rank == 1 && out.dim[0] == 10);
    }
    nn_model_free(m);

    free(dumped);
    free(want);
    json_decref(a);
    json_decref(b);
    json_decref(d);
    free(file);
    free(path);
    free(text);
    nn_spec_free(&spec);
    nn_spec_free(&spec2);
}
END_TEST

/* Fashion-MNIST rows as sequences: examples/fmnist-lstm.json, 28 steps of
 * 28 features (the images' rows), the last hidden state into a dense
 * softmax; gradient clipping as the usual companion of recurrent layers. */
static const char *const FMNIST_LSTM =
    "{'input': [28, 28],\n"
    " 'layers': [{'type': 'lstm', 'units': 128},\n"
    "            {'type': 'dense', 'units': 10, 'activation': 'softmax'}],\n"
    " 'loss': 'cross_entropy',\n"
    " 'training': {'optimizer': {'type': 'adam', 'lr': 0.001}, 'clip_norm': 1.0,\n"
    "              'batch_size': 64, 'epochs': 10, 'validation_split': 0.1, 'seed': 42}}\n";

START_TEST(test_fmnist_lstm_example)
{
    char *text = dq(FMNIST_LSTM);
    char *path = src_path("examples/fmnist-lstm.json");
    size_t len;
    char *file = tu_read(path, &len);
    json_t *a = json_loads(text, 0, NULL), *b = json_loads(file, 0, NULL);
    ck_assert_msg(a && b && json_equal(a, b), "%s differs from the document here", path);
    nn_spec s;
    nn_train_cfg c;
    spec_json_err err;
    ck_assert_int_eq(spec_json_parse_text(file, len, &s, &c, &err), 0);
    ck_assert(s.input.rank == 2 && s.input.dim[0] == 28 && s.input.dim[1] == 28);
    ck_assert_int_eq(s.n_layers, 2);
    ck_assert_int_eq(s.layers[0].kind, NN_LAYER_LSTM);
    ck_assert_int_eq(s.layers[0].units, 128);
    ck_assert_int_eq(s.layers[0].return_sequences, 0);
    ck_assert_int_eq(s.layers[0].bptt, 0);
    ck_assert_int_eq(s.layers[0].use_bias, 1);
    ck_assert_int_eq(s.layers[1].act, NN_ACT_SOFTMAX);
    ck_assert_int_eq(s.loss, NN_LOSS_CROSS_ENTROPY);
    ck_assert_int_eq(c.optim.kind, NN_OPT_ADAM);
    ck_assert_double_eq(c.optim.lr, 0.001);
    ck_assert_double_eq(c.clip_norm, 1.0);
    ck_assert_int_eq(c.batch_size, 64);
    ck_assert_int_eq(c.epochs, 10);
    ck_assert_double_eq(c.validation_split, 0.1);
    ck_assert_uint_eq(c.seed, 42);

    json_t *d = spec_json_dump(&s, &c);
    assert_json_text(json_object_get(d, "layers"),
                     "[{'type':'lstm','units':128,'return_sequences':false,'bptt':0,"
                     "'use_bias':true},{'type':'dense','units':10,'activation':'softmax',"
                     "'use_bias':true,'init':'default'}]");
    ck_assert(json_real_value(json_object_get(json_object_get(d, "training"), "clip_norm")) ==
              1.0);

    /* As torch.nn.LSTM(28, 128, batch_first=True) and nn.Linear(128, 10):
     * 4 * 128 * (28 + 128 + 2) + 10 * 129 = 82186 parameters. */
    nn_model_opts mo = {.seed = 1, .threads = 1};
    nn_model *m = NULL;
    nn_err e;
    int rc = nn_model_new(&s, &mo, &m, &e);
    if (!core_lacks_layer(rc, &e, &s, "fmnist-lstm")) {
        ck_assert_msg(rc == 0, "the core refuses it: layer %d %s: %s", e.layer, e.field, e.msg);
        size_t n = assert_tensor(m, "layers.0.weight_ih_l0", 512, 28) +
                   assert_tensor(m, "layers.0.weight_hh_l0", 512, 128) +
                   assert_tensor(m, "layers.0.bias_ih_l0", 512, 0) +
                   assert_tensor(m, "layers.0.bias_hh_l0", 512, 0) +
                   assert_tensor(m, "layers.1.weight", 10, 128) +
                   assert_tensor(m, "layers.1.bias", 10, 0);
        ck_assert_uint_eq(n, 82186);
        ck_assert_int_eq(nn_model_n_tensors(m), 6);
        nn_shape out = nn_model_out_shape(m);
        ck_assert(out.rank == 1 && out.dim[0] == 10);
    }
    nn_model_free(m);

    json_decref(a);
    json_decref(b);
    json_decref(d);
    nn_spec_free(&s);
    free(file);
    free(path);
    free(text);
}
END_TEST

/* examples/rnn-small.json uses every recurrent layer kind and every
 * option away from its default; examples/sine-gru.json maps a sequence to
 * a sequence (a value per step). */
START_TEST(test_rnn_examples)
{
    char *path = src_path("examples/rnn-small.json");
    size_t len;
    char *file = tu_read(path, &len);
    nn_spec s;
    spec_json_err err;
    ck_assert_int_eq(spec_json_parse_text(file, len, &s, NULL, &err), 0);
    int seen[NN_LAYER_COUNT] = {0}, relu = 0, seqs = 0, bptt = 0, no_bias = 0;
    for (int i = 0; i < s.n_layers; i++) {
        const nn_layer_spec *l = &s.layers[i];
        seen[l->kind] = 1;
        if (l->kind < NN_LAYER_RNN)
            continue;
        relu |= l->kind == NN_LAYER_RNN && l->act == NN_ACT_RELU;
        seqs |= l->return_sequences;
        bptt |= l->bptt > 0;
        no_bias |= !l->use_bias;
    }
    for (int k = NN_LAYER_RNN; k < NN_LAYER_COUNT; k++)
        ck_assert_msg(seen[k], "%s: no %s layer", path, nn_layer_kind_name((nn_layer_kind)k));
    ck_assert_msg(relu && seqs && bptt && no_bias, "%s: an option is never set", path);
    nn_spec_free(&s);
    free(file);
    free(path);

    path = src_path("examples/sine-gru.json");
    file = tu_read(path, &len);
    ck_assert_int_eq(spec_json_parse_text(file, len, &s, NULL, &err), 0);
    ck_assert_int_eq(s.layers[0].kind, NN_LAYER_GRU);
    ck_assert_int_eq(s.layers[0].return_sequences, 1);
    ck_assert_int_eq(s.loss, NN_LOSS_MSE);
    nn_model_opts mo = {.seed = 1, .threads = 1};
    nn_model *m = NULL;
    nn_err e;
    int rc = nn_model_new(&s, &mo, &m, &e);
    if (!core_lacks_layer(rc, &e, &s, path)) {
        ck_assert_msg(rc == 0, "the core refuses it: layer %d %s: %s", e.layer, e.field, e.msg);
        nn_shape out = nn_model_out_shape(m);   /* one value per step */
        ck_assert(out.rank == 2 && out.dim[0] == s.input.dim[0] && out.dim[1] == 1);
    }
    nn_model_free(m);
    nn_spec_free(&s);
    free(file);
    free(path);
}
END_TEST

/* ------------------------------------------------------------------------
 * Invalid documents. */

typedef struct bad_case {
    const char *doc;   /* ' stands for " */
    int rc;
    const char *path;
    const char *msg;   /* a part of the message */
    int schema;        /* 1: the schema rejects it too; 0: the schema cannot say, or not JSON */
} bad_case;

#define D "{'type':'dense','units':3}"
#define L1(x) "{'input':[4],'layers':[" x "],'loss':'mse'}"
#define L2(x) "{'input':[4],'layers':[" D "," x "],'loss':'mse'}"
#define CE(x) "{'input':[4],'layers':[" x "],'loss':'cross_entropy'}"
#define TR(x) "{'input':[4],'layers':[" D "],'loss':'mse','training':{" x "}}"
#define OPT(x) TR("'optimizer':{" x "}")
#define SCH(x) TR("'schedule':{" x "}")
#define ES(x) TR("'early_stopping':{" x "}")
#define PP(x) TR("'preprocess':{" x "}")
#define IMG(x) "{'input':[1,8,8],'layers':[" x "],'loss':'mse'}"
#define CONV(x) IMG("{'type':'conv2d'," x "}")
#define CV "{'type':'conv2d','filters':2,'kernel':3}"
#define CVK(x) CONV("'filters':2,'kernel':3," x)
#define CEI(x) "{'input':[1,8,8],'layers':[" x "],'loss':'cross_entropy'}"
#define SEQ(x) "{'input':[5,3],'layers':[" x "],'loss':'mse'}"
#define CES(x) "{'input':[5,3],'layers':[" x "],'loss':'cross_entropy'}"
#define RNN(x) SEQ("{'type':'rnn'," x "}")
#define LSTM(x) SEQ("{'type':'lstm'," x "}")
#define GRU(x) SEQ("{'type':'gru'," x "}")
#define GATED_KEYS "allowed keys: type, units, return_sequences, bptt, use_bias"
#define RNN_KEYS "allowed keys: type, units, activation, return_sequences, bptt, use_bias"
#define RNN_ACT "expected an activation of layer type \"rnn\", one of: tanh, relu; found "
#define EI NN_EINVAL
#define EF NN_EFORMAT

static const bad_case bad[] = {
    /* the root */
    {"[]", EI, "", "expected a model definition object, found an array", 1},
    {"42", EI, "", "expected a model definition object, found 42", 1},
    {"'x'", EI, "", "found the string \"x\"", 1},
    {"null", EI, "", "found null", 1},
    {"true", EI, "", "found true", 1},
    {"{}", EI, "/input", "required", 1},
    {"{'input':[4],'layers':[" D "],'loss':'mse','extra':1}", EI, "/extra",
     "unknown key \"extra\"; allowed keys: input, layers, loss, training", 1},
    {"{'input':[4],'layers':[" D "],'loss':'mse','a/b~c':1}", EI, "/a~1b~0c",
     "unknown key \"a/b~c\"", 1},
    {"{'input':[4],'layers':[" D "],'loss':'mse','':1}", EI, "/", "unknown key \"\"", 1},
    {"{'input':[4],'layers':[" D "],'loss':'mse','\xc3\xbcnits':1}", EI, "/\xc3\xbcnits",
     "unknown key \"\xc3\xbcnits\"", 1},
    {"{'Input':[4],'layers':[" D "],'loss':'mse'}", EI, "/Input", "unknown key", 1},
    /* input */
    {"{'layers':[" D "],'loss':'mse'}", EI, "/input",
     "required; expected an array of 1 to 3 positive integers", 1},
    {"{'input':4,'layers':[" D "],'loss':'mse'}", EI, "/input",
     "expected an array of 1 to 3 positive integers, found 4", 1},
    {"{'input':{},'layers':[" D "],'loss':'mse'}", EI, "/input", "found an object", 1},
    {"{'input':[],'layers':[" D "],'loss':'mse'}", EI, "/input", "found 0 elements", 1},
    {"{'input':[1,2,3,4],'layers':[" D "],'loss':'mse'}", EI, "/input", "found 4 elements", 1},
    {"{'input':[0],'layers':[" D "],'loss':'mse'}", EI, "/input/0",
     "expected an integer in 1..16777216, found 0", 1},
    {"{'input':[4,-1],'layers':[" D "],'loss':'mse'}", EI, "/input/1", "found -1", 1},
    {"{'input':[2.5],'layers':[" D "],'loss':'mse'}", EI, "/input/0", "found 2.5", 1},
    {"{'input':[3.0],'layers':[" D "],'loss':'mse'}", EI, "/input/0",
     "found 3.0 (write integers without a fraction)", 0},
    {"{'input':[true],'layers':[" D "],'loss':'mse'}", EI, "/input/0", "found true", 1},
    {"{'input':['4'],'layers':[" D "],'loss':'mse'}", EI, "/input/0", "found the string \"4\"", 1},
    {"{'input':[null],'layers':[" D "],'loss':'mse'}", EI, "/input/0", "found null", 1},
    {"{'input':[[4]],'layers':[" D "],'loss':'mse'}", EI, "/input/0", "found an array", 1},
    {"{'input':[16777217],'layers':[" D "],'loss':'mse'}", EI, "/input/0", "found 16777217", 1},
    {"{'input':[16384,16384,2],'layers':[" D "],'loss':'mse'}", EI, "/input",
     "expected at most 268435456 values per sample (the product of the dimensions), found "
     "536870912", 0},
    {"{'input':[16777216,16777216,16777216],'layers':[" D "],'loss':'mse'}", EI, "/input",
     "found 4722366482869645213696", 0},
    /* layers */
    {"{'input':[4],'loss':'mse'}", EI, "/layers",
     "required; expected a non-empty array of layer objects", 1},
    {"{'input':[4],'layers':{},'loss':'mse'}", EI, "/layers", "found an object", 1},
    {"{'input':[4],'layers':" D ",'loss':'mse'}", EI, "/layers", "found an object", 1},
    {"{'input':[4],'layers':[],'loss':'mse'}", EI, "/layers", "found an empty array", 1},
    {L1("'relu'"), EI, "/layers/0",
     "expected a layer object with a \"type\", found the string \"relu\"", 1},
    {L2("5"), EI, "/layers/1", "found 5", 1},
    {L2("[]"), EI, "/layers/1", "found an array", 1},
    {L1("{'units':3}"), EI, "/layers/0/type",
     "required; expected a layer type, one of: dense, dropout, activation, conv2d, maxpool2d, "
     "avgpool2d, global_avgpool, batchnorm, flatten, rnn, lstm, gru, linear, relu, leaky_relu, "
     "elu, sigmoid, tanh, softmax, gelu", 1},
    {L1("{'type':'conv3d'}"), EI, "/layers/0/type",
     "expected a layer type, one of: dense, dropout, activation, conv2d, maxpool2d, avgpool2d, "
     "global_avgpool, batchnorm, flatten, rnn, lstm, gru, linear, relu, leaky_relu, elu, "
     "sigmoid, tanh, softmax, gelu; found the string \"conv3d\"", 1},
    {IMG("{'type':'Conv2D','filters':2,'kernel':3}"), EI, "/layers/0/type",
     "found the string \"Conv2D\"", 1},
    {IMG("{'type':'maxpool','size':2}"), EI, "/layers/0/type", "found the string \"maxpool\"", 1},
    {L1("{'type':'Dense','units':3}"), EI, "/layers/0/type", "found the string \"Dense\"", 1},
    {L1("{'type':5}"), EI, "/layers/0/type", "expected a layer type, one of:", 1},
    {L1("{'type':null}"), EI, "/layers/0/type", "found null", 1},
    /* dense */
    {L1("{'type':'dense'}"), EI, "/layers/0/units", "required; expected an integer in 1..1048576",
     1},
    {L1("{'type':'dense','units':0}"), EI, "/layers/0/units",
     "expected an integer in 1..1048576, found 0", 1},
    {L1("{'type':'dense','units':-3}"), EI, "/layers/0/units", "found -3", 1},
    {L1("{'type':'dense','units':1048577}"), EI, "/layers/0/units", "found 1048577", 1},
    {L1("{'type':'dense','units':2147483648}"), EI, "/layers/0/units", "found 2147483648", 1},
    {L1("{'type':'dense','units':-9223372036854775808}"), EI, "/layers/0/units",
     "found -9223372036854775808", 1},
    {L1("{'type':'dense','units':2.5}"), EI, "/layers/0/units", "found 2.5", 1},
    {L1("{'type':'dense','units':3.0}"), EI, "/layers/0/units",
     "expected an integer in 1..1048576, found 3.0 (write integers without a fraction)", 0},
    {L1("{'type':'dense','units':3e2}"), EI, "/layers/0/units", "found 300.0", 0},
    {L1("{'type':'dense','units':1e300}"), EI, "/layers/0/units", "found 1e+300", 1},
    {L1("{'type':'dense','units':'3'}"), EI, "/layers/0/units", "found the string \"3\"", 1},
    {L1("{'type':'dense','units':true}"), EI, "/layers/0/units", "found true", 1},
    {L1("{'type':'dense','units':null}"), EI, "/layers/0/units", "found null", 1},
    {L1("{'type':'dense','units':[3]}"), EI, "/layers/0/units", "found an array", 1},
    {L1("{'type':'dense','unit':3}"), EI, "/layers/0/unit",
     "unknown key \"unit\"; allowed keys: type, units, activation, use_bias, init", 1},
    {L1("{'type':'dense','units':3,'rate':0.5}"), EI, "/layers/0/rate",
     "\"rate\" is not an option of layer type \"dense\"; allowed keys: type, units", 1},
    {L1("{'type':'dense','units':3,'alpha':0.5}"), EI, "/layers/0/alpha",
     "not an option of layer type \"dense\"", 1},
    {L1("{'type':'dense','units':3,'activation':'relux'}"), EI, "/layers/0/activation",
     "expected an activation, one of: linear, relu, leaky_relu, elu, sigmoid, tanh, softmax, "
     "gelu; found the string \"relux\"", 1},
    {L1("{'type':'dense','units':3,'activation':3}"), EI, "/layers/0/activation",
     "expected an activation name or an object {\"type\", \"alpha\"}, found 3", 1},
    {L1("{'type':'dense','units':3,'activation':null}"), EI, "/layers/0/activation",
     "found null", 1},
    {L1("{'type':'dense','units':3,'activation':['relu']}"), EI, "/layers/0/activation",
     "found an array", 1},
    {L1("{'type':'dense','units':3,'activation':{}}"), EI, "/layers/0/activation/type",
     "required; expected an activation", 1},
    {L1("{'type':'dense','units':3,'activation':{'alpha':0.1}}"), EI, "/layers/0/activation/type",
     "required", 1},
    {L1("{'type':'dense','units':3,'activation':{'type':'bogus'}}"), EI,
     "/layers/0/activation/type", "found the string \"bogus\"", 1},
    {L1("{'type':'dense','units':3,'activation':{'type':'relu','alpha':0.1}}"), EI,
     "/layers/0/activation/alpha",
     "\"alpha\" is an option of leaky_relu and elu only; found it with \"relu\"", 1},
    {L1("{'type':'dense','units':3,'activation':{'type':'leaky_relu','alpha':-1}}"), EI,
     "/layers/0/activation/alpha", "expected a number >= 0, found -1", 1},
    {L1("{'type':'dense','units':3,'activation':{'type':'elu','alpha':0}}"), EI,
     "/layers/0/activation/alpha", "expected a number > 0, found 0", 1},
    {L1("{'type':'dense','units':3,'activation':{'type':'elu','alpha':'1'}}"), EI,
     "/layers/0/activation/alpha", "found the string \"1\"", 1},
    {L1("{'type':'dense','units':3,'activation':{'type':'elu','beta':1}}"), EI,
     "/layers/0/activation/beta", "unknown key \"beta\"; allowed keys: type, alpha", 1},
    {L1("{'type':'dense','units':3,'activation':{'type':'relu','units':3}}"), EI,
     "/layers/0/activation/units", "unknown key \"units\"; allowed keys: type", 1},
    {L1("{'type':'dense','units':3,'use_bias':1}"), EI, "/layers/0/use_bias",
     "expected true or false, found 1", 1},
    {L1("{'type':'dense','units':3,'use_bias':'true'}"), EI, "/layers/0/use_bias",
     "found the string \"true\"", 1},
    {L1("{'type':'dense','units':3,'use_bias':null}"), EI, "/layers/0/use_bias", "found null", 1},
    {L1("{'type':'dense','units':3,'init':'xavier'}"), EI, "/layers/0/init",
     "expected an initializer, one of: default, he_uniform, he_normal, glorot_uniform, "
     "glorot_normal, zeros; found the string \"xavier\"", 1},
    {L1("{'type':'dense','units':3,'init':null}"), EI, "/layers/0/init", "found null", 1},
    /* dropout */
    {L2("{'type':'dropout'}"), EI, "/layers/1/rate", "required; expected a number in [0, 1)", 1},
    {L2("{'type':'dropout','rate':1}"), EI, "/layers/1/rate",
     "expected a number in [0, 1), found 1", 1},
    {L2("{'type':'dropout','rate':1.5}"), EI, "/layers/1/rate", "found 1.5", 1},
    {L2("{'type':'dropout','rate':-0.1}"), EI, "/layers/1/rate", "found -0.1", 1},
    {L2("{'type':'dropout','rate':'0.5'}"), EI, "/layers/1/rate", "found the string \"0.5\"", 1},
    {L2("{'type':'dropout','rate':true}"), EI, "/layers/1/rate", "found true", 1},
    {L2("{'type':'dropout','rate':0.5,'units':3}"), EI, "/layers/1/units",
     "\"units\" is not an option of layer type \"dropout\"; allowed keys: type, rate", 1},
    {L2("{'type':'dropout','rate':0.5,'p':0.5}"), EI, "/layers/1/p", "unknown key \"p\"", 1},
    /* standalone activations */
    {L2("{'type':'relu','alpha':0.5}"), EI, "/layers/1/alpha",
     "\"alpha\" is an option of leaky_relu and elu only; found it with \"relu\"", 1},
    {L2("{'type':'softmax','units':3}"), EI, "/layers/1/units",
     "\"units\" is not an option of layer type \"softmax\"; allowed keys: type", 1},
    {L2("{'type':'relu','foo':1}"), EI, "/layers/1/foo", "unknown key \"foo\"; allowed keys: type",
     1},
    {L2("{'type':'leaky_relu','alpha':-0.5}"), EI, "/layers/1/alpha",
     "expected a number >= 0, found -0.5", 1},
    {L2("{'type':'leaky_relu','units':3}"), EI, "/layers/1/units",
     "not an option of layer type \"leaky_relu\"; allowed keys: type, alpha", 1},
    {L2("{'type':'elu','alpha':0}"), EI, "/layers/1/alpha", "expected a number > 0, found 0", 1},
    {L2("{'type':'elu','alpha':null}"), EI, "/layers/1/alpha", "found null", 1},
    {L2("{'type':'activation'}"), EI, "/layers/1/activation", "required; expected an activation",
     1},
    {L2("{'type':'activation','activation':'nope'}"), EI, "/layers/1/activation",
     "found the string \"nope\"", 1},
    {L2("{'type':'activation','activation':'elu','alpha':1}"), EI, "/layers/1/alpha",
     "\"alpha\" is not an option of layer type \"activation\"; allowed keys: type, activation", 1},
    {L2("{'type':'activation','activation':{'type':'elu','alpha':-1}}"), EI,
     "/layers/1/activation/alpha", "expected a number > 0, found -1", 1},
    /* conv2d */
    {CONV("'kernel':3"), EI, "/layers/0/filters", "required; expected an integer in 1..65536", 1},
    {CONV("'filters':0,'kernel':3"), EI, "/layers/0/filters",
     "expected an integer in 1..65536, found 0", 1},
    {CONV("'filters':65537,'kernel':3"), EI, "/layers/0/filters", "found 65537", 1},
    {CONV("'filters':-2,'kernel':3"), EI, "/layers/0/filters", "found -2", 1},
    {CONV("'filters':2.0,'kernel':3"), EI, "/layers/0/filters",
     "found 2.0 (write integers without a fraction)", 0},
    {CONV("'filters':'8','kernel':3"), EI, "/layers/0/filters", "found the string \"8\"", 1},
    {CONV("'filters':[8],'kernel':3"), EI, "/layers/0/filters", "found an array", 1},
    {CONV("'filters':2"), EI, "/layers/0/kernel",
     "required; expected an integer in 1..1024 or an array [height, width] of such integers", 1},
    {CONV("'filters':2,'kernel':0"), EI, "/layers/0/kernel",
     "expected an integer in 1..1024 or an array [height, width] of such integers, found 0", 1},
    {CONV("'filters':2,'kernel':1025"), EI, "/layers/0/kernel", "found 1025", 1},
    {CONV("'filters':2,'kernel':2.5"), EI, "/layers/0/kernel", "found 2.5", 1},
    {CONV("'filters':2,'kernel':3.0"), EI, "/layers/0/kernel",
     "such integers, found 3.0 (write integers without a fraction)", 0},
    {CONV("'filters':2,'kernel':'3'"), EI, "/layers/0/kernel", "found the string \"3\"", 1},
    {CONV("'filters':2,'kernel':'3x3'"), EI, "/layers/0/kernel", "found the string \"3x3\"", 1},
    {CONV("'filters':2,'kernel':true"), EI, "/layers/0/kernel", "found true", 1},
    {CONV("'filters':2,'kernel':null"), EI, "/layers/0/kernel", "found null", 1},
    {CONV("'filters':2,'kernel':{'h':3,'w':3}"), EI, "/layers/0/kernel", "found an object", 1},
    {CONV("'filters':2,'kernel':[]"), EI, "/layers/0/kernel",
     "expected an integer in 1..1024 or an array [height, width] of such integers, found an "
     "array of 0 elements", 1},
    {CONV("'filters':2,'kernel':[3]"), EI, "/layers/0/kernel", "found an array of 1 element", 1},
    {CONV("'filters':2,'kernel':[3,3,3]"), EI, "/layers/0/kernel",
     "found an array of 3 elements", 1},
    {CONV("'filters':2,'kernel':[3,0]"), EI, "/layers/0/kernel/1",
     "expected an integer in 1..1024, found 0", 1},
    {CONV("'filters':2,'kernel':[1025,3]"), EI, "/layers/0/kernel/0", "found 1025", 1},
    {CONV("'filters':2,'kernel':[3.0,3]"), EI, "/layers/0/kernel/0",
     "expected an integer in 1..1024, found 3.0 (write integers without a fraction)", 0},
    {CONV("'filters':2,'kernel':[3,'3']"), EI, "/layers/0/kernel/1", "found the string \"3\"", 1},
    {CONV("'filters':2,'kernel':[3,null]"), EI, "/layers/0/kernel/1", "found null", 1},
    {CONV("'filters':2,'kernel':[[3],3]"), EI, "/layers/0/kernel/0", "found an array", 1},
    {CVK("'stride':0"), EI, "/layers/0/stride",
     "expected an integer in 1..1024 or an array [height, width] of such integers, found 0", 1},
    {CVK("'stride':1025"), EI, "/layers/0/stride", "found 1025", 1},
    {CVK("'stride':[1,-1]"), EI, "/layers/0/stride/1", "expected an integer in 1..1024, found -1",
     1},
    {CVK("'stride':[2]"), EI, "/layers/0/stride", "found an array of 1 element", 1},
    {CVK("'stride':'2'"), EI, "/layers/0/stride", "found the string \"2\"", 1},
    {CVK("'stride':null"), EI, "/layers/0/stride", "found null", 1},
    {CVK("'padding':'full'"), EI, "/layers/0/padding",
     "expected \"valid\", \"same\", an integer in 0..1024 or an array [rows, cols] of such "
     "integers, found the string \"full\"", 1},
    {CVK("'padding':'SAME'"), EI, "/layers/0/padding", "found the string \"SAME\"", 1},
    {CVK("'padding':''"), EI, "/layers/0/padding", "found the string \"\"", 1},
    {CVK("'padding':-1"), EI, "/layers/0/padding",
     "expected \"valid\", \"same\", an integer in 0..1024 or an array [rows, cols] of such "
     "integers, found -1", 1},
    {CVK("'padding':1025"), EI, "/layers/0/padding", "found 1025", 1},
    {CVK("'padding':1.5"), EI, "/layers/0/padding", "found 1.5", 1},
    {CVK("'padding':1.0"), EI, "/layers/0/padding", "found 1.0 (write integers without a "
     "fraction)", 0},
    {CVK("'padding':true"), EI, "/layers/0/padding", "found true", 1},
    {CVK("'padding':null"), EI, "/layers/0/padding", "found null", 1},
    {CVK("'padding':{}"), EI, "/layers/0/padding", "found an object", 1},
    {CVK("'padding':[1]"), EI, "/layers/0/padding", "found an array of 1 element", 1},
    {CVK("'padding':['same','same']"), EI, "/layers/0/padding/0",
     "expected an integer in 0..1024, found the string \"same\"", 1},
    {CVK("'padding':[1,-1]"), EI, "/layers/0/padding/1", "expected an integer in 0..1024, found -1",
     1},
    {CVK("'padding':[0,1025]"), EI, "/layers/0/padding/1", "found 1025", 1},
    {CVK("'padding':'same','stride':2"), EI, "/layers/0/padding",
     "padding \"same\" needs stride 1 (as in PyTorch); found stride [2, 2]", 1},
    {CVK("'stride':[1,2],'padding':'same'"), EI, "/layers/0/padding",
     "padding \"same\" needs stride 1 (as in PyTorch); found stride [1, 2]", 1},
    {CVK("'activation':'relux'"), EI, "/layers/0/activation",
     "expected an activation, one of: linear, relu", 1},
    {CVK("'activation':{'type':'relu','alpha':0.1}"), EI, "/layers/0/activation/alpha",
     "\"alpha\" is an option of leaky_relu and elu only; found it with \"relu\"", 1},
    {CVK("'activation':{'type':'elu','alpha':0}"), EI, "/layers/0/activation/alpha",
     "expected a number > 0, found 0", 1},
    {CVK("'activation':7"), EI, "/layers/0/activation",
     "expected an activation name or an object {\"type\", \"alpha\"}, found 7", 1},
    {CVK("'use_bias':0"), EI, "/layers/0/use_bias", "expected true or false, found 0", 1},
    {CVK("'init':'kaiming'"), EI, "/layers/0/init",
     "expected an initializer, one of: default, he_uniform", 1},
    {CVK("'units':3"), EI, "/layers/0/units",
     "\"units\" is not an option of layer type \"conv2d\"; allowed keys: type, filters, kernel, "
     "stride, padding, activation, use_bias, init", 1},
    {CVK("'size':2"), EI, "/layers/0/size", "\"size\" is not an option of layer type \"conv2d\"",
     1},
    {CVK("'alpha':0.1"), EI, "/layers/0/alpha", "\"alpha\" is not an option of layer type "
     "\"conv2d\"", 1},
    {CVK("'momentum':0.1"), EI, "/layers/0/momentum", "not an option of layer type \"conv2d\"", 1},
    {CVK("'kernel_size':3"), EI, "/layers/0/kernel_size",
     "unknown key \"kernel_size\"; allowed keys: type, filters, kernel, stride, padding, "
     "activation, use_bias, init", 1},
    {CVK("'dilation':2"), EI, "/layers/0/dilation", "unknown key \"dilation\"", 1},
    {CVK("'groups':2"), EI, "/layers/0/groups", "unknown key \"groups\"", 1},
    /* the order: unknown keys, then the members in the documented order */
    {CONV("'filterz':2"), EI, "/layers/0/filterz", "unknown key \"filterz\"", 1},
    {CONV("'filters':0,'kernel':0"), EI, "/layers/0/filters", "found 0", 1},
    {CONV("'padding':'full','kernel':0,'filters':2"), EI, "/layers/0/kernel", "found 0", 1},
    {CVK("'init':'x','stride':0"), EI, "/layers/0/stride", "found 0", 1},
    {CVK("'padding':'same','stride':2,'use_bias':1"), EI, "/layers/0/use_bias", "found 1", 1},
    /* options of the new layers elsewhere */
    {L1("{'type':'dense','units':3,'filters':8}"), EI, "/layers/0/filters",
     "\"filters\" is not an option of layer type \"dense\"; allowed keys: type, units, "
     "activation, use_bias, init", 1},
    {L1("{'type':'dense','units':3,'padding':'same'}"), EI, "/layers/0/padding",
     "not an option of layer type \"dense\"", 1},
    {L2("{'type':'dropout','rate':0.5,'size':2}"), EI, "/layers/1/size",
     "not an option of layer type \"dropout\"", 1},
    {L2("{'type':'relu','eps':1e-5}"), EI, "/layers/1/eps",
     "\"eps\" is not an option of layer type \"relu\"; allowed keys: type", 1},
    /* maxpool2d, avgpool2d */
    {IMG("{'type':'maxpool2d'}"), EI, "/layers/0/size",
     "required; expected an integer in 1..1024 or an array [height, width] of such integers", 1},
    {IMG("{'type':'avgpool2d','stride':2}"), EI, "/layers/0/size", "required", 1},
    {IMG("{'type':'maxpool2d','size':0}"), EI, "/layers/0/size",
     "expected an integer in 1..1024 or an array [height, width] of such integers, found 0", 1},
    {IMG("{'type':'maxpool2d','size':1025}"), EI, "/layers/0/size", "found 1025", 1},
    {IMG("{'type':'maxpool2d','size':2.0}"), EI, "/layers/0/size",
     "found 2.0 (write integers without a fraction)", 0},
    {IMG("{'type':'maxpool2d','size':'2'}"), EI, "/layers/0/size", "found the string \"2\"", 1},
    {IMG("{'type':'maxpool2d','size':[2,2,2]}"), EI, "/layers/0/size",
     "found an array of 3 elements", 1},
    {IMG("{'type':'avgpool2d','size':[2,0]}"), EI, "/layers/0/size/1",
     "expected an integer in 1..1024, found 0", 1},
    {IMG("{'type':'avgpool2d','size':[true,2]}"), EI, "/layers/0/size/0", "found true", 1},
    {IMG("{'type':'maxpool2d','size':2,'stride':0}"), EI, "/layers/0/stride",
     "expected an integer in 1..1024 or an array [height, width] of such integers, found 0", 1},
    {IMG("{'type':'avgpool2d','size':2,'stride':[1]}"), EI, "/layers/0/stride",
     "found an array of 1 element", 1},
    {IMG("{'type':'avgpool2d','size':2,'stride':[1,1025]}"), EI, "/layers/0/stride/1",
     "found 1025", 1},
    {IMG("{'type':'maxpool2d','size':2,'stride':null}"), EI, "/layers/0/stride", "found null", 1},
    {IMG("{'type':'maxpool2d','size':2,'padding':1}"), EI, "/layers/0/padding",
     "\"padding\" is not an option of layer type \"maxpool2d\"; allowed keys: type, size, stride",
     1},
    {IMG("{'type':'maxpool2d','kernel':2}"), EI, "/layers/0/kernel",
     "\"kernel\" is not an option of layer type \"maxpool2d\"; allowed keys: type, size, stride",
     1},
    {IMG("{'type':'avgpool2d','size':2,'filters':3}"), EI, "/layers/0/filters",
     "\"filters\" is not an option of layer type \"avgpool2d\"", 1},
    {IMG("{'type':'avgpool2d','pool_size':2}"), EI, "/layers/0/pool_size",
     "unknown key \"pool_size\"; allowed keys: type, size, stride", 1},
    /* global_avgpool, flatten */
    {IMG("{'type':'global_avgpool','size':2}"), EI, "/layers/0/size",
     "\"size\" is not an option of layer type \"global_avgpool\"; allowed keys: type", 1},
    {IMG("{'type':'global_avgpool','keepdim':true}"), EI, "/layers/0/keepdim",
     "unknown key \"keepdim\"; allowed keys: type", 1},
    {IMG("{'type':'flatten','units':3}"), EI, "/layers/0/units",
     "\"units\" is not an option of layer type \"flatten\"; allowed keys: type", 1},
    {IMG("{'type':'flatten','start_dim':1}"), EI, "/layers/0/start_dim",
     "unknown key \"start_dim\"; allowed keys: type", 1},
    /* batchnorm */
    {IMG("{'type':'batchnorm','momentum':0}"), EI, "/layers/0/momentum",
     "expected a number in (0, 1], found 0", 1},
    {IMG("{'type':'batchnorm','momentum':1.5}"), EI, "/layers/0/momentum", "found 1.5", 1},
    {IMG("{'type':'batchnorm','momentum':-0.1}"), EI, "/layers/0/momentum", "found -0.1", 1},
    {IMG("{'type':'batchnorm','momentum':'0.1'}"), EI, "/layers/0/momentum",
     "found the string \"0.1\"", 1},
    {IMG("{'type':'batchnorm','momentum':null}"), EI, "/layers/0/momentum", "found null", 1},
    {IMG("{'type':'batchnorm','momentum':true}"), EI, "/layers/0/momentum", "found true", 1},
    {IMG("{'type':'batchnorm','momentum':[0.1]}"), EI, "/layers/0/momentum", "found an array", 1},
    {IMG("{'type':'batchnorm','eps':0}"), EI, "/layers/0/eps", "expected a number > 0, found 0",
     1},
    {IMG("{'type':'batchnorm','eps':-1e-5}"), EI, "/layers/0/eps", "found -1e-05", 1},
    {IMG("{'type':'batchnorm','eps':'1e-5'}"), EI, "/layers/0/eps", "found the string \"1e-5\"",
     1},
    {IMG("{'type':'batchnorm','eps':false}"), EI, "/layers/0/eps", "found false", 1},
    {IMG("{'type':'batchnorm','momentum':0,'eps':0}"), EI, "/layers/0/momentum", "found 0", 1},
    {IMG("{'type':'batchnorm','affine':false}"), EI, "/layers/0/affine",
     "unknown key \"affine\"; allowed keys: type, momentum, eps", 1},
    {IMG("{'type':'batchnorm','rate':0.5}"), EI, "/layers/0/rate",
     "\"rate\" is not an option of layer type \"batchnorm\"; allowed keys: type, momentum, eps",
     1},
    {IMG("{'type':'batchnorm','momentum':NaN}"), EF, "", "invalid token", 0},
    {IMG("{'type':'batchnorm','eps':1e400}"), EF, "", "real number overflow", 0},
    {IMG("{'type':'batchnorm','eps':1e-5,'eps':1e-3}"), EF, "", "duplicate object key", 0},
    /* rnn, lstm, gru: units */
    {SEQ("{'type':'rnn'}"), EI, "/layers/0/units", "required; expected an integer in 1..65536", 1},
    {SEQ("{'type':'lstm'}"), EI, "/layers/0/units", "required; expected an integer in 1..65536",
     1},
    {SEQ("{'type':'gru','return_sequences':true}"), EI, "/layers/0/units",
     "required; expected an integer in 1..65536", 1},
    {LSTM("'units':0"), EI, "/layers/0/units", "expected an integer in 1..65536, found 0", 1},
    {GRU("'units':65537"), EI, "/layers/0/units", "expected an integer in 1..65536, found 65537",
     1},
    {RNN("'units':-4"), EI, "/layers/0/units", "found -4", 1},
    {LSTM("'units':2.5"), EI, "/layers/0/units", "found 2.5", 1},
    {GRU("'units':8.0"), EI, "/layers/0/units",
     "expected an integer in 1..65536, found 8.0 (write integers without a fraction)", 0},
    {LSTM("'units':1e300"), EI, "/layers/0/units", "found 1e+300", 1},
    {LSTM("'units':9223372036854775807"), EI, "/layers/0/units", "found 9223372036854775807", 1},
    {RNN("'units':'8'"), EI, "/layers/0/units", "found the string \"8\"", 1},
    {LSTM("'units':null"), EI, "/layers/0/units", "found null", 1},
    {GRU("'units':true"), EI, "/layers/0/units", "found true", 1},
    {LSTM("'units':[8]"), EI, "/layers/0/units", "found an array", 1},
    /* return_sequences */
    {LSTM("'units':4,'return_sequences':1"), EI, "/layers/0/return_sequences",
     "expected true or false, found 1", 1},
    {LSTM("'units':4,'return_sequences':0"), EI, "/layers/0/return_sequences", "found 0", 1},
    {GRU("'units':4,'return_sequences':'true'"), EI, "/layers/0/return_sequences",
     "expected true or false, found the string \"true\"", 1},
    {RNN("'units':4,'return_sequences':null"), EI, "/layers/0/return_sequences", "found null", 1},
    {LSTM("'units':4,'return_sequences':[true]"), EI, "/layers/0/return_sequences",
     "found an array", 1},
    /* bptt */
    {LSTM("'units':4,'bptt':-1"), EI, "/layers/0/bptt",
     "expected an integer in 0..1000000, found -1", 1},
    {GRU("'units':4,'bptt':1000001"), EI, "/layers/0/bptt",
     "expected an integer in 0..1000000, found 1000001", 1},
    {RNN("'units':4,'bptt':2.5"), EI, "/layers/0/bptt", "found 2.5", 1},
    {LSTM("'units':4,'bptt':5.0"), EI, "/layers/0/bptt",
     "expected an integer in 0..1000000, found 5.0 (write integers without a fraction)", 0},
    {LSTM("'units':4,'bptt':1e300"), EI, "/layers/0/bptt", "found 1e+300", 1},
    {GRU("'units':4,'bptt':-9223372036854775808"), EI, "/layers/0/bptt",
     "found -9223372036854775808", 1},
    {LSTM("'units':4,'bptt':'10'"), EI, "/layers/0/bptt", "found the string \"10\"", 1},
    {LSTM("'units':4,'bptt':null"), EI, "/layers/0/bptt", "found null", 1},
    {GRU("'units':4,'bptt':true"), EI, "/layers/0/bptt", "found true", 1},
    {RNN("'units':4,'bptt':{}"), EI, "/layers/0/bptt", "found an object", 1},
    {LSTM("'units':4,'bptt':NaN"), EF, "", "invalid token", 0},
    {GRU("'units':4,'bptt':-Infinity"), EF, "", "invalid token", 0},
    {LSTM("'units':4,'bptt':1e400"), EF, "", "real number overflow", 0},
    {LSTM("'units':4,'bptt':99999999999999999999"), EF, "", "too big integer", 0},
    /* use_bias */
    {RNN("'units':4,'use_bias':1"), EI, "/layers/0/use_bias", "expected true or false, found 1",
     1},
    {LSTM("'units':4,'use_bias':'false'"), EI, "/layers/0/use_bias",
     "found the string \"false\"", 1},
    {GRU("'units':4,'use_bias':null"), EI, "/layers/0/use_bias", "found null", 1},
    /* an rnn's activation: tanh or relu, by name */
    {RNN("'units':4,'activation':'sigmoid'"), EI, "/layers/0/activation",
     RNN_ACT "the string \"sigmoid\"", 1},
    {RNN("'units':4,'activation':'linear'"), EI, "/layers/0/activation",
     RNN_ACT "the string \"linear\"", 1},
    {RNN("'units':4,'activation':'softmax'"), EI, "/layers/0/activation",
     RNN_ACT "the string \"softmax\"", 1},
    {RNN("'units':4,'activation':'leaky_relu'"), EI, "/layers/0/activation",
     RNN_ACT "the string \"leaky_relu\"", 1},
    {RNN("'units':4,'activation':'gelu'"), EI, "/layers/0/activation", RNN_ACT "the string", 1},
    {RNN("'units':4,'activation':'TANH'"), EI, "/layers/0/activation",
     RNN_ACT "the string \"TANH\"", 1},
    {RNN("'units':4,'activation':'relux'"), EI, "/layers/0/activation",
     RNN_ACT "the string \"relux\"", 1},
    {RNN("'units':4,'activation':''"), EI, "/layers/0/activation", RNN_ACT "the string \"\"", 1},
    {RNN("'units':4,'activation':{'type':'tanh'}"), EI, "/layers/0/activation",
     RNN_ACT "an object", 1},
    {RNN("'units':4,'activation':3"), EI, "/layers/0/activation", RNN_ACT "3", 1},
    {RNN("'units':4,'activation':null"), EI, "/layers/0/activation", RNN_ACT "null", 1},
    {RNN("'units':4,'activation':['relu']"), EI, "/layers/0/activation", RNN_ACT "an array", 1},
    /* lstm and gru have their own gate functions */
    {LSTM("'units':4,'activation':'tanh'"), EI, "/layers/0/activation",
     "\"activation\" is not an option of layer type \"lstm\"; " GATED_KEYS, 1},
    {GRU("'units':4,'activation':'relu'"), EI, "/layers/0/activation",
     "\"activation\" is not an option of layer type \"gru\"; " GATED_KEYS, 1},
    /* init: the weights start as PyTorch's, uniform(-1/sqrt(units), 1/sqrt(units)) */
    {RNN("'units':4,'init':'zeros'"), EI, "/layers/0/init",
     "\"init\" is not an option of layer type \"rnn\"; " RNN_KEYS, 1},
    {LSTM("'units':4,'init':'default'"), EI, "/layers/0/init",
     "\"init\" is not an option of layer type \"lstm\"; " GATED_KEYS, 1},
    {GRU("'units':4,'init':'he_uniform'"), EI, "/layers/0/init",
     "\"init\" is not an option of layer type \"gru\"", 1},
    /* other layers' options */
    {LSTM("'units':4,'rate':0.5"), EI, "/layers/0/rate",
     "\"rate\" is not an option of layer type \"lstm\"; " GATED_KEYS, 1},
    {GRU("'units':4,'filters':4"), EI, "/layers/0/filters",
     "\"filters\" is not an option of layer type \"gru\"", 1},
    {RNN("'units':4,'alpha':0.1"), EI, "/layers/0/alpha",
     "\"alpha\" is not an option of layer type \"rnn\"; " RNN_KEYS, 1},
    {LSTM("'units':4,'kernel':3"), EI, "/layers/0/kernel",
     "\"kernel\" is not an option of layer type \"lstm\"", 1},
    {GRU("'units':4,'momentum':0.1"), EI, "/layers/0/momentum",
     "\"momentum\" is not an option of layer type \"gru\"", 1},
    /* other libraries' names */
    {LSTM("'units':4,'hidden_size':4"), EI, "/layers/0/hidden_size",
     "unknown key \"hidden_size\"; " GATED_KEYS, 1},
    {LSTM("'units':4,'num_layers':2"), EI, "/layers/0/num_layers", "unknown key \"num_layers\"",
     1},
    {GRU("'units':4,'bidirectional':true"), EI, "/layers/0/bidirectional",
     "unknown key \"bidirectional\"", 1},
    {LSTM("'units':4,'dropout':0.1"), EI, "/layers/0/dropout", "unknown key \"dropout\"", 1},
    {RNN("'units':4,'nonlinearity':'relu'"), EI, "/layers/0/nonlinearity",
     "unknown key \"nonlinearity\"; " RNN_KEYS, 1},
    {LSTM("'units':4,'batch_first':true"), EI, "/layers/0/batch_first",
     "unknown key \"batch_first\"", 1},
    {GRU("'units':4,'recurrent_activation':'sigmoid'"), EI, "/layers/0/recurrent_activation",
     "unknown key \"recurrent_activation\"", 1},
    {LSTM("'units':4,'go_backwards':true"), EI, "/layers/0/go_backwards",
     "unknown key \"go_backwards\"", 1},
    {GRU("'hidden':4"), EI, "/layers/0/hidden", "unknown key \"hidden\"; " GATED_KEYS, 1},
    /* the recurrent options elsewhere */
    {L1("{'type':'dense','units':3,'return_sequences':true}"), EI, "/layers/0/return_sequences",
     "\"return_sequences\" is not an option of layer type \"dense\"; allowed keys: type, units, "
     "activation, use_bias, init", 1},
    {CVK("'bptt':3"), EI, "/layers/0/bptt", "\"bptt\" is not an option of layer type \"conv2d\"",
     1},
    {L2("{'type':'dropout','rate':0.1,'return_sequences':false}"), EI,
     "/layers/1/return_sequences", "not an option of layer type \"dropout\"", 1},
    {L2("{'type':'tanh','bptt':0}"), EI, "/layers/1/bptt",
     "\"bptt\" is not an option of layer type \"tanh\"; allowed keys: type", 1},
    {IMG("{'type':'flatten','return_sequences':true}"), EI, "/layers/0/return_sequences",
     "\"return_sequences\" is not an option of layer type \"flatten\"", 1},
    /* type names are case-sensitive; no other names */
    {SEQ("{'type':'LSTM','units':4}"), EI, "/layers/0/type", "found the string \"LSTM\"", 1},
    {SEQ("{'type':'simple_rnn','units':4}"), EI, "/layers/0/type",
     "found the string \"simple_rnn\"", 1},
    {SEQ("{'type':'bilstm','units':4}"), EI, "/layers/0/type", "found the string \"bilstm\"", 1},
    /* the order: unknown keys, then units, activation, return_sequences,
     * bptt, use_bias */
    {RNN("'units':0,'activation':'gelu','init':'zeros'"), EI, "/layers/0/init",
     "not an option of layer type \"rnn\"", 1},
    {LSTM("'units':0,'bptt':-1,'return_sequences':1"), EI, "/layers/0/units", "found 0", 1},
    {RNN("'use_bias':0,'bptt':-1,'return_sequences':1,'activation':'gelu','units':4"), EI,
     "/layers/0/activation", "found the string \"gelu\"", 1},
    {GRU("'use_bias':0,'bptt':-1,'return_sequences':1,'units':4"), EI,
     "/layers/0/return_sequences", "found 1", 1},
    {LSTM("'units':4,'use_bias':0,'bptt':-1"), EI, "/layers/0/bptt", "found -1", 1},
    {LSTM("'units':4,'bptt':3,'bptt':4"), EF, "", "duplicate object key", 0},
    /* loss */
    {"{'input':[4],'layers':[" D "]}", EI, "/loss",
     "required; expected a loss, one of: mse, mae, cross_entropy, binary_cross_entropy", 1},
    {"{'input':[4],'layers':[" D "],'loss':'hinge'}", EI, "/loss", "found the string \"hinge\"", 1},
    {"{'input':[4],'layers':[" D "],'loss':'MSE'}", EI, "/loss", "found the string \"MSE\"", 1},
    {"{'input':[4],'layers':[" D "],'loss':1}", EI, "/loss", "found 1", 1},
    {"{'input':[4],'layers':[" D "],'loss':null}", EI, "/loss", "found null", 1},
    /* the loss and the last activation */
    {CE("{'type':'dense','units':3,'activation':'relu'}"), EI, "/layers/0/activation",
     "loss \"cross_entropy\" (at /loss) expects the last layer's activation to be softmax or "
     "linear (logits); found relu", 0},
    {CE(D ",{'type':'relu'}"), EI, "/layers/1/type", "found relu", 0},
    {CE(D ",{'type':'elu','alpha':2}"), EI, "/layers/1/type", "found elu", 0},
    {CE(D ",{'type':'activation','activation':'tanh'}"), EI, "/layers/1/activation",
     "found tanh", 0},
    {CE(D ",{'type':'activation','activation':{'type':'leaky_relu'}}"), EI,
     "/layers/1/activation", "found leaky_relu", 0},
    {CE("{'type':'dense','units':3,'activation':'softmax'},{'type':'dropout','rate':0.5}"), EI,
     "/layers/1/type", "loss \"cross_entropy\" (at /loss) expects the last layer to be dense or "
     "an activation (softmax or linear); found dropout", 0},
    {CE("{'type':'dropout','rate':0.5}"), EI, "/layers/0/type", "found dropout", 0},
    {"{'input':[4],'layers':[" D ",{'type':'dropout','rate':0}],'loss':'binary_cross_entropy'}",
     EI, "/layers/1/type", "(sigmoid or linear); found dropout", 0},
    {CE("{'type':'dense','units':3,'activation':{'type':'relu'}}"), EI, "/layers/0/activation",
     "found relu", 0},
    {"{'input':[4],'layers':[{'type':'dense','units':1,'activation':'softmax'}],"
     "'loss':'binary_cross_entropy'}", EI, "/layers/0/activation",
     "loss \"binary_cross_entropy\" (at /loss) expects the last layer's activation to be "
     "sigmoid or linear (logits); found softmax", 0},
    {"{'input':[4],'layers':[" D ",{'type':'tanh'}],'loss':'binary_cross_entropy'}", EI,
     "/layers/1/type", "found tanh", 0},
    /* the new layers and the loss: conv2d's activation counts as dense's; a
     * pooling, global_avgpool, batchnorm or flatten layer cannot be last */
    {CEI("{'type':'conv2d','filters':3,'kernel':8,'activation':'relu'}"), EI,
     "/layers/0/activation", "loss \"cross_entropy\" (at /loss) expects the last layer's "
     "activation to be softmax or linear (logits); found relu", 0},
    {CEI("{'type':'conv2d','filters':3,'kernel':8,'activation':{'type':'leaky_relu'}}"), EI,
     "/layers/0/activation", "found leaky_relu", 0},
    {"{'input':[1,8,8],'layers':[{'type':'conv2d','filters':1,'kernel':8,'activation':'softmax'}],"
     "'loss':'binary_cross_entropy'}", EI, "/layers/0/activation",
     "expects the last layer's activation to be sigmoid or linear (logits); found softmax", 0},
    {CEI(CV ",{'type':'maxpool2d','size':2}"), EI, "/layers/1/type",
     "loss \"cross_entropy\" (at /loss) expects the last layer to be dense or an activation "
     "(softmax or linear); found maxpool2d", 0},
    {CEI(CV ",{'type':'avgpool2d','size':2}"), EI, "/layers/1/type", "found avgpool2d", 0},
    {CEI(CV ",{'type':'global_avgpool'}"), EI, "/layers/1/type", "found global_avgpool", 0},
    {CEI(CV ",{'type':'flatten'}"), EI, "/layers/1/type", "found flatten", 0},
    {CEI(CV ",{'type':'batchnorm'}"), EI, "/layers/1/type", "found batchnorm", 0},
    {"{'input':[4],'layers':[" D ",{'type':'batchnorm','momentum':0.5}],"
     "'loss':'binary_cross_entropy'}", EI, "/layers/1/type",
     "(sigmoid or linear); found batchnorm", 0},
    /* a recurrent layer outputs a hidden state, not logits: whatever its
     * activation, a dense layer follows it before these losses */
    {CES("{'type':'lstm','units':4}"), EI, "/layers/0/type",
     "loss \"cross_entropy\" (at /loss) expects the last layer to be dense or an activation "
     "(softmax or linear); found lstm", 0},
    {CES("{'type':'rnn','units':4,'activation':'relu'}"), EI, "/layers/0/type", "found rnn", 0},
    {CES("{'type':'rnn','units':4,'return_sequences':true}"), EI, "/layers/0/type", "found rnn",
     0},
    {CES("{'type':'lstm','units':4,'return_sequences':true},{'type':'gru','units':3}"), EI,
     "/layers/1/type", "found gru", 0},
    {"{'input':[5,3],'layers':[{'type':'gru','units':1}],'loss':'binary_cross_entropy'}", EI,
     "/layers/0/type", "(sigmoid or linear); found gru", 0},
    {CES("{'type':'lstm','units':4,'return_sequences':true},"
         "{'type':'dense','units':3,'activation':'tanh'}"), EI, "/layers/1/activation",
     "expects the last layer's activation to be softmax or linear (logits); found tanh", 0},
    {CES("{'type':'gru','units':4},{'type':'dense','units':3},{'type':'dropout','rate':0.2}"),
     EI, "/layers/2/type", "found dropout", 0},
    /* the first error wins: the model before the training */
    {"{'input':[4],'layers':[{'type':'dense','units':0}],'loss':'mse','training':{'epochs':0}}",
     EI, "/layers/0/units", "found 0", 1},
    {"{'training':{'epochs':0},'input':[4],'layers':[" D "],'loss':'mse'}", EI,
     "/training/epochs", "found 0", 1},
    /* training */
    {"{'input':[4],'layers':[" D "],'loss':'mse','training':[]}", EI, "/training",
     "expected a training object, found an array", 1},
    {"{'input':[4],'layers':[" D "],'loss':'mse','training':null}", EI, "/training", "found null",
     1},
    {"{'input':[4],'layers':[" D "],'loss':'mse','training':'adam'}", EI, "/training",
     "found the string \"adam\"", 1},
    {TR("'lr':0.1"), EI, "/training/lr",
     "unknown key \"lr\"; allowed keys: optimizer, schedule, clip_norm, batch_size, epochs, "
     "validation_split, seed, shuffle, target_loss, max_seconds, early_stopping", 1},
    {TR("'max_epochs':5"), EI, "/training/max_epochs", "unknown key \"max_epochs\"", 1},
    /* optimizer */
    {TR("'optimizer':'nadam'"), EI, "/training/optimizer",
     "expected an optimizer, one of: sgd, adam, adamw, rmsprop; found the string \"nadam\"", 1},
    {TR("'optimizer':'Adam'"), EI, "/training/optimizer", "found the string \"Adam\"", 1},
    {TR("'optimizer':5"), EI, "/training/optimizer",
     "expected an optimizer name or an object with a \"type\", found 5", 1},
    {TR("'optimizer':null"), EI, "/training/optimizer", "found null", 1},
    {TR("'optimizer':['adam']"), EI, "/training/optimizer", "found an array", 1},
    {OPT(""), EI, "/training/optimizer/type", "required; expected an optimizer, one of: sgd", 1},
    {OPT("'lr':0.1"), EI, "/training/optimizer/type", "required", 1},
    {OPT("'type':'nadam'"), EI, "/training/optimizer/type", "found the string \"nadam\"", 1},
    {OPT("'type':1"), EI, "/training/optimizer/type", "found 1", 1},
    {OPT("'type':'sgd','beta1':0.9"), EI, "/training/optimizer/beta1",
     "\"beta1\" is not an option of optimizer \"sgd\"; allowed keys: type, lr, momentum, "
     "nesterov, weight_decay", 1},
    {OPT("'type':'sgd','eps':1e-8"), EI, "/training/optimizer/eps",
     "not an option of optimizer \"sgd\"", 1},
    {OPT("'type':'sgd','alpha':0.9"), EI, "/training/optimizer/alpha",
     "not an option of optimizer \"sgd\"", 1},
    {OPT("'type':'adam','momentum':0.9"), EI, "/training/optimizer/momentum",
     "\"momentum\" is not an option of optimizer \"adam\"; allowed keys: type, lr, beta1, beta2, "
     "eps, weight_decay", 1},
    {OPT("'type':'adamw','nesterov':false"), EI, "/training/optimizer/nesterov",
     "not an option of optimizer \"adamw\"", 1},
    {OPT("'type':'adam','alpha':0.9"), EI, "/training/optimizer/alpha",
     "not an option of optimizer \"adam\"", 1},
    {OPT("'type':'rmsprop','beta2':0.9"), EI, "/training/optimizer/beta2",
     "\"beta2\" is not an option of optimizer \"rmsprop\"; allowed keys: type, lr, alpha, eps, "
     "momentum, weight_decay", 1},
    {OPT("'type':'rmsprop','nesterov':true"), EI, "/training/optimizer/nesterov",
     "not an option of optimizer \"rmsprop\"", 1},
    {OPT("'type':'adam','foo':1"), EI, "/training/optimizer/foo", "unknown key \"foo\"", 1},
    {OPT("'type':'adam','learning_rate':0.1"), EI, "/training/optimizer/learning_rate",
     "unknown key \"learning_rate\"; allowed keys: type, lr", 1},
    {OPT("'type':'adam','lr':0"), EI, "/training/optimizer/lr",
     "expected a number > 0, found 0", 1},
    {OPT("'type':'adam','lr':-1e-3"), EI, "/training/optimizer/lr", "found -0.001", 1},
    {OPT("'type':'adam','lr':'0.1'"), EI, "/training/optimizer/lr", "found the string \"0.1\"", 1},
    {OPT("'type':'adam','lr':true"), EI, "/training/optimizer/lr", "found true", 1},
    {OPT("'type':'adam','lr':null"), EI, "/training/optimizer/lr", "found null", 1},
    {OPT("'type':'sgd','momentum':1"), EI, "/training/optimizer/momentum",
     "expected a number in [0, 1), found 1", 1},
    {OPT("'type':'sgd','momentum':-0.5"), EI, "/training/optimizer/momentum", "found -0.5", 1},
    {OPT("'type':'sgd','nesterov':true"), EI, "/training/optimizer/nesterov",
     "nesterov needs momentum > 0; found momentum 0 (the default)", 1},
    {OPT("'type':'sgd','momentum':0,'nesterov':true"), EI, "/training/optimizer/nesterov",
     "nesterov needs momentum > 0; found momentum 0", 1},
    {OPT("'type':'sgd','momentum':0.9,'nesterov':'yes'"), EI, "/training/optimizer/nesterov",
     "expected true or false, found the string \"yes\"", 1},
    {OPT("'type':'adam','beta1':1.0"), EI, "/training/optimizer/beta1",
     "expected a number in [0, 1), found 1.0", 1},
    {OPT("'type':'adam','beta2':-0.1"), EI, "/training/optimizer/beta2", "found -0.1", 1},
    {OPT("'type':'adamw','eps':0"), EI, "/training/optimizer/eps", "expected a number > 0, found 0",
     1},
    {OPT("'type':'rmsprop','alpha':1"), EI, "/training/optimizer/alpha",
     "expected a number in [0, 1), found 1", 1},
    {OPT("'type':'rmsprop','momentum':2"), EI, "/training/optimizer/momentum", "found 2", 1},
    {OPT("'type':'adam','weight_decay':-1"), EI, "/training/optimizer/weight_decay",
     "expected a number >= 0, found -1", 1},
    /* schedule */
    {TR("'schedule':'linear'"), EI, "/training/schedule",
     "expected a schedule, one of: constant, step, exponential, cosine; found the string "
     "\"linear\"", 1},
    {TR("'schedule':[]"), EI, "/training/schedule",
     "expected a schedule name or an object with a \"type\", found an array", 1},
    {TR("'schedule':0.5"), EI, "/training/schedule", "found 0.5", 1},
    {SCH(""), EI, "/training/schedule/type", "required; expected a schedule", 1},
    {SCH("'type':'warm'"), EI, "/training/schedule/type", "found the string \"warm\"", 1},
    {SCH("'type':'constant','gamma':0.5"), EI, "/training/schedule/gamma",
     "\"gamma\" is not an option of schedule \"constant\"; allowed keys: type, warmup_steps", 1},
    {SCH("'type':'cosine','step_size':3"), EI, "/training/schedule/step_size",
     "\"step_size\" is not an option of schedule \"cosine\"; allowed keys: type, min_lr, "
     "warmup_steps", 1},
    {SCH("'type':'exponential','min_lr':0"), EI, "/training/schedule/min_lr",
     "\"min_lr\" is not an option of schedule \"exponential\"; allowed keys: type, gamma, "
     "warmup_steps", 1},
    {SCH("'type':'step','min_lr':0"), EI, "/training/schedule/min_lr",
     "allowed keys: type, step_size, gamma, warmup_steps", 1},
    {SCH("'type':'step','foo':1"), EI, "/training/schedule/foo", "unknown key \"foo\"", 1},
    {SCH("'type':'step','step_size':0"), EI, "/training/schedule/step_size",
     "expected an integer in 1..1000000, found 0", 1},
    {SCH("'type':'step','step_size':2.0"), EI, "/training/schedule/step_size", "found 2.0", 0},
    {SCH("'type':'step','step_size':1000001"), EI, "/training/schedule/step_size",
     "found 1000001", 1},
    {SCH("'type':'exponential','gamma':0"), EI, "/training/schedule/gamma",
     "expected a number in (0, 1], found 0", 1},
    {SCH("'type':'step','gamma':1.5"), EI, "/training/schedule/gamma", "found 1.5", 1},
    {SCH("'type':'cosine','min_lr':-1"), EI, "/training/schedule/min_lr",
     "expected a number >= 0, found -1", 1},
    {SCH("'type':'cosine','min_lr':0.5"), EI, "/training/schedule/min_lr",
     "expected a number in [0, lr] = [0, 0.001], found 0.5", 0},
    {TR("'optimizer':{'type':'sgd','lr':0.1},'schedule':{'type':'cosine','min_lr':0.2}"), EI,
     "/training/schedule/min_lr", "[0, lr] = [0, 0.1], found 0.2", 0},
    {TR("'schedule':{'type':'cosine','min_lr':0.2},'optimizer':'sgd'"), EI,
     "/training/schedule/min_lr", "[0, lr] = [0, 0.01], found 0.2", 0},
    {SCH("'type':'constant','warmup_steps':-1"), EI, "/training/schedule/warmup_steps",
     "expected an integer in 0..1000000000, found -1", 1},
    {SCH("'type':'cosine','warmup_steps':1.5"), EI, "/training/schedule/warmup_steps",
     "found 1.5", 1},
    {SCH("'type':'cosine','warmup_steps':1000000001"), EI, "/training/schedule/warmup_steps",
     "found 1000000001", 1},
    /* the scalars */
    {TR("'clip_norm':0"), EI, "/training/clip_norm", "expected a number > 0 or null, found 0", 1},
    {TR("'clip_norm':-1"), EI, "/training/clip_norm", "found -1", 1},
    {TR("'clip_norm':'1'"), EI, "/training/clip_norm", "found the string \"1\"", 1},
    {TR("'clip_norm':false"), EI, "/training/clip_norm", "found false", 1},
    {TR("'batch_size':0"), EI, "/training/batch_size", "expected an integer in 1..65536, found 0",
     1},
    {TR("'batch_size':65537"), EI, "/training/batch_size", "found 65537", 1},
    {TR("'batch_size':32.0"), EI, "/training/batch_size", "found 32.0", 0},
    {TR("'batch_size':'32'"), EI, "/training/batch_size", "found the string \"32\"", 1},
    {TR("'batch_size':null"), EI, "/training/batch_size", "found null", 1},
    {TR("'epochs':0"), EI, "/training/epochs", "expected an integer in 1..1000000, found 0", 1},
    {TR("'epochs':1000001"), EI, "/training/epochs", "found 1000001", 1},
    {TR("'epochs':1e3"), EI, "/training/epochs", "found 1000.0", 0},
    {TR("'epochs':-9223372036854775807"), EI, "/training/epochs", "found -9223372036854775807", 1},
    {TR("'validation_split':1"), EI, "/training/validation_split",
     "expected a number in [0, 1), found 1", 1},
    {TR("'validation_split':-0.1"), EI, "/training/validation_split", "found -0.1", 1},
    {TR("'validation_split':true"), EI, "/training/validation_split", "found true", 1},
    {TR("'validation_split':null"), EI, "/training/validation_split", "found null", 1},
    {TR("'seed':-1"), EI, "/training/seed", "expected an integer >= 0, found -1", 1},
    {TR("'seed':1.5"), EI, "/training/seed", "found 1.5", 1},
    {TR("'seed':'42'"), EI, "/training/seed", "found the string \"42\"", 1},
    {TR("'seed':9223372036854775808"), EF, "", "too big integer", 0},
    {TR("'shuffle':0"), EI, "/training/shuffle", "expected true or false, found 0", 1},
    {TR("'shuffle':null"), EI, "/training/shuffle", "found null", 1},
    {TR("'shards':0"), EI, "/training/shards", "expected an integer in 1..256, found 0", 1},
    {TR("'shards':257"), EI, "/training/shards", "found 257", 1},
    {TR("'shards':2.5"), EI, "/training/shards", "found 2.5", 1},
    {TR("'shards':null"), EI, "/training/shards", "found null", 1},
    {TR("'target_loss':'x'"), EI, "/training/target_loss",
     "expected a finite number or null, found the string \"x\"", 1},
    {TR("'target_loss':true"), EI, "/training/target_loss", "found true", 1},
    {TR("'max_seconds':0"), EI, "/training/max_seconds", "expected a number > 0 or null, found 0",
     1},
    {TR("'max_seconds':-5"), EI, "/training/max_seconds", "found -5", 1},
    {TR("'max_seconds':'1h'"), EI, "/training/max_seconds", "found the string \"1h\"", 1},
    /* early_stopping */
    {TR("'early_stopping':[]"), EI, "/training/early_stopping",
     "expected an early_stopping object or null, found an array", 1},
    {TR("'early_stopping':true"), EI, "/training/early_stopping", "found true", 1},
    {TR("'early_stopping':'val_loss'"), EI, "/training/early_stopping",
     "found the string \"val_loss\"", 1},
    {ES("'monitor':'val_acc'"), EI, "/training/early_stopping/monitor",
     "expected a metric, one of: val_loss, val_accuracy, loss, accuracy; found the string "
     "\"val_acc\"", 1},
    {ES("'monitor':1"), EI, "/training/early_stopping/monitor", "found 1", 1},
    {ES("'monitor':null"), EI, "/training/early_stopping/monitor", "found null", 1},
    {ES("'patience':-1"), EI, "/training/early_stopping/patience",
     "expected an integer in 0..1000000, found -1", 1},
    {ES("'patience':1.5"), EI, "/training/early_stopping/patience", "found 1.5", 1},
    {ES("'patience':1000001"), EI, "/training/early_stopping/patience", "found 1000001", 1},
    {ES("'min_delta':-0.1"), EI, "/training/early_stopping/min_delta",
     "expected a number >= 0, found -0.1", 1},
    {ES("'restore_best':'yes'"), EI, "/training/early_stopping/restore_best",
     "expected true or false, found the string \"yes\"", 1},
    {ES("'mode':'min'"), EI, "/training/early_stopping/mode",
     "unknown key \"mode\"; allowed keys: monitor, patience, min_delta, restore_best", 1},
    /* preprocess */
    {TR("'preprocess':true"), EI, "/training/preprocess", "expected a preprocess object", 1},
    {PP("'scale':true"), EI, "/training/preprocess/scale",
     "unknown key \"scale\"; allowed keys: standardize, min_max, categorical, missing", 1},
    {PP("'standardize':'yes'"), EI, "/training/preprocess/standardize",
     "expected true, false or \"auto\", found the string \"yes\"", 1},
    {PP("'standardize':1"), EI, "/training/preprocess/standardize", "found 1", 1},
    {PP("'min_max':'true'"), EI, "/training/preprocess/min_max", "expected true or false", 1},
    {PP("'standardize':true,'min_max':true"), EI, "/training/preprocess/min_max",
     "exclude each other", 0},
    {PP("'categorical':'all'"), EI, "/training/preprocess/categorical",
     "expected \"auto\" or an array of column names, found the string \"all\"", 1},
    {PP("'categorical':[1]"), EI, "/training/preprocess/categorical/0",
     "expected a column name (a non-empty string), found 1", 1},
    {PP("'categorical':['a','']"), EI, "/training/preprocess/categorical/1",
     "a non-empty string", 1},
    {PP("'categorical':['a','b','a']"), EI, "/training/preprocess/categorical/2",
     "column \"a\" is listed twice", 1},
    {PP("'missing':'drop'"), EI, "/training/preprocess/missing",
     "expected \"error\", \"mean\", \"median\" or an object", 1},
    {PP("'missing':'most_frequent'"), EI, "/training/preprocess/missing", "found the string", 1},
    {PP("'missing':{'numeric':'category'}"), EI, "/training/preprocess/missing/numeric",
     "expected \"error\", \"mean\" or \"median\"", 1},
    {PP("'missing':{'categorical':'mean'}"), EI, "/training/preprocess/missing/categorical",
     "expected \"error\", \"most_frequent\" or \"category\"", 1},
    {PP("'missing':{'text':'error'}"), EI, "/training/preprocess/missing/text",
     "unknown key \"text\"; allowed keys: numeric, categorical", 1},
    {PP("'missing':null"), EI, "/training/preprocess/missing", "found null", 1},
    /* not JSON: status NN_EFORMAT, path "", jansson's line and column */
    {"", EF, "", "invalid JSON at line 1, column 0:", 0},
    {"   ", EF, "", "invalid JSON at line 1", 0},
    {"{", EF, "", "invalid JSON at line 1, column 1:", 0},
    {"{'input':[4],}", EF, "", "invalid JSON at line 1", 0},
    {"{'input':[4] 'layers':[]}", EF, "", "invalid JSON", 0},
    {"{input:[4]}", EF, "", "invalid JSON", 0},
    {"{'input':[4],'input':[5],'layers':[" D "],'loss':'mse'}", EF, "",
     "duplicate object key", 0},
    {L1("{'type':'dense','units':3,'units':4}"), EF, "", "duplicate object key", 0},
    {"{'input':[NaN],'layers':[" D "],'loss':'mse'}", EF, "", "invalid token", 0},
    {"{'input':[Infinity],'layers':[" D "],'loss':'mse'}", EF, "", "invalid token", 0},
    {"{'input':[1e400],'layers':[" D "],'loss':'mse'}", EF, "", "real number overflow", 0},
    {"{'input':[-1e400],'layers':[" D "],'loss':'mse'}", EF, "", "real number overflow", 0},
    {"{'input':[99999999999999999999],'layers':[" D "],'loss':'mse'}", EF, "",
     "too big integer", 0},
    {L1(D) " x", EF, "", "end of file expected", 0},
    {L1(D) L1(D), EF, "", "end of file expected", 0},
    {"{\n  'input': [4],\n  'layers': [}", EF, "", "invalid JSON at line 3, column", 0},
    {"{'input':['\\u0000'],'layers':[" D "],'loss':'mse'}", EF, "", "is not allowed", 0},
    {"{'input':['\\ud800'],'layers':[" D "],'loss':'mse'}", EF, "", "invalid JSON", 0},
    {"{'input':['\xff'],'layers':[" D "],'loss':'mse'}", EF, "", "unable to decode byte 0xff", 0},
    {"{'input':['\xc3'],'layers':[" D "],'loss':'mse'}", EF, "", "invalid JSON", 0},
    {"{'\xed\xa0\x80':1}", EF, "", "invalid JSON", 0},
    {"{'input':[4],'layers':[" D "],'loss':'mse'", EF, "", "invalid JSON", 0},
    {"{'input':[4],'layers':[" D "],'loss':'ms", EF, "", "premature end of input", 0},
    {"{'input':[4],'layers':[" D "],'loss':'m\x01'}", EF, "", "control character", 0},
    {"\xef\xbb\xbf" L1(D), EF, "", "invalid JSON", 0},
    {"// comment\n" L1(D), EF, "", "invalid JSON", 0},
};

START_TEST(test_bad)
{
    const bad_case *t = &bad[_i];
    char *text = dq(t->doc), what[160];
    snprintf(what, sizeof what, "bad[%d] %.120s", _i, text);
    spec_json_err err;
    memset(&err, 0x5A, sizeof err);
    err.path[sizeof err.path - 1] = err.msg[sizeof err.msg - 1] = 0;
    int rc = parse_checked(text, strlen(text), &err, what);
    ck_assert_msg(rc == t->rc, "%s: status %d, want %d (%s: %s)", what, rc, t->rc, err.path,
                  err.msg);
    ck_assert_msg(strcmp(err.path, t->path) == 0, "%s: path '%s', want '%s' (%s)", what, err.path,
                  t->path, err.msg);
    ck_assert_msg(strstr(err.msg, t->msg) != NULL, "%s: message '%s' lacks '%s'", what, err.msg,
                  t->msg);
    if (rc == NN_EINVAL)
        assert_path_in_doc(text, &err, what);
    free(text);
}
END_TEST

/* ------------------------------------------------------------------------
 * Valid documents (each also goes through the round trip and the schema). */

static const char *const good[] = {
    L1(D),
    "{'input':[1,28,28],'layers':[{'type':'relu'},{'type':'dropout','rate':0.1}],'loss':'mse'}",
    "{'input':[28,28],'layers':[{'type':'dense','units':10}],'loss':'mae'}",
    "{'input':[16777216],'layers':[" D "],'loss':'mse'}",
    "{'input':[16384,16384],'layers':[" D "],'loss':'mse'}",
    "{'input':[16,4096,4096],'layers':[" D "],'loss':'mse'}",
    "{'loss':'mse','layers':[" D "],'input':[4]}",
    " \n\t{ 'input' : [ 4 ] ,\r\n 'layers' : [ " D " ] , 'loss' : 'mse' } \n",
    L1("{'type':'dense','units':1048576}"),
    L1("{'type':'dense','units':1,'activation':'gelu','use_bias':false,'init':'zeros'}"),
    L1("{'type':'dense','units':3,'activation':{'type':'relu'},'init':'he_normal'}"),
    L1("{'type':'dense','units':3,'activation':{'type':'leaky_relu','alpha':0.2}}"),
    L1("{'type':'dense','units':3,'activation':{'type':'elu'},'init':'glorot_normal'}"),
    L1("{'type':'dense','units':3,'activation':'leaky_relu','init':'he_uniform'}"),
    L1("{'init':'glorot_uniform','units':3,'type':'dense'}"),
    L2("{'type':'dropout','rate':0}"),
    L2("{'type':'dropout','rate':0.999}"),
    L2("{'type':'linear'},{'type':'relu'},{'type':'sigmoid'},{'type':'tanh'},{'type':'gelu'},"
       "{'type':'softmax'}"),
    L2("{'type':'leaky_relu'},{'type':'leaky_relu','alpha':0},{'type':'elu'},"
       "{'type':'elu','alpha':0.5}"),
    L2("{'type':'activation','activation':'relu'}"),
    L2("{'type':'activation','activation':{'type':'leaky_relu','alpha':0.3}}"),
    CE("{'type':'dense','units':3}"),
    CE("{'type':'dense','units':3,'activation':'softmax'}"),
    CE("{'type':'dense','units':3,'activation':'linear'}"),
    CE(D ",{'type':'softmax'}"),
    "{'input':[4],'layers':[" D ",{'type':'dropout','rate':0.5}],'loss':'mse'}",
    CE(D ",{'type':'activation','activation':'softmax'}"),
    CE(D ",{'type':'linear'}"),
    CE("{'type':'dense','units':3,'activation':'relu'},{'type':'dense','units':3}"),
    "{'input':[4],'layers':[{'type':'dense','units':1,'activation':'sigmoid'}],"
    "'loss':'binary_cross_entropy'}",
    "{'input':[4],'layers':[" D ",{'type':'sigmoid'}],'loss':'binary_cross_entropy'}",
    "{'input':[4],'layers':[{'type':'dense','units':1}],'loss':'binary_cross_entropy'}",
    "{'input':[4],'layers':[{'type':'dense','units':1,'activation':'relu'}],'loss':'mse'}",
    "{'input':[4],'layers':[{'type':'dense','units':2,'activation':'softmax'}],'loss':'mae'}",
    /* conv2d */
    IMG(CV),
    IMG("{'kernel':3,'filters':2,'type':'conv2d'}"),
    CONV("'filters':1,'kernel':[3,2],'stride':[2,1],'padding':[1,0],'activation':'relu',"
         "'use_bias':false,'init':'he_normal'"),
    CONV("'filters':4,'kernel':1,'stride':1,'padding':0"),
    CONV("'filters':4,'kernel':[1,1],'stride':[1,1],'padding':[0,0]"),
    CVK("'padding':'valid'"),
    CVK("'padding':'same'"),
    CVK("'padding':'same','stride':1"),
    CVK("'padding':'same','stride':[1,1]"),
    CONV("'filters':2,'kernel':[2,4],'padding':'same'"),
    CVK("'padding':2,'stride':3"),
    CVK("'stride':[3,2],'padding':'valid'"),
    CVK("'activation':{'type':'elu','alpha':0.5},'init':'glorot_normal'"),
    CVK("'activation':'leaky_relu','init':'zeros','use_bias':true"),
    CVK("'activation':{'type':'gelu'},'init':'default'"),
    CVK("'activation':'sigmoid','init':'glorot_uniform'"),
    CVK("'activation':'tanh','init':'he_uniform'"),
    CVK("'activation':'linear'"),
    "{'input':[1,3,3],'layers':[{'type':'conv2d','filters':65536,'kernel':3}],'loss':'mse'}",
    "{'input':[1,1024,1024],'layers':[{'type':'conv2d','filters':1,'kernel':1024,"
    "'stride':1024}],'loss':'mse'}",
    "{'input':[1,1,1],'layers':[{'type':'conv2d','filters':1,'kernel':[1,3],"
    "'padding':[1024,1]}],'loss':'mae'}",
    "{'input':[2,5,5],'layers':[" CV "," CV "],'loss':'mse'}",
    /* pooling, global_avgpool, flatten, batchnorm */
    IMG("{'type':'maxpool2d','size':2}"),
    IMG("{'type':'avgpool2d','size':2}"),
    IMG("{'type':'maxpool2d','size':[2,3],'stride':[1,2]}"),
    IMG("{'type':'avgpool2d','size':3,'stride':1}"),
    IMG("{'type':'avgpool2d','size':[8,8],'stride':[1024,1024]}"),
    IMG("{'stride':2,'size':[2,2],'type':'maxpool2d'}"),
    "{'input':[1,1024,1024],'layers':[{'type':'maxpool2d','size':1024}],'loss':'mse'}",
    IMG("{'type':'global_avgpool'}"),
    IMG("{'type':'flatten'}"),
    L1("{'type':'flatten'}"),
    "{'input':[3,4],'layers':[{'type':'flatten'},{'type':'batchnorm'}],'loss':'mse'}",
    IMG("{'type':'batchnorm'}"),
    IMG("{'type':'batchnorm','momentum':1,'eps':1}"),
    IMG("{'type':'batchnorm','momentum':0.01,'eps':0.001}"),
    IMG("{'eps':1e-3,'type':'batchnorm'}"),
    L1("{'type':'batchnorm','momentum':0.5}"),
    "{'input':[6,4],'layers':[{'type':'batchnorm'},{'type':'dense','units':2}],'loss':'mse'}",
    IMG(CV ",{'type':'batchnorm'},{'type':'relu'},{'type':'maxpool2d','size':2},"
        "{'type':'dropout','rate':0.1}"),
    /* whole networks, and the loss */
    CEI(CV ",{'type':'flatten'},{'type':'dense','units':3,'activation':'softmax'}"),
    CEI(CV ",{'type':'global_avgpool'},{'type':'dense','units':3}"),
    CEI(CV ",{'type':'avgpool2d','size':2,'stride':2},{'type':'flatten'},{'type':'dense',"
        "'units':3},{'type':'softmax'}"),
    CEI(CV ",{'type':'global_avgpool'},{'type':'dense','units':3},{'type':'linear'}"),
    "{'input':[1,8,8],'layers':[" CV ",{'type':'global_avgpool'},{'type':'dense','units':1,"
    "'activation':'sigmoid'}],'loss':'binary_cross_entropy'}",
    "{'input':[1,8,8],'layers':[" CV ",{'type':'flatten'},{'type':'dense','units':1},"
    "{'type':'activation','activation':'sigmoid'}],'loss':'binary_cross_entropy'}",
    "{'input':[1,8,8],'layers':[" CV ",{'type':'maxpool2d','size':2}],'loss':'mae'}",
    "{'input':[1,8,8],'layers':[" CV ",{'type':'batchnorm'}],'loss':'mse'}",
    /* rnn, lstm, gru */
    SEQ("{'type':'rnn','units':4}"),
    SEQ("{'type':'lstm','units':4}"),
    SEQ("{'type':'gru','units':4}"),
    RNN("'units':1,'activation':'relu','return_sequences':true,'bptt':3,'use_bias':false"),
    RNN("'units':4,'activation':'tanh','return_sequences':false,'bptt':0,'use_bias':true"),
    LSTM("'units':4,'return_sequences':true,'bptt':1"),
    LSTM("'units':2,'use_bias':false,'bptt':5"),
    GRU("'units':4,'return_sequences':true,'bptt':1000000,'use_bias':false"),
    SEQ("{'use_bias':true,'bptt':2,'units':3,'type':'gru'}"),
    SEQ("{'return_sequences':true,'activation':'relu','units':3,'type':'rnn'}"),
    "{'input':[2,4097],'layers':[{'type':'lstm','units':65536}],'loss':'mse'}",
    "{'input':[2,4097],'layers':[{'type':'rnn','units':65536,'activation':'relu',"
    "'bptt':1000000}],'loss':'mae'}",
    "{'input':[2,4097],'layers':[{'type':'gru','units':65536,'return_sequences':true}],"
    "'loss':'mse'}",
    /* stacked, and dense on every step */
    SEQ("{'type':'lstm','units':4,'return_sequences':true},{'type':'lstm','units':3}"),
    SEQ("{'type':'rnn','units':4,'return_sequences':true},{'type':'gru','units':4,"
        "'return_sequences':true},{'type':'lstm','units':2,'return_sequences':true}"),
    SEQ("{'type':'gru','units':4,'return_sequences':true},{'type':'dense','units':1}"),
    SEQ("{'type':'dense','units':6,'activation':'relu'},{'type':'lstm','units':4}"),
    SEQ("{'type':'lstm','units':4,'return_sequences':true},{'type':'dropout','rate':0.2},"
        "{'type':'batchnorm'},{'type':'gru','units':4},{'type':'relu'}"),
    /* the classification losses with a dense layer (or an activation) last */
    CES("{'type':'lstm','units':4},{'type':'dense','units':3,'activation':'softmax'}"),
    CES("{'type':'lstm','units':4,'return_sequences':true},{'type':'dense','units':3}"),
    CES("{'type':'gru','units':4},{'type':'dense','units':3},{'type':'softmax'}"),
    "{'input':[5,3],'layers':[{'type':'rnn','units':4},{'type':'dense','units':1,"
    "'activation':'sigmoid'}],'loss':'binary_cross_entropy'}",
    "{'input':[5,3],'layers':[{'type':'gru','units':4,'return_sequences':true},"
    "{'type':'dense','units':1}],'loss':'binary_cross_entropy'}",
    "{'input':[28,28],'layers':[{'type':'lstm','units':8},{'type':'dense','units':10,"
    "'activation':'softmax'}],'loss':'cross_entropy','training':{'optimizer':'adam',"
    "'clip_norm':1,'batch_size':64}}",
    TR(""),
    TR("'optimizer':'sgd'"),
    TR("'optimizer':'adam'"),
    TR("'optimizer':'adamw'"),
    TR("'optimizer':'rmsprop'"),
    OPT("'type':'sgd'"),
    OPT("'type':'sgd','lr':0.1,'momentum':0.9,'nesterov':true,'weight_decay':0.0005"),
    OPT("'type':'sgd','nesterov':false"),
    OPT("'type':'adam','lr':1,'beta1':0,'beta2':0.99,'eps':1e-7,'weight_decay':0"),
    OPT("'type':'adamw','weight_decay':0.05"),
    OPT("'type':'rmsprop','lr':0.001,'alpha':0.9,'eps':1e-6,'momentum':0.5,'weight_decay':0.1"),
    TR("'schedule':'constant'"),
    TR("'schedule':'step'"),
    TR("'schedule':'exponential'"),
    TR("'schedule':'cosine'"),
    SCH("'type':'constant','warmup_steps':100"),
    SCH("'type':'step','step_size':5,'gamma':0.5,'warmup_steps':0"),
    SCH("'type':'step','gamma':1"),
    SCH("'type':'exponential','gamma':0.9"),
    SCH("'type':'cosine','min_lr':0.001,'warmup_steps':1000000000"),
    TR("'schedule':{'type':'cosine','min_lr':0.05},'optimizer':{'type':'sgd','lr':0.1}"),
    TR("'clip_norm':null,'target_loss':null,'max_seconds':null,'early_stopping':null"),
    TR("'clip_norm':1,'target_loss':0.05,'max_seconds':0.5"),
    TR("'target_loss':-1"),
    TR("'target_loss':0"),
    TR("'batch_size':1,'epochs':1,'validation_split':0,'seed':0,'shuffle':false"),
    TR("'batch_size':65536,'epochs':1000000,'validation_split':0.999,"
       "'seed':9223372036854775807"),
    TR("'early_stopping':{}"),
    TR("'early_stopping':{'monitor':'accuracy','patience':0,'min_delta':0.01,"
       "'restore_best':false}"),
    TR("'early_stopping':{'monitor':'loss','patience':1000000}"),
    TR("'early_stopping':{'monitor':'val_accuracy'}"),
    "{'training':{'epochs':3},'input':[4],'layers':[" D "],'loss':'mse'}",
    PP(""),
    PP("'standardize':'auto','min_max':false,'categorical':'auto','missing':'error'"),
    PP("'standardize':false,'min_max':true,'categorical':['a','b'],'missing':'median'"),
    PP("'categorical':[],'missing':{'numeric':'mean','categorical':'category'}"),
    PP("'missing':{'categorical':'most_frequent'}"),
};

/* The canonical preprocess object says the same as the one it came from,
 * and parses back into the same request. */
START_TEST(preprocess_round_trip)
{
    static const char *const docs[] = {
        "{}",
        "{'standardize':false,'min_max':true,'categorical':['a','b'],'missing':'median'}",
        "{'categorical':[],'missing':{'numeric':'mean','categorical':'category'}}",
        "{'standardize':true,'missing':'mean'}",
    };
    static const char *const want[] = {
        "{'standardize':'auto','min_max':false,'categorical':'auto','missing':"
        "{'numeric':'error','categorical':'error'}}",
        "{'standardize':false,'min_max':true,'categorical':['a','b'],'missing':"
        "{'numeric':'median','categorical':'most_frequent'}}",
        "{'standardize':'auto','min_max':false,'categorical':[],'missing':"
        "{'numeric':'mean','categorical':'category'}}",
        "{'standardize':true,'min_max':false,'categorical':'auto','missing':"
        "{'numeric':'mean','categorical':'most_frequent'}}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        char *text = dq(docs[i]);
        json_t *p = json_loads(text, 0, NULL), *tr = json_pack("{s:o}", "preprocess", p);
        nn_prep_cfg c, c2;
        spec_json_err err;
        ck_assert_int_eq(spec_json_parse_preprocess(tr, "/training", &c, &err), 0);
        json_t *dump = spec_json_dump_preprocess(&c);
        assert_json_text(dump, want[i]);
        json_t *tr2 = json_pack("{s:O}", "preprocess", dump);
        ck_assert_int_eq(spec_json_parse_preprocess(tr2, "/training", &c2, &err), 0);
        ck_assert_int_eq(c2.standardize, c.standardize);
        ck_assert_int_eq(c2.min_max, c.min_max);
        ck_assert_int_eq(c2.categorical_auto, c.categorical_auto);
        ck_assert_int_eq(c2.n_categorical, c.n_categorical);
        for (int k = 0; k < c.n_categorical; k++)
            ck_assert_str_eq(c2.categorical[k], c.categorical[k]);
        ck_assert_int_eq(c2.missing_numeric, c.missing_numeric);
        ck_assert_int_eq(c2.missing_categorical, c.missing_categorical);
        nn_prep_cfg_free(&c);
        nn_prep_cfg_free(&c2);
        json_decref(tr);
        json_decref(tr2);
        json_decref(dump);
        free(text);
    }
    /* absent: the defaults; a training object without it is valid */
    nn_prep_cfg c;
    ck_assert_int_eq(spec_json_parse_preprocess(NULL, "/training", &c, NULL), 0);
    ck_assert_int_eq(c.standardize, NN_PREP_DEFAULT);
    ck_assert(c.categorical_auto);
    ck_assert_int_eq(c.missing_numeric, NN_IMPUTE_ERROR);
    nn_prep_cfg_free(&c);
}
END_TEST

START_TEST(test_good)
{
    char *text = dq(good[_i]), what[160];
    spec_json_err err;
    snprintf(what, sizeof what, "good[%d] %.120s", _i, text);
    int rc = parse_checked(text, strlen(text), &err, what);
    ck_assert_msg(rc == 0, "%s: %s: %s", what, err.path, err.msg);
    free(text);
}
END_TEST

/* What the parser accepts, the core builds (shape inference is the core's
 * job; this checks that the two agree on the rules they share).  Specs
 * whose weights would be large are skipped. */
START_TEST(test_good_builds)
{
    char *text = dq(good[_i]);
    nn_spec spec;
    spec_json_err err;
    ck_assert_int_eq(spec_json_parse_text(text, strlen(text), &spec, NULL, &err), 0);
    if (nn_shape_numel(&spec.input) <= 4096) {
        nn_model_opts mo = {.seed = 1, .threads = 1};
        nn_model *m = NULL;
        nn_err e;
        int rc = nn_model_new(&spec, &mo, &m, &e);
        spec_json_err_from_nn(&e, &err);
        ck_assert_msg(rc == 0 || core_lacks_layer(rc, &e, &spec, text),
                      "good[%d] %s: the core refuses it: %s: %s", _i, text, rc ? err.path : "",
                      rc ? err.msg : "");
        nn_model_free(m);
    }
    nn_spec_free(&spec);
    free(text);
}
END_TEST

/* ------------------------------------------------------------------------
 * Values and defaults. */

static nn_spec parse_ok(const char *doc, nn_train_cfg *cfg)
{
    char *text = dq(doc);
    nn_spec spec;
    nn_train_cfg scratch;
    spec_json_err err;
    int rc = spec_json_parse_text(text, strlen(text), &spec, cfg ? cfg : &scratch, &err);
    ck_assert_msg(rc == 0, "%s: %s: %s", text, err.path, err.msg);
    free(text);
    return spec;
}

START_TEST(test_defaults)
{
    nn_train_cfg cfg, def;
    nn_spec s = parse_ok(L1(D), &cfg);
    nn_train_cfg_default(&def);
    ck_assert_mem_eq(&cfg, &def, sizeof cfg);
    ck_assert_int_eq(s.n_layers, 1);
    ck_assert_int_eq(s.layers[0].kind, NN_LAYER_DENSE);
    ck_assert_int_eq(s.layers[0].units, 3);
    ck_assert_int_eq(s.layers[0].use_bias, 1);
    ck_assert_int_eq(s.layers[0].init, NN_INIT_DEFAULT);
    ck_assert_int_eq(s.layers[0].act, NN_ACT_LINEAR);
    ck_assert(isnan(s.layers[0].alpha));
    ck_assert_double_eq(s.layers[0].rate, 0);
    ck_assert_int_eq(s.loss, NN_LOSS_MSE);
    nn_spec_free(&s);

    /* "training": {} is the same as no training. */
    s = parse_ok(TR(""), &cfg);
    ck_assert_mem_eq(&cfg, &def, sizeof cfg);
    nn_spec_free(&s);

    /* The new layers' defaults, resolved into the struct. */
    s = parse_ok(IMG(CV ",{'type':'maxpool2d','size':[2,3]},{'type':'avgpool2d','size':2},"
                 "{'type':'batchnorm'},{'type':'global_avgpool'},{'type':'flatten'}"), NULL);
    ck_assert_int_eq(s.n_layers, 6);
    const nn_layer_spec *l = s.layers;
    ck_assert_int_eq(l[0].kind, NN_LAYER_CONV2D);
    ck_assert_int_eq(l[0].filters, 2);
    ck_assert(l[0].kernel[0] == 3 && l[0].kernel[1] == 3);
    ck_assert(l[0].stride[0] == 1 && l[0].stride[1] == 1);
    ck_assert_int_eq(l[0].padding, NN_PAD_VALID);
    ck_assert(l[0].pad[0] == 0 && l[0].pad[1] == 0);
    ck_assert_int_eq(l[0].act, NN_ACT_LINEAR);
    ck_assert(isnan(l[0].alpha));
    ck_assert_int_eq(l[0].use_bias, 1);
    ck_assert_int_eq(l[0].init, NN_INIT_DEFAULT);
    ck_assert_int_eq(l[1].kind, NN_LAYER_MAXPOOL2D);
    ck_assert(l[1].kernel[0] == 2 && l[1].kernel[1] == 3);
    ck_assert(l[1].stride[0] == 2 && l[1].stride[1] == 3);
    ck_assert_int_eq(l[2].kind, NN_LAYER_AVGPOOL2D);
    ck_assert(l[2].kernel[0] == 2 && l[2].kernel[1] == 2);
    ck_assert(l[2].stride[0] == 2 && l[2].stride[1] == 2);
    ck_assert_int_eq(l[3].kind, NN_LAYER_BATCHNORM);
    ck_assert_double_eq(l[3].momentum, 0.1);
    ck_assert_double_eq(l[3].eps, 1e-5);
    ck_assert_int_eq(l[4].kind, NN_LAYER_GLOBAL_AVGPOOL);
    ck_assert_int_eq(l[5].kind, NN_LAYER_FLATTEN);
    for (int i = 1; i < 6; i++)
        ck_assert_int_eq(l[i].act, NN_ACT_LINEAR);
    nn_spec_free(&s);

    /* The recurrent layers': an rnn's activation is tanh; all return the
     * last step, backpropagate through the whole sequence, have biases. */
    s = parse_ok(SEQ("{'type':'rnn','units':3},{'type':'lstm','units':4},{'type':'gru','units':5}"),
                 NULL);
    ck_assert_int_eq(s.n_layers, 3);
    const nn_layer_kind rk[3] = {NN_LAYER_RNN, NN_LAYER_LSTM, NN_LAYER_GRU};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(s.layers[i].kind, rk[i]);
        ck_assert_int_eq(s.layers[i].units, 3 + i);
        ck_assert_int_eq(s.layers[i].act, i == 0 ? NN_ACT_TANH : NN_ACT_LINEAR);
        ck_assert_int_eq(s.layers[i].return_sequences, 0);
        ck_assert_int_eq(s.layers[i].bptt, 0);
        ck_assert_int_eq(s.layers[i].use_bias, 1);
        ck_assert_int_eq(s.layers[i].init, NN_INIT_DEFAULT);
    }
    nn_spec_free(&s);

    /* parse_training(NULL) gives the defaults too. */
    spec_json_err err;
    memset(&cfg, 0x77, sizeof cfg);
    ck_assert_int_eq(spec_json_parse_training(NULL, "/training", &cfg, &err), 0);
    ck_assert_mem_eq(&cfg, &def, sizeof cfg);
}
END_TEST

START_TEST(test_layer_values)
{
    nn_spec s = parse_ok(
        "{'input':[3,32,32],'layers':["
        "{'type':'dense','units':7,'activation':{'type':'leaky_relu','alpha':0.2},"
        "'use_bias':false,'init':'he_normal'},"
        "{'type':'dropout','rate':0.25},"
        "{'type':'elu'},"
        "{'type':'leaky_relu','alpha':0},"
        "{'type':'activation','activation':{'type':'elu','alpha':0.5}},"
        "{'type':'activation','activation':'gelu'},"
        "{'type':'dense','units':2,'activation':'sigmoid','init':'zeros'}],"
        "'loss':'binary_cross_entropy'}", NULL);
    ck_assert_int_eq(s.input.rank, 3);
    ck_assert_int_eq(s.input.dim[0], 3);
    ck_assert_int_eq(s.input.dim[1], 32);
    ck_assert_int_eq(s.input.dim[2], 32);
    ck_assert_int_eq(s.n_layers, 7);
    const nn_layer_spec *l = s.layers;
    ck_assert_int_eq(l[0].kind, NN_LAYER_DENSE);
    ck_assert_int_eq(l[0].units, 7);
    ck_assert_int_eq(l[0].act, NN_ACT_LEAKY_RELU);
    ck_assert_double_eq(l[0].alpha, 0.2);
    ck_assert_int_eq(l[0].use_bias, 0);
    ck_assert_int_eq(l[0].init, NN_INIT_HE_NORMAL);
    ck_assert_int_eq(l[1].kind, NN_LAYER_DROPOUT);
    ck_assert_double_eq(l[1].rate, 0.25);
    ck_assert_int_eq(l[2].kind, NN_LAYER_ACT);
    ck_assert_int_eq(l[2].act, NN_ACT_ELU);
    ck_assert(isnan(l[2].alpha));
    ck_assert_int_eq(l[3].kind, NN_LAYER_ACT);
    ck_assert_int_eq(l[3].act, NN_ACT_LEAKY_RELU);
    ck_assert_double_eq(l[3].alpha, 0);
    ck_assert_int_eq(l[4].kind, NN_LAYER_ACT);
    ck_assert_int_eq(l[4].act, NN_ACT_ELU);
    ck_assert_double_eq(l[4].alpha, 0.5);
    ck_assert_int_eq(l[5].kind, NN_LAYER_ACT);
    ck_assert_int_eq(l[5].act, NN_ACT_GELU);
    ck_assert_int_eq(l[6].units, 2);
    ck_assert_int_eq(l[6].act, NN_ACT_SIGMOID);
    ck_assert_int_eq(l[6].init, NN_INIT_ZEROS);
    ck_assert_int_eq(s.loss, NN_LOSS_BCE);

    /* The canonical dump spells the defaults out and uses the short form
     * of standalone activations. */
    json_t *d = spec_json_dump_model(&s);
    assert_json_text(json_object_get(d, "layers"),
                     "[{'type':'dense','units':7,'activation':{'type':'leaky_relu','alpha':0.2},"
                    "'use_bias':false,'init':'he_normal'},{'type':'dropout','rate':0.25},"
                    "{'type':'elu','alpha':1.0},{'type':'leaky_relu','alpha':0.0},"
                    "{'type':'elu','alpha':0.5},{'type':'gelu'},"
                    "{'type':'dense','units':2,'activation':'sigmoid','use_bias':true,"
                    "'init':'zeros'}]");
    json_decref(d);
    nn_spec_free(&s);

    /* A leaky_relu without alpha dumps its default. */
    s = parse_ok(L1("{'type':'dense','units':3,'activation':'leaky_relu'}"), NULL);
    d = spec_json_dump_model(&s);
    json_t *a = json_object_get(json_array_get(json_object_get(d, "layers"), 0), "activation");
    ck_assert_double_eq(json_real_value(json_object_get(a, "alpha")), 0.01);
    json_decref(d);
    nn_spec_free(&s);
}
END_TEST

START_TEST(test_cnn_values)
{
    nn_spec s = parse_ok(
        "{'input':[3,32,32],'layers':["
        "{'type':'conv2d','filters':8,'kernel':[3,5],'stride':[2,1],'padding':[1,2],"
        "'activation':{'type':'leaky_relu','alpha':0.2},'use_bias':false,'init':'he_normal'},"
        "{'type':'conv2d','filters':4,'kernel':1,'stride':3,'padding':0,'activation':'elu'},"
        "{'type':'conv2d','filters':4,'kernel':[2,2],'padding':'same','activation':'gelu'},"
        "{'type':'conv2d','filters':4,'kernel':3,'padding':'valid'},"
        "{'type':'batchnorm','momentum':0.25,'eps':0.001},"
        "{'type':'maxpool2d','size':[3,2],'stride':[1,2]},"
        "{'type':'avgpool2d','size':2,'stride':1},"
        "{'type':'global_avgpool'},"
        "{'type':'flatten'},"
        "{'type':'batchnorm','momentum':1,'eps':2}],"
        "'loss':'mse'}", NULL);
    ck_assert_int_eq(s.n_layers, 10);
    const nn_layer_spec *l = s.layers;
    ck_assert_int_eq(l[0].kind, NN_LAYER_CONV2D);
    ck_assert_int_eq(l[0].filters, 8);
    ck_assert(l[0].kernel[0] == 3 && l[0].kernel[1] == 5);
    ck_assert(l[0].stride[0] == 2 && l[0].stride[1] == 1);
    ck_assert_int_eq(l[0].padding, NN_PAD_EXPLICIT);
    ck_assert(l[0].pad[0] == 1 && l[0].pad[1] == 2);
    ck_assert_int_eq(l[0].act, NN_ACT_LEAKY_RELU);
    ck_assert_double_eq(l[0].alpha, 0.2);
    ck_assert_int_eq(l[0].use_bias, 0);
    ck_assert_int_eq(l[0].init, NN_INIT_HE_NORMAL);
    ck_assert(l[1].kernel[0] == 1 && l[1].kernel[1] == 1);
    ck_assert(l[1].stride[0] == 3 && l[1].stride[1] == 3);
    ck_assert_int_eq(l[1].padding, NN_PAD_EXPLICIT);
    ck_assert(l[1].pad[0] == 0 && l[1].pad[1] == 0);
    ck_assert_int_eq(l[1].act, NN_ACT_ELU);
    ck_assert(isnan(l[1].alpha));
    ck_assert_int_eq(l[2].padding, NN_PAD_SAME);
    ck_assert(l[2].stride[0] == 1 && l[2].stride[1] == 1);
    ck_assert_int_eq(l[2].act, NN_ACT_GELU);
    ck_assert_int_eq(l[3].padding, NN_PAD_VALID);
    ck_assert_double_eq(l[4].momentum, 0.25);
    ck_assert_double_eq(l[4].eps, 0.001);
    ck_assert(l[5].kernel[0] == 3 && l[5].kernel[1] == 2);
    ck_assert(l[5].stride[0] == 1 && l[5].stride[1] == 2);
    ck_assert_int_eq(l[6].kind, NN_LAYER_AVGPOOL2D);
    ck_assert(l[6].kernel[0] == 2 && l[6].stride[0] == 1 && l[6].stride[1] == 1);
    ck_assert_int_eq(l[7].kind, NN_LAYER_GLOBAL_AVGPOOL);
    ck_assert_int_eq(l[8].kind, NN_LAYER_FLATTEN);
    ck_assert_double_eq(l[9].momentum, 1);
    ck_assert_double_eq(l[9].eps, 2);

    /* Every option explicit: pairs as arrays, padding 0 stays explicit. */
    json_t *d = spec_json_dump_model(&s);
    assert_json_text(json_object_get(d, "layers"),
        "[{'type':'conv2d','filters':8,'kernel':[3,5],'stride':[2,1],'padding':[1,2],"
        "'activation':{'type':'leaky_relu','alpha':0.2},'use_bias':false,'init':'he_normal'},"
        "{'type':'conv2d','filters':4,'kernel':[1,1],'stride':[3,3],'padding':[0,0],"
        "'activation':{'type':'elu','alpha':1.0},'use_bias':true,'init':'default'},"
        "{'type':'conv2d','filters':4,'kernel':[2,2],'stride':[1,1],'padding':'same',"
        "'activation':'gelu','use_bias':true,'init':'default'},"
        "{'type':'conv2d','filters':4,'kernel':[3,3],'stride':[1,1],'padding':'valid',"
        "'activation':'linear','use_bias':true,'init':'default'},"
        "{'type':'batchnorm','momentum':0.25,'eps':0.001},"
        "{'type':'maxpool2d','size':[3,2],'stride':[1,2]},"
        "{'type':'avgpool2d','size':[2,2],'stride':[1,1]},"
        "{'type':'global_avgpool'},{'type':'flatten'},"
        "{'type':'batchnorm','momentum':1.0,'eps':2.0}]");
    json_decref(d);

    /* A spec not made by the parser: a stride of 0 is dumped as the core
     * reads it (1 for conv2d, the window for pooling). */
    s.layers[0].stride[0] = s.layers[0].stride[1] = 0;
    s.layers[5].stride[0] = s.layers[5].stride[1] = 0;
    d = spec_json_dump_model(&s);
    const json_t *ls = json_object_get(d, "layers");
    assert_json_text(json_object_get(json_array_get(ls, 0), "stride"), "[1,1]");
    assert_json_text(json_object_get(json_array_get(ls, 5), "stride"), "[3,2]");
    json_decref(d);
    nn_spec_free(&s);

    /* examples/cnn-small.json uses every image layer kind. */
    char *path = src_path("examples/cnn-small.json");
    size_t len;
    char *file = tu_read(path, &len);
    nn_spec e;
    spec_json_err err;
    ck_assert_int_eq(spec_json_parse_text(file, len, &e, NULL, &err), 0);
    ck_assert_int_eq(e.layers[0].padding, NN_PAD_EXPLICIT);
    ck_assert(e.layers[0].stride[0] == 2 && e.layers[0].stride[1] == 2);
    ck_assert(e.layers[5].stride[0] == 2 && e.layers[5].kernel[0] == 3);
    int seen[NN_LAYER_COUNT] = {0};
    for (int i = 0; i < e.n_layers; i++)
        seen[e.layers[i].kind] = 1;
    for (int k = NN_LAYER_CONV2D; k <= NN_LAYER_FLATTEN; k++)
        ck_assert_msg(seen[k], "%s: no %s layer", path, nn_layer_kind_name((nn_layer_kind)k));
    nn_spec_free(&e);
    free(file);
    free(path);
}
END_TEST

/* The parser lets a conv2d be the last layer before cross_entropy (its
 * activation is checked like dense's, as core/model.c does); the core then
 * refuses its image-shaped output, and that error points at the layer. */
START_TEST(test_conv_last_left_to_core)
{
    nn_spec s = parse_ok(CEI("{'type':'conv2d','filters':3,'kernel':8,'activation':'softmax'}"),
                         NULL);
    nn_model_opts mo = {.seed = 1, .threads = 1};
    nn_model *m = NULL;
    nn_err e;
    spec_json_err err;
    int rc = nn_model_new(&s, &mo, &m, &e);
    if (!core_lacks_layer(rc, &e, &s, "conv2d last")) {
        ck_assert_int_eq(rc, NN_EINVAL);
        ck_assert_ptr_null(m);
        spec_json_err_from_nn(&e, &err);
        ck_assert_str_eq(err.path, "/layers/0/type");
        ck_assert_ptr_nonnull(strstr(err.msg, "flat"));
    }
    nn_spec_free(&s);
}
END_TEST

/* A stack of the three recurrent layers: the parsed values, the canonical
 * dump, and the core's tensors (PyTorch's names and layouts: G·H rows for
 * G = 1, 4, 3 gates). */
START_TEST(test_rnn_values)
{
    nn_spec s = parse_ok(
        "{'input':[28,28],'layers':["
        "{'type':'rnn','units':16,'activation':'relu','return_sequences':true,'bptt':7,"
        "'use_bias':false},"
        "{'type':'lstm','units':32,'return_sequences':true,'bptt':0},"
        "{'type':'gru','units':8,'use_bias':true},"
        "{'type':'dense','units':10}],"
        "'loss':'cross_entropy'}", NULL);
    ck_assert_int_eq(s.n_layers, 4);
    const nn_layer_spec *l = s.layers;
    ck_assert_int_eq(l[0].kind, NN_LAYER_RNN);
    ck_assert_int_eq(l[0].units, 16);
    ck_assert_int_eq(l[0].act, NN_ACT_RELU);
    ck_assert_int_eq(l[0].return_sequences, 1);
    ck_assert_int_eq(l[0].bptt, 7);
    ck_assert_int_eq(l[0].use_bias, 0);
    ck_assert_int_eq(l[1].kind, NN_LAYER_LSTM);
    ck_assert_int_eq(l[1].units, 32);
    ck_assert_int_eq(l[1].return_sequences, 1);
    ck_assert_int_eq(l[1].bptt, 0);
    ck_assert_int_eq(l[1].use_bias, 1);
    ck_assert_int_eq(l[2].kind, NN_LAYER_GRU);
    ck_assert_int_eq(l[2].units, 8);
    ck_assert_int_eq(l[2].return_sequences, 0);
    ck_assert_int_eq(l[2].use_bias, 1);
    ck_assert_int_eq(l[3].kind, NN_LAYER_DENSE);

    /* Every option explicit; the activation only on the rnn. */
    json_t *d = spec_json_dump_model(&s);
    assert_json_text(json_object_get(d, "layers"),
        "[{'type':'rnn','units':16,'activation':'relu','return_sequences':true,'bptt':7,"
        "'use_bias':false},"
        "{'type':'lstm','units':32,'return_sequences':true,'bptt':0,'use_bias':true},"
        "{'type':'gru','units':8,'return_sequences':false,'bptt':0,'use_bias':true},"
        "{'type':'dense','units':10,'activation':'linear','use_bias':true,'init':'default'}]");
    json_decref(d);

    /* The core builds it: [28, 28] -> [28, 16] -> [28, 32] -> [8] -> [10]. */
    nn_model_opts mo = {.seed = 1, .threads = 1};
    nn_model *m = NULL;
    nn_err e;
    int rc = nn_model_new(&s, &mo, &m, &e);
    if (!core_lacks_layer(rc, &e, &s, "rnn, lstm, gru")) {
        ck_assert_msg(rc == 0, "the core refuses it: layer %d %s: %s", e.layer, e.field, e.msg);
        size_t n = 0;
        n += assert_tensor(m, "layers.0.weight_ih_l0", 16, 28);
        n += assert_tensor(m, "layers.0.weight_hh_l0", 16, 16);
        ck_assert_ptr_null(find_tensor(m, "layers.0.bias_ih_l0"));   /* use_bias false */
        ck_assert_ptr_null(find_tensor(m, "layers.0.bias_hh_l0"));
        n += assert_tensor(m, "layers.1.weight_ih_l0", 4 * 32, 16);
        n += assert_tensor(m, "layers.1.weight_hh_l0", 4 * 32, 32);
        n += assert_tensor(m, "layers.1.bias_ih_l0", 4 * 32, 0);
        n += assert_tensor(m, "layers.1.bias_hh_l0", 4 * 32, 0);
        n += assert_tensor(m, "layers.2.weight_ih_l0", 3 * 8, 32);
        n += assert_tensor(m, "layers.2.weight_hh_l0", 3 * 8, 8);
        n += assert_tensor(m, "layers.2.bias_ih_l0", 3 * 8, 0);
        n += assert_tensor(m, "layers.2.bias_hh_l0", 3 * 8, 0);
        n += assert_tensor(m, "layers.3.weight", 10, 8);
        n += assert_tensor(m, "layers.3.bias", 10, 0);
        ck_assert_int_eq(nn_model_n_tensors(m), 12);
        /* 704 + 6400 + 1008 + 90 */
        ck_assert_uint_eq(n, 8202);
        nn_shape out = nn_model_out_shape(m);
        ck_assert(out.rank == 1 && out.dim[0] == 10);
    }
    nn_model_free(m);
    nn_spec_free(&s);

    /* Sequence to sequence: dense on every step, [5, 3] -> [5, 4] -> [5, 2]. */
    s = parse_ok(SEQ("{'type':'gru','units':4,'return_sequences':true},{'type':'dense','units':2}"),
                 NULL);
    rc = nn_model_new(&s, &mo, &m, &e);
    if (!core_lacks_layer(rc, &e, &s, "gru, dense per step")) {
        ck_assert_msg(rc == 0, "the core refuses it: layer %d %s: %s", e.layer, e.field, e.msg);
        nn_shape out = nn_model_out_shape(m);
        ck_assert(out.rank == 2 && out.dim[0] == 5 && out.dim[1] == 2);
        assert_tensor(m, "layers.1.weight", 2, 4);
    }
    nn_model_free(m);
    nn_spec_free(&s);

    /* A default rnn dumps its tanh. */
    s = parse_ok(SEQ("{'type':'rnn','units':3}"), NULL);
    d = spec_json_dump_model(&s);
    assert_json_text(json_object_get(d, "layers"),
                     "[{'type':'rnn','units':3,'activation':'tanh','return_sequences':false,"
                     "'bptt':0,'use_bias':true}]");
    json_decref(d);
    nn_spec_free(&s);
}
END_TEST

/* The core agrees with the parser's rules for recurrent layers: last
 * before cross_entropy is refused at the layer's type, and a layer that
 * gets no sequence is refused at that layer (shapes are the core's). */
START_TEST(test_rnn_rules_in_core)
{
    nn_model_opts mo = {.seed = 1, .threads = 1};
    nn_model *m = NULL;
    nn_err e;
    spec_json_err err;

    nn_spec s = parse_ok(SEQ("{'type':'lstm','units':4}"), NULL);
    s.loss = NN_LOSS_CROSS_ENTROPY;   /* the parser refuses this; the core must too */
    int rc = nn_model_new(&s, &mo, &m, &e);
    if (!core_lacks_layer(rc, &e, &s, "lstm last")) {
        ck_assert_int_eq(rc, NN_EINVAL);
        ck_assert_ptr_null(m);
        spec_json_err_from_nn(&e, &err);
        ck_assert_str_eq(err.path, "/layers/0/type");
    }
    nn_spec_free(&s);

    /* An lstm without return_sequences gives [units]: no sequence for the
     * next one; and a flat input is no sequence either. */
    const char *no_seq[] = {
        SEQ("{'type':'lstm','units':4},{'type':'gru','units':3}"),
        "{'input':[12],'layers':[{'type':'rnn','units':4}],'loss':'mse'}",
        "{'input':[1,8,8],'layers':[{'type':'gru','units':4}],'loss':'mse'}",
    };
    for (int i = 0; i < COUNT(no_seq); i++) {
        s = parse_ok(no_seq[i], NULL);
        rc = nn_model_new(&s, &mo, &m, &e);
        if (!core_lacks_layer(rc, &e, &s, no_seq[i])) {
            ck_assert_msg(rc == NN_EINVAL, "%s: built", no_seq[i]);
            ck_assert_ptr_null(m);
            spec_json_err_from_nn(&e, &err);
            int layer = i == 0 ? 1 : 0;
            char want[32];
            snprintf(want, sizeof want, "/layers/%d/", layer);
            ck_assert_msg(strncmp(err.path, want, strlen(want)) == 0 ||
                          strcmp(err.path, "/input") == 0,
                          "%s: error at %s: %s", no_seq[i], err.path, err.msg);
        }
        nn_spec_free(&s);
    }
}
END_TEST

START_TEST(test_training_values)
{
    nn_train_cfg c;
    nn_spec s = parse_ok(TR("'optimizer':{'type':'rmsprop','lr':0.002,'alpha':0.9,'eps':1e-6,"
                            "'momentum':0.5,'weight_decay':0.1},"
                            "'schedule':{'type':'step','step_size':3,'gamma':0.5,"
                            "'warmup_steps':7},"
                            "'clip_norm':2.5,'batch_size':128,'epochs':77,'validation_split':0.25,"
                            "'seed':9223372036854775807,'shuffle':false,'shards':3,"
                            "'target_loss':0.05,"
                            "'max_seconds':90,"
                            "'early_stopping':{'monitor':'accuracy','patience':0,"
                            "'min_delta':0.01,'restore_best':false}"), &c);
    ck_assert_int_eq(c.optim.kind, NN_OPT_RMSPROP);
    ck_assert_double_eq(c.optim.lr, 0.002);
    ck_assert_double_eq(c.optim.alpha, 0.9);
    ck_assert_double_eq(c.optim.eps, 1e-6);
    ck_assert_double_eq(c.optim.momentum, 0.5);
    ck_assert_double_eq(c.optim.weight_decay, 0.1);
    ck_assert_int_eq(c.sched.kind, NN_SCHED_STEP);
    ck_assert_int_eq(c.sched.step_size, 3);
    ck_assert_double_eq(c.sched.gamma, 0.5);
    ck_assert_int_eq(c.sched.warmup_steps, 7);
    ck_assert_double_eq(c.clip_norm, 2.5);
    ck_assert_int_eq(c.batch_size, 128);
    ck_assert_int_eq(c.epochs, 77);
    ck_assert_double_eq(c.validation_split, 0.25);
    ck_assert_uint_eq(c.seed, 9223372036854775807ull);
    ck_assert_int_eq(c.shuffle, 0);
    ck_assert_int_eq(c.shards, 3);
    ck_assert_double_eq(c.target_loss, 0.05);
    ck_assert_double_eq(c.max_seconds, 90);
    ck_assert_int_eq(c.early.enabled, 1);
    ck_assert_int_eq(c.early.monitor, NN_MON_ACCURACY);
    ck_assert_int_eq(c.early.patience, 0);
    ck_assert_double_eq(c.early.min_delta, 0.01);
    ck_assert_int_eq(c.early.restore_best, 0);
    nn_spec_free(&s);

    /* sgd: its defaults, then nesterov. */
    s = parse_ok(TR("'optimizer':'sgd'"), &c);
    ck_assert_int_eq(c.optim.kind, NN_OPT_SGD);
    ck_assert_double_eq(c.optim.lr, 0.01);
    ck_assert_double_eq(c.optim.momentum, 0);
    ck_assert_int_eq(c.optim.nesterov, 0);
    nn_spec_free(&s);
    s = parse_ok(OPT("'type':'sgd','momentum':0.9,'nesterov':true"), &c);
    ck_assert_double_eq(c.optim.lr, 0.01);
    ck_assert_double_eq(c.optim.momentum, 0.9);
    ck_assert_int_eq(c.optim.nesterov, 1);
    nn_spec_free(&s);

    /* adamw's own defaults: weight decay 0.01; adam's: 0. */
    s = parse_ok(TR("'optimizer':{'type':'adamw'}"), &c);
    ck_assert_int_eq(c.optim.kind, NN_OPT_ADAMW);
    ck_assert_double_eq(c.optim.lr, 0.001);
    ck_assert_double_eq(c.optim.weight_decay, 0.01);
    nn_spec_free(&s);
    s = parse_ok(OPT("'type':'adam','beta1':0.8,'beta2':0.99"), &c);
    ck_assert_double_eq(c.optim.beta1, 0.8);
    ck_assert_double_eq(c.optim.beta2, 0.99);
    ck_assert_double_eq(c.optim.weight_decay, 0);
    nn_spec_free(&s);

    /* Schedules: the core's defaults per kind. */
    s = parse_ok(TR("'schedule':'exponential'"), &c);
    ck_assert_int_eq(c.sched.kind, NN_SCHED_EXPONENTIAL);
    ck_assert_double_eq(c.sched.gamma, 0.95);
    nn_spec_free(&s);
    s = parse_ok(TR("'schedule':{'type':'step'}"), &c);
    ck_assert_int_eq(c.sched.step_size, 10);
    ck_assert_double_eq(c.sched.gamma, 0.1);
    nn_spec_free(&s);
    s = parse_ok(SCH("'type':'cosine','min_lr':0.0001,'warmup_steps':500"), &c);
    ck_assert_int_eq(c.sched.kind, NN_SCHED_COSINE);
    ck_assert_double_eq(c.sched.min_lr, 0.0001);
    ck_assert_int_eq(c.sched.warmup_steps, 500);
    nn_spec_free(&s);

    /* null switches off; an empty early_stopping object switches on. */
    s = parse_ok(TR("'clip_norm':null,'target_loss':null,'max_seconds':null,"
                    "'early_stopping':null"), &c);
    ck_assert_double_eq(c.clip_norm, 0);
    ck_assert(isnan(c.target_loss));
    ck_assert_double_eq(c.max_seconds, 0);
    ck_assert_int_eq(c.early.enabled, 0);
    nn_spec_free(&s);
    s = parse_ok(TR("'early_stopping':{}"), &c);
    ck_assert_int_eq(c.early.enabled, 1);
    ck_assert_int_eq(c.early.monitor, NN_MON_VAL_LOSS);
    ck_assert_int_eq(c.early.patience, 5);
    ck_assert_double_eq(c.early.min_delta, 0);
    ck_assert_int_eq(c.early.restore_best, 1);
    nn_spec_free(&s);

    /* Integers are fine where numbers are expected. */
    s = parse_ok(TR("'optimizer':{'type':'adam','lr':1},'validation_split':0,'target_loss':-3"),
                 &c);
    ck_assert_double_eq(c.optim.lr, 1);
    ck_assert_double_eq(c.target_loss, -3);
    nn_spec_free(&s);
}
END_TEST

/* ------------------------------------------------------------------------
 * The entry points one by one. */

START_TEST(test_parse_training_base_path)
{
    nn_train_cfg cfg;
    spec_json_err err;
    json_t *t = json_loads("{\"epochs\": 0}", 0, NULL);
    ck_assert_int_eq(spec_json_parse_training(t, "/jobs/0/training", &cfg, &err), NN_EINVAL);
    ck_assert_str_eq(err.path, "/jobs/0/training/epochs");
    ck_assert(all_zero(&cfg, sizeof cfg));
    ck_assert_int_eq(spec_json_parse_training(t, NULL, &cfg, &err), NN_EINVAL);
    ck_assert_str_eq(err.path, "/epochs");
    ck_assert_int_eq(spec_json_parse_training(t, "", &cfg, NULL), NN_EINVAL);
    json_decref(t);

    t = json_loads("{\"optimizer\": {\"type\": \"sgd\", \"lr\": 0.5}}", 0, NULL);
    ck_assert_int_eq(spec_json_parse_training(t, "/training", &cfg, &err), 0);
    ck_assert_int_eq(cfg.optim.kind, NN_OPT_SGD);
    ck_assert_double_eq(cfg.optim.lr, 0.5);
    ck_assert_int_eq(cfg.epochs, 10);
    json_decref(t);

    t = json_loads("[1]", 0, NULL);
    ck_assert_int_eq(spec_json_parse_training(t, "/training", &cfg, &err), NN_EINVAL);
    ck_assert_str_eq(err.path, "/training");
    ck_assert_ptr_nonnull(strstr(err.msg, "expected a training object, found an array"));
    json_decref(t);
}
END_TEST

START_TEST(test_parse_model_and_doc)
{
    char *text = dq("{'input':[4],'layers':[" D "],'loss':'mse','training':{'epochs':0}}");
    json_t *doc = json_loads(text, 0, NULL);
    nn_spec spec;
    nn_train_cfg cfg;
    spec_json_err err;

    /* parse_model leaves "training" to parse_training. */
    ck_assert_int_eq(spec_json_parse_model(doc, &spec, &err), 0);
    ck_assert_int_eq(spec.n_layers, 1);
    nn_spec_free(&spec);

    /* parse_doc checks it, and frees the spec when it is wrong. */
    ck_assert_int_eq(spec_json_parse_doc(doc, &spec, &cfg, &err), NN_EINVAL);
    ck_assert_str_eq(err.path, "/training/epochs");
    ck_assert(all_zero(&spec, sizeof spec) && all_zero(&cfg, sizeof cfg));
    ck_assert_int_eq(spec_json_parse_doc(doc, &spec, NULL, &err), NN_EINVAL);
    ck_assert_str_eq(err.path, "/training/epochs");
    ck_assert_int_eq(spec_json_parse_text(text, strlen(text), &spec, NULL, NULL), NN_EINVAL);
    json_decref(doc);
    free(text);

    /* Without an err buffer, and without cfg. */
    text = dq(L1(D));
    ck_assert_int_eq(spec_json_parse_text(text, strlen(text), &spec, NULL, NULL), 0);
    nn_spec_free(&spec);
    ck_assert_int_eq(spec_json_parse_text(text, 3, &spec, NULL, NULL), NN_EFORMAT);
    ck_assert_int_eq(spec_json_parse_text(NULL, 10, &spec, &cfg, &err), NN_EFORMAT);
    ck_assert_str_eq(err.path, "");
    free(text);

    /* A model object with a bad model part, through parse_model. */
    doc = json_loads("{\"input\": [4], \"layers\": [{\"type\": \"dense\"}], \"loss\": \"mse\"}",
                     0, NULL);
    ck_assert_int_eq(spec_json_parse_model(doc, &spec, &err), NN_EINVAL);
    ck_assert_str_eq(err.path, "/layers/0/units");
    ck_assert(all_zero(&spec, sizeof spec));
    json_decref(doc);
}
END_TEST

START_TEST(test_len_is_honoured)
{
    /* Bytes after len are not read; a NUL inside len is an error. */
    char *text = dq(L1(D) "garbage");
    size_t n = strlen(text) - strlen("garbage");
    nn_spec spec;
    spec_json_err err;
    ck_assert_int_eq(spec_json_parse_text(text, n, &spec, NULL, &err), 0);
    nn_spec_free(&spec);
    text[n] = 0;
    ck_assert_int_eq(spec_json_parse_text(text, n + 1, &spec, NULL, &err), NN_EFORMAT);
    ck_assert_str_eq(err.path, "");
    free(text);
}
END_TEST

START_TEST(test_err_from_nn)
{
    nn_err e;
    spec_json_err err;
    nn_errf_at(&e, NN_EINVAL, 1, "units", "units must be positive");
    spec_json_err_from_nn(&e, &err);
    ck_assert_str_eq(err.path, "/layers/1/units");
    ck_assert_str_eq(err.msg, "units must be positive");
    nn_errf_at(&e, NN_EINVAL, 12, "", "input of 0 values");
    spec_json_err_from_nn(&e, &err);
    ck_assert_str_eq(err.path, "/layers/12");
    nn_errf_at(&e, NN_EINVAL, 0, NULL, "x");
    spec_json_err_from_nn(&e, &err);
    ck_assert_str_eq(err.path, "/layers/0");
    nn_errf(&e, NN_EINVAL, "model too large: %d parameters", 5);
    spec_json_err_from_nn(&e, &err);
    ck_assert_str_eq(err.path, "");
    ck_assert_str_eq(err.msg, "model too large: 5 parameters");
    nn_errf_at(&e, NN_EINVAL, -1, "input", "bad input");
    spec_json_err_from_nn(&e, &err);
    ck_assert_str_eq(err.path, "/input");
    nn_errf_at(&e, NN_EINVAL, 3, "a/b~c", "odd field");
    spec_json_err_from_nn(&e, &err);
    ck_assert_str_eq(err.path, "/layers/3/a~1b~0c");
}
END_TEST

/* ------------------------------------------------------------------------
 * Hostile input. */

/* {"input":[4],"layers":[<n copies of item>],"loss":"mse"} */
static char *many_layers(int n, const char *item)
{
    size_t k = strlen(item) + 1, cap = 64 + (size_t)n * k;
    char *s = malloc(cap), *p = s;
    ck_assert_ptr_nonnull(s);
    p += sprintf(p, "{\"input\":[4],\"layers\":[");
    for (int i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? "," : "", item);
    sprintf(p, "],\"loss\":\"mse\"}");
    return s;
}

START_TEST(test_oversized_arrays)
{
    nn_spec spec;
    nn_train_cfg cfg;
    spec_json_err err;
    char *s = many_layers(SPEC_JSON_MAX_LAYERS, "{\"type\":\"relu\"}");
    ck_assert_int_eq(parse_checked(s, strlen(s), &err, "256 layers"), 0);
    free(s);
    s = many_layers(SPEC_JSON_MAX_LAYERS + 1, "{\"type\":\"relu\"}");
    ck_assert_int_eq(parse_checked(s, strlen(s), &err, "257 layers"), NN_EINVAL);
    ck_assert_str_eq(err.path, "/layers");
    ck_assert_str_eq(err.msg, "expected at most 256 layers, found 257");
    free(s);
    s = many_layers(100000, "0");
    ck_assert_int_eq(spec_json_parse_text(s, strlen(s), &spec, &cfg, &err), NN_EINVAL);
    ck_assert_str_eq(err.path, "/layers");
    ck_assert_str_eq(err.msg, "expected at most 256 layers, found 100000");
    free(s);

    /* 100000 input dimensions */
    size_t cap = 100000 * 2 + 100;
    s = malloc(cap);
    char *p = s + sprintf(s, "{\"input\":[");
    for (int i = 0; i < 100000; i++)
        p += sprintf(p, "%s1", i ? "," : "");
    sprintf(p, "],\"layers\":[{\"type\":\"relu\"}],\"loss\":\"mse\"}");
    ck_assert_int_eq(spec_json_parse_text(s, strlen(s), &spec, &cfg, &err), NN_EINVAL);
    ck_assert_str_eq(err.path, "/input");
    ck_assert_ptr_nonnull(strstr(err.msg, "found 100000 elements"));
    free(s);
}
END_TEST

START_TEST(test_deep_nesting)
{
    nn_spec spec;
    nn_train_cfg cfg;
    spec_json_err err;
    const int depth = 100000;
    char *s = malloc(2 * depth + 1);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = 0;
    ck_assert_int_eq(spec_json_parse_text(s, 2 * (size_t)depth, &spec, &cfg, &err), NN_EFORMAT);
    ck_assert_str_eq(err.path, "");
    ck_assert_ptr_nonnull(strstr(err.msg, "invalid JSON"));
    free(s);

    /* Nesting jansson accepts, where the definition wants something else. */
    const int d2 = 1000;
    const char *where[] = {"{\"input\":%s,\"layers\":[{\"type\":\"relu\"}],\"loss\":\"mse\"}",
                           "{\"input\":[4],\"layers\":[{\"type\":\"relu\"}],\"loss\":\"mse\","
                           "\"junk\":%s}",
                           "{\"input\":[4],\"layers\":[{\"type\":\"relu\"}],\"loss\":\"mse\","
                           "\"training\":{\"optimizer\":%s}}",
                           "{\"input\":[4],\"layers\":[{\"type\":\"dense\",\"units\":3,"
                           "\"activation\":%s}],\"loss\":\"mse\"}"};
    const char *want_path[] = {"/input/0", "/junk", "/training/optimizer/type",
                               "/layers/0/activation/type"};
    for (int k = 0; k < 4; k++) {
        /* arrays for the first, objects {"a":{"a":...}} for the others */
        size_t cap = (size_t)d2 * 8 + 256;
        char *nest = malloc(cap), *p = nest;
        for (int i = 0; i < d2; i++)
            p += sprintf(p, k == 0 ? "[" : "{\"a\":");
        p += sprintf(p, "1");
        for (int i = 0; i < d2; i++)
            *p++ = k == 0 ? ']' : '}';
        *p = 0;
        char *doc = malloc(cap + 200);
        sprintf(doc, where[k], nest);
        ck_assert_int_eq(spec_json_parse_text(doc, strlen(doc), &spec, &cfg, &err), NN_EINVAL);
        ck_assert_str_eq(err.path, want_path[k]);
        free(nest);
        free(doc);
    }
}
END_TEST

START_TEST(test_long_keys_and_strings)
{
    nn_spec spec;
    nn_train_cfg cfg;
    spec_json_err err;
    char *key = malloc(5001);
    memset(key, 'k', 5000);
    key[5000] = 0;
    char *doc = NULL;
    ck_assert_int_ge(asprintf(&doc, "{\"input\":[4],\"layers\":[{\"type\":\"relu\"}],"
                                    "\"loss\":\"mse\",\"%s\":1}", key), 0);
    ck_assert_int_eq(spec_json_parse_text(doc, strlen(doc), &spec, &cfg, &err), NN_EINVAL);
    ck_assert_uint_eq(strlen(err.path), sizeof err.path - 1);
    ck_assert(strncmp(err.path, "/kkkkkkkk", 9) == 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "unknown key \"kkkk"));
    ck_assert_ptr_nonnull(strstr(err.msg, "...\"; allowed keys: input, layers, loss, training"));
    free(doc);

    /* A long multi-byte key: the cut path stays valid UTF-8. */
    char *wide = malloc(3 * 400 + 1);
    for (int i = 0; i < 400; i++)
        memcpy(wide + 3 * i, "\xe2\x82\xac", 3);   /* the euro sign */
    wide[1200] = 0;
    ck_assert_int_ge(asprintf(&doc, "{\"input\":[4],\"layers\":[{\"type\":\"relu\"}],"
                                    "\"loss\":\"mse\",\"%s\":1}", wide), 0);
    ck_assert_int_eq(parse_checked(doc, strlen(doc), &err, "wide key"), NN_EINVAL);
    free(doc);

    /* A long string value is cut in the message. */
    ck_assert_int_ge(asprintf(&doc, "{\"input\":[4],\"layers\":[{\"type\":\"relu\"}],"
                                    "\"loss\":\"%s\"}", key), 0);
    ck_assert_int_eq(parse_checked(doc, strlen(doc), &err, "long loss"), NN_EINVAL);
    ck_assert_str_eq(err.path, "/loss");
    ck_assert_ptr_nonnull(strstr(err.msg, "found the string \"kkkkkkkkkk"));
    ck_assert_ptr_nonnull(strstr(err.msg, "...\""));
    free(doc);

    /* Control characters in a string end up as '?'. */
    const char *ctl = "{\"input\":[4],\"layers\":[{\"type\":\"relu\"}],\"loss\":\"a\\nb\\u001bc\"}";
    ck_assert_int_eq(parse_checked(ctl, strlen(ctl), &err, "control"), NN_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "found the string \"a?b?c\""));
    free(key);
    free(wide);
}
END_TEST

/* The documents the hostile tests take apart: the MLP, the CNN, the LSTM. */
#define N_HOSTILE 3
static const char *hostile_doc(int i)
{
    return i == 0 ? FMNIST : i == 1 ? FMNIST_CNN : FMNIST_LSTM;
}

START_TEST(test_truncated)
{
    /* Every proper prefix of the examples is malformed. */
    char *text = dq(hostile_doc(_i));
    size_t n = strlen(text);
    while (n > 0 && text[n - 1] == '\n')
        n--;
    for (size_t k = 0; k < n; k++) {
        char what[64];
        spec_json_err err;
        snprintf(what, sizeof what, "prefix of %zu bytes", k);
        ck_assert_msg(parse_checked(text, k, &err, what) == NN_EFORMAT, "%s parsed", what);
        ck_assert_str_eq(err.path, "");
        ck_assert_ptr_nonnull(strstr(err.msg, "invalid JSON at line"));
    }
    free(text);
}
END_TEST

START_TEST(test_mutations)
{
    /* Every byte of the examples replaced by a few troublemakers: whatever
     * the outcome, it is clean (outputs zeroed, path in the document). */
    static const char repl[] = "\"}]0-x \\[:,.e\xff";
    char *text = dq(hostile_doc(_i));
    size_t n = strlen(text);
    int counts[3] = {0, 0, 0};
    for (size_t k = 0; k < n; k++) {
        for (const char *r = repl; *r; r++) {
            char what[64];
            spec_json_err err;
            char save = text[k];
            if (save == *r)
                continue;
            text[k] = *r;
            snprintf(what, sizeof what, "byte %zu -> 0x%02x", k, (unsigned char)*r);
            int rc = parse_checked(text, n, &err, what);
            ck_assert_msg(rc == 0 || rc == NN_EINVAL || rc == NN_EFORMAT, "%s: status %d", what,
                          rc);
            if (rc == NN_EINVAL)
                assert_path_in_doc(text, &err, what);
            counts[rc == 0 ? 0 : rc == NN_EINVAL ? 1 : 2]++;
            text[k] = save;
        }
    }
    /* All three outcomes occur, so the test exercises both layers. */
    ck_assert_int_gt(counts[0], 0);
    ck_assert_int_gt(counts[1], 0);
    ck_assert_int_gt(counts[2], 0);
    free(text);
}
END_TEST

/* ------------------------------------------------------------------------
 * Dumps. */

START_TEST(test_dump_refuses_garbage)
{
    nn_spec s = parse_ok(L1(D), NULL);
    nn_train_cfg c;
    nn_train_cfg_default(&c);

    s.layers[0].act = NN_ACT_COUNT;
    ck_assert_ptr_null(spec_json_dump_model(&s));
    s.layers[0].act = NN_ACT_RELU;
    s.layers[0].init = NN_INIT_COUNT;
    ck_assert_ptr_null(spec_json_dump_model(&s));
    s.layers[0].init = NN_INIT_DEFAULT;
    s.layers[0].kind = NN_LAYER_COUNT;
    ck_assert_ptr_null(spec_json_dump_model(&s));
    s.layers[0].kind = NN_LAYER_DENSE;
    s.loss = NN_LOSS_COUNT;
    ck_assert_ptr_null(spec_json_dump_model(&s));
    s.loss = NN_LOSS_MSE;
    s.input.rank = 0;
    ck_assert_ptr_null(spec_json_dump_model(&s));
    s.input.rank = 1;
    s.layers[0].kind = NN_LAYER_CONV2D;
    s.layers[0].padding = (nn_padding)7;
    ck_assert_ptr_null(spec_json_dump_model(&s));
    s.layers[0].padding = NN_PAD_SAME;
    s.layers[0].init = NN_INIT_COUNT;
    ck_assert_ptr_null(spec_json_dump_model(&s));
    s.layers[0].init = NN_INIT_DEFAULT;
    s.layers[0].act = NN_ACT_COUNT;
    ck_assert_ptr_null(spec_json_dump_model(&s));
    s.layers[0].act = NN_ACT_LINEAR;
    s.layers[0].kind = NN_LAYER_DENSE;
    json_t *ok = spec_json_dump_model(&s);
    ck_assert_ptr_nonnull(ok);
    json_decref(ok);

    /* Recurrent layers: what the core refuses (an rnn activation other
     * than tanh or relu, an lstm or gru activation other than linear, a
     * negative bptt) does not dump. */
    s.layers[0].kind = NN_LAYER_RNN;
    s.layers[0].units = 3;
    s.layers[0].act = NN_ACT_SIGMOID;
    ck_assert_ptr_null(spec_json_dump_model(&s));
    s.layers[0].act = NN_ACT_COUNT;
    ck_assert_ptr_null(spec_json_dump_model(&s));
    s.layers[0].act = NN_ACT_RELU;
    s.layers[0].bptt = -1;
    ck_assert_ptr_null(spec_json_dump_model(&s));
    s.layers[0].bptt = 2;
    ok = spec_json_dump_model(&s);
    ck_assert_ptr_nonnull(ok);
    json_decref(ok);
    for (int k = NN_LAYER_LSTM; k <= NN_LAYER_GRU; k++) {
        s.layers[0].kind = (nn_layer_kind)k;
        s.layers[0].act = NN_ACT_TANH;
        ck_assert_ptr_null(spec_json_dump_model(&s));
        s.layers[0].act = NN_ACT_LINEAR;
        s.layers[0].return_sequences = 7;   /* any non-zero: true */
        s.layers[0].bptt = -1;
        ck_assert_ptr_null(spec_json_dump_model(&s));
        s.layers[0].bptt = 0;
        ok = spec_json_dump_model(&s);
        ck_assert_ptr_nonnull(ok);
        const json_t *l0 = json_array_get(json_object_get(ok, "layers"), 0);
        ck_assert_ptr_null(json_object_get(l0, "activation"));
        ck_assert(json_is_true(json_object_get(l0, "return_sequences")));
        json_decref(ok);
    }
    /* A recurrent layer made in C from the defaults: the rnn's linear is
     * read as tanh by the core, and dumped so. */
    nn_spec r = {.input = {.rank = 2, .dim = {5, 3}}, .n_layers = 3, .loss = NN_LOSS_MSE};
    nn_layer_spec rl[3];
    for (int i = 0; i < 3; i++) {
        nn_layer_spec_default(&rl[i]);
        rl[i].kind = (nn_layer_kind)(NN_LAYER_RNN + i);
        rl[i].units = 2;
        rl[i].return_sequences = i < 2;
    }
    r.layers = rl;
    ok = spec_json_dump_model(&r);
    assert_json_text(json_object_get(ok, "layers"),
                     "[{'type':'rnn','units':2,'activation':'tanh','return_sequences':true,"
                     "'bptt':0,'use_bias':true},"
                     "{'type':'lstm','units':2,'return_sequences':true,'bptt':0,'use_bias':true},"
                     "{'type':'gru','units':2,'return_sequences':false,'bptt':0,'use_bias':true}]");
    json_decref(ok);
    s.layers[0].kind = NN_LAYER_DENSE;
    s.layers[0].act = NN_ACT_LINEAR;
    s.layers[0].return_sequences = 0;

    c.optim.kind = NN_OPT_COUNT;
    ck_assert_ptr_null(spec_json_dump_training(&c));
    nn_train_cfg_default(&c);
    c.sched.kind = NN_SCHED_COUNT;
    ck_assert_ptr_null(spec_json_dump_training(&c));
    nn_train_cfg_default(&c);
    c.seed = UINT64_MAX;
    ck_assert_ptr_null(spec_json_dump_training(&c));
    nn_train_cfg_default(&c);
    c.target_loss = INFINITY;
    ck_assert_ptr_null(spec_json_dump_training(&c));
    nn_train_cfg_default(&c);
    c.early.enabled = 1;
    c.early.monitor = (nn_monitor)9;
    ck_assert_ptr_null(spec_json_dump_training(&c));
    nn_train_cfg_default(&c);
    ck_assert_ptr_null(spec_json_dump(&s, &(nn_train_cfg){.optim.kind = NN_OPT_COUNT}));

    /* Defaults dump as documented. */
    json_t *d = spec_json_dump_training(&c);
    assert_json_text(d, "{'optimizer':{'type':'adam','lr':0.001,'beta1':0.9,'beta2':0.999,"
                    "'eps':1e-8,'weight_decay':0.0},'schedule':{'type':'constant',"
                    "'warmup_steps':0},'clip_norm':null,'batch_size':32,'epochs':10,"
                    "'validation_split':0.0,'seed':0,'shuffle':true,'shards':8,"
                    "'target_loss':null,'max_seconds':null,'early_stopping':null}");
    json_decref(d);

    /* Each optimizer and schedule dumps only its own options. */
    const char *opt_keys[NN_OPT_COUNT] = {"type,lr,momentum,nesterov,weight_decay,",
                                          "type,lr,beta1,beta2,eps,weight_decay,",
                                          "type,lr,beta1,beta2,eps,weight_decay,",
                                          "type,lr,alpha,eps,momentum,weight_decay,"};
    for (int k = 0; k < NN_OPT_COUNT; k++) {
        nn_optim_cfg_default(&c.optim, (nn_optim_kind)k);
        d = spec_json_dump_training(&c);
        char keys[200] = "";
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(d, "optimizer"), key, v) {
            strcat(keys, key);
            strcat(keys, ",");
        }
        ck_assert_str_eq(keys, opt_keys[k]);
        json_decref(d);
    }
    const char *sched_keys[NN_SCHED_COUNT] = {"type,warmup_steps,",
                                              "type,step_size,gamma,warmup_steps,",
                                              "type,gamma,warmup_steps,",
                                              "type,min_lr,warmup_steps,"};
    for (int k = 0; k < NN_SCHED_COUNT; k++) {
        nn_sched_cfg_default(&c.sched, (nn_sched_kind)k);
        d = spec_json_dump_training(&c);
        char keys[200] = "";
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(d, "schedule"), key, v) {
            strcat(keys, key);
            strcat(keys, ",");
        }
        ck_assert_str_eq(keys, sched_keys[k]);
        json_decref(d);
    }
    nn_spec_free(&s);
}
END_TEST

/* ------------------------------------------------------------------------
 * Examples and the schema. */

START_TEST(test_examples)
{
    char *pattern = src_path("examples/*.json");
    glob_t g;
    ck_assert_msg(glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc >= 3,
                  "no examples at %s (run from the repository root or set TRAIND_SRCDIR)",
                  pattern);
    int seen[NN_LAYER_COUNT] = {0};
    for (size_t i = 0; i < g.gl_pathc; i++) {
        size_t len;
        char *text = tu_read(g.gl_pathv[i], &len);
        spec_json_err err;
        int rc = parse_checked(text, len, &err, g.gl_pathv[i]);
        ck_assert_msg(rc == 0, "%s: %s: %s", g.gl_pathv[i], err.path, err.msg);
        /* and the core builds it */
        nn_spec spec;
        nn_model_opts mo = {.seed = 1, .threads = 1};
        nn_model *m = NULL;
        nn_err e;
        ck_assert_int_eq(spec_json_parse_text(text, len, &spec, NULL, &err), 0);
        for (int k = 0; k < spec.n_layers; k++)
            seen[spec.layers[k].kind] = 1;
        rc = nn_model_new(&spec, &mo, &m, &e);
        ck_assert_msg(rc == 0 || core_lacks_layer(rc, &e, &spec, g.gl_pathv[i]),
                      "%s: the core refuses it: layer %d %s: %s", g.gl_pathv[i], e.layer,
                      e.field, e.msg);
        nn_model_free(m);
        nn_spec_free(&spec);
        free(text);
    }
    /* Between them, the examples use every layer kind. */
    for (int k = 0; k < NN_LAYER_COUNT; k++)
        ck_assert_msg(seen[k], "no example uses a %s layer", nn_layer_kind_name((nn_layer_kind)k));
    globfree(&g);
    free(pattern);
}
END_TEST

START_TEST(test_schema_examples)
{
    ck_assert_int_eq(run_schema_check(""), 0);
}
END_TEST

/* The schema rejects every invalid table document it can express, accepts
 * every valid one, and accepts the canonical dump of each valid one. */
START_TEST(test_schema_agrees)
{
    json_t *invalid = json_array(), *valid = json_array();
    for (int i = 0; i < COUNT(bad); i++) {
        if (!bad[i].schema)
            continue;
        char *text = dq(bad[i].doc);
        json_t *doc = json_loads(text, JSON_DECODE_ANY, NULL);
        ck_assert_msg(doc != NULL, "bad[%d] is marked for the schema but is not JSON", i);
        json_array_append_new(invalid, doc);
        free(text);
    }
    for (int i = 0; i < COUNT(good); i++) {
        char *text = dq(good[i]);
        nn_spec spec;
        nn_train_cfg cfg;
        json_array_append_new(valid, json_loads(text, 0, NULL));
        ck_assert_int_eq(spec_json_parse_text(text, strlen(text), &spec, &cfg, NULL), 0);
        json_array_append_new(valid, spec_json_dump(&spec, &cfg));
        json_array_append_new(valid, spec_json_dump_model(&spec));
        nn_spec_free(&spec);
        free(text);
    }
    const char *dir = tu_tmpdir();
    char *bad_file = NULL, *good_file = NULL, *args = NULL;
    ck_assert_int_ge(asprintf(&bad_file, "%s/invalid.json", dir), 0);
    ck_assert_int_ge(asprintf(&good_file, "%s/valid.json", dir), 0);
    ck_assert_int_eq(json_dump_file(invalid, bad_file, JSON_INDENT(1)), 0);
    ck_assert_int_eq(json_dump_file(valid, good_file, JSON_INDENT(1)), 0);
    ck_assert_int_ge(asprintf(&args, "--expect-invalid '%s' --expect-valid '%s'", bad_file,
                              good_file), 0);
    ck_assert_int_eq(run_schema_check(args), 0);
    free(args);
    free(bad_file);
    free(good_file);
    json_decref(invalid);
    json_decref(valid);
}
END_TEST

/* The schema's names are the core's names, and its limits are ours. */
static void assert_enum(const json_t *schema, const char *ptr, const char *const *names, int n)
{
    const json_t *e = resolve(schema, ptr);
    ck_assert_msg(json_is_array(e), "schema: no enum at %s", ptr);
    ck_assert_msg((int)json_array_size(e) == n, "schema %s: %zu names, the core has %d", ptr,
                  json_array_size(e), n);
    for (int i = 0; i < n; i++)
        ck_assert_msg(strcmp(json_string_value(json_array_get(e, (size_t)i)), names[i]) == 0,
                      "schema %s[%d] is not \"%s\"", ptr, i, names[i]);
}

static void assert_limit(const json_t *schema, const char *ptr, long long want)
{
    const json_t *v = resolve(schema, ptr);
    ck_assert_msg(json_is_integer(v) && json_integer_value(v) == want,
                  "schema %s is not %lld", ptr, want);
}

START_TEST(test_schema_matches_core)
{
    char *path = src_path("schema/model.schema.json");
    json_error_t je;
    json_t *schema = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    ck_assert_msg(schema != NULL, "%s: %s", path, je.text);
    const char *names[32];

    for (int i = 0; i < NN_ACT_COUNT; i++)
        names[i] = nn_act_name((nn_act_kind)i);
    assert_enum(schema, "/$defs/activation_name/enum", names, NN_ACT_COUNT);
    for (int i = 0; i < NN_LAYER_COUNT; i++)
        names[i] = nn_layer_kind_name((nn_layer_kind)i);
    for (int i = 0; i < NN_ACT_COUNT; i++)
        names[NN_LAYER_COUNT + i] = nn_act_name((nn_act_kind)i);
    assert_enum(schema, "/$defs/layer/properties/type/enum", names, NN_LAYER_COUNT + NN_ACT_COUNT);
    for (int i = 0; i < NN_INIT_COUNT; i++)
        names[i] = nn_init_name((nn_init_kind)i);
    assert_enum(schema, "/$defs/init/enum", names, NN_INIT_COUNT);
    names[0] = nn_layer_kind_name(NN_LAYER_MAXPOOL2D);
    names[1] = nn_layer_kind_name(NN_LAYER_AVGPOOL2D);
    assert_enum(schema, "/$defs/pool/properties/type/enum", names, 2);
    names[0] = nn_layer_kind_name(NN_LAYER_GLOBAL_AVGPOOL);
    names[1] = nn_layer_kind_name(NN_LAYER_FLATTEN);
    assert_enum(schema, "/$defs/no_options_layer/properties/type/enum", names, 2);
    names[0] = nn_act_name(NN_ACT_TANH);
    names[1] = nn_act_name(NN_ACT_RELU);
    assert_enum(schema, "/$defs/rnn/properties/activation/enum", names, 2);
    for (int i = 0; i < NN_LOSS_COUNT; i++)
        names[i] = nn_loss_name((nn_loss_kind)i);
    assert_enum(schema, "/properties/loss/enum", names, NN_LOSS_COUNT);
    for (int i = 0; i < NN_OPT_COUNT; i++)
        names[i] = nn_optim_name((nn_optim_kind)i);
    assert_enum(schema, "/$defs/optimizer_object/properties/type/enum", names, NN_OPT_COUNT);
    assert_enum(schema, "/$defs/training/properties/optimizer/oneOf/0/enum", names, NN_OPT_COUNT);
    for (int i = 0; i < NN_SCHED_COUNT; i++)
        names[i] = nn_sched_name((nn_sched_kind)i);
    assert_enum(schema, "/$defs/schedule_object/properties/type/enum", names, NN_SCHED_COUNT);
    assert_enum(schema, "/$defs/training/properties/schedule/oneOf/0/enum", names,
                NN_SCHED_COUNT);

    assert_limit(schema, "/properties/input/maxItems", SPEC_JSON_MAX_RANK);
    assert_limit(schema, "/properties/input/items/maximum", SPEC_JSON_MAX_DIM);
    assert_limit(schema, "/properties/layers/maxItems", SPEC_JSON_MAX_LAYERS);
    assert_limit(schema, "/$defs/dense/properties/units/maximum", SPEC_JSON_MAX_UNITS);
    assert_limit(schema, "/$defs/conv2d/properties/filters/maximum", SPEC_JSON_MAX_FILTERS);
    assert_limit(schema, "/$defs/window/oneOf/0/maximum", SPEC_JSON_MAX_WINDOW);
    assert_limit(schema, "/$defs/window/oneOf/1/items/maximum", SPEC_JSON_MAX_WINDOW);
    assert_limit(schema, "/$defs/padding/oneOf/1/maximum", SPEC_JSON_MAX_PAD);
    assert_limit(schema, "/$defs/padding/oneOf/2/items/maximum", SPEC_JSON_MAX_PAD);
    assert_limit(schema, "/$defs/recurrent_units/maximum", SPEC_JSON_MAX_RNN_UNITS);
    assert_limit(schema, "/$defs/bptt/maximum", SPEC_JSON_MAX_BPTT);
    /* each recurrent layer takes those */
    const char *const rdefs[] = {"rnn", "lstm", "gru"};
    for (int i = 0; i < 3; i++) {
        char ptr[80];
        snprintf(ptr, sizeof ptr, "/$defs/%s/properties/type/const", rdefs[i]);
        ck_assert_str_eq(json_string_value(resolve(schema, ptr)),
                         nn_layer_kind_name((nn_layer_kind)(NN_LAYER_RNN + i)));
        snprintf(ptr, sizeof ptr, "/$defs/%s/properties/units/$ref", rdefs[i]);
        ck_assert_str_eq(json_string_value(resolve(schema, ptr)), "#/$defs/recurrent_units");
        snprintf(ptr, sizeof ptr, "/$defs/%s/properties/bptt/$ref", rdefs[i]);
        ck_assert_str_eq(json_string_value(resolve(schema, ptr)), "#/$defs/bptt");
    }
    assert_limit(schema, "/$defs/training/properties/batch_size/maximum", SPEC_JSON_MAX_BATCH);
    assert_limit(schema, "/$defs/training/properties/epochs/maximum", SPEC_JSON_MAX_EPOCHS);
    assert_limit(schema, "/$defs/early_stopping/properties/patience/maximum",
                 SPEC_JSON_MAX_PATIENCE);
    assert_limit(schema, "/$defs/step_schedule/properties/step_size/maximum",
                 SPEC_JSON_MAX_STEP_SIZE);
    assert_limit(schema, "/$defs/warmup_steps/maximum", SPEC_JSON_MAX_WARMUP);

    /* The defaults the schema advertises are the core's. */
    nn_train_cfg c;
    nn_train_cfg_default(&c);
    assert_limit(schema, "/$defs/training/properties/batch_size/default", c.batch_size);
    assert_limit(schema, "/$defs/training/properties/epochs/default", c.epochs);
    assert_limit(schema, "/$defs/early_stopping/properties/patience/default", c.early.patience);
    nn_layer_spec l;
    nn_layer_spec_default(&l);
    const json_t *bn = resolve(schema, "/$defs/batchnorm/properties");
    ck_assert(json_real_value(json_object_get(json_object_get(bn, "momentum"), "default")) ==
              l.momentum);
    ck_assert(json_real_value(json_object_get(json_object_get(bn, "eps"), "default")) == l.eps);
    assert_limit(schema, "/$defs/bptt/default", l.bptt);
    ck_assert(json_is_boolean(resolve(schema, "/$defs/return_sequences/default")));
    ck_assert_int_eq(json_is_true(resolve(schema, "/$defs/return_sequences/default")),
                     l.return_sequences);
    ck_assert_str_eq(json_string_value(resolve(schema, "/$defs/rnn/properties/activation/default")),
                     nn_act_name(NN_ACT_TANH));
    json_decref(schema);
    free(path);
}
END_TEST

static Suite *spec_json_suite(void)
{
    Suite *s = suite_create("spec_json");
    TCase *tc = tcase_create("parse");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fmnist_example);
    tcase_add_test(tc, preprocess_round_trip);
    tcase_add_test(tc, test_fmnist_cnn_example);
    tcase_add_test(tc, test_fmnist_lstm_example);
    tcase_add_loop_test(tc, test_bad, 0, COUNT(bad));
    tcase_add_loop_test(tc, test_good, 0, COUNT(good));
    tcase_add_loop_test(tc, test_good_builds, 0, COUNT(good));
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_layer_values);
    tcase_add_test(tc, test_cnn_values);
    tcase_add_test(tc, test_conv_last_left_to_core);
    tcase_add_test(tc, test_rnn_values);
    tcase_add_test(tc, test_rnn_rules_in_core);
    tcase_add_test(tc, test_training_values);
    tcase_add_test(tc, test_parse_training_base_path);
    tcase_add_test(tc, test_parse_model_and_doc);
    tcase_add_test(tc, test_len_is_honoured);
    tcase_add_test(tc, test_err_from_nn);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_oversized_arrays);
    tcase_add_test(tc, test_deep_nesting);
    tcase_add_test(tc, test_long_keys_and_strings);
    tcase_add_loop_test(tc, test_truncated, 0, N_HOSTILE);
    tcase_add_loop_test(tc, test_mutations, 0, N_HOSTILE);
    suite_add_tcase(s, tc);

    tc = tcase_create("dump");
    tcase_add_test(tc, test_dump_refuses_garbage);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_examples);
    tcase_add_test(tc, test_rnn_examples);
    tcase_add_test(tc, test_schema_examples);
    tcase_add_test(tc, test_schema_agrees);
    tcase_add_test(tc, test_schema_matches_core);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(spec_json_suite());
}
