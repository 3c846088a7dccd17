/*
 * A tiny FlatBuffers writer for the tests of the .pte/.ptd reader, written
 * independently of it (no code of src/pte/), so hostile programs can be built
 * field by field: every table has its own vtable just before it and 8 inline
 * bytes per slot; a field is present once it is set. Objects are appended in
 * order and a reference may only point forward (as FlatBuffers requires), so
 * build a parent first and its children after it.
 *
 * Shared by tests/unit/pte and tests/unit/verify (which write files to disk).
 */
#ifndef PF_TEST_FBB_H
#define PF_TEST_FBB_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct fbb {
	uint8_t *d;
	size_t len, cap;
} fbb;

static inline void fbb_put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void fbb_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void fbb_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t fbb_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* n zeroed bytes at a position p with p % align == skew; returns p. */
static inline size_t fbb_alloc_skew(fbb *b, size_t n, size_t align, size_t skew)
{
	size_t pos = b->len;
	while (pos % align != skew)
		pos++;
	if (pos + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < pos + n)
			cap *= 2;
		b->d = realloc(b->d, cap);
		cr_assert_not_null(b->d);
		memset(b->d + b->cap, 0, cap - b->cap);
		b->cap = cap;
	}
	b->len = pos + n;
	return pos;
}

static inline size_t fbb_alloc(fbb *b, size_t n, size_t align)
{
	return fbb_alloc_skew(b, n, align, 0);
}

/* Root offset and identifier, then `header` zero bytes (an eh00 or FH01 header the caller fills). */
static inline void fbb_init(fbb *b, const char *ident, size_t header)
{
	memset(b, 0, sizeof(*b));
	fbb_alloc(b, 8 + header, 8);
	memcpy(b->d + 4, ident, 4);
}

static inline void fbb_free(fbb *b)
{
	free(b->d);
	memset(b, 0, sizeof(*b));
}

/* A table with n_slots slots, all absent; fields at table + 4 + 8 * slot (8-aligned). */
static inline size_t fbb_table(fbb *b, unsigned n_slots)
{
	size_t vt = fbb_alloc(b, 4 + 2 * (size_t)n_slots, 2), t;
	fbb_put16(b->d + vt, 4 + 2 * n_slots);
	fbb_put16(b->d + vt + 2, 4 + 8 * n_slots);
	t = fbb_alloc_skew(b, 4 + 8 * (size_t)n_slots, 8, 4);
	fbb_put32(b->d + t, (uint32_t)(t - vt));
	return t;
}

/* Mark the slot present; returns the position of its bytes. */
static inline size_t fbb_field(fbb *b, size_t t, unsigned slot)
{
	size_t vt = t - (size_t)(int32_t)fbb_get32(b->d + t);
	cr_assert_lt(4 + 2 * slot, (unsigned)(b->d[vt] | b->d[vt + 1] << 8), "slot %u past the vtable", slot);
	fbb_put16(b->d + vt + 4 + 2 * slot, 4 + 8 * slot);
	return t + 4 + 8 * slot;
}

/* Make the slot absent again (its bytes stay, unreferenced). */
static inline void fbb_unset(fbb *b, size_t t, unsigned slot)
{
	size_t vt = t - (size_t)(int32_t)fbb_get32(b->d + t);
	fbb_put16(b->d + vt + 4 + 2 * slot, 0);
}

static inline void fbb_u8(fbb *b, size_t t, unsigned slot, uint8_t v)
{
	b->d[fbb_field(b, t, slot)] = v;
}

static inline void fbb_u32(fbb *b, size_t t, unsigned slot, uint32_t v)
{
	fbb_put32(b->d + fbb_field(b, t, slot), v);
}

static inline void fbb_u64(fbb *b, size_t t, unsigned slot, uint64_t v)
{
	fbb_put64(b->d + fbb_field(b, t, slot), v);
}

/* A uoffset at `at` to `target` (which must lie after it). */
static inline void fbb_point(fbb *b, size_t at, size_t target)
{
	cr_assert_gt(target, at, "references must point forward");
	fbb_put32(b->d + at, (uint32_t)(target - at));
}

static inline void fbb_ref(fbb *b, size_t t, unsigned slot, size_t target)
{
	fbb_point(b, fbb_field(b, t, slot), target);
}

/* A vector of n elements of `width` bytes; returns the position of its count (elements follow). */
static inline size_t fbb_vec_skew(fbb *b, uint32_t n, unsigned width, bool misalign)
{
	size_t align = width == 8 ? 8 : 4, skew = (align - 4 + (misalign ? 4 : 0)) % align;
	size_t v = fbb_alloc_skew(b, 4 + (size_t)n * width, align, skew);
	fbb_put32(b->d + v, n);
	return v;
}

