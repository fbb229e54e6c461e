/* VPC Flow Log records -> the two aggregates a report needs, without a row table in between.
 *
 * Why C: a report over a flow log file is a handful of sums, so reading the records is most of the
 * work, and a general CSV reader spends it on what these files never have (quotes, escapes, type
 * guessing), then hands every address string to each GROUP BY again. This reader takes only the
 * exact shape the row path reads the same way (one space between fields, digits or "-" in integer
 * fields, printable ASCII) and raises ValueError on anything else, so the caller can hand that file
 * to the row path, which counts every odd line by reason.
 *
 * Per record it updates two aggregates (three with detections), with the row path's rules (docs/flows.md,
 * "Counting rules"):
 *   facts: records, packets and bytes by (log-status, type, action, protocol, start's time bin,
 *          source code, destination code), where an address's code is its counted family (4 or 6;
 *          64 for IPv6 in a NAT64 prefix, RFC 6052 / RFC 8215) from a small parser here; the caller
 *          checks every code against v6ops.addr's parse of the same text and falls back if one differs;
 *   pairs: flows, packets and bytes of counted records (status OK or absent) by (source id,
 *          destination id), where pkt-srcaddr/pkt-dstaddr win over the ENI's addresses;
 *   flows (only with a detection bin): flows, packets and bytes of counted records with a source and
 *          a start, by (source id, destination id, protocol, destination port, start's detection
 *          bin, REJECT or not, on an internet-facing interface or not): what the detection rules
 *          (v6ops/flows/detections.py) read, so they run over these bins exactly as over the rows
 *          (each rule's windows are unions of bins: the bin divides every rule's slide). A bin may
 *          be several rows (see FlowColumns), as it may be across scanners: the rules sum rows and
 *          count distinct values, which that leaves the same.
 * Sums skip nulls and stay null when every value is null, as SQL's sum() does.
 *
 * A Scanner is used by one thread at a time; feed() and add() release the GIL while they work, so
 * one Scanner per thread reads a file on every core. Each distinct text gets a dense id in the order
 * first seen; texts() hands a dictionary back as Arrow string buffers (int32 offsets, data).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

/* Field roles, one byte per field of the layout (see v6ops/flows/encoded.py). */
enum {
    SKIP_TEXT = 0, CHECK_INT32 = 1, CHECK_INT64 = 2, SRC = 3, DST = 4, PKT_SRC = 5, PKT_DST = 6,
    TYPE = 7, ACTION = 8, STATUS = 9, PROTOCOL = 10, PACKETS = 11, BYTES = 12, START = 13, END = 14,
    DST_PORT = 15, INTERFACE = 16, ROLE_COUNT = 17
};
enum { DICT_ADDRESS = 0, DICT_TYPE = 1, DICT_ACTION = 2, DICT_STATUS = 3, DICT_COUNT = 4 };
#define LABEL_LIMIT 127 /* label ids are int8 */
#define NULL_INT32 INT32_MIN
#define NULL_INT64 INT64_MIN
#define CODE_NULL 0   /* no address */
#define CODE_UNKNOWN 1 /* not parsed here: the caller's check falls back */

/* Zeroed memory for a hash table's slots. Large ones are mapped on 2 MiB pages where the kernel
 * allows (MADV_HUGEPAGE): random probes over a hundred MB of 4 KiB pages would miss the TLB on
 * nearly every record, and each fresh 4 KiB page costs a fault of its own. */
#define HUGE_FROM (2u << 20)

static void *slots_alloc(size_t size) {
    if (size < HUGE_FROM) return calloc(1, size);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE /* Linux; elsewhere the kernel's default pages */
    madvise(p, size, MADV_HUGEPAGE);
#endif
    return p;
}

static void slots_free(void *p, size_t size) {
    if (!p) return;
    if (size < HUGE_FROM) free(p);
    else munmap(p, size);
}

/* A slot holds what a probe compares, so a lookup touches the slot and the text, nothing else. */
typedef struct {
    uint32_t tag; /* high half of the hash */
    uint32_t id;  /* entry index + 1; 0 marks an empty slot */
    uint32_t offset, length;
} Slot;

typedef struct {
    uint32_t *offsets; /* entry i spans data[offsets[i], offsets[i + 1]) */
    char *data;
    uint8_t *codes; /* address dictionary: each entry's code */
    Slot *slots;
    size_t count, capacity, data_size, data_capacity, mask;
} TextDict;

/* Equality of two short texts without a library call: addresses are under 46 bytes. */
static inline int same_text(const char *a, const char *b, size_t n) {
    for (; n >= 8; a += 8, b += 8, n -= 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y) return 0;
    }
    while (n--)
        if (*a++ != *b++) return 0;
    return 1;
}

static uint64_t hash_text(const char *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0xC2B2AE3D27D4EB4FULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x9FB21C651E98DF25ULL;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t tail = 0;
    memcpy(&tail, s, n);
    h = (h ^ tail) * 0x9FB21C651E98DF25ULL;
    return h ^ (h >> 32);
}

static int dict_init(TextDict *d) {
    memset(d, 0, sizeof *d);
    d->capacity = 1024;
    d->mask = 2 * d->capacity - 1;
    d->data_capacity = 1 << 16;
    d->offsets = malloc((d->capacity + 1) * sizeof *d->offsets);
    d->data = malloc(d->data_capacity);
    d->codes = malloc(d->capacity);
    d->slots = slots_alloc((d->mask + 1) * sizeof *d->slots);
    if (!d->offsets || !d->data || !d->codes || !d->slots) return -1;
    d->offsets[0] = 0;
    return 0;
}

static void dict_free(TextDict *d) {
    free(d->offsets);
    free(d->data);
    free(d->codes);
    slots_free(d->slots, (d->mask + 1) * sizeof *d->slots);
}

static int dict_grow(TextDict *d) {
    size_t capacity = d->capacity * 2, mask = 2 * capacity - 1;
    uint32_t *offsets = realloc(d->offsets, (capacity + 1) * sizeof *offsets);
    if (!offsets) return -1;
    d->offsets = offsets;
    uint8_t *codes = realloc(d->codes, capacity);
    if (!codes) return -1;
    d->codes = codes;
    Slot *slots = slots_alloc((mask + 1) * sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i <= d->mask; i++) {
        if (!d->slots[i].id) continue;
        size_t slot = hash_text(d->data + d->slots[i].offset, d->slots[i].length) & mask;
        while (slots[slot].id) slot = (slot + 1) & mask;
        slots[slot] = d->slots[i];
    }
    slots_free(d->slots, (d->mask + 1) * sizeof *d->slots);
    d->slots = slots;
    d->capacity = capacity;
    d->mask = mask;
    return 0;
}

