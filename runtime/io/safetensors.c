/* safetensors.c: reading and writing safetensors files (see safetensors.h for
 * the format and what reading checks). */
#include "io/safetensors.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/files.h"
#include "io/json.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c writes float32 data in host order: a little-endian host is required"
#endif

/* The largest header accepted (safetensors itself limits it to 100 MB). */
#define MAX_HEADER (100 * 1000 * 1000)

/* ------------------------------------------------------------- name index */

/* A hash index over an array of names (open addressing, linear probing): finding a
 * name among n costs O(1), so a header of 64 000 tensors is not a quadratic search. */
typedef struct name_index {
    int *slots;      /* entry + 1, 0 for an empty slot */
    size_t size;     /* a power of two, at least twice the entries */
} name_index;

static size_t name_hash(const char *name)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        h = (h ^ *c) * 1099511628211ULL;
    return (size_t)h;
}

static int index_find(const name_index *x, char *const *names, const char *name)
{
    if (!x->size)
        return -1;
    for (size_t i = name_hash(name) & (x->size - 1);; i = (i + 1) & (x->size - 1)) {
        if (!x->slots[i])
            return -1;
        if (strcmp(names[x->slots[i] - 1], name) == 0)
            return x->slots[i] - 1;
    }
}

static void index_place(name_index *x, char *const *names, int entry)
{
    size_t i = name_hash(names[entry]) & (x->size - 1);
    while (x->slots[i])
        i = (i + 1) & (x->size - 1);
    x->slots[i] = entry + 1;
}

/* Makes names[entry] findable; names[0 .. entry) already are. */
static int index_add(name_index *x, char *const *names, int entry)
{
    size_t needed = 2 * ((size_t)entry + 1);
    if (needed > x->size) {
        size_t size = x->size ? x->size : 32;
        while (size < needed)
            size *= 2;
        int *slots = calloc(size, sizeof *slots);
        if (!slots)
            return lap_error("out of memory");
        free(x->slots);
        x->slots = slots;
        x->size = size;
        for (int i = 0; i < entry; i++)
            index_place(x, names, i);
    }
    index_place(x, names, entry);
    return LAP_OK;
}

/* ------------------------------------------------------------- safetensors */

struct lap_safetensors {
    int n, cap;
    char **names;
    lap_tensor **tensors;
    name_index by_name;
    int nmeta, metacap;
    char **keys, **values;
    name_index by_key;
};

lap_safetensors *lap_safetensors_new(void) { return lap_calloc(1, sizeof(lap_safetensors)); }

void lap_safetensors_free(lap_safetensors *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->n; i++) {
        free(st->names[i]);
        lap_tensor_release(st->tensors[i]);
    }
    for (int i = 0; i < st->nmeta; i++) {
        free(st->keys[i]);
        free(st->values[i]);
    }
    free(st->names);
    free(st->tensors);
    free(st->by_name.slots);
    free(st->keys);
    free(st->values);
    free(st->by_key.slots);
    free(st);
}

int lap_safetensors_count(const lap_safetensors *st) { return st->n; }
const char *lap_safetensors_name(const lap_safetensors *st, int i) { return st->names[i]; }
lap_tensor *lap_safetensors_tensor(const lap_safetensors *st, int i) { return st->tensors[i]; }

lap_tensor *lap_safetensors_get(const lap_safetensors *st, const char *name)
{
    int i = index_find(&st->by_name, st->names, name);
    return i < 0 ? NULL : st->tensors[i];
}

const char *lap_safetensors_meta(const lap_safetensors *st, const char *key)
{
    int i = index_find(&st->by_key, st->keys, key);
    return i < 0 ? NULL : st->values[i];
}

/* Makes room for one more entry in a pair of parallel lists (names, tensors) of
 * capacity *cap holding n entries: doubles the capacity (from `first`) when full. */
static int grow_named_lists(char ***names, lap_tensor ***tensors, int n, int *cap, int first)
{
    if (n < *cap)
        return LAP_OK;
    int grown = *cap ? *cap * 2 : first;
    char **more_names = realloc(*names, sizeof **names * (size_t)grown);
    if (more_names)
        *names = more_names;
    lap_tensor **more_tensors = realloc(*tensors, sizeof **tensors * (size_t)grown);
    if (more_tensors)
        *tensors = more_tensors;
    if (!more_names || !more_tensors)
        return lap_error("out of memory");
    *cap = grown;
    return LAP_OK;
}

