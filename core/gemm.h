/*
 * gemm.h — matrix products for the layers, row-major as CBLAS:
 *   C[M,N] = alpha op(A)[M,K] op(B)[K,N] + beta C
 * nn_gemm goes to CBLAS (sgemm, or dgemm in the double build) on the calling
 * thread only: libnn threads by splitting products among its own pool, never
 * through the BLAS's threads.  nn_gemm_ref is its plain-loop twin, which the
 * tests compare against.
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

#endif