/* The id of text s[0:n] whose hash_text is h, added if new; -1 when out of memory, -2 past the limit. */
static int64_t dict_id_hashed(TextDict *d, const char *s, size_t n, uint64_t h, size_t limit) {
    uint32_t tag = (uint32_t)(h >> 32);
    size_t slot = h & d->mask;
    for (Slot *e; (e = &d->slots[slot])->id != 0; slot = (slot + 1) & d->mask)
        if (e->tag == tag && e->length == n && same_text(d->data + e->offset, s, n)) return (int64_t)e->id - 1;
    if (d->count >= limit || d->data_size + n > UINT32_MAX) return -2;
    while (d->data_size + n > d->data_capacity) {
        char *data = realloc(d->data, d->data_capacity * 2);
        if (!data) return -1;
        d->data = data;
        d->data_capacity *= 2;
    }
    size_t i = d->count;
    d->slots[slot] = (Slot){tag, (uint32_t)(i + 1), (uint32_t)d->data_size, (uint32_t)n};
    memcpy(d->data + d->data_size, s, n);
    d->data_size += n;
    d->offsets[i + 1] = (uint32_t)d->data_size;
    d->count++;
    if (d->count == d->capacity && dict_grow(d) < 0) return -1; /* slots stay at most half full */
    return (int64_t)i;
}


/* Whether text s[0:n] is in the dictionary (never adds it). */
static int dict_has(const TextDict *d, const char *s, size_t n) {
    uint64_t h = hash_text(s, n);
    uint32_t tag = (uint32_t)(h >> 32);
    for (size_t slot = h & d->mask; d->slots[slot].id != 0; slot = (slot + 1) & d->mask) {
        const Slot *e = &d->slots[slot];
        if (e->tag == tag && e->length == n && same_text(d->data + e->offset, s, n)) return 1;
    }
    return 0;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* RFC 791 dotted quad as v6ops.addr takes it: four decimal parts 0-255, no leading zeros. */
static int parse_ipv4(const char *s, size_t n, uint32_t *out) {
    uint32_t value = 0;
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        size_t start = i;
        uint32_t octet = 0;
        while (i < n && i - start < 4 && s[i] >= '0' && s[i] <= '9') octet = octet * 10 + (uint32_t)(s[i++] - '0');
        if (i == start || i - start > 3 || octet > 255 || (s[start] == '0' && i - start > 1)) return -1;
        value = value << 8 | octet;
        if (part < 3 && (i >= n || s[i++] != '.')) return -1;
    }
    if (i != n) return -1;
    *out = value;
    return 0;
}

/* RFC 4291 section 2.2 text forms: eight groups of 1-4 hex digits, at most one "::", and an IPv4
 * tail in the last 32 bits. Anything else is CODE_UNKNOWN (the caller's check then falls back). */
static int parse_ipv6(const char *s, size_t n, uint64_t *hi, uint64_t *lo) {
    uint32_t groups[8];
    int count = 0, gap = -1;
    size_t i = 0;
    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        gap = 0;
        i = 2;
    }
    while (i < n) {
        size_t start = i;
        uint32_t group = 0;
        for (int digit; i < n && i - start < 5 && (digit = hex_digit(s[i])) >= 0; i++) group = group * 16 + (uint32_t)digit;
        if (i < n && s[i] == '.') {
            uint32_t v4;
            if (count > 6 || parse_ipv4(s + start, n - start, &v4) < 0) return -1;
            groups[count++] = v4 >> 16;
            groups[count++] = v4 & 0xFFFF;
            break;
        }
        if (i == start || i - start > 4 || count == 8) return -1;
        groups[count++] = group;
        if (i == n) break;
        if (s[i++] != ':' || i == n) return -1;
        if (s[i] == ':') {
            if (gap >= 0) return -1;
            gap = count;
            i++;
        }
    }
    if (gap >= 0 ? count > 7 : count != 8) return -1;
    uint32_t full[8] = {0};
    int tail = gap >= 0 ? count - gap : 0;
    for (int k = 0; k < count - tail; k++) full[k] = groups[k];
    for (int k = 0; k < tail; k++) full[8 - tail + k] = groups[gap + k];
    *hi = (uint64_t)full[0] << 48 | (uint64_t)full[1] << 32 | (uint64_t)full[2] << 16 | full[3];
    *lo = (uint64_t)full[4] << 48 | (uint64_t)full[5] << 32 | (uint64_t)full[6] << 16 | full[7];
    return 0;
}

/* The family an address counts as (IPv4-mapped ::ffff:0:0/96 is IPv4), 64 in a NAT64 prefix. */
static uint8_t address_code(const char *s, size_t n) {
    uint32_t v4;
    uint64_t hi, lo;
    if (!memchr(s, ':', n)) return parse_ipv4(s, n, &v4) == 0 ? 4 : CODE_UNKNOWN;
    if (parse_ipv6(s, n, &hi, &lo) < 0) return CODE_UNKNOWN;
    if (hi == 0 && lo >> 32 == 0xFFFF) return 4;
    if ((hi == 0x0064FF9B00000000ULL && lo >> 32 == 0) || hi >> 16 == 0x0064FF9B0001ULL) return 64; /* RFC 6052, RFC 8215 */
    return 6;
}

typedef struct {
    int32_t src, dst;
    int64_t flows, packets, bytes; /* flows == 0 marks an empty slot */
} Pair;

typedef struct {
    int64_t bin;
    int32_t protocol;
    int8_t status, type, action;
    uint8_t src_code, dst_code;
    int64_t records, packets, bytes; /* records == 0 marks an empty slot */
} Fact;

/* A detection bin's key and sums (flows == 0 marks an empty slot). */
typedef struct {
    int32_t src, dst, protocol, dst_port;
    int64_t bin;
    uint8_t rejected, facing;
    int64_t flows, packets, bytes;
} Flow;

/* The flows aggregate: a direct-mapped cache of FLOW_CACHE bins (cache-sized, so a record's bin is
 * found without a miss into a table of millions), each bin spilled to columns when another takes
 * its slot. A bin may thus be spilled more than once; the rules sum rows and count distinct values,
 * which that leaves the same, and a repeated conversation within a bin (the common case in real
 * logs) is still one row. */
#define FLOW_CACHE (1u << 15)

typedef struct {
    int32_t *src, *dst, *protocol, *dst_port;
    int64_t *bin, *flows, *packets, *bytes;
    uint8_t *rejected, *facing;
    size_t count, capacity;
    Flow *cache; /* FLOW_CACHE slots */
} FlowColumns;

typedef struct {
    void *slots;
    size_t count, mask, width;
} Table;

static int table_init(Table *t, size_t width) {
    t->width = width;
    t->count = 0;
    t->mask = 1023;
    t->slots = slots_alloc((t->mask + 1) * width);
    return t->slots ? 0 : -1;
}

static uint64_t mix(uint64_t x) {
    x ^= x >> 31;
    x *= 0x7FB5D329728EA185ULL;
    x ^= x >> 27;
    x *= 0x81DADEF4BC2DD44DULL;
    return x ^ (x >> 33);
}

static uint64_t pair_hash(const Pair *p) { return mix((uint64_t)(uint32_t)p->src << 32 | (uint32_t)p->dst); }

