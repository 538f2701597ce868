/*
 * test_api_tabular.c — tabular data through the REST API of the real
 * daemon, as a new user brings them: columns of wildly different scales, a
 * text column, missing values, integer labels that are a regression's
 * values, CSV dialects; and what a job keeps of its own (class names,
 * preprocessing) whatever happens to its dataset.
 *
 * The data are generated here (a fixed LCG): a wine-like table of 10
 * numeric columns whose standard deviations range from 0.1 to 300, a text
 * column "region" tied to the class, and three classes.
 *
 * "The accuracy of scaled data" is checked the strict way: a second job
 * trains with the same seed on a CSV scaled beforehand by the statistics
 * the first job fitted (read from its weights file, where they are kept at
 * 17 digits), with standardization off; the two must see the same features
 * bit for bit, so they reach the same accuracy and predict the same from
 * raw and from hand-scaled instances.
 */
#include <check.h>

#include "apitest.h"
#include "e2e.h"
#include "safetensors.h"
#include "testutil.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_ROWS 600
#define N_NUM 10

static const char *const num_names[N_NUM] = {"alcohol", "malic", "ash", "alcalinity",
                                             "magnesium", "phenols", "flavanoids", "proline",
                                             "hue", "intensity"};
static const double num_mean[N_NUM] = {13, 2.3, 2.4, 19.5, 100, 2.3, 2, 750, 0.96, 5};
static const double num_std[N_NUM] = {0.8, 1.1, 0.3, 3.3, 14, 0.6, 1, 300, 0.1, 2.3};
static const char *const classes[3] = {"barbera", "barolo", "grignolino"};
static const char *const regions[3] = {"alba", "asti", "novara"};

static uint64_t lcg_state;

static double uniform(void)
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg_state >> 11) / 9007199254740992.0;
}

static double gauss(void)
{
    double u = uniform() + 1e-12, v = uniform();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* The table as CSV text: numeric columns, region, label; with `missing`,
 * some values of two columns are left out (empty, NA, NaN). */
static char *wine_csv(int missing, size_t *len)
{
    at_sbuf b = {0};
    lcg_state = 42;
    for (int j = 0; j < N_NUM; j++)
        at_sb_printf(&b, "%s,", num_names[j]);
    at_sb_printf(&b, "region,cultivar\n");
    for (int i = 0; i < N_ROWS; i++) {
        int c = i % 3;
        for (int j = 0; j < N_NUM; j++) {
            /* each class shifted by about one standard deviation per column */
            double shift = ((j * 7 + c * 3) % 5 - 2) * 0.6;
            double v = num_mean[j] + num_std[j] * (shift + gauss());
            if (missing && (j == 2 || j == 7) && i % 17 == 5)
                at_sb_printf(&b, "%s,", i % 3 == 0 ? "" : i % 3 == 1 ? "NA" : "NaN");
            else
                at_sb_printf(&b, "%.6g,", v);
        }
        int r = uniform() < 0.7 ? c : (int)(uniform() * 3) % 3;
        at_sb_printf(&b, "%s,%s\n", missing && i % 23 == 4 ? "" : regions[r], classes[c]);
    }
    *len = b.len;
    return b.p;
}

static long long upload(const e2e_daemon *d, const char *query, const char *text, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/datasets?%s", query);
    e2e_resp r = e2e_req(d, "POST", path, "text/csv", text, len, NULL);
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    long long id = e2e_int(r.json, "id");
    e2e_resp_free(&r);
    return id;
}

/* {"model": {...input [in]...}, "dataset": ds, ...} with a training object. */
static char *job_body(int in, int out, const char *loss, long long ds, const char *training)
{
    at_sbuf b = {0};
    at_sb_printf(&b, "{\"model\": {\"input\": [%d], \"layers\": [{\"type\": \"dense\", \"units\": "
                     "32, \"activation\": \"relu\"}, {\"type\": \"dense\", \"units\": %d%s}], "
                     "\"loss\": \"%s\"}, \"dataset\": %lld, \"validation\": {\"split\": 0.2}, "
                     "\"training\": %s}",
                 in, out, strcmp(loss, "cross_entropy") ? "" : ", \"activation\": \"softmax\"",
                 loss, ds, training);
    return b.p;
}

/* A classification job on the wine table: input `in`, the suite's training
 * options and, when not NULL, a preprocess object (JSON text).  Caller frees. */
static char *wine_job(int in, long long ds, const char *preprocess)
{
    at_sbuf t = {0};
    at_sb_printf(&t, "{\"epochs\": 12, \"batch_size\": 32, \"seed\": 7, \"optimizer\": "
                     "{\"type\": \"adam\", \"lr\": 0.01}%s%s}",
                 preprocess ? ", \"preprocess\": " : "", preprocess ? preprocess : "");
    char *body = job_body(in, 3, "cross_entropy", ds, t.p);
    free(t.p);
    return body;
}

/* Metadata `key` of the job's `which` weights: the text (caller frees). */
static char *weights_meta(const e2e_daemon *d, long long job, const char *which, const char *key)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/jobs/%lld/weights?which=%s", job, which);
    e2e_resp r = e2e_get(d, path);
    ck_assert_msg(r.status == 200, "%s: %ld", which, r.status);
    nn_st_file *f;
    nn_err e;
    ck_assert_msg(nn_st_parse(r.body, r.len, &f, &e) == NN_OK, "%s", e.msg);
    const char *v = nn_st_meta(f, key);
    ck_assert_msg(v != NULL, "%s weights have no metadata \"%s\"", which, key);
    char *s = strdup(v);
    nn_st_free(f);
    e2e_resp_free(&r);
    return s;
}