int lap_safetensors_add(lap_safetensors *st, const char *name, lap_tensor *t)
{
    if (!name || !*name || strcmp(name, "__metadata__") == 0)
        return lap_error("safetensors: invalid tensor name '%s'", name ? name : "(null)");
    if (lap_safetensors_get(st, name))
        return lap_error("safetensors: duplicate tensor name '%s'", name);
    if (grow_named_lists(&st->names, &st->tensors, st->n, &st->cap, 16) != LAP_OK)
        return LAP_ERR;
    char *copy = strdup(name);
    if (!copy)
        return lap_error("out of memory");
    st->names[st->n] = copy;
    if (index_add(&st->by_name, st->names, st->n) != LAP_OK) {
        free(copy);
        return LAP_ERR;
    }
    st->tensors[st->n] = lap_tensor_retain(t);
    st->n++;
    return LAP_OK;
}

int lap_safetensors_set_meta(lap_safetensors *st, const char *key, const char *value)
{
    char *v = strdup(value);
    if (!v)
        return lap_error("out of memory");
    int existing = index_find(&st->by_key, st->keys, key);
    if (existing >= 0) {
        free(st->values[existing]);
        st->values[existing] = v;
        return LAP_OK;
    }
    if (st->nmeta == st->metacap) {
        int cap = st->metacap ? st->metacap * 2 : 8;
        char **keys = realloc(st->keys, sizeof *keys * (size_t)cap);
        if (keys)
            st->keys = keys;
        char **values = realloc(st->values, sizeof *values * (size_t)cap);
        if (values)
            st->values = values;
        if (!keys || !values) {
            free(v);
            return lap_error("out of memory");
        }
        st->metacap = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(v);
        return lap_error("out of memory");
    }
    st->keys[st->nmeta] = k;
    if (index_add(&st->by_key, st->keys, st->nmeta) != LAP_OK) {
        free(k);
        free(v);
        return LAP_ERR;
    }
    st->values[st->nmeta] = v;
    st->nmeta++;
    return LAP_OK;
}

