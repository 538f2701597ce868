/*
 * test_prep.c — preprocessing (core/prep.h): the statistics it learns, from
 * which rows, each missing-value rule, one-hot encoding of text and number
 * columns, unseen categories, single instances, the default of
 * standardization, and the scale spread behind the server's warning.
 *
 * Expected values are computed here by hand (or in double from the same
 * numbers), not read back from the code under test.
 */
#include <check.h>

#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "prep.h"
#include "train.h"

#define HAS(msg, s) ck_assert_msg(strstr((msg), (s)) != NULL, "expected \"%s\" in \"%s\"", (s), (msg))
#define REQ(a, b)                                                                             \
    ck_assert_msg((double)(a) == (double)(b), "%s = %.17g, want %.17g", #a, (double)(a), \
                  (double)(b))
#define NEAR(a, b) ck_assert_msg(fabs((double)(a) - (double)(b)) < 1e-6, "%s = %.9g, want %.9g", \
                                 #a, (double)(a), (double)(b))

static void csv(const char *text, nn_dataset *d)
{
    char *p = tu_write_str(tu_tmpdir(), "prep.csv", text);
    nn_err e;
    int rc = nn_csv_read(p, NULL, d, &e);
    ck_assert_msg(rc == NN_OK, "%s", e.msg);
    free(p);
}

/* x [n, f] of untabled data (as NPY would give). */
static void matrix(nn_dataset *d, int64_t n, int64_t f, const nn_real *x)
{
    memset(d, 0, sizeof *d);
    int64_t dim[2] = {n, f}, yd[2] = {n, 1};
    ck_assert_int_eq(nn_tensor_alloc(&d->x, 2, dim), NN_OK);
    ck_assert_int_eq(nn_tensor_alloc(&d->y, 2, yd), NN_OK);
    memcpy(d->x.data, x, (size_t)(n * f) * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        d->y.data[i] = 0;
}

START_TEST(standardize_statistics)
{
    /* x [10, 3]: column 0 = 0..9 (mean 4.5, population var 8.25), column 1
     * constant 0.1 (a sum of ten 0.1f over 10 need not give 0.1f back: the
     * column must come out exactly 0, not blown up), column 2 constant 10. */
    nn_real x[30];
    for (int i = 0; i < 10; i++) {
        x[3 * i + 0] = (nn_real)i;
        x[3 * i + 1] = (nn_real)0.1;
        x[3 * i + 2] = 10;
    }
    nn_dataset d;
    matrix(&d, 10, 3, x);
    nn_prep_cfg c;
    nn_prep_cfg_default(&c);
    c.standardize = 1;
    nn_prep p;
    nn_err e;
    ck_assert_int_eq(nn_prep_fit(&c, &d, NULL, 0, &p, &e), NN_OK);
    ck_assert_int_eq(p.n_out, 3);
    REQ(p.cols[0].center, 4.5);
    REQ(p.cols[0].scale, sqrt(8.25));
    REQ(p.cols[1].center, (double)(nn_real)0.1);
    REQ(p.cols[1].scale, 1);
    REQ(p.cols[2].center, 10);
    REQ(p.cols[2].scale, 1);
    ck_assert(isnan(p.cols[0].fill));
    ck_assert(!nn_prep_is_identity(&p));
    ck_assert_int_eq(nn_prep_apply(&p, &d, NULL, &e), NN_OK);
    for (int i = 0; i < 10; i++) {
        REQ(d.x.data[3 * i + 0], (nn_real)((i - 4.5) / sqrt(8.25)));
        REQ(d.x.data[3 * i + 1], 0);
        REQ(d.x.data[3 * i + 2], 0);
    }
    nn_prep_free(&p);
    /* standardized data have mean 0 and std 1 */
    ck_assert_int_eq(nn_prep_fit(&c, &d, NULL, 0, &p, &e), NN_OK);
    ck_assert(fabs(p.cols[0].center) < 1e-6 && fabs(p.cols[0].scale - 1) < 1e-6);
    nn_prep_free(&p);
    nn_dataset_free(&d);
    nn_prep_cfg_free(&c);
}
END_TEST

START_TEST(statistics_from_training_rows_only)
{
    /* rows 0, 2, 4 train: values 1, 5, 9 -> mean 5, var 32/3; rows 1, 3
     * (100, 200) must not count */
    const nn_real x[5] = {1, 100, 5, 200, 9};
    nn_dataset d;
    matrix(&d, 5, 1, x);
    nn_prep_cfg c;
    nn_prep_cfg_default(&c);
    c.standardize = 1;
    int64_t rows[3] = {0, 2, 4};
    nn_prep p;
    nn_err e;
    ck_assert_int_eq(nn_prep_fit(&c, &d, rows, 3, &p, &e), NN_OK);
    REQ(p.cols[0].center, 5);
    REQ(p.cols[0].scale, sqrt(32.0 / 3.0));
    ck_assert_int_eq(nn_prep_apply(&p, &d, NULL, &e), NN_OK);
    REQ(d.x.data[1], (nn_real)(95 / sqrt(32.0 / 3.0)));   /* validation rows scaled too */
    nn_prep_free(&p);
    nn_dataset_free(&d);

    /* With the trainer's split: the rows nn_train_split says train. */
    nn_train_cfg tc;
    nn_train_cfg_default(&tc);
    tc.validation_split = 0.4;
    tc.seed = 3;
    int64_t *tr, *va, ntr, nva;
    ck_assert_int_eq(nn_train_split(5, &tc, &tr, &ntr, &va, &nva, &e), NN_OK);
    ck_assert_int_eq(ntr, 3);
    ck_assert_int_eq(nva, 2);
    int seen = 0;
    for (int i = 0; i < 3; i++)
        seen |= 1 << tr[i];
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(seen & (1 << va[i]), 0);
        seen |= 1 << va[i];
    }
    ck_assert_int_eq(seen, 31);
    free(tr);
    free(va);
    nn_prep_cfg_free(&c);
}
END_TEST

