/*
 * corelat.c — the round trip of a cache line between two cores: one thread
 * on each of the first two CPUs the process may use, passing a counter back
 * and forth.  Prints the median of 9 batches of 20,000 round trips, in ns.
 *
 * bench/compare.sh prints it before and after every round.  On the virtual
 * machines the benchmarks ran on, the two cores are sometimes close (about
 * 100 ns) and sometimes far apart (about 400 ns), and multi-threaded
 * training is slower in the second case: the threads hand data to each
 * other at every layer.  Runs about a tenth of a second; exits 1 when the
 * process may use fewer than two CPUs.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { BATCHES = 9, TRIPS = 20000 };

static _Alignas(64) atomic_long ball;
static int cpu[2];

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void pin(int c)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(c, &s);
    pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

/* returns every odd value as the next even one */
static void *partner(void *arg)
{
    (void)arg;
    pin(cpu[1]);
    for (long i = 0; i < (long)BATCHES * TRIPS; i++) {
        while (atomic_load_explicit(&ball, memory_order_acquire) != 2 * i + 1)
            ;
        atomic_store_explicit(&ball, 2 * i + 2, memory_order_release);
    }
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void)
{
    cpu_set_t all;
    int n = 0;
    if (sched_getaffinity(0, sizeof all, &all) == 0)
        for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
            if (CPU_ISSET(c, &all))
                cpu[n++] = c;
    if (n < 2) {
        fprintf(stderr, "corelat: needs two CPUs\n");
        return 1;
    }
    pthread_t t;
    pin(cpu[0]);
    if (pthread_create(&t, NULL, partner, NULL) != 0)
        return 1;
    double ns[BATCHES];
    long v = 0;
    for (int b = 0; b < BATCHES; b++) {
        double t0 = now();
        for (int i = 0; i < TRIPS; i++, v++) {
            atomic_store_explicit(&ball, 2 * v + 1, memory_order_release);
            while (atomic_load_explicit(&ball, memory_order_acquire) != 2 * v + 2)
                ;
        }
        ns[b] = (now() - t0) / TRIPS * 1e9;
    }
    pthread_join(t, NULL);
    qsort(ns, BATCHES, sizeof ns[0], cmp);
    printf("%.0f\n", ns[BATCHES / 2]);
    return 0;
}
