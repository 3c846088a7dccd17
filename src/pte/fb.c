/*
 * The FlatBuffers reader behind the .pte and .ptd walkers (see fb.h). Every
 * read is checked against the region with 64-bit arithmetic before it
 * happens; uoffsets only point forward (u > 0), so no walk can loop, and the
 * table/element budget caps the work of files whose objects are shared many
 * times over. Workload: one pass over a program of up to a few hundred MB,
 * O(1) work per table and per vector element examined.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pte/fb.h"

void pf_fb_init(pf_fb *fb, const uint8_t *data, uint64_t len)
{
	memset(fb, 0, sizeof(*fb));
	fb->data = data;
	fb->len = len;
}

bool pf_fb_fail(pf_fb *fb, const char *fmt, ...)
{
	va_list ap;
	if (fb->failed)
		return false;
	fb->failed = true;
	va_start(ap, fmt);
	vsnprintf(fb->err, sizeof(fb->err), fmt, ap);
	va_end(ap);
	return false;
}

uint16_t pf_fb_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t pf_fb_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

uint64_t pf_fb_le64(const uint8_t *p)
{
	return (uint64_t)pf_fb_le32(p) | ((uint64_t)pf_fb_le32(p + 4) << 32);
}

/* true when [pos, pos + n) lies inside the region; records the extent. */
static bool in_region(pf_fb *fb, uint64_t pos, uint64_t n)
{
	if (pos > fb->len || n > fb->len - pos)
		return false;
	if (pos + n > fb->extent)
		fb->extent = pos + n;
	return true;
}

bool pf_fb_spend(pf_fb *fb, uint64_t n)
{
	if (fb->failed)
		return false;
	if (n > PF_FB_MAX_ELEMENTS || fb->n_elements > PF_FB_MAX_ELEMENTS - n)
		return pf_fb_fail(fb,
		                  "more than %u vector elements to examine: refusing to walk further "
		                  "(the counts are implausible for a real program)",
		                  PF_FB_MAX_ELEMENTS);
	fb->n_elements += n;
	return true;
}

bool pf_fb_table_at(pf_fb *fb, uint64_t pos, pf_fb_table *out, const char *what)
{
	int64_t soff, vt;
	memset(out, 0, sizeof(*out));
	out->what = what;
	if (fb->failed)
		return false;
	if (++fb->n_tables > PF_FB_MAX_TABLES)
		return pf_fb_fail(fb,
		                  "more than %u tables: refusing to walk further "
		                  "(shared or repeated objects beyond the verifier's limit)",
		                  PF_FB_MAX_TABLES);
	if (pos % 4 != 0)
		return pf_fb_fail(fb, "%s table at byte %llu is not 4-byte aligned", what, (unsigned long long)pos);
	if (!in_region(fb, pos, 4))
		return pf_fb_fail(fb, "%s table at byte %llu lies past the end of the program (%llu bytes)", what,
		                  (unsigned long long)pos, (unsigned long long)fb->len);
	soff = (int32_t)pf_fb_le32(fb->data + pos);
	vt = (int64_t)pos - soff;
	if (vt < 0 || vt % 2 != 0 || !in_region(fb, (uint64_t)vt, 4))
		return pf_fb_fail(fb,
		                  "%s table at byte %llu has its vtable at byte %lld, outside the program (%llu bytes)",
		                  what, (unsigned long long)pos, (long long)vt, (unsigned long long)fb->len);
	out->pos = pos;
	out->vt = (uint64_t)vt;
	out->vt_size = pf_fb_le16(fb->data + vt);
	out->inline_size = pf_fb_le16(fb->data + vt + 2);
	if (out->vt_size < 4 || out->vt_size % 2 != 0 || !in_region(fb, out->vt, out->vt_size))
		return pf_fb_fail(fb,
		                  "%s table at byte %llu has a vtable of %u bytes at byte %llu that does not fit "
		                  "the program (%llu bytes)",
		                  what, (unsigned long long)pos, (unsigned)out->vt_size, (unsigned long long)out->vt,
		                  (unsigned long long)fb->len);
	if (out->inline_size < 4 || !in_region(fb, pos, out->inline_size))
		return pf_fb_fail(fb,
		                  "%s table at byte %llu claims %u inline bytes, past the end of the program "
		                  "(%llu bytes)",
		                  what, (unsigned long long)pos, (unsigned)out->inline_size,
		                  (unsigned long long)fb->len);
	return true;
}