/* The same, parsed as JSON. */
static json_t *weights_meta_json(const e2e_daemon *d, long long job, const char *which,
                                 const char *key)
{
    char *v = weights_meta(d, job, which, key);
    json_t *j = json_loads(v, JSON_DECODE_ANY, NULL);
    ck_assert_msg(j != NULL, "metadata %s is not JSON: %s", key, v);
    free(v);
    return j;
}

/* The raw CSV scaled with the fitted preprocessing p (JSON), as a user would
 * scale it beforehand: numeric columns (v - center) / scale from the float
 * the server reads, region one-hot in the categories' order. */
static char *hand_scaled(const char *raw, const json_t *p, size_t *len)
{
    const json_t *cols = json_object_get(p, "columns");
    ck_assert_int_eq(json_array_size(cols), N_NUM + 1);
    const json_t *cats = json_object_get(json_array_get(cols, N_NUM), "categories");
    at_sbuf b = {0};
    for (int j = 0; j < N_NUM; j++)
        at_sb_printf(&b, "%s,", num_names[j]);
    for (size_t k = 0; k < json_array_size(cats); k++)
        at_sb_printf(&b, "is_%s,", json_string_value(json_array_get(cats, k)));
    at_sb_printf(&b, "cultivar\n");
    const char *line = strchr(raw, '\n') + 1;
    while (*line) {
        const char *f = line;
        for (int j = 0; j < N_NUM; j++) {
            float v = (float)strtod(f, NULL);   /* as the server reads it */
            const json_t *c = json_array_get(cols, (size_t)j);
            double center = json_real_value(json_object_get(c, "center"));
            double scale = json_real_value(json_object_get(c, "scale"));
            at_sb_printf(&b, "%.9g,", (double)(float)(((double)v - center) / scale));
            f = strchr(f, ',') + 1;
        }
        const char *end = strchr(f, ',');
        for (size_t k = 0; k < json_array_size(cats); k++) {
            const char *cat = json_string_value(json_array_get(cats, k));
            at_sb_printf(&b, "%d,", (size_t)(end - f) == strlen(cat) && !strncmp(f, cat, strlen(cat)));
        }
        const char *nl = strchr(end, '\n');
        at_sb_printf(&b, "%.*s\n", (int)(nl - end - 1), end + 1);
        line = nl + 1;
    }
    *len = b.len;
    return b.p;
}

