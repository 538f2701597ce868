/*
 * gemm.h — matrix products for the layers, row-major as CBLAS:
 *   C[M,N] = alpha op(A)[M,K] op(B)[K,N] + beta C
 * nn_gemm runs on the calling thread only: libnn threads by splitting
 * products among its own pool, never through the BLAS's threads.  On CPUs
 * with AVX-512 float products use libnn's own kernel (sgemm_avx512.c),
 * elsewhere (and in the double build) CBLAS; TRAIND_GEMM=blas in the
 * environment forces CBLAS.  nn_gemm_ref is the plain-loop twin that the
 * tests compare both against.
 */
#ifndef NN_GEMM_H
#define NN_GEMM_H

#include "nn.h"

/* Once per process: keeps the BLAS single-threaded (libnn's pool owns the cores). */
void nn_gemm_setup(void);

void nn_gemm(int trans_a, int trans_b, int M, int N, int K, nn_real alpha,
             const nn_real *A, int lda, const nn_real *B, int ldb, nn_real beta,
             nn_real *C, int ldc);

void nn_gemm_ref(int trans_a, int trans_b, int M, int N, int K, nn_real alpha,
                 const nn_real *A, int lda, const nn_real *B, int ldb, nn_real beta,
                 nn_real *C, int ldc);

/* Name of the BLAS kernel set in use ("SkylakeX", "Haswell", ...). */
const char *nn_blas_name(void);

/* "avx512" (libnn's own kernel) or "blas". */
const char *nn_gemm_backend(void);

/* Whether a value of C does not depend on the shape of the product it is
 * computed in (libnn's kernel: each value is one chain of fused
 * multiply-adds in k order); a BLAS may choose its method, and so its
 * rounding, by the product's size. */
int nn_gemm_row_invariant(void);

/* Tests and benchmarks: 1 routes every product to CBLAS, 0 restores the default. */
void nn_gemm_force_blas(int on);

#endif
