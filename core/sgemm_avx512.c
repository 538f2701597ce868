/*
 * sgemm_avx512.c — libnn's own single-precision matrix product for CPUs
 * with AVX-512 (see gemm.h for the contract; nn_gemm_ref is its twin).
 *
 * Why our own: the shapes of a training step are small (a batch of 64 rows)
 * and every product has a layout whose operands can be read in place, so a
 * kernel without packing beats a general BLAS on them, and it does not
 * depend on which kernels the BLAS picked for the CPU.
 *
 * The micro-kernel keeps an 8 x 32 tile of C in 16 zmm registers and adds
 * the outer product of a column of A (8 values, broadcast one by one from
 * any strides) and a row of B (32 values, contiguous) for every k:
 *
 *   C[i][n] += A(i, k) * B(k, n),   i < 8, n < 32
 *
 * Products of at most 16 columns (op(B) = B) take a 16 x 16 tile instead
 * (kernel16), which keeps every lane busy.
 *
 * B's rows must be contiguous, A may have any layout:
 *   - op(B) = B:           the kernel runs on A and B as they are;
 *   - op(A) = A^T, op(B) = B^T:  C^T = B A, so the kernel runs with the roles
 *     swapped (B's rows are broadcast, A's rows are contiguous) and stores
 *     its tile transposed;
 *   - op(A) = A, op(B) = B^T:   as the previous case, after copying a panel
 *     of 32 rows of A transposed (K x 32) into a buffer.
 * Each C value is one chain of fused multiply-adds in k order, whatever the
 * tile or the thread, so the result does not depend on how callers split C.
 */
#include "gemm_fast.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(NN_DOUBLE)

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define MR 8
#define NR 32
#define TARGET __attribute__((target("avx512f")))

int nn_sgemm_fast_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
}

static __mmask16 lane_mask(int n)
{
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* One tile: rows (1..8) rows of A, cols (1..32) columns of B. */
TARGET static void kernel(int K, const float *a, long si, long sk, const float *b, long sb,
                          float *c, long ldc, int rows, int cols, float alpha, float beta,
                          int transposed)
{
    const float *a0 = a, *a1 = a + (rows > 1 ? si : 0), *a2 = a + (rows > 2 ? 2 * si : 0);
    const float *a3 = a + (rows > 3 ? 3 * si : 0), *a4 = a + (rows > 4 ? 4 * si : 0);
    const float *a5 = a + (rows > 5 ? 5 * si : 0), *a6 = a + (rows > 6 ? 6 * si : 0);
    const float *a7 = a + (rows > 7 ? 7 * si : 0);
    const __mmask16 m0 = lane_mask(cols), m1 = lane_mask(cols - 16);
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    __m512 c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    for (long k = 0; k < K; k++) {
        const float *bk = b + k * sb;
        __m512 b0 = _mm512_maskz_loadu_ps(m0, bk), b1 = _mm512_maskz_loadu_ps(m1, bk + 16);
        long o = k * sk;
        __m512 x;
        x = _mm512_set1_ps(a0[o]);
        c00 = _mm512_fmadd_ps(x, b0, c00);
        c01 = _mm512_fmadd_ps(x, b1, c01);
        x = _mm512_set1_ps(a1[o]);
        c10 = _mm512_fmadd_ps(x, b0, c10);
        c11 = _mm512_fmadd_ps(x, b1, c11);
        x = _mm512_set1_ps(a2[o]);
        c20 = _mm512_fmadd_ps(x, b0, c20);
        c21 = _mm512_fmadd_ps(x, b1, c21);
        x = _mm512_set1_ps(a3[o]);
        c30 = _mm512_fmadd_ps(x, b0, c30);
        c31 = _mm512_fmadd_ps(x, b1, c31);
        x = _mm512_set1_ps(a4[o]);
        c40 = _mm512_fmadd_ps(x, b0, c40);
        c41 = _mm512_fmadd_ps(x, b1, c41);
        x = _mm512_set1_ps(a5[o]);
        c50 = _mm512_fmadd_ps(x, b0, c50);
        c51 = _mm512_fmadd_ps(x, b1, c51);
        x = _mm512_set1_ps(a6[o]);
        c60 = _mm512_fmadd_ps(x, b0, c60);
        c61 = _mm512_fmadd_ps(x, b1, c61);
        x = _mm512_set1_ps(a7[o]);
        c70 = _mm512_fmadd_ps(x, b0, c70);
        c71 = _mm512_fmadd_ps(x, b1, c71);
    }
    __m512 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31},
                         {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    if (!transposed) {
        for (int i = 0; i < rows; i++) {
            float *ci = c + i * ldc;
            __m512 r0 = _mm512_mul_ps(acc[i][0], va), r1 = _mm512_mul_ps(acc[i][1], va);
            if (beta != 0) {
                r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, ci), r0);
                r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, ci + 16), r1);
            }
            _mm512_mask_storeu_ps(ci, m0, r0);
            _mm512_mask_storeu_ps(ci + 16, m1, r1);
        }
    } else {
        /* tile (i, n) belongs at c[n * ldc + i] */
        const __m512i step = _mm512_mullo_epi32(_mm512_set1_epi32((int)ldc),
                                                _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
                                                                  10, 11, 12, 13, 14, 15));
        const __m512i step16 = _mm512_add_epi32(step, _mm512_set1_epi32((int)(16 * ldc)));
        for (int i = 0; i < rows; i++) {
            float *ci = c + i;
            __m512 r0 = _mm512_mul_ps(acc[i][0], va), r1 = _mm512_mul_ps(acc[i][1], va);
            if (beta != 0) {
                r0 = _mm512_fmadd_ps(
                    vb, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m0, step, ci, 4), r0);
                r1 = _mm512_fmadd_ps(
                    vb, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m1, step16, ci, 4), r1);
            }
            _mm512_mask_i32scatter_ps(ci, m0, step, r0, 4);
            _mm512_mask_i32scatter_ps(ci, m1, step16, r1, 4);
        }
    }
}

