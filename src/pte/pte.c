/*
 * Entry points of the .pte/.ptd/.bpte reader: detect the kind of file from
 * its bytes, check the container headers (ET12 + optional eh00 for programs,
 * FT01 + FH01 for data files; pte-format.md sections 2, 5 and 7), then hand
 * the flatbuffer region to the walkers in program.c, ptd.c and bpte.c (which
 * checks its embedded program with pf_pte_check_image). Used by
 * `pteflow inspect`, artifact verification and the manifest.
 *
 * Workload: a file is opened once and only its first 64 bytes and its
 * flatbuffer region are read with pread (at most PF_PTE_MAX_PROGRAM_BYTES;
 * a larger region is reported, not read); segment data, which is nearly all
 * of a large model, is never touched.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pte/fb.h"
#include "pte/internal.h"
#include "util/mem.h"

#define HEAD_BYTES 64u

/* ---- findings and small helpers shared by the walkers ---- */

void pf_pte_add_finding(pf_pte_info *info, pf_pte_severity sev, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	if (sev == PF_PTE_FATAL)
		info->n_fatal++;
	else
		info->n_warn++;
	if (info->n_findings >= PF_PTE_MAX_FINDINGS) {
		info->n_findings_dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	info->findings = pf_xreallocarray(info->findings, info->n_findings + 1, sizeof(*info->findings));
	info->findings[info->n_findings].severity = sev;
	info->findings[info->n_findings].message =
	    info->finding_prefix ? pf_xasprintf("%s%s", info->finding_prefix, msg) : pf_xstrdup(msg);
	info->n_findings++;
}

/* Bytes of the escaped form: control bytes and DEL become \xNN, a backslash \\, the rest stays. */
static size_t escaped_len(const char *s, size_t len)
{
	size_t n = len;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			n += 3;
		else if (c == '\\')
			n += 1;
	}
	return n;
}

/* Write the escaped form of s[0, len) to out (escaped_len bytes, no NUL). */
static void escape_into(char *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t k = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		/* Keep UTF-8 bytes; escape control bytes so names cannot forge output lines. */
		if (c < 0x20 || c == 0x7f) {
			out[k++] = '\\';
			out[k++] = 'x';
			out[k++] = hex[c >> 4];
			out[k++] = hex[c & 15];
		} else if (c == '\\') {
			out[k++] = '\\';
			out[k++] = '\\';
		} else {
			out[k++] = (char)c;
		}
	}
}

char *pf_pte_name_dup(const char *s, size_t len)
{
	bool cut = len > PF_PTE_MAX_NAME;
	size_t n = cut ? PF_PTE_MAX_NAME : len, e = escaped_len(s, n);
	char *out = pf_xmalloc(e + (cut ? 4 : 1));
	escape_into(out, s, n);
	if (cut)
		memcpy(out + e, "...", 4);
	else
		out[e] = '\0';
	return out;
}

char *pf_pte_name_store(pf_pte_info *info, const char *s, size_t len)
{
	size_t e, cost;
	char *out;
	/* The escaped form is at least len bytes: refuse before scanning what cannot fit. */
	if (!info->names_cut && len <= PF_PTE_MAX_NAME_BYTES - info->name_bytes) {
		e = escaped_len(s, len);
		cost = e + 1 + sizeof(char *);
		if (cost <= PF_PTE_MAX_NAME_BYTES - info->name_bytes) {
			info->name_bytes += cost;
			out = pf_xmalloc(e + 1);
			escape_into(out, s, len);
			out[e] = '\0';
			return out;
		}
	}
	if (!info->names_cut)
		pf_pte_add_finding(info, PF_PTE_WARN,
		                   "the names in this file (methods, backends, keys) take more than %u bytes: the "
		                   "listings are cut there, so later names are not shown or checked (a real export "
		                   "is far smaller: the file repeats or inflates its names)",
		                   PF_PTE_MAX_NAME_BYTES);
	info->names_cut = true;
	return NULL;
}

/* Append a heap string (ownership passes to the list). */
static void strv_push(char ***v, size_t *n, char *owned)
{
	/* Capacity is implied: grow to 2n whenever n is 0 or a power of two. */
	if ((*n & (*n - 1)) == 0)
		*v = pf_xreallocarray(*v, *n ? *n * 2 : 1, sizeof(**v));
	(*v)[(*n)++] = owned;
}