bool pf_fb_root(pf_fb *fb, pf_fb_table *out, const char *what)
{
	uint32_t root;
	memset(out, 0, sizeof(*out));
	if (fb->failed)
		return false;
	if (fb->len > PF_FB_MAX_REGION)
		return pf_fb_fail(fb, "the flatbuffer region is %llu bytes, over FlatBuffers' 2 GiB limit",
		                  (unsigned long long)fb->len);
	if (!in_region(fb, 0, 8))
		return pf_fb_fail(fb, "the flatbuffer region is %llu bytes, too short for a root offset and identifier",
		                  (unsigned long long)fb->len);
	root = pf_fb_le32(fb->data);
	if (root < 8)
		return pf_fb_fail(fb, "the root offset %u points into the file identifier", (unsigned)root);
	return pf_fb_table_at(fb, root, out, what);
}

unsigned pf_fb_n_slots(const pf_fb_table *t)
{
	return t->vt_size >= 4 ? (unsigned)(t->vt_size - 4) / 2 : 0;
}

/* Position of the field's bytes, 0 when absent (a valid field never sits at 0). */
static uint64_t field_pos(pf_fb *fb, const pf_fb_table *t, unsigned slot, unsigned width)
{
	uint16_t e;
	if (fb->failed || t->vt_size == 0 || slot >= pf_fb_n_slots(t))
		return 0;
	e = pf_fb_le16(fb->data + t->vt + 4 + 2 * (uint64_t)slot);
	if (e == 0)
		return 0;
	/*
	 * pte-format.md 1.1 suggests e + width <= inline_size, but real files
	 * break it: ExecuTorch's own add model (tests/resources/pte) has a
	 * DataSegment whose u64 at inline offset 4 is followed by an inline_size
	 * of 8. So, like FlatBuffers' verifier, check the field against the
	 * region (and that it starts after the soffset).
	 */
	if (e < 4 || !in_region(fb, t->pos + e, width)) {
		pf_fb_fail(fb,
		           "%s table at byte %llu: field %u at inline offset %u runs past the end of the "
		           "program (%llu bytes)",
		           t->what, (unsigned long long)t->pos, slot, (unsigned)e, (unsigned long long)fb->len);
		return 0;
	}
	return t->pos + e;
}

bool pf_fb_has(pf_fb *fb, const pf_fb_table *t, unsigned slot)
{
	return field_pos(fb, t, slot, 1) != 0;
}

uint8_t pf_fb_u8(pf_fb *fb, const pf_fb_table *t, unsigned slot, uint8_t def)
{
	uint64_t p = field_pos(fb, t, slot, 1);
	return p ? fb->data[p] : def;
}

uint32_t pf_fb_u32(pf_fb *fb, const pf_fb_table *t, unsigned slot, uint32_t def)
{
	uint64_t p = field_pos(fb, t, slot, 4);
	return p ? pf_fb_le32(fb->data + p) : def;
}

int32_t pf_fb_i32(pf_fb *fb, const pf_fb_table *t, unsigned slot, int32_t def)
{
	uint64_t p = field_pos(fb, t, slot, 4);
	return p ? (int32_t)pf_fb_le32(fb->data + p) : def;
}

uint64_t pf_fb_u64(pf_fb *fb, const pf_fb_table *t, unsigned slot, uint64_t def)
{
	uint64_t p = field_pos(fb, t, slot, 8);
	return p ? pf_fb_le64(fb->data + p) : def;
}

/* Follow the uoffset stored at `at` (already inside the region). */
static bool follow(pf_fb *fb, uint64_t at, uint64_t *target, const char *what)
{
	uint32_t u = pf_fb_le32(fb->data + at);
	if (u == 0 || u >= 0x80000000u)
		return pf_fb_fail(fb, "%s: reference at byte %llu holds the invalid offset %u", what,
		                  (unsigned long long)at, (unsigned)u);
	if (!in_region(fb, at + u, 4))
		return pf_fb_fail(fb,
		                  "%s: reference at byte %llu points to byte %llu, past the end of the program "
		                  "(%llu bytes)",
		                  what, (unsigned long long)at, (unsigned long long)(at + u),
		                  (unsigned long long)fb->len);
	*target = at + u;
	return true;
}

bool pf_fb_subtable(pf_fb *fb, const pf_fb_table *t, unsigned slot, pf_fb_table *out, const char *what)
{
	uint64_t p = field_pos(fb, t, slot, 4), target;
	memset(out, 0, sizeof(*out));
	if (!p || !follow(fb, p, &target, what))
		return false;
	return pf_fb_table_at(fb, target, out, what);
}

