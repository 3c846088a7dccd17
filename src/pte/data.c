/*
 * The program-wide data tables of a .pte (pte-format.md sections 3 and 4):
 * segments with their absolute ranges, the constant segment or the
 * deprecated inline constants, mutable data segments and named data. Part
 * of the Program walk (walk.h); plans refer to what is collected here.
 * Workload: O(1) per entry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pte/walk.h"
#include "util/mem.h"

uint64_t pf_pte_walk_segment_size(pf_pte_walk *w, uint64_t idx)
{
	return idx < w->info->n_segments ? w->info->segments[idx].size : 0;
}

bool pf_pte_walk_spend_name(pf_pte_walk *w, uint32_t len)
{
	return pf_fb_spend(w->fb, 1 + (uint64_t)len);
}

void pf_pte_walk_segments(pf_pte_walk *w, const pf_fb_table *program)
{
	pf_pte_info *info = w->info;
	pf_fb_vec v;
	uint64_t prev_off = 0, prev_end = 0, limit;
	bool warned_order = false, warned_overlap = false, warned_home = false;
	pf_fb_vector(w->fb, program, 4, 4, &v, "Program.segments");
	if (w->fb->failed || v.n == 0)
		return;
	limit = info->file_size > info->segment_base_offset ? info->file_size - info->segment_base_offset : 0;
	for (uint32_t k = 0; k < v.n; k++) {
		pf_fb_table t;
		uint64_t off, size, end, abs_end;
		if (!pf_fb_vec_table(w->fb, &v, k, &t, "DataSegment"))
			return;
		off = pf_fb_u64(w->fb, &t, 0, 0);
		size = pf_fb_u64(w->fb, &t, 1, 0);
		if (w->fb->failed)
			return;
		pf_pte_add_segment(info, off, size);
		if (pf_add_overflow(info->segment_bytes, size, &info->segment_bytes))
			info->segment_bytes = UINT64_MAX;
		if (pf_add_overflow(off, size, &end)) {
			FATAL(w, "segment %u: offset %llu + size %llu overflows: the program is corrupt", (unsigned)k,
			      (unsigned long long)off, (unsigned long long)size);
			continue;
		}
		if (size > 0 && !w->has_segments_home) {
			if (!warned_home)
				FATAL(w,
				      "segment %u holds %llu bytes but the file has no extended header with a segment "
				      "base: the data has nowhere to live and the runtime cannot load it",
				      (unsigned)k, (unsigned long long)size);
			warned_home = true;
			continue;
		}
		if (size > 0 && info->header_length >= 32 && end > info->segment_data_size)
			FATAL(w,
			      "segment %u ends at byte %llu of the segment data, past its declared size (%llu bytes): "
			      "the program is corrupt",
			      (unsigned)k, (unsigned long long)end, (unsigned long long)info->segment_data_size);
		else if (size > 0 && end > limit) {
			abs_end = pf_add_overflow(info->segment_base_offset, end, &abs_end) ? UINT64_MAX : abs_end;
			FATAL(w,
			      "segment %u ends at byte %llu, past the end of the file (%llu bytes): the file is "
			      "truncated",
			      (unsigned)k, (unsigned long long)abs_end, (unsigned long long)info->file_size);
		}
		if (k > 0 && off < prev_off && !warned_order) {
			WARN(w, "segment %u starts before segment %u: segments are not sorted by offset", (unsigned)k,
			     (unsigned)(k - 1));
			warned_order = true;
		}
		if (size > 0 && off < prev_end && !warned_overlap) {
			WARN(w, "segment %u (bytes %llu..%llu) overlaps an earlier segment ending at %llu", (unsigned)k,
			     (unsigned long long)off, (unsigned long long)end, (unsigned long long)prev_end);
			warned_overlap = true;
		}
		prev_off = off;
		if (size > 0 && end > prev_end)
			prev_end = end;
	}
}

/* Program.constant_segment and the deprecated inline constant_buffer. */
void pf_pte_walk_constants(pf_pte_walk *w, const pf_fb_table *program)
{
	pf_pte_info *info = w->info;
	pf_fb_table cs;
	uint32_t seg = 0;
	bool has_cs;
	pf_fb_vector(w->fb, program, 2, 4, &w->constant_buffer, "Program.constant_buffer");
	info->n_constant_buffers = w->constant_buffer.n;
	for (uint32_t i = 0; i < w->constant_buffer.n && !w->fb->failed; i++) {
		pf_fb_table b;
		pf_fb_vec storage;
		if (!pf_fb_vec_table(w->fb, &w->constant_buffer, i, &b, "Buffer"))
			return;
		pf_fb_vector(w->fb, &b, 0, 1, &storage, "Buffer.storage");
		info->constant_bytes += storage.n;
	}
	has_cs = pf_fb_subtable(w->fb, program, 5, &cs, "SubsegmentOffsets");
	if (has_cs) {
		seg = pf_fb_u32(w->fb, &cs, 0, 0);
		pf_fb_vector(w->fb, &cs, 1, 8, &w->cs_offsets, "constant_segment.offsets");
	}
	if (w->fb->failed)
		return;
	/*
	 * Without even the placeholder offset the runtime takes the inline
	 * constant_buffer path, constants or not. The layout is valid (v0.1-v0.3,
	 * deprecated since), but ExecuTorch 1.5 runtimes as released leave that
	 * path out (ET_ENABLE_DEPRECATED_CONSTANT_BUFFER=0): Program::load fails
	 * with InvalidProgram there. Exporters since v0.4 always write [0]. A
	 * warning, not a fatal finding: a runtime built with the flag loads it.
	 */
	if (w->cs_offsets.n == 0)
		WARN(w,
		     "the program keeps its constants in the deprecated inline constant_buffer layout (%u buffers, no "
		     "constant segment offsets): ExecuTorch 1.5 runtimes as released refuse to load it (\"PTE file "
		     "relies on the constant_buffer path\"); re-export it with a current ExecuTorch to run it there",
		     (unsigned)w->constant_buffer.n);
	if (w->cs_offsets.n <= 1)
		return;
	if (seg >= info->n_segments) {
		FATAL(w, "the constant segment is segment %u, but the program has %zu segments: the program is corrupt",
		      (unsigned)seg, info->n_segments);
		return;
	}
	if (!w->has_segments_home)
		FATAL(w,
		      "the program has %u constant tensors in a segment but no extended header: the constants "
		      "have nowhere to live",
		      (unsigned)(w->cs_offsets.n - 1));
	if (w->constant_buffer.n > 0)
		FATAL(w,
		      "constants are stored both inline (%u buffers) and in a segment (%u offsets): the runtime "
		      "refuses such a program",
		      (unsigned)w->constant_buffer.n, (unsigned)w->cs_offsets.n);
	w->cs_ok = true;
	w->cs_size = pf_pte_walk_segment_size(w, seg);
	info->constant_bytes += w->cs_size;
}