bool pf_pte_list_add(pf_pte_info *info, char ***v, size_t *n, const char *s, size_t len)
{
	char *name;
	if (*n >= PF_PTE_MAX_LIST || !(name = pf_pte_name_store(info, s, len)))
		return false;
	strv_push(v, n, name);
	return true;
}

void pf_pte_add_segment(pf_pte_info *info, uint64_t offset, uint64_t size)
{
	size_t n = info->n_segments;
	if ((n & (n - 1)) == 0)
		info->segments = pf_xreallocarray(info->segments, n ? 2 * n : 1, sizeof(*info->segments));
	info->segments[n].offset = offset;
	info->segments[n].size = size;
	info->n_segments = n + 1;
}

void pf_pte_add_layout(pf_pte_info *info, const pf_pte_ref *r)
{
	size_t n = info->n_layouts;
	pf_pte_layout *l;
	char *name;
	if (n >= PF_PTE_MAX_LIST || !(name = pf_pte_name_store(info, r->s, r->len)))
		return;
	if ((n & (n - 1)) == 0)
		info->layouts = pf_xreallocarray(info->layouts, n ? 2 * n : 1, sizeof(*info->layouts));
	l = &info->layouts[n];
	memset(l, 0, sizeof(*l));
	l->name = name;
	l->scalar_type = r->scalar_type;
	l->n_dims = r->n_dims;
	for (uint32_t d = 0; d < r->n_dims && d < PF_PTE_MAX_DIMS; d++)
		l->sizes[d] = (int32_t)pf_fb_le32(r->sizes + 4 * d);
	l->has_dim_order = r->has_dim_order;
	l->n_dim_order = r->has_dim_order ? r->n_dim_order : 0;
	for (uint32_t d = 0; d < l->n_dim_order && d < PF_PTE_MAX_DIMS; d++)
		l->dim_order[d] = r->dim_order[d];
	info->n_layouts = n + 1;
}

/* Bytes, then length; then position, so that the survivor of a duplicate run does not depend on qsort. */
static int cmp_ref(const void *a, const void *b)
{
	const pf_pte_ref *x = a, *y = b;
	int c = 0;
	if (x->s != y->s || x->len != y->len) {
		c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
		if (c == 0 && x->len != y->len)
			return x->len < y->len ? -1 : 1;
	}
	if (c != 0)
		return c;
	return x->s < y->s ? -1 : x->s > y->s;
}

static bool same_ref(const pf_pte_ref *x, const pf_pte_ref *y)
{
	return x->len == y->len && (x->s == y->s || !memcmp(x->s, y->s, x->len));
}

void pf_pte_refset_init(pf_pte_refset *set, size_t max)
{
	memset(set, 0, sizeof(*set));
	set->max = max;
}

void pf_pte_refset_finish(pf_pte_refset *set)
{
	size_t k = 0;
	if (set->n == 0)
		return;
	qsort(set->v, set->n, sizeof(*set->v), cmp_ref);
	for (size_t i = 1; i < set->n; i++) {
		if (!same_ref(&set->v[k], &set->v[i])) {
			set->v[++k] = set->v[i];
		} else if (set->n_repeats++ == 0) {
			set->repeat = set->v[i];
		}
	}
	set->n = k + 1;
	if (set->n > set->max) {
		set->n = set->max;
		set->cut = true;
	}
}

void pf_pte_refset_add(pf_pte_refset *set, const pf_pte_ref *r)
{
	if (set->n >= set->limit) {
		pf_pte_refset_finish(set);
		/* Next compaction once the array has doubled past its unique part: amortized O(log n) per add. */
		set->limit = set->n < 512 ? 1024 : 2 * set->n;
	}
	if (set->n == set->cap) {
		set->cap = set->cap ? 2 * set->cap : 8;
		set->v = pf_xreallocarray(set->v, set->cap, sizeof(*set->v));
	}
	set->v[set->n++] = *r;
}

