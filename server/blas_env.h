/*
 * blas_env.h — a word about the BLAS kernels in use.
 *
 * OpenBLAS picks its kernels for the CPU when it is loaded, unless the
 * OPENBLAS_CORETYPE environment variable names a set.  traind respects that
 * variable, but says so when it holds back a CPU with AVX-512 to the AVX2
 * kernels, which run these networks markedly slower.
 */
#ifndef BLAS_ENV_H
#define BLAS_ENV_H

/* A one-line note for the user, or NULL when there is nothing to say. */
const char *blas_env_note(void);

#endif
