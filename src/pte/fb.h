/*
 * A small, careful FlatBuffers reader private to the pte module (the .pte and
 * .ptd walkers use it). It reads from one region [0, len) of bytes in memory
 * and checks every uoffset, vtable, vector length and string against that
 * region before use (pte-format.md section 1.1). Integers are assembled from
 * bytes (little-endian, no alignment assumed).
 *
 * Errors are sticky: the first failure records a message in `err` and every
 * later call fails at once, so a walker can chain calls and look once.
 * A work budget (tables visited, vector elements examined) bounds the time a
 * hostile file can cost; when it runs out the reader fails with a message
 * that says so.
 *
 * Vectors of 8-byte elements that are not 8-byte aligned are read all the
 * same (every load is bytewise) and only counted in n_misaligned, so the
 * walkers can warn: a strict FlatBuffers verifier refuses them, the runtime
 * does not.
 */
#ifndef PF_PTE_FB_H
#define PF_PTE_FB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* FlatBuffers' own verifier default: at most one million tables. */
#define PF_FB_MAX_TABLES 1000000u
/* Vector elements the walkers may examine in total (index checks, sums, bytes of names they compare). */
#define PF_FB_MAX_ELEMENTS 64000000u
/* FlatBuffers cannot address 2 GiB or more. */
#define PF_FB_MAX_REGION 0x7fffffffu

typedef struct pf_fb {
	const uint8_t *data;
	uint64_t len;                /* the region: [0, len) */
	uint64_t extent;             /* one past the highest byte read so far */
	uint64_t n_tables;           /* tables visited (work budget) */
	uint64_t n_elements;         /* vector elements examined (work budget) */
	uint64_t n_misaligned;       /* vectors of 8-byte elements not 8-byte aligned */
	uint64_t misaligned_at;      /* the first one: its position */
	const char *misaligned_what; /* and its schema name */
	bool failed;
	char err[256];
} pf_fb;

typedef struct pf_fb_table {
	uint64_t pos;         /* table start */
	uint64_t vt;          /* vtable start */
	uint16_t vt_size;     /* bytes of the vtable including its 4-byte head */
	uint16_t inline_size; /* bytes of the table's inline part */
	const char *what;     /* schema name for messages, e.g. "ExecutionPlan" */
} pf_fb_table;

typedef struct pf_fb_vec {
	uint64_t pos; /* first element */
	uint32_t n;   /* element count (0 when absent) */
	unsigned width;
	bool present;
} pf_fb_vec;

void pf_fb_init(pf_fb *fb, const uint8_t *data, uint64_t len);
/* Record a failure (first one wins); returns false. */
bool pf_fb_fail(pf_fb *fb, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Unchecked little-endian loads from memory the caller has bounds-checked. */
uint16_t pf_fb_le16(const uint8_t *p);
uint32_t pf_fb_le32(const uint8_t *p);
uint64_t pf_fb_le64(const uint8_t *p);

/* The root table (bytes 0..3 of the region). */
bool pf_fb_root(pf_fb *fb, pf_fb_table *out, const char *what);
/* Validate the table at `pos` and its vtable; counts against the budget. */
bool pf_fb_table_at(pf_fb *fb, uint64_t pos, pf_fb_table *out, const char *what);
/* Number of field entries in the table's vtable. */
unsigned pf_fb_n_slots(const pf_fb_table *t);

/*
 * Scalars: the default when the field is absent; on a malformed entry the
 * reader fails and the default is returned.
 */
uint8_t pf_fb_u8(pf_fb *fb, const pf_fb_table *t, unsigned slot, uint8_t def);
uint32_t pf_fb_u32(pf_fb *fb, const pf_fb_table *t, unsigned slot, uint32_t def);
int32_t pf_fb_i32(pf_fb *fb, const pf_fb_table *t, unsigned slot, int32_t def);
uint64_t pf_fb_u64(pf_fb *fb, const pf_fb_table *t, unsigned slot, uint64_t def);
/* true when the slot has a (non-zero) vtable entry. */
bool pf_fb_has(pf_fb *fb, const pf_fb_table *t, unsigned slot);

/* Sub-table reference: false when absent or on failure (check fb->failed). */
bool pf_fb_subtable(pf_fb *fb, const pf_fb_table *t, unsigned slot, pf_fb_table *out, const char *what);
/* Vector of `width`-byte elements (1, 2, 4 or 8; 4 for tables and strings). Absent: n = 0, present = false. */
bool pf_fb_vector(pf_fb *fb, const pf_fb_table *t, unsigned slot, unsigned width, pf_fb_vec *out, const char *what);
/*
 * true when the slot holds a reference to a well-formed vector of references
 * (tables or strings) whose first elements are valid forward offsets. Never
 * records a failure for the target (only for a malformed vtable entry): for
 * guessing a layout (the legacy .ptd test of ptd.c).
 */
bool pf_fb_probe_ref_vector(pf_fb *fb, const pf_fb_table *t, unsigned slot);
/* Element i of a vector of tables. */
bool pf_fb_vec_table(pf_fb *fb, const pf_fb_vec *v, uint32_t i, pf_fb_table *out, const char *what);
/* Elements of scalar vectors (i < v->n is the caller's duty); they count against the budget. */
int32_t pf_fb_vec_i32(pf_fb *fb, const pf_fb_vec *v, uint32_t i);
uint64_t pf_fb_vec_u64(pf_fb *fb, const pf_fb_vec *v, uint32_t i);
/* Reserve `n` element examinations; false (and failure) when the budget is spent. */
bool pf_fb_spend(pf_fb *fb, uint64_t n);

/*
 * String field: *out points into the region (NUL-terminated there), *len its
 * length. false when absent or on failure.
 */
bool pf_fb_string(pf_fb *fb, const pf_fb_table *t, unsigned slot, const char **out, uint32_t *len, const char *what);

#endif
