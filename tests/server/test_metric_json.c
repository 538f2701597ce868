/*
 * test_metric_json.c — server/metric_json.c: the one rule for metric
 * numbers in JSON (finite: a number; NaN, +Inf, -Inf: null), and an
 * epoch's metrics as a job keeps them, where one infinite value (a
 * validation loss that overflowed) must become null and leave the object
 * and every other value as they were; jansson alone refuses the whole
 * object then.
 */
#include "metric_json.h"
#include "testutil.h"

#include <check.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

START_TEST(numbers_and_non_finite_values)
{
    static const double finite[] = {0.0, -0.0, 1.5, -2.25e-300, DBL_MAX, -DBL_MAX, DBL_MIN};
    for (size_t i = 0; i < sizeof finite / sizeof finite[0]; i++) {
        json_t *j = metric_json_num(finite[i]);
        ck_assert_msg(json_is_real(j), "%g", finite[i]);
        ck_assert(json_real_value(j) == finite[i]);
        json_decref(j);
    }
    static const double none[] = {NAN, -NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        json_t *j = metric_json_num(none[i]);
        ck_assert_msg(json_is_null(j), "%g is not null", none[i]);
        json_decref(j);
    }
    /* what the rule is for: jansson has no JSON for them */
    ck_assert_ptr_null(json_real(INFINITY));
}
END_TEST

/* The text of m, parsed back (the caller decrefs). */
static json_t *epoch_json(const nn_epoch_metrics *m)
{
    char *text = metric_json_epoch_text(m);
    ck_assert_ptr_nonnull(text);
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    ck_assert_msg(json_is_object(o), "%s: %s", text, je.text);
    free(text);
    return o;
}

static double real_of(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_real(v), "%s is not a number", key);
    return json_real_value(v);
}

START_TEST(infinite_val_loss_keeps_the_epoch)
{
    nn_epoch_metrics m = {.epoch = 7, .global_step = 70, .loss = 0.125, .accuracy = 0.75,
                          .val_loss = INFINITY, .val_accuracy = 0.5, .lr = 0.001,
                          .elapsed = 2.5, .samples_per_sec = 1234.5};
    json_t *o = epoch_json(&m);
    ck_assert_int_eq(json_object_size(o), 9);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "epoch")), 7);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "global_step")), 70);
    ck_assert(json_is_null(json_object_get(o, "val_loss")));
    ck_assert(real_of(o, "loss") == 0.125);
    ck_assert(real_of(o, "accuracy") == 0.75);
    ck_assert(real_of(o, "val_accuracy") == 0.5);
    ck_assert(real_of(o, "lr") == 0.001);
    ck_assert(real_of(o, "elapsed") == 2.5);
    ck_assert(real_of(o, "samples_per_second") == 1234.5);
    json_decref(o);

    /* -Inf and NaN alike, wherever they are */
    m.loss = -INFINITY;
    m.accuracy = NAN;
    m.val_loss = 0.5;
    o = epoch_json(&m);
    ck_assert(json_is_null(json_object_get(o, "loss")));
    ck_assert(json_is_null(json_object_get(o, "accuracy")));
    ck_assert(real_of(o, "val_loss") == 0.5);
    json_decref(o);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metric_json");
    TCase *tc = tcase_create("metric_json");
    tcase_add_test(tc, numbers_and_non_finite_values);
    tcase_add_test(tc, infinite_val_loss_keeps_the_epoch);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
