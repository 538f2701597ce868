/*
 * blas_env.c — see blas_env.h.
 */
#include "blas_env.h"

#include "gemm.h"

#include <stdlib.h>
#include <strings.h>

static int has_avx512(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

const char *blas_env_note(void)
{
    const char *set = getenv("OPENBLAS_CORETYPE");
    const char *core = nn_blas_name();
    if (!set || !core || !has_avx512())
        return NULL;
    if (strcasecmp(core, "haswell") != 0 && strcasecmp(core, "zen") != 0 &&
        strcasecmp(core, "sandybridge") != 0)
        return NULL;
    return "OPENBLAS_CORETYPE pins OpenBLAS to its AVX2 kernels although this CPU has "
           "AVX-512; unset it to let OpenBLAS pick faster ones";
}