START_TEST(min_max_scaling)
{
    const nn_real x[8] = {2, 7, 4, 7, 6, 7, 10, 7};
    nn_dataset d;
    matrix(&d, 4, 2, x);
    nn_prep_cfg c;
    nn_prep_cfg_default(&c);
    c.min_max = 1;
    nn_prep p;
    nn_err e;
    ck_assert_int_eq(nn_prep_fit(&c, &d, NULL, 0, &p, &e), NN_OK);
    ck_assert(p.min_max && !p.standardize);
    REQ(p.cols[0].center, 2);
    REQ(p.cols[0].scale, 8);
    REQ(p.cols[1].scale, 1);   /* constant */
    ck_assert_int_eq(nn_prep_apply(&p, &d, NULL, &e), NN_OK);
    REQ(d.x.data[0], 0);
    REQ(d.x.data[2], (nn_real)0.25);
    REQ(d.x.data[6], 1);
    REQ(d.x.data[7], 0);
    nn_prep_free(&p);
    c.standardize = 1;
    ck_assert_int_eq(nn_prep_fit(&c, &d, NULL, 0, &p, &e), NN_EINVAL);
    ck_assert_str_eq(e.field, "min_max");
    nn_dataset_free(&d);
}
END_TEST

START_TEST(standardize_default_tables_only)
{
    /* A CSV (a table) is standardized by default; the same numbers as an
     * untabled array are not. */
    nn_dataset t, a;
    csv("u,v,y\n1,10,0\n3,30,1\n", &t);
    const nn_real x[4] = {1, 10, 3, 30};
    matrix(&a, 2, 2, x);
    nn_prep_cfg c;
    nn_prep_cfg_default(&c);
    nn_prep p;
    nn_err e;
    ck_assert_int_eq(nn_prep_fit(&c, &t, NULL, 0, &p, &e), NN_OK);
    ck_assert(p.table && p.standardize);
    REQ(p.cols[1].center, 20);
    REQ(p.cols[1].scale, 10);
    ck_assert_str_eq(p.cols[1].name, "v");
    ck_assert_int_eq(nn_prep_find_col(&p, "v"), 1);
    ck_assert_int_eq(nn_prep_find_col(&p, "w"), -1);
    nn_prep_free(&p);
    ck_assert_int_eq(nn_prep_fit(&c, &a, NULL, 0, &p, &e), NN_OK);
    ck_assert(!p.table && !p.standardize);
    ck_assert(nn_prep_is_identity(&p));
    ck_assert_ptr_null(p.cols[0].name);
    nn_prep_free(&p);
    c.standardize = 0;
    ck_assert_int_eq(nn_prep_fit(&c, &t, NULL, 0, &p, &e), NN_OK);
    ck_assert(nn_prep_is_identity(&p));
    nn_prep_free(&p);
    nn_dataset_free(&t);
    nn_dataset_free(&a);
}
END_TEST