START_TEST(scaled_by_default_and_as_if_scaled_beforehand)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    size_t len;
    char *raw = wine_csv(0, &len);
    long long ds = upload(&d, "name=wine&label=cultivar", raw, len);

    /* the dataset says what it holds */
    char path[128];
    snprintf(path, sizeof path, "/v1/datasets/%lld", ds);
    e2e_resp r = e2e_get(&d, path);
    ck_assert_int_eq(r.status, 200);
    const json_t *cols = json_object_get(r.json, "columns");
    ck_assert_int_eq(json_array_size(cols), N_NUM + 1);
    ck_assert_str_eq(e2e_str(json_array_get(cols, N_NUM), "type"), "text");
    ck_assert_int_eq(json_array_size(json_object_get(json_array_get(cols, N_NUM), "categories")), 3);
    ck_assert_str_eq(e2e_str(json_object_get(r.json, "label"), "column"), "cultivar");
    const json_t *fs = json_object_get(r.json, "feature_scale");
    ck_assert_str_eq(e2e_str(fs, "max_feature"), "proline");
    ck_assert_str_eq(e2e_str(fs, "min_feature"), "hue");
    ck_assert(json_real_value(json_object_get(fs, "ratio")) > 1000);
    e2e_resp_free(&r);

    /* job A: raw data, default preprocessing (standardized, region one-hot) */
    char *body = wine_job(N_NUM + 3, ds, NULL);
    r = e2e_json(&d, "POST", "/v1/jobs", body);
    ck_assert_msg(r.status == 201, "%s", r.body);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "warnings")), 0);
    ck_assert(json_is_null(json_object_get(r.json, "preprocessing")) ||
              json_object_get(r.json, "preprocessing"));
    long long a = e2e_int(r.json, "id");
    e2e_resp_free(&r);
    json_t *ja = e2e_wait_job(&d, a, "succeeded failed", 120);
    ck_assert_msg(ja && !strcmp(e2e_str(ja, "state"), "succeeded"), "%s", e2e_log_tail(&d));
    const json_t *pa = json_object_get(ja, "preprocessing");
    ck_assert(json_is_true(json_object_get(pa, "standardize")));
    ck_assert_int_eq(e2e_int(pa, "n_features"), N_NUM + 3);
    ck_assert_str_eq(e2e_str(json_array_get(json_object_get(pa, "columns"), N_NUM), "kind"),
                     "one_hot");
    ck_assert_str_eq(e2e_str(ja, "label"), "class");
    ck_assert_int_eq(json_array_size(json_object_get(ja, "classes")), 3);
    double acc_a = json_real_value(json_object_get(json_object_get(ja, "last_metrics"),
                                                   "val_accuracy"));
    ck_assert_msg(acc_a >= 0.9, "val_accuracy %.4f on standardized data", acc_a);

    /* every weights file carries the metadata, the fitted preprocessing included */
    static const char *which[] = {"final", "best", "latest"};
    for (int w = 0; w < 3; w++) {
        char *fmt = weights_meta(&d, a, which[w], "format");
        ck_assert_str_eq(fmt, "traind");
        free(fmt);
        free(weights_meta(&d, a, which[w], "version"));
        json_t *cl = weights_meta_json(&d, a, which[w], "classes");
        ck_assert_str_eq(json_string_value(json_array_get(cl, 1)), "barolo");
        json_t *model = weights_meta_json(&d, a, which[w], "model");
        ck_assert(json_object_get(json_object_get(model, "training"), "preprocess") != NULL);
        json_t *pm = weights_meta_json(&d, a, which[w], "preprocess");
        ck_assert_int_eq(e2e_int(pm, "n_features"), N_NUM + 3);
        json_decref(cl);
        json_decref(model);
        json_decref(pm);
    }

    /* job B: the same rows scaled beforehand with A's statistics, no scaling */
    json_t *pm = weights_meta_json(&d, a, "final", "preprocess");
    size_t slen;
    char *scaled = hand_scaled(raw, pm, &slen);
    long long ds2 = upload(&d, "name=wine-scaled&label=cultivar", scaled, slen);
    char *body2 = wine_job(N_NUM + 3, ds2, "{\"standardize\": false}");
    json_t *jb = at_run_job(&d, body2, 120);
    double acc_b = json_real_value(json_object_get(json_object_get(jb, "last_metrics"),
                                                   "val_accuracy"));
    ck_assert_msg(fabs(acc_a - acc_b) <= 0.01, "raw %.4f against scaled beforehand %.4f", acc_a,
                  acc_b);
    long long b2 = e2e_int(jb, "id");

    /* predict from raw instances (arrays and objects) = from hand-scaled ones */
    const char *inst = "{\"instances\": [[13.1, 2.0, 2.4, 18, 101, 2.4, 2.1, 900, 1.0, 4.8, "
                       "\"asti\"], {\"alcohol\": 12.2, \"malic\": 3.5, \"ash\": 2.1, "
                       "\"alcalinity\": 23, \"magnesium\": 90, \"phenols\": 1.8, "
                       "\"flavanoids\": 0.9, \"proline\": 500, \"hue\": 0.8, \"intensity\": 7.5, "
                       "\"region\": \"novara\"}]}";
    snprintf(path, sizeof path, "/v1/jobs/%lld/predict", a);
    json_t *praw = at_predict(&d, a, inst, 2);
    const double raw_vals[2][N_NUM] = {{13.1, 2.0, 2.4, 18, 101, 2.4, 2.1, 900, 1.0, 4.8},
                                       {12.2, 3.5, 2.1, 23, 90, 1.8, 0.9, 500, 0.8, 7.5}};
    const char *raw_region[2] = {"asti", "novara"};
    at_sbuf hi = {0};
    at_sb_printf(&hi, "{\"instances\": [");
    const json_t *pcols = json_object_get(pm, "columns");
    for (int i = 0; i < 2; i++) {
        at_sb_printf(&hi, "%s[", i ? ", " : "");
        for (int j = 0; j < N_NUM; j++) {
            const json_t *c = json_array_get(pcols, (size_t)j);
            float v = (float)raw_vals[i][j];
            at_sb_printf(&hi, "%.9g, ", (double)(float)(((double)v -
                                                        json_real_value(json_object_get(c, "center"))) /
                                                       json_real_value(json_object_get(c, "scale"))));
        }
        for (int k = 0; k < 3; k++)
            at_sb_printf(&hi, "%s%d", k ? ", " : "", !strcmp(regions[k], raw_region[i]));
        at_sb_printf(&hi, "]");
    }
    at_sb_printf(&hi, "]}");
    json_t *phand = at_predict(&d, b2, hi.p, 2);
    for (int i = 0; i < 2; i++) {
        const json_t *x = json_array_get(praw, (size_t)i), *y = json_array_get(phand, (size_t)i);
        ck_assert_str_eq(e2e_str(x, "class"), e2e_str(y, "class"));
        for (int k = 0; k < 3; k++) {
            double u = json_real_value(json_array_get(json_object_get(x, "probabilities"), (size_t)k));
            double v = json_real_value(json_array_get(json_object_get(y, "probabilities"), (size_t)k));
            ck_assert_msg(fabs(u - v) < 1e-6, "instance %d class %d: raw %.9g, scaled %.9g", i, k,
                          u, v);
        }
    }
    json_decref(praw);
    json_decref(phand);
    json_decref(pm);
    json_decref(ja);
    json_decref(jb);
    free(raw);
    free(scaled);
    free(body);
    free(body2);
    free(hi.p);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

