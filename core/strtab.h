/*
 * strtab.h — a table of distinct strings, each given a small integer code in
 * the order it was first seen (interning); not part of libnn's public API.
 *
 * The CSV reader keeps one per text column and one for the label column, so
 * that memory holds each distinct text once however many rows repeat it, and
 * each row holds only its code.  Lookups hash (FNV-1a) into an open-addressed
 * slot array that stays at most half full.
 *
 * Invariants: codes are 0 .. n-1 without gaps; the text of code i is
 * NUL-terminated at arena + off[i] and never changes; no two codes have
 * equal texts.
 */
#ifndef NN_STRTAB_H
#define NN_STRTAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct nn_strtab {
    char *arena;           /* the texts, back to back, NUL-terminated */
    size_t len, cap;
    size_t *off;           /* code -> offset in arena */
    int n, cap_n;
    int *slot;             /* code + 1, or 0 for an empty slot */
    size_t n_slot;         /* a power of two, or 0 before the first insert */
} nn_strtab;

/* The code of s, adding it when new.  Returns the code (>= 0), or -1 when
 * out of memory or when adding it would make more than max codes (the table
 * is then unchanged).  A zeroed nn_strtab is an empty table. */
int nn_strtab_intern(nn_strtab *t, const char *s, int max);

/* The text of code i (0 <= i < t->n). */
static inline const char *nn_strtab_text(const nn_strtab *t, int i)
{
    return t->arena + t->off[i];
}

/* rank[i] = position of code i when the texts are sorted bytewise (strcmp).
 * rank has t->n entries.  Returns 0, or -1 when out of memory. */
int nn_strtab_sorted_ranks(const nn_strtab *t, int *rank);

/* Frees the table's memory and zeroes it. */
void nn_strtab_free(nn_strtab *t);

#endif