START_TEST(missing_value_rules)
{
    /* column a: 1, -, 3, 10 (line 3 missing); b: text with one missing */
    const char *text = "a,b,y\n1,red,0\n,blue,1\n3,,0\n10,red,1\n";
    nn_dataset d;
    csv(text, &d);
    nn_prep_cfg c;
    nn_prep_cfg_default(&c);
    c.standardize = 0;
    nn_prep p;
    nn_err e;
    /* the default: an error naming the column, its place and the first line */
    ck_assert_int_eq(nn_prep_fit(&c, &d, NULL, 0, &p, &e), NN_EINVAL);
    ck_assert_str_eq(e.field, "missing");
    HAS(e.msg, "column 'a' (column 1) has 1 missing values, the first on line 3");
    c.missing_numeric = NN_IMPUTE_MEAN;
    ck_assert_int_eq(nn_prep_fit(&c, &d, NULL, 0, &p, &e), NN_EINVAL);
    HAS(e.msg, "column 'b' (column 2)");
    HAS(e.msg, "first on line 4");

    /* mean 14/3; the most frequent text category is red */
    c.missing_categorical = NN_IMPUTE_MOST_FREQUENT;
    ck_assert_int_eq(nn_prep_fit(&c, &d, NULL, 0, &p, &e), NN_OK);
    REQ(p.cols[0].fill, 14.0 / 3.0);
    ck_assert_int_eq(p.cols[1].kind, NN_PREP_ONEHOT);
    ck_assert_int_eq(p.cols[1].n_cats, 2);
    ck_assert_str_eq(p.cols[1].cats[p.cols[1].fill_cat], "red");
    ck_assert_int_eq(p.n_out, 3);
    nn_dataset w;
    csv(text, &w);
    ck_assert_int_eq(nn_prep_apply(&p, &w, NULL, &e), NN_OK);
    ck_assert_int_eq(w.x.rank, 2);
    ck_assert_int_eq(w.x.dim[1], 3);
    ck_assert_int_eq(w.n_cols, 0);
    const nn_real want[12] = {1, 0, 1, (nn_real)(14.0 / 3.0), 1, 0, 3, 0, 1, 10, 0, 1};
    for (int i = 0; i < 12; i++)
        REQ(w.x.data[i], want[i]);
    nn_dataset_free(&w);
    nn_prep_free(&p);

    /* median of 1, 3, 10 is 3; a category of its own for missing texts */
    c.missing_numeric = NN_IMPUTE_MEDIAN;
    c.missing_categorical = NN_IMPUTE_CATEGORY;
    ck_assert_int_eq(nn_prep_fit(&c, &d, NULL, 0, &p, &e), NN_OK);
    REQ(p.cols[0].fill, 3);
    ck_assert_int_eq(p.cols[1].n_cats, 3);
    ck_assert(p.cols[1].missing_cat);
    ck_assert_str_eq(p.cols[1].cats[2], NN_PREP_MISSING_CATEGORY);
    ck_assert_int_eq(p.cols[1].fill_cat, 2);
    int64_t width;
    ck_assert_int_eq(nn_prep_width(&c, d.cols, d.n_cols, 2, &width, &e), NN_OK);
    ck_assert_int_eq(width, 4);
    csv(text, &w);
    ck_assert_int_eq(nn_prep_apply(&p, &w, NULL, &e), NN_OK);
    REQ(w.x.data[4], 3);                 /* row 1: a filled with the median */
    REQ(w.x.data[8 + 3], 1);             /* row 2: b is the missing category */
    REQ(w.x.data[8 + 1] + w.x.data[8 + 2], 0);
    nn_dataset_free(&w);
    nn_prep_free(&p);

    /* the fill of standardization counts as a value: mean 14/3 of (1, 14/3, 3, 10) */
    c.standardize = 1;
    c.missing_numeric = NN_IMPUTE_MEAN;
    ck_assert_int_eq(nn_prep_fit(&c, &d, NULL, 0, &p, &e), NN_OK);
    double m = 14.0 / 3.0, var = ((1 - m) * (1 - m) + (3 - m) * (3 - m) + (10 - m) * (10 - m)) / 4;
    NEAR(p.cols[0].center, m);
    NEAR(p.cols[0].scale, sqrt(var));
    nn_prep_free(&p);

    /* a column with no value in the training rows */
    int64_t only[1] = {1};
    ck_assert_int_eq(nn_prep_fit(&c, &d, only, 1, &p, &e), NN_EINVAL);
    HAS(e.msg, "no values in the training rows");
    nn_dataset_free(&d);
    nn_prep_cfg_free(&c);
}
END_TEST

