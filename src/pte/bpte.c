/*
 * Walk of an ExecuTorch BundledProgram (.bpte, identifier BP08; schema
 * devtools/bundled_program/schema/bundled_program_schema.fbs, summarized in
 * executorch-runtime-contracts.md section 2) for `pteflow inspect`, verify
 * and the manifest. The root holds a version, the method test suites and the
 * complete .pte image the tests are for; that image is checked in place like
 * any .pte (pf_pte_check_image), then each suite is checked against it:
 * the method it names must exist, each test-case value must be a known
 * union member, and a tensor's data must hold exactly sizes x element size
 * bytes (the runtime copies that many bytes into the method's input).
 *
 * Root slots: 0 version u32, 1 method_test_suites [BundledMethodTestSuite],
 * 2 program [ubyte] (force_align 32). Suite: 0 method_name string,
 * 1 test_cases [BundledMethodTestCase]. Case: 0 inputs [Value],
 * 1 expected_outputs [Value]. Value: 0 val_type u8, 1 val (union
 * ValueUnion: 1 Tensor, 2 Int {0 int_val i64}, 3 Bool {0 bool_val bool},
 * 4 Double {0 double_val f64}). Tensor: 0 scalar_type byte, 1 sizes [i32],
 * 2 data [ubyte] (force_align 16), 3 dim_order [ubyte].
 *
 * Workload: one pass under the work budget of fb.h; a few suites of a few
 * cases in practice. Listings are bounded (PF_BPTE_MAX_SUITES suites,
 * PF_BPTE_MAX_LISTED cases and values); every suite and value is checked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pte/fb.h"
#include "pte/internal.h"
#include "util/mem.h"

#define FATAL(info, ...) pf_pte_add_finding((info), PF_PTE_FATAL, __VA_ARGS__)
#define WARN(info, ...) pf_pte_add_finding((info), PF_PTE_WARN, __VA_ARGS__)

typedef struct bwalk {
	pf_pte_info *info;
	pf_fb *fb;
	const pf_pte_method **methods; /* the embedded program's methods, sorted by name (borrowed) */
	size_t n_methods;
	bool check_methods; /* the program was read whole: a missing method is the bundle's fault */
} bwalk;

static const char *method_name(const pf_pte_method *m)
{
	return m->name ? m->name : "";
}

static int cmp_method(const void *a, const void *b)
{
	return strcmp(method_name(*(const pf_pte_method *const *)a), method_name(*(const pf_pte_method *const *)b));
}

static const char *const union_names[] = {"none", "tensor", "int", "bool", "double"};

/* A tensor of a test case: known dtype, non-negative sizes, data of exactly numel x element size bytes. */
static void walk_tensor(bwalk *w, const pf_fb_table *t, pf_bpte_value *out, const char *where)
{
	pf_fb_vec sizes, data, dim_order;
	unsigned code = pf_fb_u8(w->fb, t, 0, 0), elem = pf_pte_scalar_size(code);
	uint64_t want = elem;
	bool overflow = false;
	out->scalar_type = (uint8_t)code;
	pf_fb_vector(w->fb, t, 1, 4, &sizes, "Tensor.sizes");
	pf_fb_vector(w->fb, t, 2, 1, &data, "Tensor.data");
	pf_fb_vector(w->fb, t, 3, 1, &dim_order, "Tensor.dim_order");
	if (w->fb->failed || !pf_fb_spend(w->fb, sizes.n))
		return;
	out->n_dims = sizes.n;
	out->data_bytes = data.n;
	if (!elem) {
		FATAL(w->info, "%s is a tensor of unknown scalar type %u: the bundle is corrupt", where, code);
		return;
	}
	if (!sizes.present) {
		FATAL(w->info, "%s is a tensor with no sizes: the runtime cannot shape it; the bundle is corrupt",
		      where);
		return;
	}
	for (uint32_t d = 0; d < sizes.n; d++) {
		int32_t s = (int32_t)pf_fb_le32(w->fb->data + sizes.pos + 4 * (uint64_t)d);
		if (d < PF_PTE_MAX_DIMS)
			out->sizes[d] = s;
		if (s < 0) {
			FATAL(w->info,
			      "%s is a tensor with the negative size %d in dimension %u: the bundle is corrupt", where,
			      (int)s, (unsigned)d);
			return;
		}
		if (!overflow && pf_mul_overflow(want, (uint64_t)s, &want))
			overflow = true;
	}
	if (overflow) {
		FATAL(w->info, "%s is a tensor whose byte size overflows 64 bits: the bundle is corrupt", where);
		return;
	}
	if (!data.present || data.n != want)
		FATAL(w->info,
		      "%s is a %s tensor of %llu bytes (sizes x %u-byte elements) but carries %u bytes of data: the "
		      "runtime would read past it or ignore some; the bundle is corrupt",
		      where, pf_pte_scalar_name(code), (unsigned long long)want, elem, (unsigned)data.n);
	if (dim_order.present && dim_order.n != sizes.n)
		FATAL(w->info, "%s is a tensor of %u dimensions with a dim order of %u entries: the bundle is corrupt",
		      where, (unsigned)sizes.n, (unsigned)dim_order.n);
}