static inline size_t fbb_vec(fbb *b, uint32_t n, unsigned width)
{
	return fbb_vec_skew(b, n, width, false);
}

/* Element i of a vector of tables or strings points to target. */
static inline void fbb_vec_ref(fbb *b, size_t v, uint32_t i, size_t target)
{
	fbb_point(b, v + 4 + 4 * (size_t)i, target);
}

static inline void fbb_vec_i32(fbb *b, size_t v, uint32_t i, int32_t x)
{
	fbb_put32(b->d + v + 4 + 4 * (size_t)i, (uint32_t)x);
}

static inline void fbb_vec_i64(fbb *b, size_t v, uint32_t i, int64_t x)
{
	fbb_put64(b->d + v + 4 + 8 * (size_t)i, (uint64_t)x);
}

/* A string of len bytes (any bytes) and its NUL. */
static inline size_t fbb_str_n(fbb *b, const char *s, size_t len)
{
	size_t v = fbb_alloc(b, 4 + len + 1, 4);
	fbb_put32(b->d + v, (uint32_t)len);
	memcpy(b->d + v + 4, s, len);
	return v;
}

static inline size_t fbb_str(fbb *b, const char *s)
{
	return fbb_str_n(b, s, strlen(s));
}

/* A string field: the table, slot and text. */
static inline void fbb_set_str(fbb *b, size_t t, unsigned slot, const char *s)
{
	size_t at = fbb_field(b, t, slot);
	fbb_point(b, at, fbb_str(b, s));
}

/* An empty vector field. */
static inline void fbb_set_empty(fbb *b, size_t t, unsigned slot, unsigned width)
{
	size_t at = fbb_field(b, t, slot);
	fbb_point(b, at, fbb_vec(b, 0, width));
}

static inline void fbb_root(fbb *b, size_t t)
{
	fbb_put32(b->d, (uint32_t)t);
}

/* ---- ExecuTorch shapes (slots from pte-format.md sections 3 and 5) ---- */

/*
 * A .pte plan with the fields every exporter writes, all empty but one chain
 * without instructions: name, values (n_values, filled by the caller), inputs,
 * outputs, chains, operators, delegates. *values receives the values vector,
 * *chain_out (when not NULL) the chain.
 */
static inline size_t fbb_plan_chain(fbb *b, const char *name, uint32_t n_values, size_t *values, size_t *chain_out)
{
	size_t plan = fbb_table(b, 9), chains, chain;
	fbb_set_str(b, plan, 0, name);
	*values = fbb_vec(b, n_values, 4);
	fbb_point(b, fbb_field(b, plan, 2), *values);
	fbb_set_empty(b, plan, 3, 4);
	fbb_set_empty(b, plan, 4, 4);
	chains = fbb_vec(b, 1, 4);
	fbb_point(b, fbb_field(b, plan, 5), chains);
	fbb_set_empty(b, plan, 6, 4);
	fbb_set_empty(b, plan, 7, 4);
	chain = fbb_table(b, 3);
	fbb_vec_ref(b, chains, 0, chain);
	fbb_set_empty(b, chain, 0, 4);
	fbb_set_empty(b, chain, 1, 4);
	fbb_set_empty(b, chain, 2, 4);
	if (chain_out)
		*chain_out = chain;
	return plan;
}

static inline size_t fbb_plan(fbb *b, const char *name, uint32_t n_values, size_t *values)
{
	return fbb_plan_chain(b, name, n_values, values, NULL);
}

/*
 * The Program root (no extended header: no segments); *plans receives its
 * execution_plan vector of n. Like every exporter since v0.4 it has an empty
 * constant segment (offsets [0], the placeholder): without one, ExecuTorch
 * 1.5 runtimes refuse the program.
 */
static inline size_t fbb_program(fbb *b, uint32_t n_plans, size_t *plans)
{
	size_t program, cs, offsets;
	fbb_init(b, "ET12", 0);
	program = fbb_table(b, 8);
	fbb_root(b, program);
	*plans = fbb_vec(b, n_plans, 4);
	fbb_point(b, fbb_field(b, program, 1), *plans);
	cs = fbb_table(b, 2);
	fbb_point(b, fbb_field(b, program, 5), cs);
	fbb_u32(b, cs, 0, 0);
	offsets = fbb_vec(b, 1, 8);
	fbb_point(b, fbb_field(b, cs, 1), offsets);
	return program;
}

/* An EValue of type tag whose member is a new table of n_slots (returned in *val). */
static inline size_t fbb_evalue(fbb *b, uint8_t tag, unsigned n_slots, size_t *val)
{
	size_t ev = fbb_table(b, 2);
	fbb_u8(b, ev, 0, tag);
	*val = fbb_table(b, n_slots);
	fbb_point(b, fbb_field(b, ev, 1), *val);
	return ev;
}