START_TEST(one_hot_text_and_unseen)
{
    nn_dataset d;
    csv("color,x,y\nred,1,0\ngreen,2,1\nred,3,0\nblue,4,1\n", &d);
    nn_prep_cfg c;
    nn_prep_cfg_default(&c);
    int64_t rows[3] = {0, 1, 2};        /* blue only in the held-out row */
    nn_prep p;
    nn_err e;
    ck_assert_int_eq(nn_prep_fit(&c, &d, rows, 3, &p, &e), NN_OK);
    ck_assert_int_eq(p.cols[0].kind, NN_PREP_ONEHOT);
    ck_assert(p.cols[0].text);
    /* every category of the column, so that the width is known up front */
    ck_assert_int_eq(p.cols[0].n_cats, 3);
    ck_assert_str_eq(p.cols[0].cats[0], "blue");
    ck_assert_str_eq(p.cols[0].cats[1], "green");
    ck_assert_str_eq(p.cols[0].cats[2], "red");
    ck_assert_int_eq(p.n_out, 4);
    int64_t width;
    ck_assert_int_eq(nn_prep_width(&c, d.cols, d.n_cols, 2, &width, &e), NN_OK);
    ck_assert_int_eq(width, 4);
    /* another file with the same columns, its codes in another order */
    nn_dataset v;
    csv("color,x,y\nblue,5,0\nred,6,1\nyellow,7,0\n", &v);
    int64_t unseen = -1;
    ck_assert_int_eq(nn_prep_apply(&p, &v, &unseen, &e), NN_OK);
    ck_assert_int_eq(unseen, 1);
    const nn_real want[3][3] = {{1, 0, 0}, {0, 0, 1}, {0, 0, 0}};
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++)
            REQ(v.x.data[4 * i + k], want[i][k]);
    /* x is standardized over rows 0..2 (1, 2, 3) */
    REQ(v.x.data[3], (nn_real)((5 - 2) / sqrt(2.0 / 3.0)));
    nn_dataset_free(&v);
    /* columns must match by name */
    csv("colour,x,y\nred,1,0\n", &v);
    ck_assert_int_eq(nn_prep_apply(&p, &v, NULL, &e), NN_EINVAL);
    HAS(e.msg, "'colour'");
    nn_dataset_free(&v);
    nn_prep_free(&p);
    nn_dataset_free(&d);
}
END_TEST