static uint64_t fact_hash(const Fact *f) {
    return mix((uint64_t)f->bin ^ mix((uint64_t)(uint32_t)f->protocol << 32 | (uint64_t)(uint8_t)f->status << 24 |
                                      (uint64_t)(uint8_t)f->type << 16 | (uint64_t)(uint8_t)f->action << 8 |
                                      (uint64_t)(f->src_code * 131u + f->dst_code)));
}

static uint64_t flow_hash(const Flow *f) {
    return mix(((uint64_t)(uint32_t)f->src << 32 | (uint32_t)f->dst) ^
               mix((uint64_t)f->bin ^ mix((uint64_t)(uint32_t)f->protocol << 32 | (uint32_t)f->dst_port) ^
                   ((uint64_t)f->rejected << 1 | f->facing)));
}

static int same_fact(const Fact *a, const Fact *b) {
    return a->bin == b->bin && a->protocol == b->protocol && a->status == b->status && a->type == b->type &&
           a->action == b->action && a->src_code == b->src_code && a->dst_code == b->dst_code;
}

static int used(const Table *t, const char *slot) {
    return t->width == sizeof(Pair) ? ((const Pair *)slot)->flows != 0 : ((const Fact *)slot)->records != 0;
}

static uint64_t slot_hash(const Table *t, const void *slot) {
    return t->width == sizeof(Pair) ? pair_hash(slot) : fact_hash(slot);
}

static int table_grow(Table *t) {
    size_t mask = 2 * t->mask + 1;
    char *slots = slots_alloc((mask + 1) * t->width), *old = t->slots;
    if (!slots) return -1;
    for (size_t i = 0; i <= t->mask; i++) {
        char *entry = old + i * t->width;
        if (!used(t, entry)) continue;
        size_t slot = slot_hash(t, entry) & mask;
        while (used(t, slots + slot * t->width)) slot = (slot + 1) & mask;
        memcpy(slots + slot * t->width, entry, t->width);
    }
    slots_free(old, (t->mask + 1) * t->width);
    t->slots = slots;
    t->mask = mask;
    return 0;
}

static int same_pair(const void *entry, const void *key) {
    const Pair *a = entry, *b = key;
    return a->src == b->src && a->dst == b->dst;
}

static int same_fact_entry(const void *entry, const void *key) { return same_fact(entry, key); }

static void fresh_pair(void *entry, const void *key) {
    Pair *pair = entry;
    *pair = *(const Pair *)key;
    pair->packets = pair->bytes = NULL_INT64;
}

static void fresh_fact(void *entry, const void *key) {
    Fact *fact = entry;
    *fact = *(const Fact *)key;
    fact->packets = fact->bytes = NULL_INT64;
}

/* The slot holding key's entry, or a fresh one with key's fields and null sums; NULL when out of
 * memory. Inlined with constant arguments, so each table gets its own specialized probe loop. */
static inline void *table_slot(Table *t, const void *key, uint64_t hash, int (*same)(const void *, const void *),
                               void (*fresh)(void *, const void *)) {
    char *slots = t->slots;
    size_t slot = hash & t->mask;
    for (char *entry; used(t, entry = slots + slot * t->width); slot = (slot + 1) & t->mask)
        if (same(entry, key)) return entry;
    if (4 * (t->count + 1) > 3 * t->mask) { /* up to three quarters full: linear probes stay short */
        if (table_grow(t) < 0) return NULL;
        return table_slot(t, key, hash, same, fresh);
    }
    t->count++;
    fresh(slots + slot * t->width, key);
    return slots + slot * t->width;
}

static int same_flow(const Flow *a, const Flow *b) {
    return a->src == b->src && a->dst == b->dst && a->bin == b->bin && a->protocol == b->protocol &&
           a->dst_port == b->dst_port && a->rejected == b->rejected && a->facing == b->facing;
}

static void flows_free(FlowColumns *c) {
    free(c->src);
    free(c->dst);
    free(c->protocol);
    free(c->dst_port);
    free(c->bin);
    free(c->flows);
    free(c->packets);
    free(c->bytes);
    free(c->rejected);
    free(c->facing);
    free(c->cache);
    memset(c, 0, sizeof *c);
}

static int grow_column(void **column, size_t capacity, size_t size) {
    void *grown = realloc(*column, capacity * size);
    if (!grown) return -1;
    *column = grown;
    return 0;
}

/* Append a bin to the columns; 0, or -1 when out of memory. */
static int flows_spill(FlowColumns *c, const Flow *f) {
    if (c->count == c->capacity) {
        size_t capacity = c->capacity ? 2 * c->capacity : 1 << 16;
        if (grow_column((void **)&c->src, capacity, 4) < 0 || grow_column((void **)&c->dst, capacity, 4) < 0 ||
            grow_column((void **)&c->protocol, capacity, 4) < 0 || grow_column((void **)&c->dst_port, capacity, 4) < 0 ||
            grow_column((void **)&c->bin, capacity, 8) < 0 || grow_column((void **)&c->flows, capacity, 8) < 0 ||
            grow_column((void **)&c->packets, capacity, 8) < 0 || grow_column((void **)&c->bytes, capacity, 8) < 0 ||
            grow_column((void **)&c->rejected, capacity, 1) < 0 || grow_column((void **)&c->facing, capacity, 1) < 0)
            return -1;
        c->capacity = capacity;
    }
    size_t i = c->count++;
    c->src[i] = f->src;
    c->dst[i] = f->dst;
    c->protocol[i] = f->protocol;
    c->dst_port[i] = f->dst_port;
    c->bin[i] = f->bin;
    c->flows[i] = f->flows;
    c->packets[i] = f->packets;
    c->bytes[i] = f->bytes;
    c->rejected[i] = f->rejected;
    c->facing[i] = f->facing;
    return 0;
}

/* Every cached bin spilled to the columns, the cache emptied; 0, or -1 when out of memory. */
static int flows_flush(FlowColumns *c) {
    for (size_t i = 0; c->cache && i < FLOW_CACHE; i++) {
        if (!c->cache[i].flows) continue;
        if (flows_spill(c, &c->cache[i]) < 0) return -1;
        c->cache[i].flows = 0;
    }
    return 0;
}

static Pair *pair_slot(Table *t, const Pair *key, uint64_t hash) { return table_slot(t, key, hash, same_pair, fresh_pair); }

static Fact *fact_slot(Table *t, const Fact *key, uint64_t hash) {
    return table_slot(t, key, hash, same_fact_entry, fresh_fact);
}

static inline void add_sum(int64_t *sum, int64_t value) {
    if (value != NULL_INT64) *sum = *sum == NULL_INT64 ? value : *sum + value;
}

