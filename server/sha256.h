/*
 * sha256.h — SHA-256 (FIPS 180-4), streaming: init, update any number of
 * times, final.  Used for the checksum of uploaded datasets.
 */
#ifndef SHA256_H
#define SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t len;          /* bytes hashed so far */
    unsigned char buf[64];
    size_t fill;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
/* Writes the digest as 64 lowercase hex digits and a NUL. */
void sha256_final_hex(sha256_ctx *c, char out[65]);

#endif
