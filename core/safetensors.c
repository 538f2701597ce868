/*
 * safetensors.c — the safetensors weight format: writer and validating
 * reader (see safetensors.h for the layout).
 *
 * Writer: the header is compact JSON, "__metadata__" first (as the reference
 * implementation writes it), then the tensors in the caller's order with
 * contiguous ascending data_offsets; it is padded with spaces so that 8 + N
 * is a multiple of 8 and the data section starts aligned.  Values are encoded
 * byte by byte in little-endian order, so the output is the same on any host.
 *
 * Reader invariants, once nn_st_parse/nn_st_read_file succeed:
 *   - every entry has a known dtype, a shape of integers <= 2^53, and
 *     0 <= begin <= end <= data_len with end - begin == numel * dtype size;
 *   - sorted by offset, the ranges tile [0, data_len) exactly: no overlap
 *     and no hole (the reference implementation's rule, which also forbids
 *     trailing bytes after the last tensor);
 *   - names and metadata strings are unique and contain no NUL byte, so they
 *     are plain C strings; they live in the parsed header (f->doc).
 * Nothing is read outside the buffer whatever the bytes: all sizes are
 * checked before use, products with overflow checks.
 */
#include "safetensors.h"

#include "jsonlite.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest integer in a header: JSON numbers are exact up to 2^53. */
#define ST_MAX_INT ((uint64_t)1 << 53)

/* A valid header nests three deep (root, entry, shape); a generous bound
 * still stops depth bombs early. */
#define ST_MAX_DEPTH 16

/* About 13 JSON values per tensor: 4M values admit ~300k tensors, far more
 * than real checkpoints hold, while bounding a hostile 100 MB header's node
 * array to 64 MB. */
#define ST_MAX_NODES (1 << 22)

enum { DT_F64, DT_F32, DT_F16, DT_BF16, DT_I64, DT_I32, DT_I16, DT_I8, DT_U8, DT_BOOL, DT_COUNT };

static const struct {
    const char *name;
    int size;
} dtypes[DT_COUNT] = {
    [DT_F64] = { "F64", 8 },  [DT_F32] = { "F32", 4 }, [DT_F16] = { "F16", 2 },
    [DT_BF16] = { "BF16", 2 }, [DT_I64] = { "I64", 8 }, [DT_I32] = { "I32", 4 },
    [DT_I16] = { "I16", 2 },  [DT_I8] = { "I8", 1 },   [DT_U8] = { "U8", 1 },
    [DT_BOOL] = { "BOOL", 1 },
};

typedef struct st_entry {
    const char *name;     /* in f->doc */
    int dtype;            /* DT_* */
    int rank;
    int shape;            /* node index of the shape array in f->doc */
    uint64_t numel;
    uint64_t begin, end;  /* byte range in the data section */
} st_entry;

typedef struct st_key {
    const char *name;
    int idx;
} st_key;

struct nn_st_file {
    jl_doc doc;           /* the header; owns every string */
    st_entry *t;          /* n entries in header order */
    st_key *by_name;      /* the same, sorted by name */
    int n;
    int meta;             /* node of the "__metadata__" object, or -1 */
    unsigned char *data;  /* the data section, data_len bytes */
    size_t data_len;
};

/* ------------------------------------------------------------------------ */
/* Byte order and number formats                                            */