void pf_pte_refset_dispose(pf_pte_refset *set)
{
	free(set->v);
	memset(set, 0, sizeof(*set));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

bool pf_pte_strv_find_duplicate(char **v, size_t n, const char **dup)
{
	char **sorted;
	bool found = false;
	if (n < 2)
		return false;
	sorted = pf_xreallocarray(NULL, n, sizeof(*sorted));
	memcpy(sorted, v, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_str);
	for (size_t i = 1; i < n && !found; i++) {
		if (!strcmp(sorted[i - 1], sorted[i])) {
			*dup = sorted[i];
			found = true;
		}
	}
	free(sorted);
	return found;
}

unsigned pf_pte_scalar_size(unsigned code)
{
	static const unsigned char sizes[30] = {
	    1, 1, 2, 4, 8, 2, 4, 8, 0, 0, 0, 1, 1, 1, 4, 2, /* 0..15 */
	    1, 1, 0, 0, 0, 0, 2, 1, 1, 1, 1, 2, 4, 8,       /* 16..29 */
	};
	return code < sizeof(sizes) ? sizes[code] : 0;
}

const char *pf_pte_scalar_name(unsigned code)
{
	static const char *const names[30] = {
	    "uint8",
	    "int8",
	    "int16",
	    "int32",
	    "int64",
	    "float16",
	    "float32",
	    "float64",
	    NULL,
	    NULL,
	    NULL,
	    "bool",
	    "qint8",
	    "quint8",
	    "qint32",
	    "bfloat16",
	    "quint4x2",
	    "quint2x4",
	    NULL,
	    NULL,
	    NULL,
	    NULL,
	    "bits16",
	    "float8_e5m2",
	    "float8_e4m3fn",
	    "float8_e5m2fnuz",
	    "float8_e4m3fnuz",
	    "uint16",
	    "uint32",
	    "uint64",
	};
	return code < sizeof(names) / sizeof(names[0]) ? names[code] : NULL;
}

bool pf_pte_has_program(const pf_pte_info *info)
{
	return info && (info->kind == PF_FILE_PTE || (info->kind == PF_FILE_BPTE && info->bundled_program_size > 0));
}

size_t pf_pte_n_runnable_methods(const pf_pte_info *info)
{
	return info && info->n_methods >= info->n_constant_methods ? info->n_methods - info->n_constant_methods : 0;
}

const pf_pte_method *pf_pte_find_constant(const pf_pte_info *info, const char *name)
{
	for (size_t i = 0; info && name && i < info->n_methods; i++)
		if (info->methods[i].is_constant && info->methods[i].name && !strcmp(info->methods[i].name, name))
			return &info->methods[i];
	return NULL;
}

const char *pf_file_kind_name(pf_file_kind kind)
{
	switch (kind) {
	case PF_FILE_PTE:
		return "pte";
	case PF_FILE_PTD:
		return "ptd";
	case PF_FILE_BPTE:
		return "bpte";
	default:
		return "unknown";
	}
}

uint64_t pf_pte_min_free_ram(uint64_t file_size)
{
	/* size * 1.6 = size + size * 3 / 5, computed without overflow, saturating. */
	uint64_t extra = file_size / 5 * 3 + file_size % 5 * 3 / 5, out;
	if (pf_add_overflow(file_size, extra, &out) || pf_add_overflow(out, 600ull * 1000 * 1000, &out))
		return UINT64_MAX;
	return out;
}

uint64_t pf_pte_max_planned_bytes(const pf_pte_info *info)
{
	uint64_t max = 0;
	for (size_t i = 0; info && i < info->n_methods; i++)
		if (info->methods[i].planned_bytes > max)
			max = info->methods[i].planned_bytes;
	return max;
}

/* Program region + segment data + the largest method's arenas (methods load one at a time in the common case). */
uint64_t pf_pte_runtime_bytes(const pf_pte_info *info)
{
	uint64_t program, out;
	if (!pf_pte_has_program(info))
		return 0;
	program = info->has_extended_header    ? info->program_size
	          : info->kind == PF_FILE_BPTE ? info->bundled_program_size
	                                       : info->file_size;
	if (pf_add_overflow(program, info->segment_bytes, &out) ||
	    pf_add_overflow(out, pf_pte_max_planned_bytes(info), &out))
		return UINT64_MAX;
	return out;
}

bool pf_pte_ok(const pf_pte_info *info)
{
	return info && info->n_fatal == 0;
}

const char *pf_pte_first_fatal(const pf_pte_info *info)
{
	if (!info)
		return NULL;
	for (size_t i = 0; i < info->n_findings; i++)
		if (info->findings[i].severity == PF_PTE_FATAL)
			return info->findings[i].message;
	return info->n_fatal ? "a fatal problem was found (its message was dropped past the findings cap)" : NULL;
}

void pf_pte_info_free(pf_pte_info *info)
{
	if (!info)
		return;
	for (size_t i = 0; i < info->n_methods; i++) {
		free(info->methods[i].name);
		pf_strv_free(info->methods[i].delegates, info->methods[i].n_delegates);
		for (size_t k = 0; k < info->methods[i].n_constants; k++)
			free(info->methods[i].constants[k].s);
		free(info->methods[i].constants);
	}
	for (size_t i = 0; i < info->n_suites; i++) {
		free(info->suites[i].method);
		for (size_t k = 0; k < info->suites[i].n_listed_cases; k++)
			free(info->suites[i].cases[k].values);
		free(info->suites[i].cases);
	}
	free(info->suites);
	free(info->methods);
	pf_strv_free(info->backends, info->n_backends);
	free(info->segments);
	pf_strv_free(info->named_data_keys, info->n_named_data);
	pf_strv_free(info->external_keys, info->n_external);
	pf_strv_free(info->data_keys, info->n_data_keys);
	for (size_t i = 0; i < info->n_layouts; i++)
		free(info->layouts[i].name);
	free(info->layouts);
	for (size_t i = 0; i < info->n_findings; i++)
		free(info->findings[i].message);
	free(info->findings);
	free(info);
}

/* ---- container headers ---- */

static void set_identifier(pf_pte_info *info, const uint8_t *id)
{
	for (int i = 0; i < 4; i++)
		info->identifier[i] = (id[i] >= 0x20 && id[i] < 0x7f) ? (char)id[i] : '?';
	info->identifier[4] = '\0';
}

/*
 * .pte: bytes 4..7 start with "ET". Sets *region to the flatbuffer length and
 * returns true when the region can be walked.
 */
static bool pte_header(pf_pte_info *info, const uint8_t *head, size_t head_len, uint64_t n, uint64_t *region)
{
	uint64_t end;
	info->kind = PF_FILE_PTE;
	if (memcmp(head + 4, "ET12", 4) != 0)
		pf_pte_add_finding(info, PF_PTE_FATAL,
		                   "identifier \"%s\" is not \"ET12\": the program was written for an incompatible "
		                   "ExecuTorch version and this runtime refuses it",
		                   info->identifier);
	if (n < HEAD_BYTES)
		pf_pte_add_finding(info, PF_PTE_FATAL,
		                   "the file is %llu bytes, shorter than the 64 bytes the runtime reads to probe it: "
		                   "the file is truncated",
		                   (unsigned long long)n);
	*region = n;
	if (n < 16 || head_len < 16 || head[8] != 'e' || head[9] != 'h')
		return true;
	if (memcmp(head + 8, "eh00", 4) != 0) {
		pf_pte_add_finding(info, PF_PTE_FATAL,
		                   "extended header version \"%c%c%c%c\" is unknown (expected \"eh00\"): the runtime "
		                   "ignores it and cannot reach any segment",
		                   head[8] >= 0x20 && head[8] < 0x7f ? head[8] : '?', head[9],
		                   head[10] >= 0x20 && head[10] < 0x7f ? head[10] : '?',
		                   head[11] >= 0x20 && head[11] < 0x7f ? head[11] : '?');
		return true;
	}
	info->header_length = pf_fb_le32(head + 12);
	if (info->header_length < 24) {
		pf_pte_add_finding(info, PF_PTE_FATAL,
		                   "extended header length is %u bytes, below the minimum of 24: the header is corrupt",
		                   (unsigned)info->header_length);
		return false;
	}
	if (n < 8 + (uint64_t)info->header_length || head_len < 32) {
		pf_pte_add_finding(
		    info, PF_PTE_FATAL,
		    "the file is %llu bytes, too short for its %u-byte extended header at byte 8: the file "
		    "is truncated",
		    (unsigned long long)n, (unsigned)info->header_length);
		return false;
	}
	info->has_extended_header = true;
	info->program_size = pf_fb_le64(head + 16);
	info->segment_base_offset = pf_fb_le64(head + 24);
	if (info->header_length >= 32 && head_len >= 40)
		info->segment_data_size = pf_fb_le64(head + 32);
	if (info->program_size < 8 + (uint64_t)info->header_length) {
		pf_pte_add_finding(info, PF_PTE_FATAL,
		                   "program_size is %llu bytes, smaller than the headers before it (%u bytes): the "
		                   "header is corrupt",
		                   (unsigned long long)info->program_size, (unsigned)(8 + info->header_length));
		return false;
	}
	if (info->program_size > n) {
		pf_pte_add_finding(info, PF_PTE_FATAL,
		                   "the program ends at byte %llu, past the end of the file (%llu bytes): the file is "
		                   "truncated",
		                   (unsigned long long)info->program_size, (unsigned long long)n);
		return false;
	}
	*region = info->program_size;
	if (info->segment_base_offset != 0 && info->segment_base_offset < info->program_size)
		pf_pte_add_finding(
		    info, PF_PTE_FATAL,
		    "segment data starts at byte %llu, inside the program (which ends at byte %llu): the "
		    "header is corrupt",
		    (unsigned long long)info->segment_base_offset, (unsigned long long)info->program_size);
	if (info->header_length >= 32 && info->segment_base_offset != 0) {
		if (pf_add_overflow(info->segment_base_offset, info->segment_data_size, &end))
			pf_pte_add_finding(
			    info, PF_PTE_FATAL,
			    "segment base %llu + segment data size %llu overflows: the header is corrupt",
			    (unsigned long long)info->segment_base_offset, (unsigned long long)info->segment_data_size);
		else if (end > n)
			pf_pte_add_finding(
			    info, PF_PTE_FATAL,
			    "segment data ends at byte %llu, past the end of the file (%llu bytes): the file "
			    "is truncated",
			    (unsigned long long)end, (unsigned long long)n);
		else if (end < n && info->segment_data_size != 0)
			pf_pte_add_finding(
			    info, PF_PTE_WARN,
			    "%llu bytes follow the end of the segment data (byte %llu): trailing bytes the "
			    "runtime ignores",
			    (unsigned long long)(n - end), (unsigned long long)end);
	}
	return true;
}

/* .ptd: bytes 4..7 are "FT01". */
static bool ptd_header(pf_pte_info *info, const uint8_t *head, size_t head_len, uint64_t n, uint64_t *region)
{
	uint64_t fb_end, seg_end;
	info->kind = PF_FILE_PTD;
	if (n < 48 || head_len < 48) {
		pf_pte_add_finding(info, PF_PTE_FATAL,
		                   "the file is %llu bytes, too short for the 48-byte FlatTensor header: the file is "
		                   "truncated",
		                   (unsigned long long)n);
		return false;
	}
	if (memcmp(head + 8, "FH01", 4) != 0) {
		pf_pte_add_finding(
		    info, PF_PTE_FATAL,
		    "the FlatTensor header magic at byte 8 is not \"FH01\": the header is corrupt or from "
		    "an unknown version");
		return false;
	}
	info->header_length = pf_fb_le32(head + 12);
	info->ptd_flatbuffer_offset = pf_fb_le64(head + 16);
	info->ptd_flatbuffer_size = pf_fb_le64(head + 24);
	info->segment_base_offset = pf_fb_le64(head + 32);
	info->segment_data_size = pf_fb_le64(head + 40);
	if (info->header_length < 40) {
		pf_pte_add_finding(info, PF_PTE_FATAL,
		                   "the FlatTensor header length is %u bytes, below the minimum of 40: the header is "
		                   "corrupt",
		                   (unsigned)info->header_length);
		return false;
	}
	info->has_extended_header = true;
	if (info->ptd_flatbuffer_offset < 40) {
		pf_pte_add_finding(info, PF_PTE_FATAL,
		                   "flatbuffer_offset is %llu, inside the 40-byte header: the header is corrupt",
		                   (unsigned long long)info->ptd_flatbuffer_offset);
		return false;
	}
	if (pf_add_overflow(info->ptd_flatbuffer_offset, info->ptd_flatbuffer_size, &fb_end)) {
		pf_pte_add_finding(info, PF_PTE_FATAL,
		                   "flatbuffer_offset %llu + flatbuffer_size %llu overflows: the header is corrupt",
		                   (unsigned long long)info->ptd_flatbuffer_offset,
		                   (unsigned long long)info->ptd_flatbuffer_size);
		return false;
	}
	if (fb_end > n) {
		pf_pte_add_finding(
		    info, PF_PTE_FATAL,
		    "the data index ends at byte %llu, past the end of the file (%llu bytes): the file is "
		    "truncated",
		    (unsigned long long)fb_end, (unsigned long long)n);
		return false;
	}
	info->program_size = fb_end;
	*region = fb_end;
	if (pf_add_overflow(info->segment_base_offset, info->segment_data_size, &seg_end))
		pf_pte_add_finding(
		    info, PF_PTE_FATAL, "segment base %llu + segment data size %llu overflows: the header is corrupt",
		    (unsigned long long)info->segment_base_offset, (unsigned long long)info->segment_data_size);
	else if (seg_end > n)
		pf_pte_add_finding(info, PF_PTE_FATAL,
		                   "segment data ends at byte %llu, past the end of the file (%llu bytes): the file is "
		                   "truncated",
		                   (unsigned long long)seg_end, (unsigned long long)n);
	if (info->segment_base_offset < fb_end)
		pf_pte_add_finding(info, PF_PTE_FATAL,
		                   "segment data starts at byte %llu, inside the data index (which ends at byte %llu): "
		                   "the header is corrupt",
		                   (unsigned long long)info->segment_base_offset, (unsigned long long)fb_end);
	return true;
}

/* Kind and headers from the first bytes; true when [0, *region) should be walked. */
static bool inspect_head(pf_pte_info *info, const uint8_t *head, size_t head_len, uint64_t n, uint64_t *region)
{
	info->file_size = n;
	*region = 0;
	if (n == 0) {
		pf_pte_add_finding(info, PF_PTE_FATAL, "the file is empty: the step that wrote it produced nothing");
		return false;
	}
	if (n < 8 || head_len < 8) {
		pf_pte_add_finding(info, PF_PTE_FATAL,
		                   "the file is %llu bytes, too short to hold an ExecuTorch identifier: the file is "
		                   "truncated",
		                   (unsigned long long)n);
		return false;
	}
	set_identifier(info, head + 4);
	if (head[4] == 'E' && head[5] == 'T')
		return pte_header(info, head, head_len, n, region);
	if (!memcmp(head + 4, "FT01", 4))
		return ptd_header(info, head, head_len, n, region);
	if (!memcmp(head + 4, "BP08", 4)) {
		/* A bundled program is one flatbuffer: the whole file is its region (the program is inside it). */
		info->kind = PF_FILE_BPTE;
		*region = n;
		return true;
	}
	pf_pte_add_finding(info, PF_PTE_FATAL,
	                   "not an ExecuTorch file: bytes 4..7 are \"%s\" (a .pte has \"ET12\", a .ptd \"FT01\", a "
	                   ".bpte \"BP08\")",
	                   info->identifier);
	return false;
}

static void walk_region(pf_pte_info *info, const uint8_t *region, uint64_t len)
{
	if (info->kind == PF_FILE_PTE)
		pf_pte_walk_program(info, region, len);
	else if (info->kind == PF_FILE_PTD)
		pf_pte_walk_flat_tensor(info, region, len);
	else if (info->kind == PF_FILE_BPTE)
		pf_pte_walk_bundled(info, region, len);
}

/*
 * The region must fit what the reader is willing to hold in memory. Past
 * FlatBuffers' 2 GiB no runtime can read it (FATAL); between the reader's
 * limit and that, the file may be fine but is not checked (WARN): reading it
 * would cost as much memory as the program, and the orchestrator's memory
 * must stay flat.
 */
static bool region_fits(pf_pte_info *info, uint64_t region)
{
	const char *what = info->kind == PF_FILE_PTD ? "data index" : info->kind == PF_FILE_BPTE ? "bundle" : "program";
	if (region <= PF_PTE_MAX_PROGRAM_BYTES)
		return true;
	if (region > PF_FB_MAX_REGION)
		pf_pte_add_finding(
		    info, PF_PTE_FATAL,
		    "the %s region is %llu bytes, over FlatBuffers' 2 GiB limit: no runtime can read it; "
		    "large data belongs in segments",
		    what, (unsigned long long)region);
	else
		pf_pte_add_finding(info, PF_PTE_WARN,
		                   "the %s region is %llu bytes, over the %u bytes this reader holds in memory: the %s "
		                   "is too large to check structurally (methods, backends and keys are not listed)",
		                   what, (unsigned long long)region, PF_PTE_MAX_PROGRAM_BYTES, what);
	return false;
}

void pf_pte_check_image(pf_pte_info *info, const uint8_t *image, uint64_t n)
{
	uint64_t region = 0;
	if (n < 8) {
		pf_pte_add_finding(info, PF_PTE_FATAL,
		                   "it is %llu bytes, too short to hold an ExecuTorch identifier: it is truncated",
		                   (unsigned long long)n);
		return;
	}
	if (image[4] != 'E' || image[5] != 'T') {
		pf_pte_add_finding(info, PF_PTE_FATAL,
		                   "it is not an ExecuTorch program: bytes 4..7 are \"%c%c%c%c\", not \"ET12\"",
		                   image[4] >= 0x20 && image[4] < 0x7f ? image[4] : '?',
		                   image[5] >= 0x20 && image[5] < 0x7f ? image[5] : '?',
		                   image[6] >= 0x20 && image[6] < 0x7f ? image[6] : '?',
		                   image[7] >= 0x20 && image[7] < 0x7f ? image[7] : '?');
		return;
	}
	if (pte_header(info, image, n < HEAD_BYTES ? (size_t)n : HEAD_BYTES, n, &region) && region_fits(info, region))
		pf_pte_walk_program(info, image, region);
}

int pf_pte_inspect_bytes(pf_pte_info **out, const uint8_t *data, size_t len)
{
	pf_pte_info *info = pf_xcalloc(1, sizeof(*info));
	uint64_t region = 0;
	if (!data)
		len = 0;
	if (inspect_head(info, data, len < HEAD_BYTES ? len : HEAD_BYTES, len, &region) && region_fits(info, region))
		walk_region(info, data, region);
	*out = info;
	return 0;
}

int pf_pte_read_full(int fd, uint8_t *buf, size_t len, uint64_t offset, const char *path)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = pread(fd, buf + done, len - done, (off_t)(offset + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return pf_error_code(PF_EENV, "cannot read \"%s\": %s", path, strerror(errno));
		if (r == 0)
			return pf_error_code(PF_EENV, "\"%s\" shrank while it was read: another process is writing it",
			                     path);
		done += (size_t)r;
	}
	return 0;
}

int pf_pte_inspect_file(pf_pte_info **out, const char *path)
{
	pf_pte_info *info = NULL;
	uint8_t head[HEAD_BYTES];
	uint8_t *region_buf = NULL;
	uint64_t n, region = 0;
	size_t head_len;
	struct stat st;
	int fd = -1, err = 0;
	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			err = pf_error_code(PF_ENOTFOUND, "\"%s\" does not exist: check the path", path);
		else
			err = pf_error_code(PF_EENV, "cannot open \"%s\": %s", path, strerror(errno));
		goto done;
	}
	if (fstat(fd, &st) != 0) {
		err = pf_error_code(PF_EENV, "cannot stat \"%s\": %s", path, strerror(errno));
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		err = pf_error_code(PF_EENV, "\"%s\" is not a regular file: give the path of a .pte or .ptd", path);
		goto done;
	}
	n = (uint64_t)st.st_size;
	head_len = n < HEAD_BYTES ? (size_t)n : HEAD_BYTES;
	if ((err = pf_pte_read_full(fd, head, head_len, 0, path)) < 0)
		goto done;
	info = pf_xcalloc(1, sizeof(*info));
	if (!inspect_head(info, head, head_len, n, &region)) {
		/* nothing to walk */
	} else if (info->kind == PF_FILE_BPTE) {
		if ((err = pf_pte_read_bundled(&region_buf, info, fd, n, path)) < 0)
			goto done;
	} else if (region_fits(info, region)) {
		region_buf = pf_xmalloc(region ? (size_t)region : 1);
		if ((err = pf_pte_read_full(fd, region_buf, (size_t)region, 0, path)) < 0)
			goto done;
	}
	if (region_buf)
		walk_region(info, region_buf, region);
	*out = info;
	info = NULL;
done:
	if (fd >= 0)
		close(fd);
	free(region_buf);
	pf_pte_info_free(info);
	return err;
}
