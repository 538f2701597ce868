/*
 * testutil.h — small helpers shared by the Check suites: scratch
 * directories, writing fixture files (plain or gzip), and where the
 * Fashion-MNIST files live.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <check.h>
#include <stddef.h>

/* A fresh directory under $TMPDIR (or /tmp), removed with everything in it
 * at process exit.  Returns a static-lifetime string. */
const char *tu_tmpdir(void);

/* Writes len bytes to dir/name (gzip-compressed when gz) and returns the
 * path (malloc'd; the caller frees). Aborts the test on failure. */
char *tu_write(const char *dir, const char *name, const void *data, size_t len, int gz);

/* Same for a NUL-terminated string. */
char *tu_write_str(const char *dir, const char *name, const char *text);

/* Reads a whole file (malloc'd, NUL-terminated); *len may be NULL. */
char *tu_read(const char *path, size_t *len);

/* Directory of the Fashion-MNIST IDX files ($FMNIST_DIR or Debian's). */
const char *tu_fmnist_dir(void);

/* Path of one Fashion-MNIST file ("train-images-idx3-ubyte.gz"); static buffer
 * per call site is not needed: returns malloc'd memory the caller frees. */
char *tu_fmnist(const char *file);

/* Runs a suite (every test case, Check's default fork mode unless CK_FORK
 * says otherwise), frees it, and returns the process exit status. */
int tu_run(Suite *s);

/* Number of compute threads the suites use: $TEST_THREADS or 2. */
int tu_threads(void);

#endif