START_TEST(unscaled_features_warn)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    size_t len;
    char *raw = wine_csv(0, &len);
    long long ds = upload(&d, "name=wine&label=cultivar", raw, len);
    char *body = wine_job(N_NUM + 3, ds, "{\"standardize\": false}");
    e2e_resp r = e2e_json(&d, "POST", "/v1/jobs", body);
    ck_assert_msg(r.status == 201, "%s", r.body);
    const json_t *w = json_object_get(r.json, "warnings");
    ck_assert_int_eq(json_array_size(w), 1);
    const char *text = json_string_value(json_array_get(w, 0));
    ck_assert_ptr_nonnull(strstr(text, "differ in scale"));
    ck_assert_ptr_nonnull(strstr(text, "'proline'"));
    ck_assert_ptr_nonnull(strstr(text, "training.preprocess.standardize"));
    long long id = e2e_int(r.json, "id");
    e2e_resp_free(&r);
    ck_assert_ptr_nonnull(strstr(e2e_log_tail(&d), "differ in scale"));
    /* the warning stays with the job; min_max counts as scaling */
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld", id);
    r = e2e_get(&d, path);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "warnings")), 1);
    e2e_resp_free(&r);
    free(body);
    body = wine_job(N_NUM + 3, ds, "{\"min_max\": true}");
    r = e2e_json(&d, "POST", "/v1/jobs", body);
    ck_assert_msg(r.status == 201, "%s", r.body);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "warnings")), 0);
    e2e_resp_free(&r);
    free(body);
    free(raw);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