typedef struct {
    PyObject_HEAD
    unsigned char roles[256];
    Py_ssize_t fields;
    int64_t fine_bin, detect_bin, records, first, last; /* detect_bin 0: no flows table */
    uint64_t bin_magic, detect_magic; /* for the remainder by a bin without a division (Lemire's fastmod) */
    int ok_status; /* id of "OK" in the log-status dictionary, -1 until seen */
    int reject_action; /* id of "REJECT" in the action dictionary, -1 until seen */
    TextDict dicts[DICT_COUNT];
    TextDict facing; /* the internet-facing interface ids (never grows while reading) */
    Table pairs, facts;
    FlowColumns flows; /* with detect_bin only */
    int ready;
} Scanner;

/* One record's values; addresses as ids (-1 null), labels as ids (-1 null), numbers with NULL_* sentinels. */
typedef struct {
    int32_t src, dst, protocol;
    int8_t type, action, status;
    int64_t packets, bytes, start, end;
    int32_t dst_port; /* read with a detection bin only (else NULL_INT32) */
    uint8_t facing;   /* the record's interface is one of the scanner's internet-facing ones */
} Record;

/* start - start % size (magic: UINT64_MAX / size + 1): a 64-bit division per record costs more than the rest of its fact. */
static inline int64_t bin_of(int64_t start, int64_t size, uint64_t magic) {
    if (start == NULL_INT64) return NULL_INT64;
    if (start > UINT32_MAX || size > UINT32_MAX) return start - start % size;
    uint64_t low = magic * (uint32_t)start;
    return start - (int64_t)(((__uint128_t)low * (uint64_t)size) >> 64);
}

static Fact fact_key(const Scanner *self, const Record *r) {
    const uint8_t *codes = self->dicts[DICT_ADDRESS].codes;
    return (Fact){
        .bin = bin_of(r->start, self->fine_bin, self->bin_magic),
        .protocol = r->protocol, .status = r->status, .type = r->type, .action = r->action,
        .src_code = r->src >= 0 ? codes[r->src] : CODE_NULL, .dst_code = r->dst >= 0 ? codes[r->dst] : CODE_NULL,
    };
}

/* A record's two aggregate keys and their hashes, computed once: prefetched a few records ahead, used by record(). */
typedef struct {
    Fact fact;
    Pair pair;
    Flow flow;
    uint64_t fact_hash, pair_hash, flow_hash;
} Keys;

/* Whether a record goes into the flows table: detections on, a counted flow with a source and a start. */
static inline int counted(const Scanner *self, const Record *r) { return r->status < 0 || r->status == self->ok_status; }

static inline int detected(const Scanner *self, const Record *r) {
    return self->detect_bin && r->src >= 0 && r->start != NULL_INT64 && counted(self, r);
}

static void keys_of(const Scanner *self, const Record *r, Keys *k) {
    k->fact = fact_key(self, r);
    k->fact_hash = fact_hash(&k->fact);
    k->pair = (Pair){.src = r->src, .dst = r->dst};
    k->pair_hash = pair_hash(&k->pair);
    if (detected(self, r)) {
        k->flow = (Flow){.src = r->src, .dst = r->dst, .protocol = r->protocol, .dst_port = r->dst_port,
                         .bin = bin_of(r->start, self->detect_bin, self->detect_magic),
                         .rejected = self->reject_action >= 0 && r->action == self->reject_action, .facing = r->facing};
        k->flow_hash = flow_hash(&k->flow);
    }
}

static void prefetch_keys(const Scanner *self, const Record *r, const Keys *k) {
    __builtin_prefetch((Fact *)self->facts.slots + (k->fact_hash & self->facts.mask));
    __builtin_prefetch((Pair *)self->pairs.slots + (k->pair_hash & self->pairs.mask));
    if (detected(self, r)) __builtin_prefetch(&self->flows.cache[k->flow_hash & (FLOW_CACHE - 1)]);
}

static int record(Scanner *self, const Record *r, const Keys *k) {
    Fact *fact = fact_slot(&self->facts, &k->fact, k->fact_hash);
    if (!fact) return -1;
    fact->records++;
    add_sum(&fact->packets, r->packets);
    add_sum(&fact->bytes, r->bytes);
    if (counted(self, r)) {
        Pair *pair = pair_slot(&self->pairs, &k->pair, k->pair_hash);
        if (!pair) return -1;
        pair->flows++;
        add_sum(&pair->packets, r->packets);
        add_sum(&pair->bytes, r->bytes);
    }
    if (detected(self, r)) {
        Flow *flow = &self->flows.cache[k->flow_hash & (FLOW_CACHE - 1)];
        if (!flow->flows || !same_flow(flow, &k->flow)) {
            if (flow->flows && flows_spill(&self->flows, flow) < 0) return -1;
            *flow = k->flow;
            flow->packets = flow->bytes = NULL_INT64;
        }
        flow->flows++;
        add_sum(&flow->packets, r->packets);
        add_sum(&flow->bytes, r->bytes);
    }
    if (r->start != NULL_INT64 && (self->first == NULL_INT64 || r->start < self->first)) self->first = r->start;
    if (r->end != NULL_INT64 && (self->last == NULL_INT64 || r->end > self->last)) self->last = r->end;
    self->records++;
    return 0;
}

/* A text's id in one of the scanner's dictionaries; -1 out of memory, -2 past the dictionary's limit. */
static int64_t text_id(Scanner *self, int which, const char *s, size_t n, uint64_t h) {
    TextDict *d = &self->dicts[which];
    size_t before = d->count;
    int64_t id = dict_id_hashed(d, s, n, h, which == DICT_ADDRESS ? INT32_MAX : LABEL_LIMIT);
    if (id >= 0 && d->count != before) {
        if (which == DICT_ADDRESS) d->codes[id] = address_code(s, n);
        if (which == DICT_STATUS && n == 2 && s[0] == 'O' && s[1] == 'K') self->ok_status = (int)id;
        if (which == DICT_ACTION && n == 6 && memcmp(s, "REJECT", 6) == 0) self->reject_action = (int)id;
    }
    return id;
}

static void scanner_free(Scanner *self) {
    if (!self->ready) return;
    for (int i = 0; i < DICT_COUNT; i++) dict_free(&self->dicts[i]);
    dict_free(&self->facing);
    slots_free(self->pairs.slots, (self->pairs.mask + 1) * self->pairs.width);
    slots_free(self->facts.slots, (self->facts.mask + 1) * self->facts.width);
    flows_free(&self->flows);
    self->ready = 0;
}

static void scanner_dealloc(Scanner *self) {
    scanner_free(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The interface ids of `facing` (a sequence of str) into the scanner's facing set; 0, or -1 with an error set. */
static int add_facing(Scanner *self, PyObject *facing) {
    PyObject *items = PySequence_Fast(facing, "facing: a sequence of interface ids expected");
    if (!items) return -1;
    int status = 0;
    for (Py_ssize_t i = 0; status == 0 && i < PySequence_Fast_GET_SIZE(items); i++) {
        Py_ssize_t n;
        const char *text = PyUnicode_Check(PySequence_Fast_GET_ITEM(items, i))
                               ? PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(items, i), &n) : NULL;
        if (!text) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "facing: interface ids are str");
            status = -1;
        } else if (dict_id_hashed(&self->facing, text, (size_t)n, hash_text(text, (size_t)n), INT32_MAX) < 0) {
            PyErr_NoMemory();
            status = -1;
        }
    }
    Py_DECREF(items);
    return status;
}

