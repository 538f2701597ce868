/*
 * rng.h — the model's own pseudo-random numbers: xoshiro256** seeded through
 * splitmix64.  The whole state is four words, saved in checkpoints.  libnn
 * never calls rand() and never reads the clock for randomness.
 */
#ifndef NN_RNG_H
#define NN_RNG_H

#include <stdint.h>

typedef struct nn_rng {
    uint64_t s[4];
} nn_rng;

/* Seeds from one 64-bit value; `stream` separates independent streams drawn
 * from the same seed (initialisation, shuffling, dropout, splitting). */
void nn_rng_seed(nn_rng *r, uint64_t seed, uint64_t stream);

/* Next 64 random bits. */
uint64_t nn_rng_next(nn_rng *r);

/* Uniform in [0, 1) with 53 random bits. */
double nn_rng_uniform(nn_rng *r);

/* Standard normal (Box-Muller; each call consumes two draws). */
double nn_rng_normal(nn_rng *r);

/* Uniform integer in [0, n), without modulo bias; n > 0. */
uint64_t nn_rng_below(nn_rng *r, uint64_t n);

/* Fisher-Yates shuffle of idx[0, n). */
void nn_rng_shuffle(nn_rng *r, int64_t *idx, int64_t n);

#endif