static void expect_422(const e2e_daemon *d, const char *body, const char *code, const char *path,
                       const char *needle)
{
    e2e_resp r = e2e_json(d, "POST", "/v1/jobs", body);
    ck_assert_msg(r.status == 422, "%ld %s", r.status, r.body);
    const json_t *err = json_object_get(r.json, "error");
    ck_assert_str_eq(e2e_str(err, "code"), code);
    ck_assert_str_eq(e2e_str(err, "path"), path);
    ck_assert_msg(strstr(e2e_str(err, "message"), needle), "no '%s' in %s", needle, r.body);
    e2e_resp_free(&r);
}

START_TEST(missing_values_and_categories)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    size_t len;
    char *raw = wine_csv(1, &len);
    long long ds = upload(&d, "name=gaps&label=cultivar", raw, len);
    static const struct {
        const char *preprocess, *code, *path, *needle;
    } refused[] = {
        /* the default: an error naming the column and the first line */
        {NULL, "invalid_job", "/training/preprocess/missing",
         "column 'ash' (column 3) has 35 missing values, the first on line 7"},
        /* a list that leaves out the text column, or names no column */
        {"{\"missing\": \"median\", \"categorical\": [\"ash\"]}", "invalid_job",
         "/training/preprocess/categorical", "column 'region' holds text"},
        {"{\"categorical\": [\"region\", \"colour\"]}", "invalid_job",
         "/training/preprocess/categorical/1", "no column named 'colour'"},
        /* the input must take what preprocessing makes: 10 + 3 + a missing category */
        {"{\"missing\": {\"numeric\": \"mean\", \"categorical\": \"category\"}}",
         "data_mismatch", "/dataset", "preprocessing makes 14 features"},
    };
    char *body;
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        body = wine_job(N_NUM + 3, ds, refused[i].preprocess);
        expect_422(&d, body, refused[i].code, refused[i].path, refused[i].needle);
        free(body);
    }
    body = wine_job(N_NUM + 4, ds, refused[3].preprocess);
    json_t *j = at_run_job(&d, body, 120);
    const json_t *pcols = json_object_get(json_object_get(j, "preprocessing"), "columns");
    const json_t *region = json_array_get(pcols, N_NUM);
    ck_assert_str_eq(e2e_str(region, "fill"), "__missing__");
    ck_assert(json_is_number(json_object_get(json_array_get(pcols, 2), "fill")));
    double acc = json_real_value(json_object_get(json_object_get(j, "last_metrics"),
                                                 "val_accuracy"));
    ck_assert_msg(acc >= 0.85, "val_accuracy %.4f with filled values", acc);
    long long id = e2e_int(j, "id");
    json_decref(j);

    /* predict: missing values filled, unseen categories all zeros with a
     * warning, wrong types and unknown columns refused with their path */
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld/predict", id);
    e2e_resp r = e2e_json(&d, "POST", path,
                          "{\"instances\": [[13, 2, null, 19, 100, 2, 2, null, 1, 5, null], "
                          "[13, 2, 2.4, 19, 100, 2, 2, 700, 1, 5, \"barolo hills\"]]}");
    ck_assert_msg(r.status == 200, "%s", r.body);
    const json_t *w = json_object_get(r.json, "warnings");
    ck_assert_int_eq(json_array_size(w), 1);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_array_get(w, 0)), "/instances/1"));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_array_get(w, 0)), "\"barolo hills\""));
    e2e_resp_free(&r);
    r = e2e_json(&d, "POST", path, "{\"instances\": [[13, 2, 2.4, 19, 100, 2, 2, 700, 1, 5, 3]]}");
    ck_assert_int_eq(r.status, 422);
    ck_assert_str_eq(e2e_str(json_object_get(r.json, "error"), "path"), "/instances/0/10");
    e2e_resp_free(&r);
    r = e2e_json(&d, "POST", path, "{\"instances\": [{\"alcohol\": 13, \"colour\": \"red\"}]}");
    ck_assert_int_eq(r.status, 422);
    ck_assert_str_eq(e2e_str(json_object_get(r.json, "error"), "path"), "/instances/0/colour");
    e2e_resp_free(&r);
    r = e2e_json(&d, "POST", path, "{\"instances\": [[13, 2]]}");
    ck_assert_int_eq(r.status, 422);
    ck_assert_ptr_nonnull(strstr(r.body, "11 feature columns"));
    e2e_resp_free(&r);
    /* an object missing keys: those values are missing, and filled */
    r = e2e_json(&d, "POST", path, "{\"instances\": [{\"alcohol\": 13, \"region\": \"asti\"}]}");
    ck_assert_msg(r.status == 200, "%s", r.body);
    e2e_resp_free(&r);
    free(body);
    free(raw);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