/* One Value of a test case; `out` may be a scratch slot when the value is not listed. */
static void walk_value(bwalk *w, const pf_fb_vec *values, uint32_t i, pf_bpte_value *out, const char *where)
{
	pf_fb_table v, val;
	uint64_t bits;
	uint8_t tag;
	bool has;
	memset(out, 0, sizeof(*out));
	if (!pf_fb_vec_table(w->fb, values, i, &v, "Value"))
		return;
	tag = pf_fb_u8(w->fb, &v, 0, 0);
	has = pf_fb_subtable(w->fb, &v, 1, &val, "Value.val");
	if (w->fb->failed)
		return;
	if (tag == 0 || tag > 4) {
		FATAL(w->info,
		      "%s has the unknown value type %u (a tensor, int, bool or double is expected): the "
		      "bundle is corrupt",
		      where, (unsigned)tag);
		return;
	}
	if (!has) {
		FATAL(w->info, "%s is typed %s but has no content: the bundle is corrupt", where, union_names[tag]);
		return;
	}
	out->type = (pf_bpte_value_type)tag;
	switch (tag) {
	case PF_BPTE_TENSOR:
		walk_tensor(w, &val, out, where);
		break;
	case PF_BPTE_INT:
		out->i = (int64_t)pf_fb_u64(w->fb, &val, 0, 0);
		break;
	case PF_BPTE_BOOL:
		out->i = pf_fb_u8(w->fb, &val, 0, 0) != 0;
		break;
	default:
		bits = pf_fb_u64(w->fb, &val, 0, 0);
		memcpy(&out->d, &bits, sizeof(out->d));
		break;
	}
}

/* The inputs or expected outputs of one case: all checked, the first PF_BPTE_MAX_LISTED kept. */
static size_t walk_values(bwalk *w, const pf_fb_vec *values, pf_bpte_value *keep, const char *prefix, const char *what)
{
	size_t kept = 0;
	for (uint32_t i = 0; i < values->n && !w->fb->failed; i++) {
		pf_bpte_value scratch;
		char where[700];
		snprintf(where, sizeof(where), "%s %s %u", prefix, what, (unsigned)i);
		walk_value(w, values, i, keep && i < PF_BPTE_MAX_LISTED ? &keep[i] : &scratch, where);
		if (keep && i < PF_BPTE_MAX_LISTED)
			kept++;
	}
	return kept;
}

/* O(log n) over the sorted methods. */
static const pf_pte_method *find_method(const bwalk *w, const char *name)
{
	pf_pte_method probe = {.name = (char *)name};
	const pf_pte_method *key = &probe, **hit;
	if (!w->n_methods)
		return NULL;
	hit = bsearch(&key, w->methods, w->n_methods, sizeof(*w->methods), cmp_method);
	return hit ? *hit : NULL;
}

