/*
 * gemm.c — CBLAS calls and their reference twin (see gemm.h).
 */
#include "gemm.h"

#include "gemm_fast.h"

#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* OpenBLAS's own controls; declared here because not every cblas.h has them. */
void openblas_set_num_threads(int n);
char *openblas_get_corename(void);

static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
static int use_fast;   /* 1: libnn's own kernel; set once, then only read */

static void setup(void)
{
    openblas_set_num_threads(1);
    const char *e = getenv("TRAIND_GEMM");
    use_fast = nn_sgemm_fast_available() && !(e && strcmp(e, "blas") == 0);
}

void nn_gemm_setup(void)
{
    pthread_once(&setup_once, setup);
}

const char *nn_blas_name(void)
{
    return openblas_get_corename();
}

const char *nn_gemm_backend(void)
{
    nn_gemm_setup();
    return use_fast ? "avx512" : "blas";
}

int nn_gemm_row_invariant(void)
{
    nn_gemm_setup();
    return use_fast;
}

void nn_gemm_force_blas(int on)
{
    nn_gemm_setup();
    const char *e = getenv("TRAIND_GEMM");
    use_fast = !on && nn_sgemm_fast_available() && !(e && strcmp(e, "blas") == 0);
}

void nn_gemm(int trans_a, int trans_b, int M, int N, int K, nn_real alpha,
             const nn_real *A, int lda, const nn_real *B, int ldb, nn_real beta,
             nn_real *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
#ifdef NN_DOUBLE
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
    if (use_fast && nn_sgemm_fast(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) == 0)
        return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

void nn_gemm_ref(int trans_a, int trans_b, int M, int N, int K, nn_real alpha,
                 const nn_real *A, int lda, const nn_real *B, int ldb, nn_real beta,
                 nn_real *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                double a = trans_a ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = trans_b ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += a * b;
            }
            nn_real *c = &C[(size_t)i * ldc + j];
            /* beta 0 overwrites, as BLAS does, even when C holds NaN */
            *c = (nn_real)(alpha * s + (beta == 0 ? 0 : (double)beta * *c));
        }
}