START_TEST(integer_label_is_both_a_target_and_classes)
{
    /* a diabetes-like table: the label holds integers 25..346 */
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    at_sbuf b = {0};
    lcg_state = 9;
    at_sb_printf(&b, "age,bmi,bp,target\n");
    for (int i = 0; i < 400; i++) {
        double age = 20 + 60 * uniform(), bmi = 18 + 20 * uniform(), bp = 70 + 50 * uniform();
        int target = 25 + (int)((age - 20) * 1.5 + (bmi - 18) * 6 + (bp - 70) * 1.2 + 20 * uniform());
        if (target > 346)
            target = 346;
        at_sb_printf(&b, "%.2f,%.2f,%.1f,%d\n", age, bmi, bp, target);
    }
    long long ds = upload(&d, "name=diabetes", b.p, b.len);
    char path[64];
    snprintf(path, sizeof path, "/v1/datasets/%lld", ds);
    e2e_resp r = e2e_get(&d, path);
    const json_t *as = json_object_get(json_object_get(r.json, "label"), "as");
    ck_assert_int_eq(json_array_size(as), 2);
    ck_assert_str_eq(json_string_value(json_array_get(as, 0)), "class");
    ck_assert_str_eq(json_string_value(json_array_get(as, 1)), "numeric");
    int n_classes = (int)e2e_int(r.json, "n_classes");
    ck_assert_int_gt(n_classes, 100);
    e2e_resp_free(&r);
    /* a regression reads it as numbers */
    char *body = job_body(3, 1, "mse", ds, "{\"epochs\": 30, \"seed\": 1, \"optimizer\": "
                                           "{\"type\": \"adam\", \"lr\": 0.01}}");
    json_t *j = at_run_job(&d, body, 120);
    ck_assert_str_eq(e2e_str(j, "label"), "numeric");
    ck_assert_int_eq(json_array_size(json_object_get(j, "classes")), 0);
    long long id = e2e_int(j, "id");
    json_decref(j);
    json_t *p = at_predict(&d, id, "{\"instances\": [[50, 28, 95]]}", 1);
    const json_t *v = json_array_get(json_array_get(p, 0), 0);
    ck_assert_msg(json_is_number(v) && isfinite(json_number_value(v)),
                  "a regression answers values");
    json_decref(p);
    free(body);
    /* a classification reads it as classes */
    body = job_body(3, n_classes, "cross_entropy", ds, "{\"epochs\": 1, \"seed\": 1}");
    r = e2e_json(&d, "POST", "/v1/jobs", body);
    ck_assert_msg(r.status == 201, "%s", r.body);
    ck_assert_str_eq(e2e_str(r.json, "label"), "class");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "classes")), (size_t)n_classes);
    e2e_resp_free(&r);
    free(body);
    /* a text label is no regression target */
    const char *txt = "a,b,kind\n1,2,x\n3,4,y\n5,6,x\n";
    long long ds2 = upload(&d, "name=kinds", txt, strlen(txt));
    body = job_body(2, 1, "mse", ds2, "{\"epochs\": 1}");
    expect_422(&d, body, "data_mismatch", "/dataset", "needs numbers");
    free(body);
    free(b.p);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