static int scanner_init(Scanner *self, PyObject *args, PyObject *kwds) {
    static char *keywords[] = {"roles", "fine_bin", "detect_bin", "facing", NULL};
    Py_buffer roles;
    long long fine_bin, detect_bin = 0;
    PyObject *facing = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*L|LO", keywords, &roles, &fine_bin, &detect_bin, &facing)) return -1;
    int bad = roles.len < 1 || roles.len > 255;
    for (Py_ssize_t i = 0; !bad && i < roles.len; i++) bad = ((unsigned char *)roles.buf)[i] >= ROLE_COUNT;
    if (!bad) {
        memcpy(self->roles, roles.buf, roles.len);
        self->fields = roles.len;
    }
    PyBuffer_Release(&roles);
    if (bad || fine_bin < 1 || detect_bin < 0) {
        PyErr_SetString(PyExc_ValueError, bad ? "roles: 1 to 255 role codes expected"
                                              : fine_bin < 1 ? "fine_bin: a positive number of seconds"
                                                             : "detect_bin: 0 (no detections) or a positive number of seconds");
        return -1;
    }
    scanner_free(self);
    self->fine_bin = fine_bin;
    self->bin_magic = UINT64_MAX / (uint64_t)fine_bin + 1;
    self->detect_bin = detect_bin;
    self->detect_magic = detect_bin ? UINT64_MAX / (uint64_t)detect_bin + 1 : 0;
    self->records = 0;
    self->first = self->last = NULL_INT64;
    self->ok_status = self->reject_action = -1;
    int failed = (table_init(&self->pairs, sizeof(Pair)) < 0) | (table_init(&self->facts, sizeof(Fact)) < 0) |
                 (dict_init(&self->facing) < 0);
    memset(&self->flows, 0, sizeof self->flows);
    if (detect_bin) failed |= (self->flows.cache = calloc(FLOW_CACHE, sizeof(Flow))) == NULL;
    for (int i = 0; i < DICT_COUNT; i++) failed |= dict_init(&self->dicts[i]) < 0;
    self->ready = 1;
    if (failed) {
        scanner_free(self);
        PyErr_NoMemory();
        return -1;
    }
    if (facing && add_facing(self, facing) < 0) {
        scanner_free(self);
        return -1;
    }
    return 0;
}

/* Digits only (the row path's ^[0-9]+$), within the column type's range. */
static int parse_uint(const char *s, size_t n, uint64_t max, uint64_t *value) {
    uint64_t v = 0;
    if (n == 0 || n > 19) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)s[i] - '0';
        if (c > 9) return -1;
        v = v * 10 + c;
    }
    if (v > max) return -1;
    *value = v;
    return 0;
}

/* The first byte at or after s that is not printable ASCII other than space (a field's end).
 * Eight bytes at a time: a byte b is flagged when b < 0x21 (the borrow of b - 0x21 sets its high
 * bit, and b's own high bit is clear) or b > 0x7E (b + 1 or b has the high bit); bytes before the
 * first flagged one are printable, so they neither borrow nor carry, and the lowest flag is exact. */
static inline const char *field_end(const char *s, const char *end) {
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    while (end - s >= 8) {
        uint64_t x;
        memcpy(&x, s, 8);
        uint64_t stop = (((x - 0x21 * ones) & ~x) | (x + ones) | x) & highs;
        if (stop) return s + (__builtin_ctzll(stop) >> 3);
        s += 8;
    }
    while (s < end && (unsigned char)(*s - 0x21) < 0x5E) s++;
    return s;
}

/* A line goes through four stages, GAP lines apart: parse (and prefetch its address slots), peek
 * (prefetch the text a slot points to), resolve (address ids; prefetch the pair and fact slots),
 * record. Each prefetch then has a few lines' work to land before the next stage reads it: the
 * dictionaries and the pair table are far larger than the caches. */
typedef struct {
    Record record;
    Keys keys;
    const char *text[2];
    size_t length[2];
    uint64_t hash[2];
} Line;

typedef struct {
    size_t line; /* 1-based line of the block where parsing stopped */
    const char *reason;
    int64_t *odd; /* (offset, length) in the block of each line not taken, for the row path */
    size_t odd_count, odd_capacity;
} Parse;

/* Keep a line the reader does not take; 0, or -1 when out of memory. */
static int odd_line(Parse *p, const char *block, const char *line, const char *end) {
    if (p->odd_count == p->odd_capacity) {
        size_t capacity = p->odd_capacity ? 2 * p->odd_capacity : 64;
        int64_t *odd = realloc(p->odd, capacity * 2 * sizeof *odd);
        if (!odd) return -1;
        p->odd = odd;
        p->odd_capacity = capacity;
    }
    p->odd[2 * p->odd_count] = line - block;
    p->odd[2 * p->odd_count + 1] = end - line;
    p->odd_count++;
    return 0;
}

static void peek_line(const Scanner *self, const Line *line) {
    const TextDict *d = &self->dicts[DICT_ADDRESS];
    for (int side = 0; side < 2; side++) {
        if (!line->text[side]) continue;
        const Slot *e = &d->slots[line->hash[side] & d->mask];
        if (e->id && e->tag == (uint32_t)(line->hash[side] >> 32)) __builtin_prefetch(d->data + e->offset);
    }
}

static int resolve_line(Scanner *self, Line *line, Parse *p) {
    int32_t ids[2] = {-1, -1};
    for (int side = 0; side < 2; side++) {
        if (!line->text[side]) continue;
        int64_t id = text_id(self, DICT_ADDRESS, line->text[side], line->length[side], line->hash[side]);
        if (id < 0) {
            p->reason = id == -1 ? "out of memory" : "too many distinct addresses";
            return -1;
        }
        ids[side] = (int32_t)id;
    }
    line->record.src = ids[0];
    line->record.dst = ids[1];
    keys_of(self, &line->record, &line->keys);
    prefetch_keys(self, &line->record, &line->keys);
    return 0;
}

static int record_line(Scanner *self, const Line *line, Parse *p) {
    if (record(self, &line->record, &line->keys) == 0) return 0;
    p->reason = "out of memory";
    return -1;
}

/* The label's id; the previous line's label is tried first (a column holds a few values). */
static int64_t label_id(Scanner *self, int which, const char *s, size_t n, int64_t *last) {
    TextDict *d = &self->dicts[which];
    if (*last >= 0 && d->offsets[*last + 1] - d->offsets[*last] == n && same_text(d->data + d->offsets[*last], s, n))
        return *last;
    int64_t id = text_id(self, which, s, n, hash_text(s, n));
    if (id >= 0) *last = id;
    return id;
}

