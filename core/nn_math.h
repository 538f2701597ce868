/*
 * nn_math.h — libm calls at the precision of nn_real (private to core/).
 */
#ifndef NN_MATH_H
#define NN_MATH_H

#include <math.h>

#ifdef NN_DOUBLE
#define NN_EXP exp
#define NN_LOG log
#define NN_LOG1P log1p
#define NN_TANH tanh
#define NN_ERF erf
#define NN_SQRT sqrt
#define NN_FABS fabs
#else
#define NN_EXP expf
#define NN_LOG logf
#define NN_LOG1P log1pf
#define NN_TANH tanhf
#define NN_ERF erff
#define NN_SQRT sqrtf
#define NN_FABS fabsf
#endif

/* Element-wise loops are compiled for AVX-512, AVX2 and the baseline, and the
 * CPU picks at load time (the binary stays portable).  Sanitizer builds keep
 * one version. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define NN_VECTORIZE __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NN_VECTORIZE
#endif

#endif