START_TEST(a_job_keeps_its_classes)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    at_sbuf b = {0};
    lcg_state = 3;
    at_sb_printf(&b, "sepal,petal,species\n");
    static const char *const sp[3] = {"setosa", "versicolor", "virginica"};
    for (int i = 0; i < 150; i++)
        at_sb_printf(&b, "%.2f,%.2f,%s\n", 5 + (i % 3) + 0.3 * gauss(), 1.5 + 2 * (i % 3) + 0.3 * gauss(),
                     sp[i % 3]);
    long long ds = upload(&d, "name=iris", b.p, b.len);
    char *body = job_body(2, 3, "cross_entropy", ds, "{\"epochs\": 40, \"seed\": 2, "
                          "\"optimizer\": {\"type\": \"adam\", \"lr\": 0.05}}");
    json_t *j = at_run_job(&d, body, 120);
    long long id = e2e_int(j, "id");
    json_decref(j);
    char path[64];
    snprintf(path, sizeof path, "/v1/datasets/%lld", ds);
    e2e_resp r = e2e_req(&d, "DELETE", path, NULL, NULL, 0, NULL);
    ck_assert_int_eq(r.status, 204);
    e2e_resp_free(&r);
    char ppath[64];
    snprintf(ppath, sizeof ppath, "/v1/jobs/%lld/predict", id);
    e2e_resp one = e2e_json(&d, "POST", ppath, "{\"instances\": [[5.0]]}");
    ck_assert_int_eq(one.status, 422);
    ck_assert_msg(strstr(one.body, "an instance has 1 value; the job's data have 2 feature "
                                   "columns"), "%s", one.body);
    e2e_resp_free(&one);
    json_t *p = at_predict(&d, id, "{\"instances\": [[5.0, 1.5], [7, 5.5]]}", 2);
    ck_assert_str_eq(e2e_str(json_array_get(p, 0), "class"), "setosa");
    ck_assert_str_eq(e2e_str(json_array_get(p, 1), "class"), "virginica");
    json_decref(p);
    snprintf(path, sizeof path, "/v1/jobs/%lld", id);
    r = e2e_get(&d, path);
    ck_assert_int_eq(e2e_int(r.json, "dataset"), ds);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(r.json, "classes"), 2)),
                     "virginica");
    e2e_resp_free(&r);
    free(body);
    free(b.p);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