/* Parse and record whole lines in [s, end); a line the reader does not take is kept in p->odd for
 * the row path. Returns 0, or -1 with p->reason and p->line set (out of memory, too many labels). */
static int parse_block(Scanner *self, const char *s, const char *end, Parse *p) {
    const char *block = s;
    const unsigned char *roles = self->roles;
    Py_ssize_t fields = self->fields;
    TextDict *addresses = &self->dicts[DICT_ADDRESS];
    int64_t last_label[3] = {-1, -1, -1};
    enum { GAP = 2, RING = 8 }; /* lines between stages; a ring that holds the 3 * GAP + 1 in flight */
    Line ring[RING];
    size_t parsed = 0; /* line k is ring[k % RING] */
    while (s < end) {
        p->line++;
        if (*s == '\n') { /* empty lines are skipped, as by the row path */
            s++;
            continue;
        }
        const char *address[ROLE_COUNT] = {0};
        size_t address_length[ROLE_COUNT] = {0};
        Line *current = &ring[parsed % RING];
        Record *r = &current->record;
        *r = (Record){.protocol = NULL_INT32, .type = -1, .action = -1, .status = -1, .packets = NULL_INT64,
                      .bytes = NULL_INT64, .start = NULL_INT64, .end = NULL_INT64, .dst_port = NULL_INT32};
        const char *line = s, *odd = NULL; /* odd: why the row path gets this line instead */
        for (Py_ssize_t f = 0; f < fields && !odd; f++) {
            const char *start = s;
            s = field_end(s, end);
            size_t n = (size_t)(s - start);
            char stop = *s;
            int last = f == fields - 1;
            if (n == 0 || (last ? stop != '\n' : stop != ' ')) {
                odd = n == 0 ? "empty field" : (stop == ' ' || stop == '\n') ? "wrong field count"
                                                                          : "byte outside printable ASCII";
                break;
            }
            s++;
            unsigned role = roles[f];
            if (role == SKIP_TEXT || (n == 1 && *start == '-')) continue;
            uint64_t v;
            if (role == CHECK_INT32 || role == PROTOCOL || role == DST_PORT) {
                if (parse_uint(start, n, INT32_MAX, &v) < 0) odd = "not an int32";
                else if (role == PROTOCOL) r->protocol = (int32_t)v;
                else if (role == DST_PORT) r->dst_port = (int32_t)v;
            } else if (role == INTERFACE) {
                r->facing = (uint8_t)dict_has(&self->facing, start, n);
            } else if (role == CHECK_INT64 || (role >= PACKETS && role <= END)) {
                if (parse_uint(start, n, INT64_MAX, &v) < 0) odd = "not an int64";
                else if (role == PACKETS) r->packets = (int64_t)v;
                else if (role == BYTES) r->bytes = (int64_t)v;
                else if (role == START) r->start = (int64_t)v;
                else if (role == END) r->end = (int64_t)v;
            } else if (role <= PKT_DST) { /* resolved with the line: pkt-* win over the ENI's addresses */
                address[role] = start;
                address_length[role] = n;
            } else { /* TYPE, ACTION, STATUS */
                int64_t id = label_id(self, DICT_TYPE + (int)(role - TYPE), start, n, &last_label[role - TYPE]);
                if (id < 0) {
                    p->reason = id == -1 ? "out of memory" : "too many distinct labels";
                    return -1;
                }
                if (role == TYPE) r->type = (int8_t)id;
                else if (role == ACTION) r->action = (int8_t)id;
                else r->status = (int8_t)id;
            }
        }
        if (odd) {
            const char *eol = memchr(line, '\n', (size_t)(end - line)); /* the block ends with one */
            if (odd_line(p, block, line, eol) < 0) {
                p->reason = "out of memory";
                return -1;
            }
            s = eol + 1;
            continue;
        }
        for (int side = 0; side < 2; side++) {
            int role = address[PKT_SRC + side] ? PKT_SRC + side : SRC + side;
            current->text[side] = address[role];
            current->length[side] = address_length[role];
            if (address[role]) {
                current->hash[side] = hash_text(address[role], address_length[role]);
                __builtin_prefetch(&addresses->slots[current->hash[side] & addresses->mask]);
            }
        }
        parsed++;
        if (parsed > GAP) peek_line(self, &ring[(parsed - 1 - GAP) % RING]);
        if (parsed > 2 * GAP && resolve_line(self, &ring[(parsed - 1 - 2 * GAP) % RING], p) < 0) return -1;
        if (parsed > 3 * GAP && record_line(self, &ring[(parsed - 1 - 3 * GAP) % RING], p) < 0) return -1;
    }
    /* drain: lines not yet recorded, in order; those not yet resolved are resolved first */
    for (size_t k = parsed > 3 * GAP ? parsed - 3 * GAP : 0; k < parsed; k++) {
        if (k + 2 * GAP >= parsed && resolve_line(self, &ring[k % RING], p) < 0) return -1;
        if (record_line(self, &ring[k % RING], p) < 0) return -1;
    }
    return 0;
}

static PyObject *scanner_feed(Scanner *self, PyObject *args) {
    Py_buffer block;
    if (!PyArg_ParseTuple(args, "y*", &block)) return NULL;
    const char *s = block.buf, *end = s + block.len;
    if (block.len > 0 && end[-1] != '\n') {
        PyBuffer_Release(&block);
        PyErr_SetString(PyExc_ValueError, "a block must end with a newline");
        return NULL;
    }
    Parse p = {0};
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = parse_block(self, s, end, &p);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&block);
    PyObject *out = NULL;
    if (status < 0)
        PyErr_Format(PyExc_ValueError, "line %zu of the block: %s", p.line, p.reason);
    else
        out = PyBytes_FromStringAndSize((const char *)p.odd, (Py_ssize_t)(p.odd_count * 2 * sizeof *p.odd));
    free(p.odd);
    return out;
}

