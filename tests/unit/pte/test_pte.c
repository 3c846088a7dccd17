/*
 * Unit tests of the .pte/.ptd reader (src/pte): real files written by
 * ExecuTorch (tests/resources/pte, see its README) parse with the expected
 * methods, segments and keys; then mutations of those real bytes (every
 * truncation, bad magic, bad header numbers, out-of-range and overflowing
 * segments, huge counts, bad offsets) each give a FATAL finding and never
 * crash (the suite runs under ASan and UBSan); and a synthetic program with a
 * million shared tables hits the work budget. Programs built field by field
 * (fbb.h) for the checks the mutations cannot reach are in test_hostile.c.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pte_test.h"

/* A new empty temporary file under $TMPDIR (or the system default); path receives its name. */
static int temp_file(char *path, size_t size)
{
	const char *dir = getenv("TMPDIR");
	int fd;
	snprintf(path, size, "%s/pf-pte-test-XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0, "cannot create a temporary file in %s", path);
	return fd;
}

/*
 * true when `info` has a fatal finding that the unmutated file (`base`) does
 * not: a mutation of a file that is refused already (an old layout) must
 * still be caught by a finding of its own.
 */
static bool new_fatal(const pf_pte_info *info, const pf_pte_info *base)
{
	for (size_t i = 0; i < info->n_findings; i++) {
		bool known = false;
		if (info->findings[i].severity != PF_PTE_FATAL)
			continue;
		for (size_t k = 0; k < base->n_findings && !known; k++)
			known = base->findings[k].severity == PF_PTE_FATAL &&
			        !strcmp(base->findings[k].message, info->findings[i].message);
		if (!known)
			return true;
	}
	return false;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Test-side navigation, written independently of the reader: address of a table's reference field target. */
static size_t ref_target(const uint8_t *d, size_t table, unsigned slot)
{
	size_t vt = table - (size_t)(int32_t)get32(d + table);
	unsigned vt_size = d[vt] | d[vt + 1] << 8;
	unsigned e;
	cr_assert(4 + 2 * slot + 2 <= vt_size, "slot %u absent", slot);
	e = d[vt + 4 + 2 * slot] | d[vt + 5 + 2 * slot] << 8;
	cr_assert_neq(e, 0);
	return table + e + get32(d + table + e);
}

/* Position of the Program's execution_plan vector (its count word). */
static size_t plans_vector(const uint8_t *d)
{
	return ref_target(d, get32(d), 1);
}

/* ---- the real files ---- */

Test(pte_fixture, add_without_extended_header)
{
	bytes b = load("add-no-extended-header.pte");
	pf_pte_info *info = inspect(b.data, b.len);
	dump_findings(info);
	cr_assert(pf_pte_ok(info));
	cr_assert_eq(info->kind, PF_FILE_PTE);
	cr_assert_str_eq(info->identifier, "ET12");
	cr_assert_not(info->has_extended_header);
	cr_assert_eq(info->n_methods, 1);
	cr_assert_str_eq(info->methods[0].name, "forward");
	cr_assert_eq(info->methods[0].n_inputs, 2);
	cr_assert_eq(info->methods[0].n_outputs, 1);
	cr_assert_eq(info->methods[0].n_operators, 1);
	cr_assert_eq(info->n_backends, 0);
	/* A zero-size placeholder segment without a header is normal. */
	cr_assert_eq(info->n_segments, 1);
	cr_assert_eq(info->segments[0].size, 0);
	cr_assert_eq(info->n_findings, 0);
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_fixture, add_with_eh00_header_and_segment)
{
	bytes b = load("add-eh00-segments.pte");
	pf_pte_info *info = inspect(b.data, b.len);
	dump_findings(info);
	cr_assert(pf_pte_ok(info));
	cr_assert(info->has_extended_header);
	cr_assert_eq(info->header_length, 32);
	cr_assert_eq(info->program_size, 1040);
	cr_assert_eq(info->segment_base_offset, 1152);
	cr_assert_eq(info->segment_data_size, 4);
	cr_assert_eq(info->segment_base_offset + info->segment_data_size, b.len);
	cr_assert_eq(info->n_segments, 1);
	cr_assert_eq(info->segments[0].size, 4);
	cr_assert_eq(info->n_methods, 1);
	cr_assert_str_eq(info->methods[0].name, "forward");
	cr_assert_eq(info->constant_bytes, 4);
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_fixture, linear_with_inline_constants_is_read_with_a_warning)
{
	/*
	 * Sound, with a warning: its constant_segment has no offsets, so the
	 * runtime takes the inline constant_buffer path, which ExecuTorch 1.5
	 * runtimes as released leave out ("PTE file relies on the constant_buffer
	 * path", InvalidProgram; checked with the executorch 1.5.1 runtime).
	 */
	bytes b = load("linear-no-constant-segment.pte");
	pf_pte_info *info = inspect(b.data, b.len);
	dump_findings(info);
	cr_assert_eq(info->n_fatal, 0, "%s", pf_pte_first_fatal(info));
	cr_assert(has_finding(info, PF_PTE_WARN, "deprecated inline constant_buffer"));
	cr_assert_eq(info->n_methods, 1);
	cr_assert_eq(info->methods[0].n_inputs, 1);
	cr_assert_eq(info->methods[0].n_outputs, 1);
	cr_assert_eq(info->n_constant_buffers, 3);
	cr_assert_gt(info->constant_bytes, 0);
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_fixture, xnnpack_delegate_is_listed)
{
	bytes b = load("xnnpack-linear.pte");
	pf_pte_info *info = inspect(b.data, b.len);
	dump_findings(info);
	cr_assert(pf_pte_ok(info));
	cr_assert_eq(info->n_methods, 1);
	cr_assert_eq(info->n_backends, 1);
	cr_assert_str_eq(info->backends[0], "XnnpackBackend");
	cr_assert_eq(info->methods[0].n_delegates, 1);
	cr_assert_str_eq(info->methods[0].delegates[0], "XnnpackBackend");
	cr_assert_geq(info->n_segments, 2);
	/* XNNPACK's weights are named data blobs (SHA-256 keys) in the .pte itself. */
	cr_assert_gt(info->n_named_data, 0);
	cr_assert_eq(strlen(info->named_data_keys[0]), 64);
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_fixture, separated_pair_keys_match)
{
	bytes p = load("separated-linear.pte"), d = load("separated-linear.ptd");
	pf_pte_info *pte = inspect(p.data, p.len), *ptd = inspect(d.data, d.len);
	dump_findings(pte);
	dump_findings(ptd);
	cr_assert(pf_pte_ok(pte));
	cr_assert(pf_pte_ok(ptd));
	cr_assert_eq(ptd->kind, PF_FILE_PTD);
	cr_assert_eq(ptd->ptd_version, 0);
	cr_assert_not(ptd->ptd_legacy_layout);
	cr_assert_gt(pte->n_external, 0);
	cr_assert(has_finding(pte, PF_PTE_WARN, "EXTERNAL"));
	cr_assert_eq(pte->n_external, ptd->n_data_keys);
	for (size_t i = 0; i < pte->n_external; i++) {
		bool found = false;
		for (size_t k = 0; k < ptd->n_data_keys; k++)
			found |= !strcmp(pte->external_keys[i], ptd->data_keys[k]);
		cr_assert(found, "external key %s is not in the .ptd", pte->external_keys[i]);
	}
	cr_assert_eq(pf_pte_check_external(pte, ptd), 0);
	cr_assert(pf_pte_ok(pte));
	cr_assert_eq(ptd->n_segments, ptd->n_data_keys);
	pf_pte_info_free(pte);
	pf_pte_info_free(ptd);
	free(p.data);
	free(d.data);
}

Test(pte_fixture, missing_external_keys_are_fatal)
{
	bytes p = load("separated-linear.pte"), other = load("add-eh00-segments.pte");
	pf_pte_info *pte = inspect(p.data, p.len), *not_ptd = inspect(other.data, other.len);
	size_t want = pte->n_external;
	cr_assert_gt(want, 0);
	cr_assert_eq(pf_pte_check_external(pte, not_ptd), want);
	cr_assert_not(pf_pte_ok(pte));
	cr_assert(has_finding(pte, PF_PTE_FATAL, "is not among"));
	pf_pte_info_free(pte);
	pf_pte_info_free(not_ptd);
	free(p.data);
	free(other.data);
}

Test(pte_fixture, file_and_bytes_agree)
{
	static const char *names[] = {"add-no-extended-header.pte",     "add-eh00-segments.pte",
	                              "linear-no-constant-segment.pte", "xnnpack-linear.pte",
	                              "separated-linear.pte",           "separated-linear.ptd"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[1024];
		bytes b = load(names[i]);
		pf_pte_info *a = inspect(b.data, b.len), *f = NULL;
		snprintf(path, sizeof(path), "%s%s", RES, names[i]);
		cr_assert_eq(pf_pte_inspect_file(&f, path), 0);
		cr_assert_eq(a->kind, f->kind);
		cr_assert_eq(a->n_methods, f->n_methods);
		cr_assert_eq(a->n_segments, f->n_segments);
		cr_assert_eq(a->n_findings, f->n_findings);
		cr_assert_eq(a->program_extent, f->program_extent);
		cr_assert_eq(pf_pte_ok(a), pf_pte_ok(f));
		pf_pte_info_free(a);
		pf_pte_info_free(f);
		free(b.data);
	}
}

/*
 * Planned memory (ExecutionPlan.non_const_buffer_sizes without the reserved
 * entry 0): the figures ExecuTorch's own deserializer gives for these files
 * (exir._serialize._program.deserialize_pte_binary, executorch 1.5.1).
 */
Test(pte_planned, fixtures_match_executorch)
{
	static const struct {
		const char *name;
		uint64_t planned;
	} want[] = {{"add-no-extended-header.pte", 48},     {"add-eh00-segments.pte", 32},
	            {"linear-no-constant-segment.pte", 32}, {"xnnpack-linear.pte", 112},
	            {"separated-linear.pte", 176}};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		bytes b = load(want[i].name);
		pf_pte_info *info = inspect(b.data, b.len);
		uint64_t program = info->has_extended_header ? info->program_size : info->file_size;
		cr_assert_eq(info->n_methods, 1);
		cr_assert_eq(info->methods[0].planned_bytes, want[i].planned, "%s: %llu", want[i].name,
		             (unsigned long long)info->methods[0].planned_bytes);
		cr_assert_eq(info->methods[0].n_planned_buffers, 1);
		cr_assert_eq(pf_pte_max_planned_bytes(info), want[i].planned);
		cr_assert_eq(pf_pte_runtime_bytes(info), program + info->segment_bytes + want[i].planned);
		pf_pte_info_free(info);
		free(b.data);
	}
}

Test(pte_planned, ptd_has_no_runtime_figure)
{
	bytes b = load("separated-linear.ptd");
	pf_pte_info *info = inspect(b.data, b.len);
	cr_assert_eq(pf_pte_runtime_bytes(info), 0);
	cr_assert_eq(pf_pte_max_planned_bytes(info), 0);
	cr_assert_eq(pf_pte_runtime_bytes(NULL), 0);
	pf_pte_info_free(info);
	free(b.data);
}

/* [count 2][i64 0][i64 112]: the sizes vector of xnnpack-linear.pte; a negative arena is fatal. */
Test(pte_planned, negative_buffer_size_is_fatal)
{
	bytes b = load("xnnpack-linear.pte");
	size_t at = 0;
	bool found = false;
	for (size_t i = 0; i + 20 <= b.len && !found; i++) {
		static const uint8_t pat[20] = {2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 112, 0, 0, 0, 0, 0, 0, 0};
		if (!memcmp(b.data + i, pat, sizeof(pat))) {
			at = i + 12;
			found = true;
		}
	}
	cr_assert(found, "the sizes vector was not found in the fixture");
	memset(b.data + at, 0xff, 8); /* -1 */
	{
		pf_pte_info *info = inspect(b.data, b.len);
		cr_assert_not(pf_pte_ok(info));
		cr_assert(has_finding(info, PF_PTE_FATAL, "negative size"));
		cr_assert_eq(info->methods[0].planned_bytes, 0);
		pf_pte_info_free(info);
	}
	free(b.data);
}

Test(pte_file, missing_file_is_not_found)
{
	pf_pte_info *info = (pf_pte_info *)1;
	cr_assert_eq(pf_pte_inspect_file(&info, RES "no-such-file.pte"), PF_ENOTFOUND);
	cr_assert_null(info);
}

Test(pte_file, empty_file_is_fatal)
{
	char path[1024];
	int fd = temp_file(path, sizeof(path));
	pf_pte_info *info = NULL;
	close(fd);
	cr_assert_eq(pf_pte_inspect_file(&info, path), 0);
	unlink(path);
	cr_assert_not(pf_pte_ok(info));
	cr_assert(has_finding(info, PF_PTE_FATAL, "empty"));
	pf_pte_info_free(info);
}

/* ---- mutations of real bytes ---- */

/*
 * Every truncation of every real file: a fatal finding (one the whole file
 * does not have already), or provably harmless: without an extended header
 * the whole file is the program, so a cut past every byte the reader
 * examined changes nothing (same result, no new fatal).
 */
static void truncations(const char *name)
{
	bytes b = load(name);
	pf_pte_info *full = inspect(b.data, b.len);
	size_t harmless = 0;
	cr_assert(pf_pte_ok(full));
	for (size_t len = 0; len < b.len; len++) {
		uint8_t *copy = malloc(len ? len : 1);
		pf_pte_info *info;
		memcpy(copy, b.data, len);
		info = inspect(copy, len);
		if (!new_fatal(info, full)) {
			cr_assert_not(full->has_extended_header, "%s cut to %zu bytes passed", name, len);
			cr_assert_eq(full->kind, PF_FILE_PTE);
			cr_assert_geq(len, full->program_extent,
			              "%s cut to %zu bytes (before byte %llu that the reader "
			              "needs) passed",
			              name, len, (unsigned long long)full->program_extent);
			cr_assert_eq(info->n_methods, full->n_methods);
			cr_assert_eq(info->n_segments, full->n_segments);
			harmless++;
		} else {
			cr_assert_not_null(pf_pte_first_fatal(info));
		}
		pf_pte_info_free(info);
		free(copy);
	}
	/* Files with headers have no harmless cut at all. */
	if (full->has_extended_header)
		cr_assert_eq(harmless, 0);
	pf_pte_info_free(full);
	free(b.data);
}

Test(pte_truncation, every_cut_of_add_without_header)
{
	truncations("add-no-extended-header.pte");
}

Test(pte_truncation, every_cut_of_add_with_header)
{
	truncations("add-eh00-segments.pte");
}

Test(pte_truncation, every_cut_of_linear)
{
	truncations("linear-no-constant-segment.pte");
}

Test(pte_truncation, every_cut_of_xnnpack)
{
	truncations("xnnpack-linear.pte");
}

Test(pte_truncation, every_cut_of_separated_pair)
{
	truncations("separated-linear.pte");
	truncations("separated-linear.ptd");
}

Test(pte_truncation, cut_segment_data_names_the_problem)
{
	bytes b = load("xnnpack-linear.pte");
	pf_pte_info *info = inspect(b.data, b.len - 100);
	cr_assert_not(pf_pte_ok(info));
	cr_assert(has_finding(info, PF_PTE_FATAL, "past the end of the file"), "%s", pf_pte_first_fatal(info));
	cr_assert(has_finding(info, PF_PTE_FATAL, "truncated"));
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_magic, not_executorch)
{
	bytes b = load("add-eh00-segments.pte");
	pf_pte_info *info;
	memcpy(b.data + 4, "ZIP!", 4);
	info = inspect(b.data, b.len);
	cr_assert_not(pf_pte_ok(info));
	cr_assert_eq(info->kind, PF_FILE_UNKNOWN);
	cr_assert(has_finding(info, PF_PTE_FATAL, "not an ExecuTorch file"));
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_magic, other_program_version_is_fatal)
{
	bytes b = load("add-eh00-segments.pte");
	pf_pte_info *info;
	memcpy(b.data + 4, "ET13", 4);
	info = inspect(b.data, b.len);
	cr_assert_not(pf_pte_ok(info));
	cr_assert(has_finding(info, PF_PTE_FATAL, "incompatible"));
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_magic, unknown_extended_header_version_is_fatal)
{
	bytes b = load("add-eh00-segments.pte");
	pf_pte_info *info;
	memcpy(b.data + 8, "eh01", 4);
	info = inspect(b.data, b.len);
	cr_assert_not(pf_pte_ok(info));
	cr_assert(has_finding(info, PF_PTE_FATAL, "extended header version"));
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_magic, bad_ptd_header_magic)
{
	bytes b = load("separated-linear.ptd");
	pf_pte_info *info;
	memcpy(b.data + 8, "FH02", 4);
	info = inspect(b.data, b.len);
	cr_assert_not(pf_pte_ok(info));
	cr_assert(has_finding(info, PF_PTE_FATAL, "FH01"));
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_header, short_header_length)
{
	bytes b = load("add-eh00-segments.pte");
	pf_pte_info *info;
	put32(b.data + 12, 16);
	info = inspect(b.data, b.len);
	cr_assert(has_finding(info, PF_PTE_FATAL, "below the minimum of 24"));
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_header, huge_header_length)
{
	bytes b = load("add-eh00-segments.pte");
	pf_pte_info *info;
	put32(b.data + 12, 0xfffffff0u);
	info = inspect(b.data, b.len);
	cr_assert(has_finding(info, PF_PTE_FATAL, "too short for its"));
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_header, program_size_past_end)
{
	bytes b = load("add-eh00-segments.pte");
	pf_pte_info *info;
	put64(b.data + 16, b.len + 1);
	info = inspect(b.data, b.len);
	cr_assert(has_finding(info, PF_PTE_FATAL, "past the end of the file"));
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_header, program_size_inside_header)
{
	bytes b = load("add-eh00-segments.pte");
	pf_pte_info *info;
	put64(b.data + 16, 20);
	info = inspect(b.data, b.len);
	cr_assert(has_finding(info, PF_PTE_FATAL, "smaller than the headers"));
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_header, segment_base_inside_program)
{
	bytes b = load("add-eh00-segments.pte");
	pf_pte_info *info;
	put64(b.data + 24, 512);
	info = inspect(b.data, b.len);
	cr_assert(has_finding(info, PF_PTE_FATAL, "inside the program"));
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_header, segment_data_overflows)
{
	bytes b = load("add-eh00-segments.pte");
	pf_pte_info *info;
	put64(b.data + 32, UINT64_MAX - 100);
	info = inspect(b.data, b.len);
	cr_assert(has_finding(info, PF_PTE_FATAL, "overflows"));
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_header, trailing_bytes_warn)
{
	bytes b = load("add-eh00-segments.pte");
	uint8_t *big = calloc(1, b.len + 16);
	pf_pte_info *info;
	memcpy(big, b.data, b.len);
	info = inspect(big, b.len + 16);
	cr_assert(pf_pte_ok(info));
	cr_assert(has_finding(info, PF_PTE_WARN, "trailing"));
	pf_pte_info_free(info);
	free(big);
	free(b.data);
}

Test(pte_header, ptd_index_past_end)
{
	bytes b = load("separated-linear.ptd");
	pf_pte_info *info;
	put64(b.data + 24, b.len);
	info = inspect(b.data, b.len);
	cr_assert(has_finding(info, PF_PTE_FATAL, "past the end of the file"));
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_segments, segment_past_declared_data)
{
	/* add-eh00-segments.pte: DataSegment 0's size (4) is the u64 at byte 128 (checked below). */
	bytes b = load("add-eh00-segments.pte");
	pf_pte_info *info;
	cr_assert_eq(get32(b.data + 128), 4);
	put64(b.data + 128, 1200300);
	info = inspect(b.data, b.len);
	cr_assert(has_finding(info, PF_PTE_FATAL, "segment 0 ends at byte 1200300"), "%s", pf_pte_first_fatal(info));
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_segments, segment_past_end_of_file_without_size)
{
	/* A pre-1.0 header (24 bytes) has no segment_data_size: the per-segment check must catch it. */
	bytes b = load("add-eh00-segments.pte");
	pf_pte_info *info;
	put32(b.data + 12, 24);
	put64(b.data + 128, 1200300);
	info = inspect(b.data, b.len);
	cr_assert(has_finding(info, PF_PTE_FATAL, "past the end of the file (1156 bytes)"), "%s",
	          pf_pte_first_fatal(info));
	pf_pte_info_free(info);
	free(b.data);
}

static size_t find_u64(const bytes *b, uint64_t v, size_t limit)
{
	size_t hit = 0, count = 0;
	for (size_t i = 0; i + 8 <= limit; i++) {
		uint64_t x = get32(b->data + i) | (uint64_t)get32(b->data + i + 4) << 32;
		if (x == v)
			hit = i, count++;
	}
	cr_assert_eq(count, 1, "value %llu found %zu times", (unsigned long long)v, count);
	return hit;
}

Test(pte_segments, overflowing_segment_offset)
{
	bytes b = load("xnnpack-linear.pte");
	pf_pte_info *full = inspect(b.data, b.len), *info;
	size_t at;
	cr_assert_eq(full->segments[2].offset, 768);
	at = find_u64(&b, 768, full->program_size);
	put64(b.data + at, UINT64_MAX - 8);
	info = inspect(b.data, b.len);
	cr_assert(has_finding(info, PF_PTE_FATAL, "overflows"), "%s", pf_pte_first_fatal(info));
	pf_pte_info_free(info);
	pf_pte_info_free(full);
	free(b.data);
}

Test(pte_segments, segment_data_without_header)
{
	/* Drop the eh00 header of a file with real segment data: the data has nowhere to live. */
	bytes b = load("add-eh00-segments.pte");
	pf_pte_info *info;
	memcpy(b.data + 8, "xx00", 4);
	info = inspect(b.data, b.len);
	cr_assert(has_finding(info, PF_PTE_FATAL, "no extended header"), "%s", pf_pte_first_fatal(info));
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_program, zero_execution_plans_warn)
{
	/* pte-format.md section 7: loadable but useless, a warning (a pipeline naming its methods fails their gate). */
	bytes b = load("add-no-extended-header.pte");
	pf_pte_info *info;
	put32(b.data + plans_vector(b.data), 0);
	info = inspect(b.data, b.len);
	cr_assert_eq(info->n_methods, 0);
	cr_assert(has_finding(info, PF_PTE_WARN, "zero methods"));
	cr_assert(pf_pte_ok(info), "%s", pf_pte_first_fatal(info));
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_program, huge_plan_count)
{
	bytes b = load("add-no-extended-header.pte");
	pf_pte_info *info;
	put32(b.data + plans_vector(b.data), 0xffffffffu);
	info = inspect(b.data, b.len);
	cr_assert(has_finding(info, PF_PTE_FATAL, "claims 4294967295 elements"), "%s", pf_pte_first_fatal(info));
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_program, huge_value_count)
{
	bytes b = load("add-no-extended-header.pte");
	size_t plan = plans_vector(b.data) + 4;
	size_t values;
	pf_pte_info *info;
	plan += get32(b.data + plan);
	values = ref_target(b.data, plan, 2);
	put32(b.data + values, 0x40000000u);
	info = inspect(b.data, b.len);
	cr_assert(has_finding(info, PF_PTE_FATAL, "ExecutionPlan.values"), "%s", pf_pte_first_fatal(info));
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_program, bad_offsets_never_crash)
{
	/* Overwrite every aligned word of the program with hostile values, one at a time. */
	static const uint32_t evil[] = {0, 1, 3, 4, 0x7fffffffu, 0x80000000u, 0xfffffffcu, 0xffffffffu};
	bytes b = load("linear-no-constant-segment.pte");
	pf_pte_info *base = inspect(b.data, b.len);
	size_t fatal = 0, runs = 0;
	for (size_t at = 0; at + 4 <= b.len; at += 4) {
		uint32_t saved = get32(b.data + at);
		for (size_t k = 0; k < sizeof(evil) / sizeof(evil[0]); k++) {
			pf_pte_info *info;
			put32(b.data + at, evil[k]);
			info = inspect(b.data, b.len);
			fatal += new_fatal(info, base);
			runs++;
			pf_pte_info_free(info);
		}
		put32(b.data + at, saved);
	}
	pf_pte_info_free(base);
	/* Most words matter; many mutations must be caught (the rest hit padding or free scalars). */
	cr_assert_gt(fatal, runs / 4, "%zu of %zu mutations were fatal", fatal, runs);
	free(b.data);
}

Test(pte_program, root_pointing_at_itself)
{
	bytes b = load("add-no-extended-header.pte");
	pf_pte_info *info;
	put32(b.data, 0);
	info = inspect(b.data, b.len);
	cr_assert(has_finding(info, PF_PTE_FATAL, "root offset"));
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_program, vtable_outside_region)
{
	bytes b = load("add-no-extended-header.pte");
	pf_pte_info *info;
	put32(b.data + get32(b.data), 0x80000000u); /* root table soffset: vtable at a huge address */
	info = inspect(b.data, b.len);
	cr_assert(has_finding(info, PF_PTE_FATAL, "vtable"), "%s", pf_pte_first_fatal(info));
	pf_pte_info_free(info);
	free(b.data);
}

/*
 * A synthetic program (no header, built with fbb.h): one plan "forward"
 * whose `n` values all point at one shared Null EValue; *tag receives the
 * position of that EValue's type tag.
 */
static bytes synthetic(uint32_t n, size_t *tag)
{
	fbb b;
	bytes out;
	size_t plans, values, plan, ev, val;
	fbb_program(&b, 1, &plans);
	plan = fbb_plan(&b, "forward", n, &values);
	fbb_vec_ref(&b, plans, 0, plan);
	ev = fbb_evalue(&b, 1, 0, &val);
	for (uint32_t i = 0; i < n; i++)
		fbb_vec_ref(&b, values, i, ev);
	if (tag)
		*tag = fbb_field(&b, ev, 0);
	out.data = b.d;
	out.len = b.len;
	return out;
}

Test(pte_budget, synthetic_program_is_valid)
{
	bytes b = synthetic(1000, NULL);
	pf_pte_info *info = inspect(b.data, b.len);
	dump_findings(info);
	cr_assert(pf_pte_ok(info));
	cr_assert_eq(info->n_findings, 0);
	cr_assert_eq(info->n_methods, 1);
	cr_assert_str_eq(info->methods[0].name, "forward");
	cr_assert_eq(info->methods[0].n_values, 1000);
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_budget, million_shared_tables_hit_the_work_cap)
{
	bytes b = synthetic(1100000, NULL);
	pf_pte_info *info = inspect(b.data, b.len);
	cr_assert_not(pf_pte_ok(info));
	cr_assert(has_finding(info, PF_PTE_FATAL, "more than 1000000 tables"), "%s", pf_pte_first_fatal(info));
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_budget, bad_indices_are_capped_findings)
{
	/* One bad shared table, seen through every value: one finding per value, the list capped. */
	size_t tag;
	bytes b = synthetic(10, &tag);
	pf_pte_info *info;
	b.data[tag] = 99; /* unknown EValue tag in the shared table: one finding per value */
	info = inspect(b.data, b.len);
	cr_assert_not(pf_pte_ok(info));
	cr_assert_eq(info->n_fatal, 10);
	cr_assert(has_finding(info, PF_PTE_FATAL, "unknown type tag 99"));
	pf_pte_info_free(info);
	free(b.data);
	b = synthetic(1000, &tag);
	b.data[tag] = 99;
	info = inspect(b.data, b.len);
	cr_assert_eq(info->n_fatal, 1000);
	cr_assert_lt(info->n_findings, 100);
	cr_assert_eq(info->n_findings + info->n_findings_dropped, 1000);
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_misc, admission_figure)
{
	cr_assert_eq(pf_pte_min_free_ram(0), 600000000ull);
	cr_assert_eq(pf_pte_min_free_ram(1000000000ull), 2200000000ull);
	cr_assert_eq(pf_pte_min_free_ram(UINT64_MAX), UINT64_MAX);
	cr_assert_str_eq(pf_file_kind_name(PF_FILE_PTD), "ptd");
}

Test(pte_misc, null_and_tiny_inputs)
{
	pf_pte_info *info = inspect(NULL, 0);
	cr_assert(has_finding(info, PF_PTE_FATAL, "empty"));
	pf_pte_info_free(info);
	info = inspect((const uint8_t *)"\0\0\0\0ET12", 8);
	cr_assert_not(pf_pte_ok(info));
	pf_pte_info_free(info);
	pf_pte_info_free(NULL);
}

/* ---- .ptd mutations ---- */

Test(pte_ptd, key_in_missing_segment)
{
	bytes b = load("separated-linear.ptd");
	pf_pte_info *info;
	put32(b.data + ref_target(b.data, get32(b.data), 1), 0); /* FlatTensor.segments: now empty */
	info = inspect(b.data, b.len);
	cr_assert_not(pf_pte_ok(info));
	cr_assert(has_finding(info, PF_PTE_FATAL, "but the file has 0 segments"), "%s", pf_pte_first_fatal(info));
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_ptd, layout_larger_than_its_blob)
{
	/* linear.weight is [4, 8] float: its sizes vector is the words 2, 4, 8. Make it [4, 800]. */
	bytes b = load("separated-linear.ptd");
	pf_pte_info *info;
	size_t hit = 0, count = 0;
	for (size_t i = 0; i + 12 <= b.len; i += 4)
		if (get32(b.data + i) == 2 && get32(b.data + i + 4) == 4 && get32(b.data + i + 8) == 8)
			hit = i, count++;
	cr_assert_eq(count, 1);
	put32(b.data + hit + 8, 800);
	info = inspect(b.data, b.len);
	cr_assert(has_finding(info, PF_PTE_FATAL, "describes 12800 bytes"), "%s", pf_pte_first_fatal(info));
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_ptd, segment_data_past_end)
{
	bytes b = load("separated-linear.ptd");
	pf_pte_info *info;
	put64(b.data + 40, 1000000);
	info = inspect(b.data, b.len);
	cr_assert(has_finding(info, PF_PTE_FATAL,
	                      "segment data ends at byte 1000384, past the end of the file (528 "
	                      "bytes): the file is truncated"),
	          "%s", pf_pte_first_fatal(info));
	pf_pte_info_free(info);
	free(b.data);
}

/* Bytes this process has read through read/pread so far (/proc/self/io "rchar"). */
static uint64_t bytes_read_so_far(void)
{
	pf_buf b;
	const char *p;
	uint64_t v = 0;
	pf_buf_init(&b, 4096);
	cr_assert_eq(pf_fs_read_file(&b, "/proc/self/io", 4096), 0);
	p = strstr(pf_buf_cstr(&b), "rchar:");
	cr_assert_not_null(p);
	for (p += 6; *p == ' '; p++)
		;
	for (; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (uint64_t)(*p - '0');
	pf_buf_dispose(&b);
	return v;
}

static size_t field_at(const uint8_t *d, size_t table, unsigned slot)
{
	size_t vt = table - (size_t)(int32_t)get32(d + table);
	unsigned e = d[vt + 4 + 2 * slot] | d[vt + 5 + 2 * slot] << 8;
	cr_assert_neq(e, 0);
	return table + e;
}

Test(pte_file, reads_only_the_program_not_the_segments)
{
	/* Grow the last segment of a real program to 256 MiB (a sparse file), header kept consistent. */
	const uint64_t target = 256ull << 20;
	bytes b = load("xnnpack-linear.pte");
	char path[1024];
	size_t segs = ref_target(b.data, get32(b.data), 4), last_elem, last;
	uint32_t n = get32(b.data + segs);
	uint64_t sbo = get32(b.data + 24), off, before, used;
	pf_pte_info *info = NULL;
	int fd;
	last_elem = segs + 4 + 4 * (size_t)(n - 1);
	last = last_elem + get32(b.data + last_elem);
	off = get32(b.data + field_at(b.data, last, 0));
	put64(b.data + field_at(b.data, last, 1), target - sbo - off);
	put64(b.data + 32, target - sbo);
	fd = temp_file(path, sizeof(path));
	cr_assert_eq(write(fd, b.data, b.len), (ssize_t)b.len);
	cr_assert_eq(ftruncate(fd, (off_t)target), 0);
	close(fd);
	before = bytes_read_so_far();
	cr_assert_eq(pf_pte_inspect_file(&info, path), 0);
	used = bytes_read_so_far() - before;
	unlink(path);
	dump_findings(info);
	cr_assert(pf_pte_ok(info));
	cr_assert_eq(info->file_size, target);
	cr_assert_eq(info->segments[n - 1].size, target - sbo - off);
	/*
	 * The program region plus the 64-byte probe, nothing of the 256 MiB of
	 * segment data; 4 KiB of slack for the reads of /proc/self/io itself.
	 */
	cr_assert_leq(used, info->program_size + 64 + 4096, "read %llu bytes of a %llu-byte file",
	              (unsigned long long)used, (unsigned long long)target);
	pf_pte_info_free(info);
	free(b.data);
}

Test(pte_fixture, external_keys_from_any_of_several_files)
{
	bytes p = load("separated-linear.pte"), d = load("separated-linear.ptd"), o = load("xnnpack-linear.pte");
	pf_pte_info *pte = inspect(p.data, p.len), *ptd = inspect(d.data, d.len), *other = inspect(o.data, o.len);
	const pf_pte_info *set[] = {other, NULL, ptd};
	cr_assert_eq(pf_pte_check_external_any(pte, set, 3), 0);
	cr_assert(pf_pte_ok(pte));
	cr_assert_eq(pf_pte_check_external_any(pte, set, 2), pte->n_external);
	cr_assert_not(pf_pte_ok(pte));
	pf_pte_info_free(pte);
	pf_pte_info_free(ptd);
	pf_pte_info_free(other);
	free(p.data);
	free(d.data);
	free(o.data);
}

Test(pte_fixture, external_layout_mismatch_is_fatal)
{
	/* The .ptd says linear.weight is [4, 7] while the program's tensor is [4, 8]. */
	bytes p = load("separated-linear.pte"), d = load("separated-linear.ptd");
	pf_pte_info *pte, *ptd;
	size_t hit = 0, count = 0;
	for (size_t i = 0; i + 12 <= d.len; i += 4)
		if (get32(d.data + i) == 2 && get32(d.data + i + 4) == 4 && get32(d.data + i + 8) == 8)
			hit = i, count++;
	cr_assert_eq(count, 1);
	pte = inspect(p.data, p.len);
	ptd = inspect(d.data, d.len);
	cr_assert_eq(ptd->n_layouts, 2);
	cr_assert_eq(pf_pte_check_external(pte, ptd), 0, "the untouched pair must match");
	pf_pte_info_free(ptd);
	put32(d.data + hit + 8, 7);
	ptd = inspect(d.data, d.len);
	cr_assert(pf_pte_ok(ptd));
	cr_assert_eq(pf_pte_check_external(pte, ptd), 1);
	cr_assert(has_finding(pte, PF_PTE_FATAL,
	                      "\"linear.weight\" is scalar type 6 [4, 8] in the program but scalar "
	                      "type 6 [4, 7] in the .ptd"),
	          "%s", pf_pte_first_fatal(pte));
	pf_pte_info_free(pte);
	pf_pte_info_free(ptd);
	free(p.data);
	free(d.data);
}