START_TEST(categorical_lists)
{
    nn_dataset d;
    csv("grade,score,town,y\n3,0.5,a,0\n1,0.7,b,1\n3,0.9,a,0\n2.5,1.1,b,1\n", &d);
    nn_prep_cfg c;
    nn_prep_cfg_default(&c);
    nn_prep p;
    nn_err e;
    /* a list names exactly the categorical columns: numbers become categories */
    c.categorical_auto = 0;
    c.categorical = calloc(2, sizeof *c.categorical);
    c.categorical[0] = strdup("grade");
    c.categorical[1] = strdup("town");
    c.n_categorical = 2;
    ck_assert_int_eq(nn_prep_fit(&c, &d, NULL, 0, &p, &e), NN_OK);
    ck_assert_int_eq(p.cols[0].kind, NN_PREP_ONEHOT);
    ck_assert(!p.cols[0].text);
    ck_assert_int_eq(p.cols[0].n_cats, 3);
    ck_assert_str_eq(p.cols[0].cats[0], "1");
    ck_assert_str_eq(p.cols[0].cats[1], "2.5");
    ck_assert_str_eq(p.cols[0].cats[2], "3");
    REQ(p.cols[0].values[1], 2.5);
    ck_assert_int_eq(p.n_out, 3 + 1 + 2);
    int64_t width;
    ck_assert_int_eq(nn_prep_width(&c, d.cols, d.n_cols, 3, &width, &e), NN_OK);
    ck_assert_int_eq(width, 6);
    ck_assert_int_eq(d.cols[0].n_distinct, 3);
    ck_assert_int_eq(d.cols[1].n_distinct, 4);
    ck_assert_int_eq(d.cols[2].n_distinct, 2);
    /* instances: numbers for number categories, strings for texts */
    nn_cell cells[3] = {{NN_CELL_NUMBER, 2.5, NULL}, {NN_CELL_NUMBER, 0.8, NULL},
                        {NN_CELL_TEXT, 0, "b"}};
    nn_real out[6];
    unsigned char unseen[3];
    ck_assert_int_eq(nn_prep_apply_row(&p, cells, out, unseen, &e), NN_OK);
    const nn_real want[6] = {0, 1, 0, 0, 0, 1};
    for (int i = 0; i < 6; i++)
        if (i != 3)
            REQ(out[i], want[i]);
    NEAR(out[3], 0);   /* 0.8 is the mean of the scores */
    ck_assert(!unseen[0] && !unseen[2]);
    cells[0].num = 4;
    cells[2].text = "zzz";
    ck_assert_int_eq(nn_prep_apply_row(&p, cells, out, unseen, &e), NN_OK);
    ck_assert(unseen[0] && !unseen[1] && unseen[2]);
    REQ(out[0] + out[1] + out[2] + out[4] + out[5], 0);
    /* wrong kinds and missing values name the column */
    cells[2] = (nn_cell){NN_CELL_NUMBER, 1, NULL};
    ck_assert_int_eq(nn_prep_apply_row(&p, cells, out, unseen, &e), NN_EINVAL);
    ck_assert_int_eq(e.layer, 2);
    HAS(e.msg, "expected a string");
    cells[2] = (nn_cell){NN_CELL_TEXT, 0, "a"};
    cells[1] = (nn_cell){NN_CELL_MISSING, 0, NULL};
    ck_assert_int_eq(nn_prep_apply_row(&p, cells, out, unseen, &e), NN_EINVAL);
    ck_assert_int_eq(e.layer, 1);
    HAS(e.msg, "missing value");
    cells[1] = (nn_cell){NN_CELL_TEXT, 0, "x"};
    ck_assert_int_eq(nn_prep_apply_row(&p, cells, out, unseen, &e), NN_EINVAL);
    HAS(e.msg, "expected a number");
    nn_prep_free(&p);

    /* a text column left out of the list, an unknown name */
    free(c.categorical[1]);
    c.categorical[1] = strdup("nope");
    ck_assert_int_eq(nn_prep_fit(&c, &d, NULL, 0, &p, &e), NN_EINVAL);
    ck_assert_str_eq(e.field, "categorical");
    ck_assert_int_eq(e.layer, 1);
    HAS(e.msg, "no column named 'nope'");
    free(c.categorical[1]);
    c.categorical[1] = NULL;
    c.n_categorical = 1;
    ck_assert_int_eq(nn_prep_fit(&c, &d, NULL, 0, &p, &e), NN_EINVAL);
    HAS(e.msg, "column 'town' holds text");
    nn_prep_cfg_free(&c);
    nn_dataset_free(&d);

    /* categories need named columns */
    const nn_real x[2] = {1, 2};
    matrix(&d, 2, 1, x);
    nn_prep_cfg_default(&c);
    c.categorical_auto = 0;
    c.categorical = calloc(1, sizeof *c.categorical);
    c.categorical[0] = strdup("a");
    c.n_categorical = 1;
    ck_assert_int_eq(nn_prep_fit(&c, &d, NULL, 0, &p, &e), NN_EINVAL);
    HAS(e.msg, "need a table");
    nn_prep_cfg_free(&c);
    nn_dataset_free(&d);
}
END_TEST