/* Records given as columns (the Parquet path): ids, label ids and numbers as in Record, one buffer each. */
static PyObject *scanner_add(Scanner *self, PyObject *args) {
    Py_buffer b[10];
    static const Py_ssize_t width[10] = {4, 4, 1, 1, 1, 4, 8, 8, 8, 8};
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*y*y*", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &b[6], &b[7],
                          &b[8], &b[9]))
        return NULL;
    if (self->detect_bin) {
        for (int c = 0; c < 10; c++) PyBuffer_Release(&b[c]);
        PyErr_SetString(PyExc_ValueError, "add: columns carry no destination port; detections read text only");
        return NULL;
    }
    Py_ssize_t n = b[0].len / 4;
    int bad = 0, status = 0;
    for (int c = 0; c < 10; c++) bad |= b[c].len != n * width[c];
    for (int c = 2; !bad && c < 5; c++)
        for (Py_ssize_t i = 0; !bad && i < n; i++) bad = ((int8_t *)b[c].buf)[i] >= (int64_t)self->dicts[c - 1].count;
    for (int c = 0; !bad && c < 2; c++)
        for (Py_ssize_t i = 0; !bad && i < n; i++) bad = ((int32_t *)b[c].buf)[i] >= (int64_t)self->dicts[DICT_ADDRESS].count;
    if (!bad) {
        Py_BEGIN_ALLOW_THREADS
        enum { AHEAD = 8, RING = 16 }; /* rows between a slot's prefetch and its use */
        Record rows[RING];
        Keys keys[RING];
        for (Py_ssize_t j = 0; j < n + AHEAD && status == 0; j++) {
            if (j < n) { /* row j: its keys, prefetched */
                Record *r = &rows[j % RING];
                *r = (Record){((int32_t *)b[0].buf)[j], ((int32_t *)b[1].buf)[j], ((int32_t *)b[5].buf)[j],
                              ((int8_t *)b[2].buf)[j],  ((int8_t *)b[3].buf)[j],  ((int8_t *)b[4].buf)[j],
                              ((int64_t *)b[6].buf)[j], ((int64_t *)b[7].buf)[j], ((int64_t *)b[8].buf)[j],
                              ((int64_t *)b[9].buf)[j], NULL_INT32, 0};
                keys_of(self, r, &keys[j % RING]);
                prefetch_keys(self, r, &keys[j % RING]);
            }
            if (j >= AHEAD) status = record(self, &rows[(j - AHEAD) % RING], &keys[(j - AHEAD) % RING]);
        }
        Py_END_ALLOW_THREADS
    }
    for (int c = 0; c < 10; c++) PyBuffer_Release(&b[c]);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "add: columns of unequal length or ids not in the dictionaries");
        return NULL;
    }
    if (status < 0) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* The ids in dictionary `which` of `count` texts laid out as Arrow strings (text i is
 * data[offsets[i], offsets[i + 1])), added if new: int32 bytes, or NULL with ValueError set. */
static PyObject *ids_of_texts(Scanner *self, int which, const uint32_t *offsets, const char *data, size_t count) {
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)count * 4);
    if (!out) return NULL;
    int32_t *ids = (int32_t *)PyBytes_AS_STRING(out);
    int64_t id = 0;
    Py_BEGIN_ALLOW_THREADS
    for (size_t i = 0; i < count && id >= 0; i++) {
        const char *text = data + offsets[i];
        size_t n = offsets[i + 1] - offsets[i];
        id = text_id(self, which, text, n, hash_text(text, n));
        ids[i] = (int32_t)id;
    }
    Py_END_ALLOW_THREADS
    if (id < 0) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_ValueError, id == -1 ? "out of memory" : "too many distinct values");
        return NULL;
    }
    return out;
}

/* Ids of the strings of an Arrow string array (int32 offsets already sliced to it) in dictionary `which`. */
static PyObject *scanner_encode(Scanner *self, PyObject *args) {
    Py_buffer offsets, data;
    Py_ssize_t count;
    int which;
    if (!PyArg_ParseTuple(args, "iy*y*n", &which, &offsets, &data, &count)) return NULL;
    PyObject *out = NULL;
    const int32_t *at = offsets.buf;
    int bad = which < 0 || which >= DICT_COUNT || count < 0 || offsets.len < (count + 1) * 4;
    for (Py_ssize_t i = 0; !bad && i < count; i++) bad = at[i] < 0 || at[i] > at[i + 1] || at[i + 1] > data.len;
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "encode: a dictionary 0-3 and offsets of count strings of data expected");
    } else {
        out = ids_of_texts(self, which, (const uint32_t *)at, data.buf, (size_t)count);
    }
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&data);
    return out;
}

/* Another scanner's addresses into this one's dictionary: their ids here (int32 per id there). */
static PyObject *scanner_adopt_addresses(Scanner *self, PyObject *args) {
    Scanner *other;
    if (!PyArg_ParseTuple(args, "O!", Py_TYPE(self), &other)) return NULL;
    if (other == self) {
        PyErr_SetString(PyExc_ValueError, "adopt_addresses: another scanner expected");
        return NULL;
    }
    const TextDict *d = &other->dicts[DICT_ADDRESS];
    return ids_of_texts(self, DICT_ADDRESS, d->offsets, d->data, d->count);
}

/* Add another scanner's pairs, its address ids renumbered by remap (int32 per id), to this one's. */
static PyObject *scanner_absorb(Scanner *self, PyObject *args) {
    Scanner *other;
    Py_buffer remap;
    if (!PyArg_ParseTuple(args, "O!y*", Py_TYPE(self), &other, &remap)) return NULL;
    const int32_t *to = remap.buf;
    Py_ssize_t known = remap.len / 4;
    const Pair *slots = other->pairs.slots;
    int bad = other == self, status = 0;
    for (size_t i = 0; !bad && i <= other->pairs.mask; i++)
        bad = slots[i].flows && (slots[i].src >= known || slots[i].dst >= known);
    if (!bad) {
        Py_BEGIN_ALLOW_THREADS
        for (size_t i = 0; i <= other->pairs.mask && status == 0; i++) {
            if (!slots[i].flows) continue;
            Pair key = {.src = slots[i].src < 0 ? -1 : to[slots[i].src], .dst = slots[i].dst < 0 ? -1 : to[slots[i].dst]};
            Pair *pair = pair_slot(&self->pairs, &key, pair_hash(&key));
            if (!pair) {
                status = -1;
                break;
            }
            pair->flows += slots[i].flows;
            add_sum(&pair->packets, slots[i].packets);
            add_sum(&pair->bytes, slots[i].bytes);
        }
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&remap);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "absorb: another scanner and an id for each of its addresses expected");
        return NULL;
    }
    if (status < 0) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyObject *column_of(const Table *t, size_t field_offset, size_t size) {
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(t->count * size));
    if (!out) return NULL;
    char *to = PyBytes_AS_STRING(out);
    const char *slots = t->slots;
    for (size_t i = 0; i <= t->mask; i++) {
        const char *entry = slots + i * t->width;
        if (!used(t, entry)) continue;
        memcpy(to, entry + field_offset, size);
        to += size;
    }
    return out;
}

#define COLUMN(table, type, field) column_of(table, offsetof(type, field), sizeof(((type *)0)->field))

static PyObject *columns_tuple(PyObject **columns, int count, size_t rows) {
    PyObject *out = NULL;
    int ok = 1;
    for (int c = 0; c < count; c++) ok &= columns[c] != NULL;
    if (ok && (out = PyTuple_New(count + 1)) != NULL) {
        PyTuple_SET_ITEM(out, 0, PyLong_FromSize_t(rows));
        for (int c = 0; c < count; c++) PyTuple_SET_ITEM(out, c + 1, columns[c]);
        return out;
    }
    for (int c = 0; c < count; c++) Py_XDECREF(columns[c]);
    return NULL;
}