void pf_pte_walk_mutable_segments(pf_pte_walk *w, const pf_fb_table *program)
{
	pf_fb_vec *v = &w->mutable_segments;
	pf_fb_vector(w->fb, program, 6, 4, v, "Program.mutable_data_segments");
	for (uint32_t m = 0; m < v->n && !w->fb->failed; m++) {
		pf_fb_table t;
		pf_fb_vec offs;
		uint32_t seg;
		if (!pf_fb_vec_table(w->fb, v, m, &t, "SubsegmentOffsets"))
			return;
		seg = pf_fb_u32(w->fb, &t, 0, 0);
		pf_fb_vector(w->fb, &t, 1, 8, &offs, "mutable_data_segments.offsets");
		if (w->fb->failed)
			return;
		if (offs.n > 1 && seg >= w->info->n_segments) {
			FATAL(w,
			      "mutable data %u is segment %u, but the program has %zu segments: the program is corrupt",
			      (unsigned)m, (unsigned)seg, w->info->n_segments);
			continue;
		}
		for (uint32_t i = 1; i < offs.n && !w->fb->failed; i++) {
			uint64_t o = pf_fb_vec_u64(w->fb, &offs, i);
			if (o > pf_pte_walk_segment_size(w, seg)) {
				FATAL(w,
				      "mutable data %u: offset %llu lies past the end of segment %u (%llu bytes): the "
				      "program is corrupt",
				      (unsigned)m, (unsigned long long)o, (unsigned)seg,
				      (unsigned long long)pf_pte_walk_segment_size(w, seg));
				break;
			}
		}
	}
}

void pf_pte_walk_named_data(pf_pte_walk *w, const pf_fb_table *program)
{
	pf_pte_info *info = w->info;
	pf_fb_vec v;
	const char *dup;
	pf_fb_vector(w->fb, program, 7, 4, &v, "Program.named_data");
	if (v.n > 0 && !w->has_segments_home)
		FATAL(w,
		      "the program names %u data blobs but has no extended header: their segments have nowhere "
		      "to live",
		      (unsigned)v.n);
	for (uint32_t i = 0; i < v.n && !w->fb->failed; i++) {
		pf_fb_table t;
		const char *key;
		uint32_t len, seg;
		if (!pf_fb_vec_table(w->fb, &v, i, &t, "NamedData"))
			return;
		if (!pf_fb_string(w->fb, &t, 0, &key, &len, "NamedData.key")) {
			if (!w->fb->failed)
				FATAL(w, "named data %u has no key: the program is corrupt", (unsigned)i);
			continue;
		}
		seg = pf_fb_u32(w->fb, &t, 1, 0);
		if (!pf_pte_walk_spend_name(w, len))
			return;
		pf_pte_list_add(info, &info->named_data_keys, &info->n_named_data, key, len);
		if (seg >= info->n_segments) {
			char *name = pf_pte_name_dup(key, len);
			FATAL(w,
			      "named data \"%s\" is in segment %u, but the program has %zu segments: the program is "
			      "corrupt",
			      name, (unsigned)seg, info->n_segments);
			free(name);
		}
	}
	if (pf_pte_strv_find_duplicate(info->named_data_keys, info->n_named_data, &dup))
		WARN(w, "named data key \"%.512s\" appears more than once: only one of its blobs can be found", dup);
}

/* Check a vector of value indices (i32, or i64 for IntList items); reports the first bad one. */
