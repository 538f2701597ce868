/*
 * test_sse.c — the keep-alive rule of event streams (api_sse_keepalive_in):
 * a comment is due once the interval has passed since the stream's own
 * last bytes, and the wait until then shrinks as time passes, whatever
 * woke the caller in between.  The e2e suite checks the stream itself.
 */
#include <check.h>

#include "api.h"
#include "testutil.h"

START_TEST(due_after_the_interval_since_the_last_bytes)
{
    static const struct {
        int64_t now, last;
        long interval, want;
    } cases[] = {
        {1000, 1000, 15000, 15000},        /* just sent: a whole interval to go */
        {1001, 1000, 15000, 14999},
        {15999, 1000, 15000, 1},
        {16000, 1000, 15000, 0},           /* exactly the interval: due */
        {90000, 1000, 15000, 0},           /* long overdue: due, not negative */
        {500, 1000, 15000, 15000},         /* a clock before the last bytes: no less */
        {7, 0, 1000, 993},
        {1000, 0, 1000, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long got = api_sse_keepalive_in(cases[i].now, cases[i].last, cases[i].interval);
        ck_assert_msg(got == cases[i].want, "case %zu: %ld, want %ld", i, got, cases[i].want);
    }
}
END_TEST

/* A loop woken every 100 ms (other jobs' changes) that waits what the rule
 * says and sends when it says 0 sends every 1000 ms, not never. */
START_TEST(wake_ups_do_not_postpone_it)
{
    int64_t now = 0, last = 0;
    int sent = 0;
    for (int step = 0; step < 100; step++) {
        long wait = api_sse_keepalive_in(now, last, 1000);
        if (wait == 0) {
            ck_assert_int_eq(now - last, 1000);
            last = now;
            sent++;
            continue;
        }
        now += wait < 100 ? wait : 100;   /* woken early by a change, or the timer */
    }
    ck_assert_int_ge(sent, 8);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sse");
    TCase *tc = tcase_create("sse");
    tcase_add_test(tc, due_after_the_interval_since_the_last_bytes);
    tcase_add_test(tc, wake_ups_do_not_postpone_it);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