static void walk_case(bwalk *w, const pf_fb_table *tc, uint32_t ci, const char *method, pf_bpte_case *out,
                      const pf_pte_method *m)
{
	pf_fb_vec inputs, outputs;
	pf_bpte_value *keep = NULL;
	char prefix[600];
	pf_fb_vector(w->fb, tc, 0, 4, &inputs, "BundledMethodTestCase.inputs");
	pf_fb_vector(w->fb, tc, 1, 4, &outputs, "BundledMethodTestCase.expected_outputs");
	if (w->fb->failed)
		return;
	snprintf(prefix, sizeof(prefix), "suite \"%.512s\" test case %u", method, (unsigned)ci);
	if (out) {
		out->n_inputs = inputs.n;
		out->n_outputs = outputs.n;
		keep = pf_xcalloc(2 * PF_BPTE_MAX_LISTED, sizeof(*keep));
		out->values = keep;
	}
	if (out)
		out->n_listed_inputs = walk_values(w, &inputs, keep, prefix, "input");
	else
		walk_values(w, &inputs, NULL, prefix, "input");
	if (out)
		out->n_listed_outputs =
		    walk_values(w, &outputs, keep + out->n_listed_inputs, prefix, "expected output");
	else
		walk_values(w, &outputs, NULL, prefix, "expected output");
	/* The runtime sets every input of the method from the case: a count that differs cannot load. */
	if (m && inputs.n != m->n_inputs)
		FATAL(w->info,
		      "%s has %u inputs but method \"%s\" takes %u: the runtime cannot load them; the bundle was made "
		      "for another program",
		      prefix, (unsigned)inputs.n, method, (unsigned)m->n_inputs);
	else if (m && outputs.n > 0 && outputs.n != m->n_outputs)
		WARN(w->info, "%s expects %u outputs but method \"%s\" returns %u: its outputs cannot all be compared",
		     prefix, (unsigned)outputs.n, method, (unsigned)m->n_outputs);
}

static void walk_suite(bwalk *w, const pf_fb_table *st, uint32_t si, pf_bpte_suite *out)
{
	pf_fb_vec cases;
	const char *name = NULL;
	uint32_t len = 0;
	char *stored = NULL, fallback[32];
	const char *shown;
	const pf_pte_method *m = NULL;
	pf_fb_string(w->fb, st, 0, &name, &len, "BundledMethodTestSuite.method_name");
	pf_fb_vector(w->fb, st, 1, 4, &cases, "BundledMethodTestSuite.test_cases");
	if (w->fb->failed || !pf_fb_spend(w->fb, 1 + (uint64_t)len))
		return;
	snprintf(fallback, sizeof(fallback), "#%u", (unsigned)si);
	if (!name || len == 0)
		FATAL(w->info, "test suite %u names no method: the runtime cannot match it; the bundle is corrupt",
		      (unsigned)si);
	else
		stored = pf_pte_name_store(w->info, name, len);
	shown = stored ? stored : fallback;
	if (stored && w->check_methods && !(m = find_method(w, stored)))
		FATAL(w->info,
		      "test suite %u is for method \"%s\", which the embedded program does not have: the bundle was "
		      "made for another program; rebuild it from this .pte",
		      (unsigned)si, shown);
	if (cases.n == 0)
		WARN(w->info, "test suite \"%s\" has no test cases: nothing can be verified on the device", shown);
	if (out) {
		out->method = stored ? stored : pf_xstrdup(fallback);
		stored = NULL;
		out->n_cases = cases.n;
		if (cases.n)
			out->cases = pf_xcalloc(cases.n < PF_BPTE_MAX_LISTED ? cases.n : PF_BPTE_MAX_LISTED,
			                        sizeof(*out->cases));
	}
	for (uint32_t c = 0; c < cases.n && !w->fb->failed; c++) {
		pf_fb_table tc;
		pf_bpte_case *keep = out && c < PF_BPTE_MAX_LISTED ? &out->cases[c] : NULL;
		if (!pf_fb_vec_table(w->fb, &cases, c, &tc, "BundledMethodTestCase"))
			break;
		walk_case(w, &tc, c, shown, keep, m);
		if (keep)
			out->n_listed_cases++;
	}
	free(stored);
}