START_TEST(fit_is_deterministic)
{
    /* the same data, rows and cfg give the same numbers bit for bit */
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof text, "a,b,c,y\n");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%g,%s,%g,%d\n", 0.37 * i * i,
                              i % 7 == 0 ? "" : i % 3 ? "p" : "q", 1e5 + i * 3.1, i % 2);
    nn_dataset d1, d2;
    csv(text, &d1);
    csv(text, &d2);
    nn_prep_cfg c;
    nn_prep_cfg_default(&c);
    c.missing_categorical = NN_IMPUTE_MOST_FREQUENT;
    nn_prep p1, p2;
    nn_err e;
    ck_assert_int_eq(nn_prep_fit(&c, &d1, NULL, 0, &p1, &e), NN_OK);
    ck_assert_int_eq(nn_prep_fit(&c, &d2, NULL, 0, &p2, &e), NN_OK);
    for (int j = 0; j < 3; j++) {
        ck_assert(memcmp(&p1.cols[j].center, &p2.cols[j].center, sizeof(double)) == 0);
        ck_assert(memcmp(&p1.cols[j].scale, &p2.cols[j].scale, sizeof(double)) == 0);
    }
    ck_assert_int_eq(nn_prep_apply(&p1, &d1, NULL, &e), NN_OK);
    ck_assert_int_eq(nn_prep_apply(&p2, &d2, NULL, &e), NN_OK);
    ck_assert(memcmp(d1.x.data, d2.x.data, (size_t)nn_tensor_numel(&d1.x) * sizeof(nn_real)) == 0);
    nn_prep_free(&p1);
    nn_prep_free(&p2);
    nn_dataset_free(&d1);
    nn_dataset_free(&d2);
}
END_TEST

START_TEST(scale_spread)
{
    nn_dataset d;
    csv("big,small,txt,flat,y\n100,0.1,a,5,0\n300,0.2,b,5,1\n500,0.3,a,5,0\n", &d);
    double hi, lo;
    int hj, lj;
    ck_assert_int_eq(nn_prep_scale_spread(&d, &hi, &hj, &lo, &lj), 0);
    ck_assert_int_eq(hj, 0);
    ck_assert_int_eq(lj, 1);
    NEAR(hi, sqrt(80000.0 / 3.0));
    NEAR(lo, sqrt(0.02 / 3.0));
    nn_dataset_free(&d);
    /* one varying feature: nothing to compare */
    csv("a,b,y\n1,2,0\n1,3,1\n", &d);
    ck_assert_int_eq(nn_prep_scale_spread(&d, &hi, &hj, &lo, &lj), -1);
    nn_dataset_free(&d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("prep");
    TCase *tc = tcase_create("prep");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, standardize_statistics);
    tcase_add_test(tc, statistics_from_training_rows_only);
    tcase_add_test(tc, min_max_scaling);
    tcase_add_test(tc, standardize_default_tables_only);
    tcase_add_test(tc, missing_value_rules);
    tcase_add_test(tc, one_hot_text_and_unseen);
    tcase_add_test(tc, categorical_lists);
    tcase_add_test(tc, fit_is_deterministic);
    tcase_add_test(tc, scale_spread);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