int lap_safetensors_write(const lap_safetensors *st, const char *path)
{
    lap_sbuf h = {0};
    lap_sb_str(&h, "{");
    int first = 1;
    if (st->nmeta > 0) {
        lap_sb_str(&h, "\"__metadata__\":{");
        for (int i = 0; i < st->nmeta; i++) {
            if (i)
                lap_sb_str(&h, ",");
            lap_sb_json_string(&h, st->keys[i]);
            lap_sb_str(&h, ":");
            lap_sb_json_string(&h, st->values[i]);
        }
        lap_sb_str(&h, "}");
        first = 0;
    }
    uint64_t offset = 0;
    for (int i = 0; i < st->n; i++) {
        const lap_tensor *t = st->tensors[i];
        if (!first)
            lap_sb_str(&h, ",");
        first = 0;
        lap_sb_json_string(&h, st->names[i]);
        lap_sb_str(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++)
            lap_sb_printf(&h, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        uint64_t bytes = (uint64_t)lap_numel(t) * 4;
        lap_sb_printf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                  (unsigned long long)(offset + bytes));
        offset += bytes;
    }
    lap_sb_str(&h, "}");
    while (!h.failed && h.len % 8 != 0)
        lap_sb_str(&h, " ");
    if (h.failed) {
        free(h.data);
        return lap_error("checkpoint '%s': out of memory building the header", path);
    }

    /* A symlink's target is replaced, never a device or a FIFO. */
    char *target = lap_replace_target(path, "checkpoint");
    if (!target) {
        free(h.data);
        return LAP_ERR;
    }
    lap_remove_stale_temporaries(target);
    size_t tmplen = strlen(target) + 32;
    char *tmp = malloc(tmplen);
    if (!tmp) {
        free(h.data);
        free(target);
        return lap_error("checkpoint '%s': out of memory", path);
    }
    snprintf(tmp, tmplen, "%s.tmp.%ld", target, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int e = errno;
        free(h.data);
        free(tmp);
        free(target);
        return lap_error("checkpoint '%s': cannot create '%s.tmp.*': %s", path, path, strerror(e));
    }
    unsigned char len8[8];
    uint64_t hl = h.len;
    for (int k = 0; k < 8; k++)
        len8[k] = (unsigned char)(hl >> (8 * k));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(h.data, 1, h.len, f) == h.len;
    for (int i = 0; ok && i < st->n; i++) {
        size_t count = (size_t)lap_numel(st->tensors[i]);
        ok = fwrite(lap_data(st->tensors[i]), sizeof(float), count, f) == count;
    }
    int e = errno;
    if (ok && fflush(f) != 0) {
        ok = 0;
        e = errno;
    }
    if (ok && fsync(fileno(f)) != 0) {
        ok = 0;
        e = errno;
    }
    if (fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (ok && rename(tmp, target) != 0) {
        ok = 0;
        e = errno;
    }
    free(h.data);
    free(target);
    if (!ok) {
        remove(tmp);
        free(tmp);
        return lap_error("checkpoint '%s': write failed: %s", path, strerror(e ? e : EIO));
    }
    free(tmp);
    return LAP_OK;
}

typedef struct entry {
    const char *name;
    const lap_json *info;
    int ndim;
    int64_t shape[LAP_MAX_DIMS];
    uint64_t begin, end;
} entry;

static int cmp_entries(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static void shape_text(const int64_t *shape, int ndim, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

/* Validates one tensor entry of the header. */
static int check_entry(const char *path, entry *e, uint64_t data_size)
{
    const lap_json *info = e->info;
    if (info->type != LAP_JSON_OBJ)
        return lap_error("checkpoint '%s': tensor '%s': header entry is not an object", path, e->name);
    for (int k = 0; k < info->n; k++)
        if (strcmp(info->keys[k], "dtype") && strcmp(info->keys[k], "shape") && strcmp(info->keys[k], "data_offsets"))
            return lap_error("checkpoint '%s': tensor '%s': unknown field '%s'", path, e->name, info->keys[k]);
    const lap_json *dtype = lap_json_get(info, "dtype"), *shape = lap_json_get(info, "shape"), *off = lap_json_get(info, "data_offsets");
    if (!dtype || dtype->type != LAP_JSON_STR)
        return lap_error("checkpoint '%s': tensor '%s': missing dtype", path, e->name);
    if (strcmp(dtype->str, "F32") != 0)
        return lap_error("checkpoint '%s': tensor '%s' has dtype '%s'; only F32 is supported", path, e->name,
                         dtype->str);
    if (!shape || shape->type != LAP_JSON_ARR)
        return lap_error("checkpoint '%s': tensor '%s': missing or invalid shape", path, e->name);
    if (shape->n > LAP_MAX_DIMS)
        return lap_error("checkpoint '%s': tensor '%s' has %d dimensions (at most %d)", path, e->name, shape->n,
                         LAP_MAX_DIMS);
    uint64_t numel = 1;
    e->ndim = shape->n;
    for (int d = 0; d < shape->n; d++) {
        const lap_json *dim = &shape->items[d];
        if (dim->type != LAP_JSON_NUM || !dim->is_uint || dim->uval > ((uint64_t)1 << 40))
            return lap_error("checkpoint '%s': tensor '%s': shape entry %d is not a valid size", path, e->name, d + 1);
        e->shape[d] = (int64_t)dim->uval;
        if (dim->uval && numel > (UINT64_MAX / 8) / dim->uval)
            return lap_error("checkpoint '%s': tensor '%s': shape too large", path, e->name);
        numel *= dim->uval;
    }
    if (!off || off->type != LAP_JSON_ARR || off->n != 2 || off->items[0].type != LAP_JSON_NUM || !off->items[0].is_uint ||
        off->items[1].type != LAP_JSON_NUM || !off->items[1].is_uint)
        return lap_error("checkpoint '%s': tensor '%s': data_offsets must be [begin, end] (integers)", path,
                         e->name);
    e->begin = off->items[0].uval;
    e->end = off->items[1].uval;
    if (e->begin > e->end || e->end > data_size)
        return lap_error("checkpoint '%s': tensor '%s': data_offsets [%llu, %llu] are outside the data (%llu bytes)",
                         path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                         (unsigned long long)data_size);
    if (e->end - e->begin != numel * 4) {
        char s[LAP_SHAPE_BUF];
        shape_text(e->shape, e->ndim, s, sizeof s);
        return lap_error("checkpoint '%s': tensor '%s' has shape %s (%llu bytes of F32) but data_offsets [%llu, %llu] "
                         "hold %llu bytes",
                         path, e->name, s, (unsigned long long)(numel * 4), (unsigned long long)e->begin,
                         (unsigned long long)e->end, (unsigned long long)(e->end - e->begin));
    }
    return LAP_OK;
}

lap_safetensors *lap_safetensors_read(const char *path)
{
    FILE *f = lap_open_regular(path, "checkpoint");
    if (!f)
        return NULL;
    struct stat sbuf_;
    char *header = NULL;
    entry *entries = NULL;
    lap_safetensors *st = NULL;
    lap_json root = {0};
    if (fstat(fileno(f), &sbuf_) != 0) {
        lap_error("checkpoint '%s': cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    uint64_t size = (uint64_t)sbuf_.st_size;
    unsigned char len8[8];
    if (size < 8 || fread(len8, 1, 8, f) != 8) {
        lap_error("checkpoint '%s': file is %llu bytes, too short for a safetensors header", path,
                  (unsigned long long)size);
        goto fail;
    }
    uint64_t hl = 0;
    for (int k = 0; k < 8; k++)
        hl |= (uint64_t)len8[k] << (8 * k);
    if (hl > size - 8) {
        lap_error("checkpoint '%s': header length %llu is larger than the file (%llu bytes): truncated or not a "
                  "safetensors file",
                  path, (unsigned long long)hl, (unsigned long long)size);
        goto fail;
    }
    if (hl < 2 || hl > MAX_HEADER) {
        lap_error("checkpoint '%s': invalid header length %llu", path, (unsigned long long)hl);
        goto fail;
    }
    header = malloc((size_t)hl);
    if (!header || fread(header, 1, (size_t)hl, f) != (size_t)hl) {
        lap_error("checkpoint '%s': cannot read the header", path);
        goto fail;
    }
    char err[200];
    if (lap_json_parse(header, (size_t)hl, &root, err, sizeof err) != 0) {
        lap_error("checkpoint '%s': invalid header: %s", path, err);
        goto fail;
    }
    if (root.type != LAP_JSON_OBJ) {
        lap_error("checkpoint '%s': invalid header: not a JSON object", path);
        goto fail;
    }
    uint64_t data_size = size - 8 - hl;
    st = lap_safetensors_new();
    entries = calloc((size_t)root.n + 1, sizeof *entries);
    if (!st || !entries) {
        lap_error("checkpoint '%s': out of memory", path);
        goto fail;
    }
    int n = 0;
    for (int i = 0; i < root.n; i++) {
        const lap_json *v = &root.items[i];
        if (strcmp(root.keys[i], "__metadata__") == 0) {
            if (v->type != LAP_JSON_OBJ) {
                lap_error("checkpoint '%s': __metadata__ is not an object", path);
                goto fail;
            }
            for (int k = 0; k < v->n; k++) {
                if (v->items[k].type != LAP_JSON_STR) {
                    lap_error("checkpoint '%s': __metadata__ entry '%s' is not a string", path, v->keys[k]);
                    goto fail;
                }
                if (lap_safetensors_set_meta(st, v->keys[k], v->items[k].str) != LAP_OK)
                    goto fail;
            }
            continue;
        }
        entries[n].name = root.keys[i];
        entries[n].info = v;
        if (root.keys[i][0] == '\0') {
            lap_error("checkpoint '%s': empty tensor name", path);
            goto fail;
        }
        if (check_entry(path, &entries[n], data_size) != LAP_OK)
            goto fail;
        n++;
    }
    /* The tensors must tile the data buffer: no overlaps, no holes. */
    entry *sorted = malloc(sizeof *sorted * (size_t)(n + 1));
    if (!sorted) {
        lap_error("checkpoint '%s': out of memory", path);
        goto fail;
    }
    memcpy(sorted, entries, sizeof *sorted * (size_t)n);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_entries);
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        if (sorted[i].begin < at) {
            lap_error("checkpoint '%s': tensors '%s' and '%s' overlap (data_offsets [%llu, %llu] and [%llu, %llu])",
                      path, sorted[i - 1].name, sorted[i].name, (unsigned long long)sorted[i - 1].begin,
                      (unsigned long long)sorted[i - 1].end, (unsigned long long)sorted[i].begin,
                      (unsigned long long)sorted[i].end);
            free(sorted);
            goto fail;
        }
        if (sorted[i].begin > at) {
            lap_error("checkpoint '%s': bytes %llu to %llu of the data belong to no tensor", path,
                      (unsigned long long)at, (unsigned long long)sorted[i].begin);
            free(sorted);
            goto fail;
        }
        at = sorted[i].end;
    }
    free(sorted);
    if (at != data_size) {
        lap_error("checkpoint '%s': %llu bytes after the last tensor belong to no tensor", path,
                  (unsigned long long)(data_size - at));
        goto fail;
    }
    /* The data, tensor by tensor (header order). */
    for (int i = 0; i < n; i++) {
        lap_tensor *t = lap_tensor_new(entries[i].ndim, entries[i].shape);
        if (!t)
            goto fail;
        size_t count = (size_t)lap_numel(t);
        int ok = fseeko(f, (off_t)(8 + hl + entries[i].begin), SEEK_SET) == 0 &&
                 fread(lap_data(t), sizeof(float), count, f) == count;
        if (!ok || lap_safetensors_add(st, entries[i].name, t) != LAP_OK) {
            lap_tensor_release(t);
            if (!ok)
                lap_error("checkpoint '%s': cannot read the data of tensor '%s'", path, entries[i].name);
            goto fail;
        }
        lap_tensor_release(t);
    }
    free(entries);
    lap_json_free(&root);
    free(header);
    fclose(f);
    return st;
fail:
    free(entries);
    lap_json_free(&root);
    free(header);
    lap_safetensors_free(st);
    fclose(f);
    return NULL;
}