/* A narrow tile for products of at most 16 columns (a convolution with 16
 * filters): 16 rows x 16 columns, one zmm per row, so that every lane
 * computes; the 8 x 32 tile would leave half of its lanes idle.  The same
 * chain of fused multiply-adds per C value as kernel(). */
#define MR16 16
TARGET static void kernel16(int K, const float *a, long si, long sk, const float *b, long sb,
                            float *c, long ldc, int rows, int cols, float alpha, float beta)
{
    const __mmask16 m = lane_mask(cols);
    __m512 acc[MR16];
#pragma GCC unroll 16
    for (int i = 0; i < MR16; i++)
        acc[i] = _mm512_setzero_ps();
    if (si == 1 && rows == MR16) {
        /* the tile's A values for one k are contiguous (A read transposed) */
        for (long k = 0; k < K; k++) {
            const __m512 bk = _mm512_maskz_loadu_ps(m, b + k * sb);
            const float *ak = a + k * sk;
#pragma GCC unroll 16
            for (int i = 0; i < MR16; i++)
                acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(ak[i]), bk, acc[i]);
        }
    } else {
        long off[MR16];
        for (int i = 0; i < MR16; i++)
            off[i] = (i < rows ? i : 0) * si;   /* missing rows reread row 0 */
        for (long k = 0; k < K; k++) {
            const __m512 bk = _mm512_maskz_loadu_ps(m, b + k * sb);
            const float *ak = a + k * sk;
#pragma GCC unroll 16
            for (int i = 0; i < MR16; i++)
                acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(ak[off[i]]), bk, acc[i]);
        }
    }
    /* constant indices only (unrolled), so that acc stays in registers */
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
    for (int i = 0; i < MR16; i++) {
        if (i >= rows)
            break;
        float *ci = c + i * ldc;
        __m512 r = _mm512_mul_ps(acc[i], va);
        if (beta != 0)
            r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, ci), r);
        _mm512_mask_storeu_ps(ci, m, r);
    }
}

/* p[k * NR + j] = a[(j) * lda + k] for j < cols, k < K: a panel of A^T. */
TARGET static void pack_transposed(const float *a, long lda, int cols, int K, float *p)
{
    for (int j = 0; j < cols; j++) {
        const float *src = a + j * lda;
        for (int k = 0; k < K; k++)
            p[(long)k * NR + j] = src[k];
    }
    for (int j = cols; j < NR; j++)
        for (int k = 0; k < K; k++)
            p[(long)k * NR + j] = 0;
}

static void scale_c(int M, int N, float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            C[(long)i * ldc + j] = beta == 0 ? 0 : beta * C[(long)i * ldc + j];
}

int nn_sgemm_fast(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return 0;
    if (K <= 0 || alpha == 0) {
        scale_c(M, N, beta, C, ldc);
        return 0;
    }
    /* the transposed store indexes C with 32-bit offsets */
    if ((tb || ta) && (long)ldc * NR > (1L << 30))
        return -1;
    if (!tb) {
        const long si = ta ? 1 : lda, sk = ta ? lda : 1;
        if (N <= 16) {
            for (int m0 = 0; m0 < M; m0 += MR16)
                kernel16(K, A + m0 * si, si, sk, B, ldb, C + (long)m0 * ldc, ldc,
                         M - m0 < MR16 ? M - m0 : MR16, N, alpha, beta);
            return 0;
        }
        for (int n0 = 0; n0 < N; n0 += NR)
            for (int m0 = 0; m0 < M; m0 += MR)
                kernel(K, A + m0 * si, si, sk, B + n0, ldb, C + (long)m0 * ldc + n0, ldc,
                       M - m0 < MR ? M - m0 : MR, N - n0 < NR ? N - n0 : NR, alpha, beta, 0);
        return 0;
    }
    if (ta) {
        /* C = A^T B^T = (B A)^T: B's rows are broadcast, A's rows (k, m) are contiguous */
        for (int m0 = 0; m0 < M; m0 += NR)
            for (int n0 = 0; n0 < N; n0 += MR)
                kernel(K, B + (long)n0 * ldb, ldb, 1, A + m0, lda, C + (long)m0 * ldc + n0, ldc,
                       N - n0 < MR ? N - n0 : MR, M - m0 < NR ? M - m0 : NR, alpha, beta, 1);
        return 0;
    }
    /* C = A B^T = (B A^T)^T, with A^T copied a panel of 32 rows at a time */
    float *panel = aligned_alloc(64, (size_t)K * NR * sizeof *panel);
    if (!panel)
        return -1;
    for (int m0 = 0; m0 < M; m0 += NR) {
        int cols = M - m0 < NR ? M - m0 : NR;
        pack_transposed(A + (long)m0 * lda, lda, cols, K, panel);
        for (int n0 = 0; n0 < N; n0 += MR)
            kernel(K, B + (long)n0 * ldb, ldb, 1, panel, NR, C + (long)m0 * ldc + n0, ldc,
                   N - n0 < MR ? N - n0 : MR, cols, alpha, beta, 1);
    }
    free(panel);
    return 0;
}

#else

int nn_sgemm_fast_available(void)
{
    return 0;
}

int nn_sgemm_fast(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc)
{
    (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda;
    (void)B, (void)ldb, (void)beta, (void)C, (void)ldc;
    return -1;
}

#endif
