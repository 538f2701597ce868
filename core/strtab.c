/*
 * strtab.c — interned strings (see strtab.h).
 */
#include "strtab.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a, 64 bits */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Rebuilds the slots for a table of n_slot slots (a power of two). */
static int rehash(nn_strtab *t, size_t n_slot)
{
    int *slot = calloc(n_slot, sizeof *slot);
    if (!slot)
        return -1;
    for (int i = 0; i < t->n; i++) {
        size_t k = (size_t)hash(nn_strtab_text(t, i)) & (n_slot - 1);
        while (slot[k])
            k = (k + 1) & (n_slot - 1);
        slot[k] = i + 1;
    }
    free(t->slot);
    t->slot = slot;
    t->n_slot = n_slot;
    return 0;
}

/* Room for one more code with `bytes` more bytes of text. */
static int reserve(nn_strtab *t, size_t bytes)
{
    if (t->len + bytes > t->cap) {
        size_t cap = t->cap ? t->cap : 1024;
        while (cap < t->len + bytes)
            cap *= 2;
        char *a = realloc(t->arena, cap);
        if (!a)
            return -1;
        t->arena = a;
        t->cap = cap;
    }
    if (t->n == t->cap_n) {
        int cap = t->cap_n ? t->cap_n * 2 : 64;
        size_t *o = realloc(t->off, (size_t)cap * sizeof *o);
        if (!o)
            return -1;
        t->off = o;
        t->cap_n = cap;
    }
    /* at most half full after the insert */
    if ((size_t)(t->n + 1) * 2 > t->n_slot && rehash(t, t->n_slot ? t->n_slot * 2 : 128))
        return -1;
    return 0;
}

int nn_strtab_intern(nn_strtab *t, const char *s, int max)
{
    uint64_t h = hash(s);
    if (t->n_slot) {
        size_t k = (size_t)h & (t->n_slot - 1);
        for (; t->slot[k]; k = (k + 1) & (t->n_slot - 1))
            if (strcmp(nn_strtab_text(t, t->slot[k] - 1), s) == 0)
                return t->slot[k] - 1;
    }
    if (t->n >= max)
        return -1;
    size_t n = strlen(s) + 1;
    if (reserve(t, n))
        return -1;
    memcpy(t->arena + t->len, s, n);
    t->off[t->n] = t->len;
    t->len += n;
    size_t k = (size_t)h & (t->n_slot - 1);
    while (t->slot[k])
        k = (k + 1) & (t->n_slot - 1);
    t->slot[k] = t->n + 1;
    return t->n++;
}

/* qsort has no context argument (qsort_r is not C11): the table goes through
 * a per-thread pointer, so that readers on several threads never share it. */
static _Thread_local const nn_strtab *sort_table;

static int cmp_code(const void *a, const void *b)
{
    return strcmp(nn_strtab_text(sort_table, *(const int *)a),
                  nn_strtab_text(sort_table, *(const int *)b));
}

int nn_strtab_sorted_ranks(const nn_strtab *t, int *rank)
{
    int *order = malloc((size_t)(t->n ? t->n : 1) * sizeof *order);
    if (!order)
        return -1;
    for (int i = 0; i < t->n; i++)
        order[i] = i;
    sort_table = t;
    qsort(order, (size_t)t->n, sizeof *order, cmp_code);
    for (int i = 0; i < t->n; i++)
        rank[order[i]] = i;
    free(order);
    return 0;
}

void nn_strtab_free(nn_strtab *t)
{
    free(t->arena);
    free(t->off);
    free(t->slot);
    memset(t, 0, sizeof t[0]);
}