static PyObject *scanner_pairs(Scanner *self, PyObject *Py_UNUSED(ignored)) {
    const Table *t = &self->pairs;
    Py_ssize_t n = (Py_ssize_t)t->count;
    PyObject *c[5] = {PyBytes_FromStringAndSize(NULL, n * 4), PyBytes_FromStringAndSize(NULL, n * 4),
                      PyBytes_FromStringAndSize(NULL, n * 8), PyBytes_FromStringAndSize(NULL, n * 8),
                      PyBytes_FromStringAndSize(NULL, n * 8)};
    if (c[0] && c[1] && c[2] && c[3] && c[4]) { /* one pass over the table for every column */
        int32_t *src = (int32_t *)PyBytes_AS_STRING(c[0]), *dst = (int32_t *)PyBytes_AS_STRING(c[1]);
        int64_t *flows = (int64_t *)PyBytes_AS_STRING(c[2]), *packets = (int64_t *)PyBytes_AS_STRING(c[3]);
        int64_t *bytes = (int64_t *)PyBytes_AS_STRING(c[4]);
        const Pair *slots = t->slots;
        for (size_t i = 0, k = 0; i <= t->mask; i++) {
            if (!slots[i].flows) continue;
            src[k] = slots[i].src;
            dst[k] = slots[i].dst;
            flows[k] = slots[i].flows;
            packets[k] = slots[i].packets;
            bytes[k++] = slots[i].bytes;
        }
    }
    return columns_tuple(c, 5, t->count);
}

static PyObject *scanner_facts(Scanner *self, PyObject *Py_UNUSED(ignored)) {
    const Table *t = &self->facts;
    PyObject *c[10] = {COLUMN(t, Fact, status), COLUMN(t, Fact, type), COLUMN(t, Fact, action),
                       COLUMN(t, Fact, src_code), COLUMN(t, Fact, dst_code), COLUMN(t, Fact, protocol),
                       COLUMN(t, Fact, bin), COLUMN(t, Fact, records), COLUMN(t, Fact, packets), COLUMN(t, Fact, bytes)};
    return columns_tuple(c, 10, t->count);
}

static PyObject *scanner_flows(Scanner *self, PyObject *Py_UNUSED(ignored)) {
    FlowColumns *f = &self->flows;
    if (flows_flush(f) < 0) return PyErr_NoMemory();
    Py_ssize_t n = (Py_ssize_t)f->count;
    PyObject *c[10] = {
        PyBytes_FromStringAndSize((const char *)f->src, n * 4), PyBytes_FromStringAndSize((const char *)f->dst, n * 4),
        PyBytes_FromStringAndSize((const char *)f->protocol, n * 4),
        PyBytes_FromStringAndSize((const char *)f->dst_port, n * 4), PyBytes_FromStringAndSize((const char *)f->bin, n * 8),
        PyBytes_FromStringAndSize((const char *)f->rejected, n), PyBytes_FromStringAndSize((const char *)f->facing, n),
        PyBytes_FromStringAndSize((const char *)f->flows, n * 8), PyBytes_FromStringAndSize((const char *)f->packets, n * 8),
        PyBytes_FromStringAndSize((const char *)f->bytes, n * 8)};
    return columns_tuple(c, 10, f->count);
}

static PyObject *optional(int64_t value) { return value == NULL_INT64 ? Py_NewRef(Py_None) : PyLong_FromLongLong(value); }

static PyObject *scanner_summary(Scanner *self, PyObject *Py_UNUSED(ignored)) {
    PyObject *first = optional(self->first), *last = optional(self->last);
    PyObject *out = first && last ? Py_BuildValue("LOO", (long long)self->records, first, last) : NULL;
    Py_XDECREF(first);
    Py_XDECREF(last);
    return out;
}

static PyObject *scanner_texts(Scanner *self, PyObject *args) {
    int which;
    if (!PyArg_ParseTuple(args, "i", &which)) return NULL;
    if (which < 0 || which >= DICT_COUNT) {
        PyErr_SetString(PyExc_ValueError, "texts: 0 (addresses), 1 (type), 2 (action) or 3 (log-status)");
        return NULL;
    }
    TextDict *d = &self->dicts[which];
    PyObject *offsets = PyBytes_FromStringAndSize((const char *)d->offsets, (Py_ssize_t)(d->count + 1) * 4);
    PyObject *data = PyBytes_FromStringAndSize(d->data, (Py_ssize_t)d->data_size);
    PyObject *out = (offsets && data) ? Py_BuildValue("nOO", (Py_ssize_t)d->count, offsets, data) : NULL;
    Py_XDECREF(offsets);
    Py_XDECREF(data);
    return out;
}

static PyObject *scanner_codes(Scanner *self, PyObject *Py_UNUSED(ignored)) {
    TextDict *d = &self->dicts[DICT_ADDRESS];
    return PyBytes_FromStringAndSize((const char *)d->codes, (Py_ssize_t)d->count);
}

static PyMethodDef scanner_methods[] = {
    {"feed", (PyCFunction)scanner_feed, METH_VARARGS,
     "feed(block) -> int64 (offset, length) of each line not taken: record every other line of a block"},
    {"add", (PyCFunction)scanner_add, METH_VARARGS,
     "add(src, dst, type, action, status, protocol, packets, bytes, start, end): record columns"},
    {"encode", (PyCFunction)scanner_encode, METH_VARARGS, "encode(which, offsets, data, count) -> int32 ids"},
    {"adopt_addresses", (PyCFunction)scanner_adopt_addresses, METH_VARARGS,
     "adopt_addresses(other) -> int32 id here of each of other's addresses"},
    {"absorb", (PyCFunction)scanner_absorb, METH_VARARGS, "absorb(other, remap): add other's pairs, ids renumbered"},
    {"pairs", (PyCFunction)scanner_pairs, METH_NOARGS, "pairs() -> (n, src, dst, flows, packets, bytes)"},
    {"facts", (PyCFunction)scanner_facts, METH_NOARGS,
     "facts() -> (n, status, type, action, src_code, dst_code, protocol, bin, records, packets, bytes)"},
    {"flows", (PyCFunction)scanner_flows, METH_NOARGS,
     "flows() -> (n, src, dst, protocol, dst_port, bin, rejected, facing, flows, packets, bytes): the detection bins"},
    {"summary", (PyCFunction)scanner_summary, METH_NOARGS, "summary() -> (records, first start, last end)"},
    {"texts", (PyCFunction)scanner_texts, METH_VARARGS, "texts(which) -> (count, int32 offsets, data)"},
    {"codes", (PyCFunction)scanner_codes, METH_NOARGS, "codes() -> one uint8 code per address id"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "v6ops.flows._linescan.Scanner",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Flow log records of one layout -> the facts and pairs aggregates.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)scanner_init,
    .tp_dealloc = (destructor)scanner_dealloc,
    .tp_methods = scanner_methods,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, .m_name = "_linescan", .m_size = -1};

PyMODINIT_FUNC PyInit__linescan(void) {
    if (PyType_Ready(&ScannerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&ScannerType);
    if (PyModule_AddObject(m, "Scanner", (PyObject *)&ScannerType) < 0) {
        Py_DECREF(&ScannerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