bool pf_fb_vector(pf_fb *fb, const pf_fb_table *t, unsigned slot, unsigned width, pf_fb_vec *out, const char *what)
{
	uint64_t p = field_pos(fb, t, slot, 4), target, room;
	uint32_t n;
	memset(out, 0, sizeof(*out));
	out->width = width;
	if (!p || !follow(fb, p, &target, what))
		return false;
	if (target % 4 != 0)
		return pf_fb_fail(fb, "%s: vector at byte %llu is not 4-byte aligned", what,
		                  (unsigned long long)target);
	if (width == 8 && (target + 4) % 8 != 0) {
		/* Harmless here (loads are bytewise): counted for a warning, not refused. */
		if (fb->n_misaligned++ == 0) {
			fb->misaligned_at = target;
			fb->misaligned_what = what;
		}
	}
	n = pf_fb_le32(fb->data + target);
	room = fb->len - (target + 4);
	/* By division, never by multiplying a hostile count first. */
	if (n > room / width)
		return pf_fb_fail(fb,
		                  "%s: vector at byte %llu claims %u elements of %u bytes, but only %llu bytes "
		                  "remain in the program",
		                  what, (unsigned long long)target, (unsigned)n, width, (unsigned long long)room);
	in_region(fb, target + 4, (uint64_t)n * width);
	out->pos = target + 4;
	out->n = n;
	out->present = true;
	return true;
}

bool pf_fb_probe_ref_vector(pf_fb *fb, const pf_fb_table *t, unsigned slot)
{
	uint64_t p = field_pos(fb, t, slot, 4), target;
	uint32_t u, n;
	if (!p)
		return false;
	u = pf_fb_le32(fb->data + p);
	if (u == 0 || u >= 0x80000000u)
		return false;
	target = p + u;
	if (target % 4 != 0 || !in_region(fb, target, 4))
		return false;
	n = pf_fb_le32(fb->data + target);
	if (n > (fb->len - (target + 4)) / 4)
		return false;
	/* A plain integer read as an offset rarely lands on a count followed by valid references. */
	for (uint32_t i = 0; i < n && i < 8; i++) {
		uint64_t at = target + 4 + 4 * (uint64_t)i, to;
		u = pf_fb_le32(fb->data + at);
		to = at + u;
		if (u == 0 || u >= 0x80000000u || to % 4 != 0 || !in_region(fb, to, 4))
			return false;
	}
	return true;
}

bool pf_fb_vec_table(pf_fb *fb, const pf_fb_vec *v, uint32_t i, pf_fb_table *out, const char *what)
{
	uint64_t target;
	memset(out, 0, sizeof(*out));
	if (fb->failed)
		return false;
	if (i >= v->n || v->width != 4)
		return pf_fb_fail(fb, "%s: element %u of a vector of %u (internal misuse)", what, (unsigned)i,
		                  (unsigned)v->n);
	if (!follow(fb, v->pos + 4 * (uint64_t)i, &target, what))
		return false;
	return pf_fb_table_at(fb, target, out, what);
}

int32_t pf_fb_vec_i32(pf_fb *fb, const pf_fb_vec *v, uint32_t i)
{
	if (fb->failed || i >= v->n || v->width != 4 || !pf_fb_spend(fb, 1))
		return 0;
	return (int32_t)pf_fb_le32(fb->data + v->pos + 4 * (uint64_t)i);
}

uint64_t pf_fb_vec_u64(pf_fb *fb, const pf_fb_vec *v, uint32_t i)
{
	if (fb->failed || i >= v->n || v->width != 8 || !pf_fb_spend(fb, 1))
		return 0;
	return pf_fb_le64(fb->data + v->pos + 8 * (uint64_t)i);
}

bool pf_fb_string(pf_fb *fb, const pf_fb_table *t, unsigned slot, const char **out, uint32_t *len, const char *what)
{
	pf_fb_vec v;
	*out = NULL;
	*len = 0;
	if (!pf_fb_vector(fb, t, slot, 1, &v, what))
		return false;
	if (!in_region(fb, v.pos + v.n, 1))
		return pf_fb_fail(fb, "%s: string at byte %llu has no terminating NUL inside the program", what,
		                  (unsigned long long)v.pos);
	if (fb->data[v.pos + v.n] != 0)
		return pf_fb_fail(fb, "%s: string at byte %llu is not NUL-terminated", what, (unsigned long long)v.pos);
	*out = (const char *)(fb->data + v.pos);
	*len = v.n;
	return true;
}
