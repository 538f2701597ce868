/*
 * gemm_fast.h — libnn's own float matrix product for AVX-512 CPUs (private
 * to core/; nn_gemm in gemm.c chooses between it and the BLAS).
 */
#ifndef NN_GEMM_FAST_H
#define NN_GEMM_FAST_H

/* Whether this CPU (and build) can run nn_sgemm_fast. */
int nn_sgemm_fast_available(void);

/* The CBLAS row-major sgemm contract.  Returns 0 when done, -1 when it
 * cannot take the case (the caller falls back to the BLAS). */
int nn_sgemm_fast(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc);

#endif