/* The embedded .pte image: checked like a file, findings prefixed so the reader knows where they come from. */
static void walk_program(bwalk *w, const pf_fb_vec *program)
{
	pf_pte_info *info = w->info;
	uint64_t file_size = info->file_size;
	size_t fatal_before = info->n_fatal;
	info->bundled_program_offset = program->pos;
	info->bundled_program_size = program->n;
	if (program->n == 0) {
		FATAL(info,
		      "the bundle's program is empty: there is nothing to test; rebuild the bundle from the .pte");
		return;
	}
	if (program->pos % 32 != 0)
		WARN(
		    info,
		    "the embedded program starts at byte %llu, not 32-byte aligned as the schema asks: its tensors may "
		    "be misaligned when the runtime loads it in place",
		    (unsigned long long)program->pos);
	info->file_size = program->n;
	info->finding_prefix = "embedded program: ";
	pf_pte_check_image(info, w->fb->data + program->pos, program->n);
	info->finding_prefix = NULL;
	info->file_size = file_size;
	info->kind = PF_FILE_BPTE;
	w->check_methods = info->n_fatal == fatal_before && !info->names_cut;
}

void pf_pte_walk_bundled(pf_pte_info *info, const uint8_t *region, uint64_t len)
{
	pf_fb fb;
	pf_fb_table root;
	pf_fb_vec suites, program;
	const char *dup;
	bwalk w;
	memset(&w, 0, sizeof(w));
	w.info = info;
	w.fb = &fb;
	pf_fb_init(&fb, region, len);
	if (!pf_fb_root(&fb, &root, "BundledProgram"))
		goto done;
	info->bundled_version = pf_fb_u32(&fb, &root, 0, 0);
	pf_fb_vector(&fb, &root, 1, 4, &suites, "BundledProgram.method_test_suites");
	pf_fb_vector(&fb, &root, 2, 1, &program, "BundledProgram.program");
	if (fb.failed)
		goto done;
	if (!program.present)
		FATAL(info, "the bundle has no program: there is nothing to test; rebuild it from the .pte");
	else
		walk_program(&w, &program);
	if (w.check_methods && info->n_methods) {
		w.methods = pf_xcalloc(info->n_methods, sizeof(*w.methods));
		for (size_t i = 0; i < info->n_methods; i++)
			w.methods[w.n_methods++] = &info->methods[i];
		qsort(w.methods, w.n_methods, sizeof(*w.methods), cmp_method);
	}
	info->n_suites_total = suites.n;
	if (suites.n == 0)
		WARN(info, "the bundle has no test suites: it carries a program but nothing to verify it with");
	for (uint32_t si = 0; si < suites.n && !fb.failed; si++) {
		pf_fb_table st;
		pf_bpte_suite *keep = NULL;
		if (!pf_fb_vec_table(&fb, &suites, si, &st, "BundledMethodTestSuite"))
			break;
		if (si < PF_BPTE_MAX_SUITES) {
			if ((si & (si - 1)) == 0)
				info->suites =
				    pf_xreallocarray(info->suites, si ? 2 * (size_t)si : 1, sizeof(*info->suites));
			keep = &info->suites[si];
			memset(keep, 0, sizeof(*keep));
			info->n_suites = si + 1;
		}
		walk_suite(&w, &st, si, keep);
	}
	{
		char **names = pf_xcalloc(info->n_suites ? info->n_suites : 1, sizeof(*names));
		for (size_t i = 0; i < info->n_suites; i++)
			names[i] = info->suites[i].method;
		if (pf_pte_strv_find_duplicate(names, info->n_suites, &dup))
			WARN(info, "two test suites are for method \"%.512s\": the runtime uses only the first", dup);
		free(names);
	}
done:
	if (fb.failed)
		FATAL(info, "the bundle's flatbuffer is corrupt or truncated: %s: the runtime would refuse it", fb.err);
	free((void *)w.methods);
}