static uint64_t get_le(const unsigned char *p, int size)
{
    uint64_t v = 0;
    for (int i = size - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_le(unsigned char *p, uint64_t v, int size)
{
    for (int i = 0; i < size; i++, v >>= 8)
        p[i] = (unsigned char)(v & 0xFF);
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* IEEE binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits.  Every
 * half value, subnormals included, is exact in binary32. */
static float half_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = h >> 10 & 0x1F, man = h & 0x3FF;
    if (exp == 0) {                      /* zero or subnormal: man * 2^-24 */
        float f = (float)man * 0x1p-24f;
        return sign ? -f : f;
    }
    if (exp == 31)                       /* inf, or nan keeping its payload */
        return bits_f32(sign | 0x7F800000u | man << 13);
    return bits_f32(sign | (exp + 127 - 15) << 23 | man << 13);
}

/* bfloat16 is the upper half of a binary32. */
static float bf16_to_f32(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

static void put_real(unsigned char *p, nn_real x)
{
#ifdef NN_DOUBLE
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    put_le(p, u, 8);
#else
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    put_le(p, u, 4);
#endif
}

/* ------------------------------------------------------------------------ */
/* Messages                                                                 */

/* s made safe for a message: control bytes as '?', cut at a character
 * boundary with "..." when longer than the buffer. */
static const char *shown(char *buf, size_t cap, const char *s)
{
    size_t n = strlen(s), i;
    if (n >= cap) {
        n = cap - 4;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    for (i = 0; i < n; i++)
        buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7F ? '?' : s[i];
    if (n < strlen(s))
        memcpy(buf + i, "...", 3), i += 3;
    buf[i] = 0;
    return buf;
}

#define SHOWN(s) shown((char[72]){ 0 }, 72, (s))

static void shape_str(char *buf, size_t cap, int rank, const int64_t *dim)
{
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < rank && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, i ? ", %lld" : "%lld", (long long)dim[i]);
    if (o < cap)
        snprintf(buf + o, cap - o, "]");
}

/* A validated shape array of the header, as "[2, 3]". */
static void doc_shape_str(const jl_doc *d, int arr, char *buf, size_t cap)
{
    size_t o = (size_t)snprintf(buf, cap, "[");
    int i = 0;
    JL_EACH_ITEM(d, arr, v) {
        if (o >= cap)
            break;
        o += (size_t)snprintf(buf + o, cap - o, i++ ? ", %s" : "%s", jl_text(d, v));
    }
    if (o < cap)
        snprintf(buf + o, cap - o, "]");
}

/* ------------------------------------------------------------------------ */
/* Writer                                                                   */

/* A growing string, or with count_only set just the length it would have. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
    int count_only;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->count_only) {
        b->len += n;
        return;
    }
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_u64(sbuf *b, uint64_t v)
{
    char t[24];
    sb_put(b, t, (size_t)snprintf(t, sizeof t, "%llu", (unsigned long long)v));
}

/* s as a JSON string; s is valid UTF-8, which passes through unescaped. */
static void sb_json(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const char *c = s; *c; c++) {
        unsigned char u = (unsigned char)*c;
        char t[8];
        if (u == '"' || u == '\\') {
            t[0] = '\\';
            t[1] = (char)u;
            sb_put(b, t, 2);
        } else if (u < 0x20) {
            sb_put(b, t, (size_t)snprintf(t, sizeof t, "\\u%04x", u));
        } else {
            sb_put(b, c, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(((const st_key *)a)->name, ((const st_key *)b)->name);
}

/* Sorts keys and returns the index of the first of two equal names, or -1. */
static int sort_find_dup(st_key *keys, int n)
{
    if (n > 1)
        qsort(keys, (size_t)n, sizeof *keys, cmp_key);
    for (int i = 1; i < n; i++)
        if (strcmp(keys[i - 1].name, keys[i].name) == 0)
            return i;
    return -1;
}

static int valid_utf8(const char *s)
{
    size_t n = strlen(s);
    return jl_utf8_valid(s, n) == n;
}

/* Checks the writer's arguments; *data_len gets the data section's size. */
static int check_write_args(const nn_st_tensor *t, int n, const char *const *meta, int n_meta,
                            uint64_t *data_len, nn_err *e)
{
    int rc = NN_OK;
    st_key *keys = NULL;
    uint64_t total = 0;
    *data_len = 0;
    if (n < 0 || n_meta < 0 || (n > 0 && !t) || (n_meta > 0 && !meta))
        return nn_errf(e, NN_EINVAL, "safetensors: bad tensor or metadata count");
    for (int i = 0; i < n; i++) {
        const nn_st_tensor *x = &t[i];
        if (!x->name || !x->name[0])
            return nn_errf(e, NN_EINVAL, "safetensors: tensor %d has no name", i);
        if (!valid_utf8(x->name))
            return nn_errf(e, NN_EINVAL, "safetensors: name of tensor %d is not valid UTF-8", i);
        if (strcmp(x->name, "__metadata__") == 0)
            return nn_errf(e, NN_EINVAL, "safetensors: \"__metadata__\" is reserved, not a tensor name");
        if (x->rank < 0 || x->rank > NN_MAX_RANK)
            return nn_errf(e, NN_EINVAL, "safetensors: tensor \"%s\" has rank %d (0..%d allowed)",
                           SHOWN(x->name), x->rank, NN_MAX_RANK);
        uint64_t numel = 1;
        for (int k = 0; k < x->rank; k++) {
            if (x->shape[k] < 0)
                return nn_errf(e, NN_EINVAL, "safetensors: tensor \"%s\" has negative dimension %lld",
                               SHOWN(x->name), (long long)x->shape[k]);
            uint64_t dk = (uint64_t)x->shape[k];
            if (dk > ST_MAX_INT || (dk && numel > ST_MAX_INT / dk))
                return nn_errf(e, NN_ELIMIT, "safetensors: tensor \"%s\" is too large", SHOWN(x->name));
            numel *= dk;
        }
        uint64_t bytes = numel * sizeof(nn_real);   /* numel <= 2^53: no overflow */
        if (bytes > ST_MAX_INT - total)
            return nn_errf(e, NN_ELIMIT, "safetensors: tensors total more than 2^53 bytes");
        if (numel > 0 && !x->data)
            return nn_errf(e, NN_EINVAL, "safetensors: tensor \"%s\" has no data", SHOWN(x->name));
        total += bytes;
    }
    if (total > SIZE_MAX - ((size_t)NN_ST_MAX_HEADER + 8))
        return nn_errf(e, NN_ELIMIT, "safetensors: tensors too large for memory");
    for (int i = 0; i < 2 * n_meta; i++)
        if (!meta[i] || !valid_utf8(meta[i]))
            return nn_errf(e, NN_EINVAL, "safetensors: metadata %s %d is %s", i % 2 ? "value" : "key",
                           i / 2, meta[i] ? "not valid UTF-8" : "NULL");

    int m = n > n_meta ? n : n_meta;
    keys = malloc((size_t)(m ? m : 1) * sizeof *keys);
    if (!keys)
        return nn_errf(e, NN_ENOMEM, "safetensors: out of memory");
    for (int i = 0; i < n; i++)
        keys[i] = (st_key){ t[i].name, i };
    int dup = sort_find_dup(keys, n);
    if (dup >= 0) {
        rc = nn_errf(e, NN_EINVAL, "safetensors: duplicate tensor name \"%s\"", SHOWN(keys[dup].name));
        goto out;
    }
    for (int i = 0; i < n_meta; i++)
        keys[i] = (st_key){ meta[2 * i], i };
    dup = sort_find_dup(keys, n_meta);
    if (dup >= 0) {
        rc = nn_errf(e, NN_EINVAL, "safetensors: duplicate metadata key \"%s\"", SHOWN(keys[dup].name));
        goto out;
    }
    *data_len = total;
out:
    free(keys);
    return rc;
}

/* Writes the unpadded header JSON into b. */
static void emit_header(sbuf *b, const nn_st_tensor *t, int n, const char *const *meta, int n_meta)
{
    sb_str(b, "{");
    if (n_meta > 0) {
        sb_str(b, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i)
                sb_str(b, ",");
            sb_json(b, meta[2 * i]);
            sb_str(b, ":");
            sb_json(b, meta[2 * i + 1]);
        }
        sb_str(b, "}");
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        uint64_t numel = 1;
        if (i || n_meta > 0)
            sb_str(b, ",");
        sb_json(b, t[i].name);
        sb_str(b, ":{\"dtype\":\"" NN_REAL_NAME "\",\"shape\":[");
        for (int k = 0; k < t[i].rank; k++) {
            if (k)
                sb_str(b, ",");
            sb_u64(b, (uint64_t)t[i].shape[k]);
            numel *= (uint64_t)t[i].shape[k];
        }
        sb_str(b, "],\"data_offsets\":[");
        sb_u64(b, off);
        sb_str(b, ",");
        off += numel * sizeof(nn_real);
        sb_u64(b, off);
        sb_str(b, "]}");
    }
    sb_str(b, "}");
}

/* Builds the padded header; *hdr (malloc'd) holds *hlen bytes. */
static int build_header(const nn_st_tensor *t, int n, const char *const *meta, int n_meta,
                        char **hdr, size_t *hlen, uint64_t *data_len, nn_err *e)
{
    *hdr = NULL;
    *hlen = 0;
    int rc = check_write_args(t, n, meta, n_meta, data_len, e);
    if (rc < 0)
        return rc;
    /* Measure first: an oversized header is refused without being built,
     * and the real pass allocates once. */
    sbuf b = { .count_only = 1 };
    emit_header(&b, t, n, meta, n_meta);
    size_t padded = (b.len + 7) / 8 * 8;
    if (padded > NN_ST_MAX_HEADER)
        return nn_errf(e, NN_ELIMIT, "safetensors: header of %zu bytes exceeds the limit of %u bytes",
                       padded, NN_ST_MAX_HEADER);
    b = (sbuf){ .p = malloc(padded + 1), .cap = padded + 1 };
    if (!b.p)
        return nn_errf(e, NN_ENOMEM, "safetensors: out of memory for the header");
    emit_header(&b, t, n, meta, n_meta);
    assert(!b.oom && b.len <= padded);
    memset(b.p + b.len, ' ', padded - b.len);
    b.p[padded] = 0;
    *hdr = b.p;
    *hlen = padded;
    return NN_OK;
}

/* Encodes elements [from, from + count) of tensor x into out. */
static void encode(const nn_st_tensor *x, size_t from, size_t count, unsigned char *out)
{
    for (size_t i = 0; i < count; i++)
        put_real(out + i * sizeof(nn_real), x->data[from + i]);
}

static size_t tensor_numel(const nn_st_tensor *x)
{
    size_t n = 1;
    for (int k = 0; k < x->rank; k++)
        n *= (size_t)x->shape[k];
    return n;
}

int nn_st_write_mem(const nn_st_tensor *t, int n, const char *const *meta, int n_meta,
                    void **buf, size_t *len, nn_err *e)
{
    char *hdr = NULL;
    unsigned char *out = NULL;
    size_t hlen;
    uint64_t data_len;
    *buf = NULL;
    *len = 0;
    int rc = build_header(t, n, meta, n_meta, &hdr, &hlen, &data_len, e);
    if (rc < 0)
        goto out;
    size_t total = 8 + hlen + (size_t)data_len;
    out = malloc(total);
    if (!out) {
        rc = nn_errf(e, NN_ENOMEM, "safetensors: out of memory for %zu bytes", total);
        goto out;
    }
    put_le(out, hlen, 8);
    memcpy(out + 8, hdr, hlen);
    unsigned char *o = out + 8 + hlen;
    for (int i = 0; i < n; i++) {
        size_t numel = tensor_numel(&t[i]);
        encode(&t[i], 0, numel, o);
        o += numel * sizeof(nn_real);
    }
    *buf = out;
    *len = total;
    out = NULL;
out:
    free(out);
    free(hdr);
    return rc;
}

/* After a rename, the directory entry is durable only once the directory
 * itself is synced.  Best effort: some filesystems refuse fsync on a
 * directory, and the data are already safely in the file. */
static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

int nn_st_write_file(const char *path, const nn_st_tensor *t, int n,
                     const char *const *meta, int n_meta, nn_err *e)
{
    enum { CHUNK = 1 << 16 };
    char *hdr = NULL, *tmp = NULL;
    unsigned char *chunk = NULL;
    FILE *fp = NULL;
    size_t hlen;
    uint64_t data_len;
    unsigned char lenbuf[8];
    if (!path)
        return nn_errf(e, NN_EINVAL, "safetensors: no path to write to");
    int rc = build_header(t, n, meta, n_meta, &hdr, &hlen, &data_len, e);
    if (rc < 0)
        return rc;
    size_t plen = strlen(path);
    tmp = malloc(plen + 5);
    chunk = malloc(CHUNK);
    if (!tmp || !chunk) {
        rc = nn_errf(e, NN_ENOMEM, "safetensors: out of memory");
        goto out;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    fp = fopen(tmp, "wb");
    if (!fp) {
        rc = nn_errf(e, NN_EIO, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    put_le(lenbuf, hlen, 8);
    int ok = fwrite(lenbuf, 1, 8, fp) == 8 && fwrite(hdr, 1, hlen, fp) == hlen;
    /* Encode through a fixed buffer: the file may be far larger than memory
     * we care to duplicate. */
    const size_t per = CHUNK / sizeof(nn_real);
    for (int i = 0; i < n && ok; i++) {
        size_t numel = tensor_numel(&t[i]);
        for (size_t from = 0; from < numel && ok; from += per) {
            size_t cnt = numel - from < per ? numel - from : per;
            encode(&t[i], from, cnt, chunk);
            ok = fwrite(chunk, sizeof(nn_real), cnt, fp) == cnt;
        }
    }
    ok = ok && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    int saved = errno;
    if (fclose(fp) != 0 && ok) {
        ok = 0;
        saved = errno;
    }
    fp = NULL;
    if (!ok) {
        rc = nn_errf(e, NN_EIO, "cannot write %s: %s", tmp, strerror(saved));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        rc = nn_errf(e, NN_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    sync_parent_dir(path);
out:
    if (fp)
        fclose(fp);
    free(chunk);
    free(tmp);
    free(hdr);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Reader                                                                   */

void nn_st_free(nn_st_file *f)
{
    if (!f)
        return;
    jl_free(&f->doc);
    free(f->t);
    free(f->by_name);
    free(f->data);
    free(f);
}

/* Validates the 8-byte length n against the file size. */
static int check_header_len(uint64_t n, uint64_t size, nn_err *e)
{
    if (n > NN_ST_MAX_HEADER)
        return nn_errf(e, NN_ELIMIT, "safetensors: header length %llu exceeds the limit of %u bytes",
                       (unsigned long long)n, NN_ST_MAX_HEADER);
    if (n > size - 8)
        return nn_errf(e, NN_EFORMAT,
                       "safetensors: header length %llu runs past the end of the file "
                       "(%llu bytes after the length)",
                       (unsigned long long)n, (unsigned long long)(size - 8));
    return NN_OK;
}

static int check_file_len(uint64_t size, nn_err *e)
{
    if (size == 0)
        return nn_errf(e, NN_EFORMAT, "safetensors: empty file (no header length)");
    if (size < 8)
        return nn_errf(e, NN_EFORMAT,
                       "safetensors: file of %llu bytes is shorter than the 8-byte header length",
                       (unsigned long long)size);
    return NN_OK;
}

/* DT_* of string node i, or -1 (jl_streq also refuses "F32\u0000x"). */
static int find_dtype(const jl_doc *d, int i)
{
    for (int k = 0; k < DT_COUNT; k++)
        if (jl_streq(d, i, dtypes[k].name))
            return k;
    return -1;
}

/* Reads the [begin, end] array of entry `name`. */
static int parse_offsets(const jl_doc *d, int v, const char *name, uint64_t data_len,
                         st_entry *t, nn_err *e)
{
    uint64_t o[2];
    int k = 0;
    if (jl_kind_of(d, v) != JL_ARRAY || d->node[v].n != 2)
        return nn_errf(e, NN_EFORMAT,
                       "safetensors: tensor \"%s\": data_offsets is not an array of two integers", name);
    JL_EACH_ITEM(d, v, x) {
        int rc = jl_uint(d, x, ST_MAX_INT, &o[k]);
        if (rc < 0)
            return nn_errf(e, NN_EFORMAT,
                           "safetensors: tensor \"%s\": data_offsets[%d] is %s", name, k,
                           rc == NN_ELIMIT ? "larger than 2^53" : "not a non-negative integer");
        k++;
    }
    if (o[0] > o[1])
        return nn_errf(e, NN_EFORMAT,
                       "safetensors: tensor \"%s\": data_offsets [%llu, %llu] end before they begin",
                       name, (unsigned long long)o[0], (unsigned long long)o[1]);
    if (o[1] > data_len)
        return nn_errf(e, NN_EFORMAT,
                       "safetensors: tensor \"%s\": data_offsets [%llu, %llu] run past "
                       "the %llu-byte data section",
                       name, (unsigned long long)o[0], (unsigned long long)o[1],
                       (unsigned long long)data_len);
    t->begin = o[0];
    t->end = o[1];
    return NN_OK;
}

/* Reads the shape array of entry `name`: rank and overflow-safe numel. */
static int parse_shape(const jl_doc *d, int v, const char *name, st_entry *t, nn_err *e)
{
    int k = 0, zero = 0, overflow = 0;
    uint64_t numel = 1;
    if (jl_kind_of(d, v) != JL_ARRAY)
        return nn_errf(e, NN_EFORMAT, "safetensors: tensor \"%s\": shape is not an array", name);
    JL_EACH_ITEM(d, v, x) {
        uint64_t dim;
        int rc = jl_uint(d, x, ST_MAX_INT, &dim);
        if (rc < 0)
            return nn_errf(e, NN_EFORMAT, "safetensors: tensor \"%s\": shape[%d] is %s", name, k,
                           rc == NN_ELIMIT ? "larger than 2^53" : "not a non-negative integer");
        /* A zero anywhere makes the product 0 even after an overflow. */
        if (dim == 0)
            zero = 1;
        else if (numel > UINT64_MAX / dim)
            overflow = 1;
        else
            numel *= dim;
        k++;
    }
    t->rank = k;
    t->shape = v;
    t->numel = zero ? 0 : overflow ? UINT64_MAX : numel;
    return NN_OK;
}

/* Validates one header entry: exactly dtype, shape and data_offsets. */
static int parse_entry(const jl_doc *d, int v, uint64_t data_len, st_entry *t, nn_err *e)
{
    const char *name = SHOWN(t->name);
    int dt = -1, sh = -1, off = -1, rc;
    if (jl_kind_of(d, v) != JL_OBJECT)
        return nn_errf(e, NN_EFORMAT, "safetensors: tensor \"%s\": entry is not a JSON object", name);
    JL_EACH_MEMBER(d, v, k, x) {
        int *slot = jl_streq(d, k, "dtype") ? &dt : jl_streq(d, k, "shape") ? &sh
                  : jl_streq(d, k, "data_offsets") ? &off : NULL;
        if (!slot)
            return nn_errf(e, NN_EFORMAT,
                           "safetensors: tensor \"%s\": unexpected key \"%s\" "
                           "(only dtype, shape and data_offsets)", name, SHOWN(jl_text(d, k)));
        if (*slot >= 0)
            return nn_errf(e, NN_EFORMAT, "safetensors: tensor \"%s\": duplicate key \"%s\"",
                           name, jl_text(d, k));
        *slot = x;
    }
    if (dt < 0 || sh < 0 || off < 0)
        return nn_errf(e, NN_EFORMAT, "safetensors: tensor \"%s\": missing \"%s\"", name,
                       dt < 0 ? "dtype" : sh < 0 ? "shape" : "data_offsets");
    if (jl_kind_of(d, dt) != JL_STRING)
        return nn_errf(e, NN_EFORMAT, "safetensors: tensor \"%s\": dtype is not a string", name);
    t->dtype = find_dtype(d, dt);
    if (t->dtype < 0)
        return nn_errf(e, NN_EFORMAT,
                       "safetensors: tensor \"%s\": unsupported dtype \"%s\" "
                       "(F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)",
                       name, SHOWN(jl_text(d, dt)));
    if ((rc = parse_shape(d, sh, name, t, e)) < 0)
        return rc;
    if ((rc = parse_offsets(d, off, name, data_len, t, e)) < 0)
        return rc;
    uint64_t size = (uint64_t)dtypes[t->dtype].size;
    uint64_t span = t->end - t->begin;
    if (t->numel > span / size || t->numel * size != span) {
        char shp[128];
        doc_shape_str(d, sh, shp, sizeof shp);
        if (t->numel > UINT64_MAX / size)
            return nn_errf(e, NN_EFORMAT,
                           "safetensors: tensor \"%s\": shape %s of %s needs more than 2^64 bytes "
                           "but data_offsets span %llu",
                           name, shp, dtypes[t->dtype].name, (unsigned long long)span);
        return nn_errf(e, NN_EFORMAT,
                       "safetensors: tensor \"%s\": shape %s of %s needs %llu bytes "
                       "but data_offsets span %llu",
                       name, shp, dtypes[t->dtype].name, (unsigned long long)(t->numel * size),
                       (unsigned long long)span);
    }
    return NN_OK;
}

/* "__metadata__": an object of string values with unique keys. */
static int parse_meta(const jl_doc *d, int v, nn_err *e)
{
    int rc = NN_OK, m = 0;
    if (jl_kind_of(d, v) != JL_OBJECT)
        return nn_errf(e, NN_EFORMAT, "safetensors: \"__metadata__\" is not a JSON object");
    st_key *keys = malloc((size_t)(d->node[v].n ? d->node[v].n : 1) * sizeof *keys);
    if (!keys)
        return nn_errf(e, NN_ENOMEM, "safetensors: out of memory");
    JL_EACH_MEMBER(d, v, k, x) {
        const char *key = jl_text(d, k);
        if (strlen(key) != (size_t)d->node[k].n) {
            rc = nn_errf(e, NN_EFORMAT, "safetensors: metadata key \"%s\" contains a NUL byte", SHOWN(key));
            goto out;
        }
        if (jl_kind_of(d, x) != JL_STRING) {
            rc = nn_errf(e, NN_EFORMAT, "safetensors: metadata value \"%s\" is not a string", SHOWN(key));
            goto out;
        }
        if (strlen(jl_text(d, x)) != (size_t)d->node[x].n) {
            rc = nn_errf(e, NN_EFORMAT, "safetensors: metadata value \"%s\" contains a NUL byte", SHOWN(key));
            goto out;
        }
        keys[m++] = (st_key){ key, k };
    }
    int dup = sort_find_dup(keys, m);
    if (dup >= 0)
        rc = nn_errf(e, NN_EFORMAT, "safetensors: duplicate metadata key \"%s\"", SHOWN(keys[dup].name));
out:
    free(keys);
    return rc;
}

typedef struct st_range {
    uint64_t begin, end;
    int idx;
} st_range;

static int cmp_range(const void *a, const void *b)
{
    const st_range *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Sorted by offset, the ranges must tile [0, data_len) exactly. */
static int check_coverage(const nn_st_file *f, nn_err *e)
{
    int rc = NN_OK;
    st_range *r = malloc((size_t)(f->n ? f->n : 1) * sizeof *r);
    if (!r)
        return nn_errf(e, NN_ENOMEM, "safetensors: out of memory");
    for (int i = 0; i < f->n; i++)
        r[i] = (st_range){ f->t[i].begin, f->t[i].end, i };
    qsort(r, (size_t)f->n, sizeof *r, cmp_range);
    uint64_t at = 0;
    int prev = -1;
    for (int i = 0; i < f->n; i++) {
        const st_entry *t = &f->t[r[i].idx];
        if (t->begin < at) {
            const st_entry *p = &f->t[prev];
            rc = nn_errf(e, NN_EFORMAT,
                         "safetensors: tensors \"%s\" [%llu, %llu) and \"%s\" [%llu, %llu) overlap",
                         SHOWN(p->name), (unsigned long long)p->begin, (unsigned long long)p->end,
                         SHOWN(t->name), (unsigned long long)t->begin, (unsigned long long)t->end);
            goto out;
        }
        if (t->begin > at) {
            rc = nn_errf(e, NN_EFORMAT,
                         "safetensors: data bytes [%llu, %llu) belong to no tensor (hole before \"%s\")",
                         (unsigned long long)at, (unsigned long long)t->begin, SHOWN(t->name));
            goto out;
        }
        at = t->end;
        prev = r[i].idx;
    }
    if (at != f->data_len)
        rc = nn_errf(e, NN_EFORMAT,
                     "safetensors: data bytes [%llu, %zu) after the last tensor belong to no tensor",
                     (unsigned long long)at, f->data_len);
out:
    free(r);
    return rc;
}

/* Parses and validates the header into f; data_len is the size of the data
 * section that follows it. */
static int parse_header(nn_st_file *f, const char *hdr, size_t hlen, uint64_t data_len, nn_err *e)
{
    nn_err je;
    jl_limits lim = { .max_depth = ST_MAX_DEPTH, .max_nodes = ST_MAX_NODES };
    jl_doc *d = &f->doc;
    int rc = jl_parse(d, hdr, hlen, &lim, &je);
    if (rc < 0)
        return nn_errf(e, rc, "safetensors: header is not valid JSON: %s", je.msg);
    if (jl_kind_of(d, 0) != JL_OBJECT)
        return nn_errf(e, NN_EFORMAT, "safetensors: header is not a JSON object");
    f->data_len = (size_t)data_len;
    f->meta = -1;
    int m = d->node[0].n;
    f->t = malloc((size_t)(m ? m : 1) * sizeof *f->t);
    f->by_name = malloc((size_t)(m ? m : 1) * sizeof *f->by_name);
    if (!f->t || !f->by_name)
        return nn_errf(e, NN_ENOMEM, "safetensors: out of memory");
    JL_EACH_MEMBER(d, 0, k, v) {
        const char *name = jl_text(d, k);
        if (strlen(name) != (size_t)d->node[k].n)
            return nn_errf(e, NN_EFORMAT, "safetensors: tensor name \"%s\" contains a NUL byte",
                           SHOWN(name));
        if (strcmp(name, "__metadata__") == 0) {
            if (f->meta >= 0)
                return nn_errf(e, NN_EFORMAT, "safetensors: duplicate \"__metadata__\"");
            if ((rc = parse_meta(d, v, e)) < 0)
                return rc;
            f->meta = v;
            continue;
        }
        st_entry *t = &f->t[f->n];
        memset(t, 0, sizeof *t);
        t->name = name;
        if ((rc = parse_entry(d, v, data_len, t, e)) < 0)
            return rc;
        f->by_name[f->n] = (st_key){ name, f->n };
        f->n++;
    }
    int dup = sort_find_dup(f->by_name, f->n);
    if (dup >= 0)
        return nn_errf(e, NN_EFORMAT, "safetensors: duplicate tensor name \"%s\"",
                       SHOWN(f->by_name[dup].name));
    return check_coverage(f, e);
}

int nn_st_parse(const void *buf, size_t len, nn_st_file **out, nn_err *e)
{
    const unsigned char *b = buf;
    *out = NULL;
    int rc = check_file_len(len, e);
    if (rc < 0)
        return rc;
    uint64_t hlen = get_le(b, 8);
    if ((rc = check_header_len(hlen, len, e)) < 0)
        return rc;
    nn_st_file *f = calloc(1, sizeof *f);
    if (!f)
        return nn_errf(e, NN_ENOMEM, "safetensors: out of memory");
    size_t data_len = len - 8 - (size_t)hlen;
    rc = parse_header(f, (const char *)b + 8, (size_t)hlen, data_len, e);
    if (rc == NN_OK) {
        f->data = malloc(data_len ? data_len : 1);
        if (f->data)
            memcpy(f->data, b + 8 + hlen, data_len);
        else
            rc = nn_errf(e, NN_ENOMEM, "safetensors: out of memory for %zu bytes of data", data_len);
    }
    if (rc < 0) {
        nn_st_free(f);
        return rc;
    }
    *out = f;
    return NN_OK;
}

int nn_st_read_file(const char *path, nn_st_file **out, nn_err *e)
{
    FILE *fp = NULL;
    char *hdr = NULL;
    nn_st_file *f = NULL;
    unsigned char lenbuf[8];
    struct stat st;
    int rc;
    *out = NULL;
    fp = fopen(path, "rb");
    if (!fp)
        return nn_errf(e, NN_EIO, "cannot open %s: %s", path, strerror(errno));
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = nn_errf(e, NN_EIO, "%s: not a regular file", path);
        goto out;
    }
    uint64_t size = (uint64_t)st.st_size;
    if ((rc = check_file_len(size, e)) < 0)
        goto out;
    if (fread(lenbuf, 1, 8, fp) != 8) {
        rc = nn_errf(e, NN_EIO, "cannot read %s", path);
        goto out;
    }
    uint64_t hlen = get_le(lenbuf, 8);
    if ((rc = check_header_len(hlen, size, e)) < 0)
        goto out;
    uint64_t data_len = size - 8 - hlen;
    if (data_len > SIZE_MAX - 1) {
        rc = nn_errf(e, NN_ELIMIT, "%s: too large for memory", path);
        goto out;
    }
    hdr = malloc(hlen ? (size_t)hlen : 1);
    f = calloc(1, sizeof *f);
    if (!hdr || !f) {
        rc = nn_errf(e, NN_ENOMEM, "safetensors: out of memory");
        goto out;
    }
    if (fread(hdr, 1, (size_t)hlen, fp) != hlen) {
        rc = nn_errf(e, NN_EIO, "cannot read the header of %s", path);
        goto out;
    }
    if ((rc = parse_header(f, hdr, (size_t)hlen, data_len, e)) < 0)
        goto out;
    f->data = malloc(data_len ? (size_t)data_len : 1);
    if (!f->data) {
        rc = nn_errf(e, NN_ENOMEM, "safetensors: out of memory for %llu bytes of data",
                     (unsigned long long)data_len);
        goto out;
    }
    if (fread(f->data, 1, (size_t)data_len, fp) != data_len) {
        rc = nn_errf(e, NN_EIO, "cannot read the data of %s", path);
        goto out;
    }
    *out = f;
    f = NULL;
out:
    if (fp)
        fclose(fp);
    free(hdr);
    nn_st_free(f);
    return rc;
}

int nn_st_count(const nn_st_file *f)
{
    return f ? f->n : 0;
}

const char *nn_st_name(const nn_st_file *f, int i)
{
    return f && i >= 0 && i < f->n ? f->t[i].name : NULL;
}

const char *nn_st_meta(const nn_st_file *f, const char *key)
{
    if (!f || f->meta < 0 || !key)
        return NULL;
    int v = jl_get(&f->doc, f->meta, key);
    return v >= 0 ? jl_text(&f->doc, v) : NULL;
}

static const st_entry *lookup(const nn_st_file *f, const char *name)
{
    if (!f || !name || f->n == 0)
        return NULL;
    st_key key = { name, -1 };
    const st_key *k = bsearch(&key, f->by_name, (size_t)f->n, sizeof key, cmp_key);
    return k ? &f->t[k->idx] : NULL;
}

int nn_st_info(const nn_st_file *f, const char *name, const char **dtype,
               int *rank, int64_t *shape, nn_err *e)
{
    if (dtype)
        *dtype = NULL;
    if (rank)
        *rank = 0;
    if (shape)
        memset(shape, 0, NN_MAX_RANK * sizeof *shape);
    const st_entry *t = lookup(f, name);
    if (!t)
        return nn_errf(e, NN_EINVAL, "safetensors: no tensor named \"%s\"", name ? SHOWN(name) : "(null)");
    if (t->rank > NN_MAX_RANK)
        return nn_errf(e, NN_ELIMIT, "safetensors: tensor \"%s\" has rank %d, more than %d",
                       SHOWN(name), t->rank, NN_MAX_RANK);
    if (dtype)
        *dtype = dtypes[t->dtype].name;
    if (rank)
        *rank = t->rank;
    if (shape) {
        int k = 0;
        JL_EACH_ITEM(&f->doc, t->shape, v) {
            uint64_t x;
            (void)jl_uint(&f->doc, v, ST_MAX_INT, &x);   /* validated by parse_shape */
            shape[k++] = (int64_t)x;
        }
    }
    return NN_OK;
}

/* 1 when entry t has shape (rank, shape). */
static int same_shape(const nn_st_file *f, const st_entry *t, int rank, const int64_t *shape)
{
    if (t->rank != rank)
        return 0;
    int k = 0;
    JL_EACH_ITEM(&f->doc, t->shape, v) {
        uint64_t x;
        (void)jl_uint(&f->doc, v, ST_MAX_INT, &x);
        if (shape[k] < 0 || (uint64_t)shape[k] != x)
            return 0;
        k++;
    }
    return 1;
}

/* Element count of the caller's shape, or -1 when it is not a valid shape. */
static int64_t caller_numel(int rank, const int64_t *shape)
{
    int64_t n = 1;
    if (rank < 0 || rank > NN_MAX_RANK || (rank > 0 && !shape))
        return -1;
    for (int k = 0; k < rank; k++) {
        if (shape[k] < 0 || (shape[k] > 0 && n > INT64_MAX / shape[k]))
            return -1;
        n *= shape[k];
    }
    return n;
}

int nn_st_copy(const nn_st_file *f, const char *name, int rank, const int64_t *shape,
               nn_real *dst, nn_err *e)
{
    int64_t want = caller_numel(rank, shape);
    if (want < 0 || (want > 0 && !dst))
        return nn_errf(e, NN_EINVAL, "safetensors: invalid destination shape or buffer");
    int rc = NN_OK;
    const st_entry *t = lookup(f, name);
    if (!t) {
        rc = nn_errf(e, NN_EINVAL, "safetensors: no tensor named \"%s\"", name ? SHOWN(name) : "(null)");
        goto out;
    }
    if (!same_shape(f, t, rank, shape)) {
        char have[128], need[128];
        doc_shape_str(&f->doc, t->shape, have, sizeof have);
        shape_str(need, sizeof need, rank, shape);
        rc = nn_errf(e, NN_EINVAL, "safetensors: tensor \"%s\" has shape %s, expected %s",
                     SHOWN(name), have, need);
        goto out;
    }
    const unsigned char *p = f->data + t->begin;
    size_t n = (size_t)t->numel;
    switch (t->dtype) {
    case DT_F32:
        for (size_t i = 0; i < n; i++)
            dst[i] = (nn_real)bits_f32((uint32_t)get_le(p + 4 * i, 4));
        break;
    case DT_F64:
        for (size_t i = 0; i < n; i++) {
            uint64_t u = get_le(p + 8 * i, 8);
            double x;
            memcpy(&x, &u, sizeof x);
            dst[i] = (nn_real)x;   /* float build: rounds, and beyond FLT_MAX gives inf (IEEE 754) */
        }
        break;
    case DT_F16:
        for (size_t i = 0; i < n; i++)
            dst[i] = (nn_real)half_to_f32((uint16_t)get_le(p + 2 * i, 2));
        break;
    case DT_BF16:
        for (size_t i = 0; i < n; i++)
            dst[i] = (nn_real)bf16_to_f32((uint16_t)get_le(p + 2 * i, 2));
        break;
    default:
        rc = nn_errf(e, NN_EINVAL,
                     "safetensors: tensor \"%s\" has dtype %s; only F64, F32, F16 and BF16 "
                     "convert to real numbers", SHOWN(name), dtypes[t->dtype].name);
        break;
    }
out:
    /* Checks precede the first write to dst, so a failure leaves it all zero. */
    if (rc < 0 && want > 0)
        memset(dst, 0, (size_t)want * sizeof *dst);
    return rc;
}
