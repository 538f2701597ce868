/*
 * testutil.c — see testutil.h.
 */
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[512];
static pid_t tmpdir_owner;

static void remove_tmpdir(void)
{
    /* Check forks a child per test; only the process that made it removes it. */
    if (tmpdir[0] && getpid() == tmpdir_owner) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "testutil: could not remove %s\n", tmpdir);
    }
}

const char *tu_tmpdir(void)
{
    if (!tmpdir[0] || tmpdir_owner != getpid()) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/traind-test-XXXXXX", base && *base ? base : "/tmp");
        ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp failed");
        if (!tmpdir_owner)
            atexit(remove_tmpdir);
        tmpdir_owner = getpid();
    }
    return tmpdir;
}

char *tu_write(const char *dir, const char *name, const void *data, size_t len, int gz)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    ck_assert_ptr_nonnull(path);
    snprintf(path, n, "%s/%s", dir, name);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        ck_assert_msg(f != NULL, "gzopen %s", path);
        ck_assert_int_eq(len == 0 ? 0 : gzwrite(f, data, (unsigned)len), (int)len);
        ck_assert_int_eq(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert_msg(f != NULL, "fopen %s", path);
        ck_assert_uint_eq(len == 0 ? 0 : fwrite(data, 1, len, f), len);
        ck_assert_int_eq(fclose(f), 0);
    }
    return path;
}

char *tu_write_str(const char *dir, const char *name, const char *text)
{
    return tu_write(dir, name, text, strlen(text), 0);
}

char *tu_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = (size_t)n;
    return buf;
}

const char *tu_fmnist_dir(void)
{
    const char *d = getenv("FMNIST_DIR");
    return d && *d ? d : "/usr/share/datasets/fashion-mnist";
}

char *tu_fmnist(const char *file)
{
    const char *dir = tu_fmnist_dir();
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    snprintf(p, n, "%s/%s", dir, file);
    return p;
}

int tu_threads(void)
{
    const char *s = getenv("TEST_THREADS");
    int t = s ? atoi(s) : 2;
    return t > 0 ? t : 2;
}

int tu_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