/* A float tensor of the given sizes and dim order 0..n-1 (tensor table returned; it has 10 slots). */
static inline size_t fbb_tensor(fbb *b, size_t tensor, const int32_t *sizes, uint32_t n_dims)
{
	size_t v;
	fbb_u8(b, tensor, 0, 6);
	v = fbb_vec(b, n_dims, 4);
	fbb_point(b, fbb_field(b, tensor, 2), v);
	for (uint32_t d = 0; d < n_dims; d++)
		fbb_vec_i32(b, v, d, sizes[d]);
	v = fbb_vec(b, n_dims, 1);
	fbb_point(b, fbb_field(b, tensor, 3), v);
	for (uint32_t d = 0; d < n_dims; d++)
		b->d[v + 4 + d] = (uint8_t)d;
	return tensor;
}

/* An EXTERNAL float tensor value named fqn; returns the EValue. */
static inline size_t fbb_external_value(fbb *b, const char *fqn, size_t fqn_len, const int32_t *sizes, uint32_t n_dims)
{
	size_t tensor, extra, ev = fbb_evalue(b, 5, 10, &tensor);
	fbb_tensor(b, tensor, sizes, n_dims);
	extra = fbb_table(b, 3);
	fbb_point(b, fbb_field(b, tensor, 9), extra);
	fbb_u8(b, extra, 2, 1);
	fbb_point(b, fbb_field(b, extra, 1), fbb_str_n(b, fqn, fqn_len));
	return ev;
}

/*
 * A .ptd (FT01 + FH01 header) with one segment of seg_bytes bytes and n keys;
 * *named receives the named_data vector, whose entries the caller fills
 * (fbb_ptd_key). Call fbb_ptd_finish when done.
 */
static inline size_t fbb_ptd(fbb *b, uint32_t n_keys, uint64_t seg_bytes, size_t *named)
{
	size_t root, segs, seg;
	fbb_init(b, "FT01", 40);
	memcpy(b->d + 8, "FH01", 4);
	fbb_put32(b->d + 12, 40);
	fbb_put64(b->d + 16, 48);
	root = fbb_table(b, 3);
	fbb_root(b, root);
	segs = fbb_vec(b, 1, 4);
	fbb_point(b, fbb_field(b, root, 1), segs);
	*named = fbb_vec(b, n_keys, 4);
	fbb_point(b, fbb_field(b, root, 2), *named);
	seg = fbb_table(b, 2);
	fbb_vec_ref(b, segs, 0, seg);
	fbb_u64(b, seg, 0, 0);
	fbb_u64(b, seg, 1, seg_bytes);
	return root;
}

/* named_data[i] = {key, segment 0, layout float `sizes` with dim order 0..n-1 unless dim_order is given}. */
static inline size_t fbb_ptd_key(fbb *b, size_t named, uint32_t i, const char *key, size_t key_len, uint8_t scalar_type,
                                 const int32_t *sizes, uint32_t n_dims, const uint8_t *dim_order)
{
	size_t nd = fbb_table(b, 3), layout, v;
	fbb_vec_ref(b, named, i, nd);
	fbb_point(b, fbb_field(b, nd, 0), fbb_str_n(b, key, key_len));
	fbb_u32(b, nd, 1, 0);
	if (!sizes)
		return nd;
	layout = fbb_table(b, 3);
	fbb_point(b, fbb_field(b, nd, 2), layout);
	fbb_u8(b, layout, 0, scalar_type);
	v = fbb_vec(b, n_dims, 4);
	fbb_point(b, fbb_field(b, layout, 1), v);
	for (uint32_t d = 0; d < n_dims; d++)
		fbb_vec_i32(b, v, d, sizes[d]);
	v = fbb_vec(b, n_dims, 1);
	fbb_point(b, fbb_field(b, layout, 2), v);
	for (uint32_t d = 0; d < n_dims; d++)
		b->d[v + 4 + d] = dim_order ? dim_order[d] : (uint8_t)d;
	return nd;
}

/* Header numbers and the segment bytes (zeros) after the flatbuffer. */
static inline void fbb_ptd_finish(fbb *b, uint64_t seg_bytes)
{
	size_t fb_end = b->len, base = (fb_end + 15) / 16 * 16;
	fbb_put64(b->d + 24, fb_end - 48);
	fbb_put64(b->d + 32, base);
	fbb_put64(b->d + 40, seg_bytes);
	fbb_alloc(b, base - fb_end + seg_bytes, 1);
}

#endif