START_TEST(csv_dialects_and_uploads)
{
    e2e_daemon d = {0};
    e2e_start(&d, NULL, NULL);
    struct {
        const char *query, *text, *first;
    } cases[] = {
        {"name=semi", "a;b;y\n1,5;2;x\n3;4;z\n", "a"},
        {"name=tabs", "a\tb\ty\n1\t2\tx\n3\t4\tz\n", "a"},
        {"name=bom", "\xEF\xBB\xBF\"a\",\"b, c\",y\r\n1,2,x\r\n3,4,z\r\n", "a"},
        {"name=given&delimiter=%7C", "a|b|y\n1|2|x\n3|4|z\n", "a"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/datasets?%s", cases[i].query);
        e2e_resp r = e2e_req(&d, "POST", path, "text/csv", cases[i].text, strlen(cases[i].text), NULL);
        ck_assert_msg(r.status == 201, "%s: %s", cases[i].query, r.body);
        const json_t *cols = json_object_get(r.json, "columns");
        ck_assert_int_eq(json_array_size(cols), 2);
        ck_assert_str_eq(e2e_str(json_array_get(cols, 0), "name"), cases[i].first);
        ck_assert_int_eq(e2e_int(r.json, "n_classes"), 2);
        e2e_resp_free(&r);
    }
    /* text that is not UTF-8, said so */
    const char *bad = "a,b\n\xff\xfe,x\n";
    e2e_resp r = e2e_req(&d, "POST", "/v1/datasets?name=latin1", "text/csv", bad, strlen(bad), NULL);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "must be UTF-8"));
    e2e_resp_free(&r);
    /* one multipart part of any name is the data, told by its content */
    const char *mp = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"iris.csv\"\r\n"
                     "Content-Type: text/csv\r\n\r\nsepal,species\n1,a\n2,b\n\r\n--XyZ--\r\n";
    r = e2e_req(&d, "POST", "/v1/datasets?name=one-part&label=species",
                "multipart/form-data; boundary=XyZ", mp, strlen(mp), NULL);
    ck_assert_msg(r.status == 201, "%s", r.body);
    ck_assert_str_eq(e2e_str(r.json, "format"), "csv");
    e2e_resp_free(&r);
    const char *mj = "--XyZ\r\nContent-Disposition: form-data; name=\"data\"; filename=\"d.json\"\r\n"
                     "\r\n{\"x\": [[0, 1], [1, 0]], \"y\": [1, 0]}\r\n--XyZ--\r\n";
    r = e2e_req(&d, "POST", "/v1/datasets?name=one-json", "multipart/form-data; boundary=XyZ", mj,
                strlen(mj), NULL);
    ck_assert_msg(r.status == 201, "%s", r.body);
    ck_assert_str_eq(e2e_str(r.json, "format"), "json");
    e2e_resp_free(&r);
    /* two parts must be x and y */
    const char *m2 = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"; filename=\"a\"\r\n\r\n1\r\n"
                     "--XyZ\r\nContent-Disposition: form-data; name=\"b\"; filename=\"b\"\r\n\r\n2\r\n"
                     "--XyZ--\r\n";
    r = e2e_req(&d, "POST", "/v1/datasets?name=two", "multipart/form-data; boundary=XyZ", m2,
                strlen(m2), NULL);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "two named x and y"));
    e2e_resp_free(&r);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

/* The README's tabular walk-through (examples/tabular.sh), as it stands. */
START_TEST(readme_tabular_walkthrough)
{
    e2e_daemon d = {0};
    const char *extra[] = {"--token", "tabular", NULL};
    e2e_start(&d, NULL, extra);
    char env[600];
    snprintf(env, sizeof env, "OUT=%s/wine.csv", tu_tmpdir());
    int st;
    char *out = e2e_run_script(&d, "examples/tabular.sh", env, &st);
    ck_assert_msg(st == 0, "walk-through failed:\n%s\n%s", out, e2e_log_tail(&d));
    ck_assert_ptr_nonnull(strstr(out, "{\"name\":\"hue\",\"type\":\"number\",\"missing\":11}"));
    ck_assert_ptr_nonnull(strstr(out, "\"categories\":[\"alba\",\"asti\",\"novara\"]"));
    const char *va = strstr(out, "\"val_accuracy\":");
    ck_assert_ptr_nonnull(va);
    ck_assert_msg(strtod(va + 15, NULL) >= 0.9, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "{\"class\":\"barolo\""));
    ck_assert_ptr_nonnull(strstr(out, "{\"class\":\"barbera\""));
    free(out);
    ck_assert_int_eq(e2e_stop(&d), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api_tabular");
    TCase *tc = tcase_create("api_tabular");
    tcase_set_timeout(tc, AT_UNDER_ASAN ? 600 : 240);
    tcase_add_test(tc, scaled_by_default_and_as_if_scaled_beforehand);
    tcase_add_test(tc, unscaled_features_warn);
    tcase_add_test(tc, missing_values_and_categories);
    tcase_add_test(tc, integer_label_is_both_a_target_and_classes);
    tcase_add_test(tc, a_job_keeps_its_classes);
    tcase_add_test(tc, csv_dialects_and_uploads);
    tcase_add_test(tc, readme_tabular_walkthrough);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