/* ---- reading a .bpte file ---- */

/* A little-endian u32 or u64 of the file at `at`, through pread; false when outside it or unreadable. */
static bool peek(int fd, uint64_t n, uint64_t at, unsigned width, uint64_t *out)
{
	uint8_t b[8];
	if (at > n || width > n - at || pf_pte_read_full(fd, b, width, at, "") < 0)
		return false;
	*out = width == 8 ? pf_fb_le64(b) : width == 4 ? pf_fb_le32(b) : pf_fb_le16(b);
	return true;
}

/*
 * Where the embedded program's segment data lies, [*start, *end), found by
 * following root -> vtable slot 2 -> vector -> the image's extended header
 * with single reads. Every number is re-checked by the walk afterwards; here
 * a failure only means "read everything".
 */
static bool locate_segments(int fd, uint64_t n, uint64_t *start, uint64_t *end)
{
	uint64_t root, soff, vt, vt_size, entry, u, count, image, magic, header_len, program_size, head;
	int64_t vts;
	if (!peek(fd, n, 0, 4, &root) || !peek(fd, n, root, 4, &soff))
		return false;
	vts = (int64_t)root - (int64_t)(int32_t)(uint32_t)soff;
	if (vts < 0)
		return false;
	vt = (uint64_t)vts;
	if (!peek(fd, n, vt, 2, &vt_size) || vt_size < 10 || !peek(fd, n, vt + 8, 2, &entry) || entry == 0 ||
	    !peek(fd, n, root + entry, 4, &u) || u == 0 || !peek(fd, n, root + entry + u, 4, &count))
		return false;
	image = root + entry + u + 4;
	if (count > n - image || !peek(fd, n, image + 8, 4, &magic) || magic != 0x30306865u /* "eh00" */ ||
	    !peek(fd, n, image + 12, 4, &header_len) || header_len < 24 || !peek(fd, n, image + 16, 8, &program_size) ||
	    program_size < 8 + header_len || program_size > count)
		return false;
	/* The head the image's header check reads stays readable even when the program claims to be shorter. */
	head = count < 64 ? count : 64;
	*start = image + (program_size > head ? program_size : head);
	*end = image + count;
	return *start < *end;
}

int pf_pte_read_bundled(uint8_t **out, pf_pte_info *info, int fd, uint64_t n, const char *path)
{
	uint64_t start = n, end = n, wanted;
	uint8_t *buf = NULL;
	int err = 0;
	*out = NULL;
	if (n > PF_FB_MAX_REGION) {
		FATAL(info, "the bundle is %llu bytes, over FlatBuffers' 2 GiB limit: no runtime can read it",
		      (unsigned long long)n);
		return 0;
	}
	if (!locate_segments(fd, n, &start, &end))
		start = end = n;
	wanted = n - (end - start);
	if (wanted > PF_PTE_MAX_PROGRAM_BYTES) {
		WARN(info,
		     "the bundle's test cases and program take %llu bytes, over the %u bytes this reader holds in "
		     "memory: the bundle is too large to check structurally",
		     (unsigned long long)wanted, PF_PTE_MAX_PROGRAM_BYTES);
		return 0;
	}
	/* calloc: the pages of the hole are never touched, so they cost no memory. */
	buf = pf_xcalloc(n ? (size_t)n : 1, 1);
	if ((err = pf_pte_read_full(fd, buf, (size_t)start, 0, path)) < 0 ||
	    (err = pf_pte_read_full(fd, buf + end, (size_t)(n - end), end, path)) < 0) {
		free(buf);
		return err;
	}
	*out = buf;
	return 0;
}
