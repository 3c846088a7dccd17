/*
 * Walk of the FlatTensor flatbuffer of a .ptd data file (pte-format.md
 * section 5): version, segments and named data with their optional tensor
 * layouts; recognises the legacy v0.6.0 layout (section 5.3). The keys it
 * lists are what a .pte's EXTERNAL tensors are resolved against.
 *
 * Workload: one pass, O(1) per key and segment, under fb.h's work budget.
 */
#include <stdlib.h>
#include <string.h>

#include "pte/fb.h"
#include "pte/internal.h"
#include "util/mem.h"

#define FATAL(info, ...) pf_pte_add_finding((info), PF_PTE_FATAL, __VA_ARGS__)
#define WARN(info, ...) pf_pte_add_finding((info), PF_PTE_WARN, __VA_ARGS__)

static void walk_segments(pf_pte_info *info, pf_fb *fb, const pf_fb_vec *v)
{
	uint64_t limit = info->file_size > info->segment_base_offset ? info->file_size - info->segment_base_offset : 0;
	if (v->n == 0)
		return;
	for (uint32_t k = 0; k < v->n; k++) {
		pf_fb_table t;
		uint64_t off, size, end;
		if (!pf_fb_vec_table(fb, v, k, &t, "DataSegment"))
			return;
		off = pf_fb_u64(fb, &t, 0, 0);
		size = pf_fb_u64(fb, &t, 1, 0);
		if (fb->failed)
			return;
		pf_pte_add_segment(info, off, size);
		if (pf_add_overflow(info->segment_bytes, size, &info->segment_bytes))
			info->segment_bytes = UINT64_MAX;
		if (pf_add_overflow(off, size, &end))
			FATAL(info, "segment %u: offset %llu + size %llu overflows: the data file is corrupt",
			      (unsigned)k, (unsigned long long)off, (unsigned long long)size);
		else if (end > info->segment_data_size)
			FATAL(info,
			      "segment %u ends at byte %llu of the segment data, past its declared size (%llu bytes): "
			      "the data file is corrupt or truncated",
			      (unsigned)k, (unsigned long long)end, (unsigned long long)info->segment_data_size);
		else if (end > limit)
			FATAL(info, "segment %u ends past the end of the file (%llu bytes): the file is truncated",
			      (unsigned)k, (unsigned long long)info->file_size);
	}
}

/* Optional TensorLayout of a key: dtype, sizes and dim_order must agree with the blob. */
static void check_layout(pf_pte_info *info, pf_fb *fb, const pf_fb_table *layout, const char *key, uint64_t blob)
{
	pf_fb_vec sizes, dim_order;
	unsigned code = pf_fb_u8(fb, layout, 0, 0), elem = pf_pte_scalar_size(code);
	uint64_t nbytes = elem;
	bool have_sizes = pf_fb_vector(fb, layout, 1, 4, &sizes, "TensorLayout.sizes");
	bool have_dims = pf_fb_vector(fb, layout, 2, 1, &dim_order, "TensorLayout.dim_order");
	if (fb->failed)
		return;
	if (!elem) {
		FATAL(info, "key \"%s\" has the unknown scalar type %u: the data file is corrupt", key, code);
		return;
	}
	if (!have_sizes || !have_dims || sizes.n != dim_order.n) {
		FATAL(info,
		      "key \"%s\" has a tensor layout without matching sizes and dim_order: the runtime would read "
		      "past them",
		      key);
		return;
	}
	if (!pf_fb_spend(fb, sizes.n))
		return;
	for (uint32_t d = 0; d < sizes.n; d++) {
		int32_t s = (int32_t)pf_fb_le32(fb->data + sizes.pos + 4 * (uint64_t)d);
		if (s < 0 || pf_mul_overflow(nbytes, (uint64_t)s, &nbytes)) {
			FATAL(info,
			      "key \"%s\" has an invalid shape (size %d in dimension %u): the data file is corrupt",
			      key, (int)s, (unsigned)d);
			return;
		}
	}
	if (nbytes > blob)
		FATAL(info,
		      "key \"%s\" describes %llu bytes of tensor data but its segment holds %llu: the data file is "
		      "corrupt",
		      key, (unsigned long long)nbytes, (unsigned long long)blob);
	else
		pf_pte_add_layout(info, key, (uint8_t)code, fb->data + sizes.pos, sizes.n);
}

static void walk_named_data(pf_pte_info *info, pf_fb *fb, const pf_fb_vec *v, bool legacy)
{
	const char *dup;
	for (uint32_t i = 0; i < v->n && !fb->failed; i++) {
		pf_fb_table t, layout;
		const char *key;
		uint32_t len, seg;
		char *name;
		if (!pf_fb_vec_table(fb, v, i, &t, "NamedData"))
			return;
		if (!pf_fb_string(fb, &t, 0, &key, &len, "NamedData.key")) {
			if (!fb->failed)
				FATAL(info, "named data %u has no key: the data file is corrupt", (unsigned)i);
			continue;
		}
		seg = pf_fb_u32(fb, &t, 1, 0);
		name = pf_pte_name_dup(key, len);
		if (info->n_data_keys < PF_PTE_MAX_LIST)
			pf_pte_strv_add(&info->data_keys, &info->n_data_keys, name);
		if (seg >= info->n_segments)
			FATAL(info,
			      "key \"%s\" is in segment %u, but the file has %zu segments: the data file is corrupt",
			      name, (unsigned)seg, info->n_segments);
		else if (!legacy && pf_fb_subtable(fb, &t, 2, &layout, "TensorLayout"))
			check_layout(info, fb, &layout, name, info->segments[seg].size);
		free(name);
	}
	if (pf_pte_strv_find_duplicate(info->data_keys, info->n_data_keys, &dup))
		WARN(info, "key \"%s\" appears more than once: only one of its blobs can be found", dup);
}

void pf_pte_walk_flat_tensor(pf_pte_info *info, const uint8_t *region, uint64_t len)
{
	pf_fb fb;
	pf_fb_table root;
	pf_fb_vec segments, named;
	unsigned seg_slot = 1, named_slot = 2;
	pf_fb_init(&fb, region, len);
	if (!pf_fb_root(&fb, &root, "FlatTensor"))
		goto done;
	info->ptd_version = pf_fb_u32(&fb, &root, 0, 0);
	if (pf_fb_n_slots(&root) > 3) {
		/* v0.6.0: version, tensor_alignment, tensors, segments, named_data. */
		info->ptd_legacy_layout = true;
		seg_slot = 3;
		named_slot = 4;
		WARN(info, "the data file uses the legacy v0.6.0 FlatTensor layout: runtimes from v0.7.0 on cannot "
		           "read it; re-export it with a current ExecuTorch");
	}
	if (info->ptd_version != 0)
		WARN(info, "FlatTensor version is %u, not 0: the Python reader refuses it",
		     (unsigned)info->ptd_version);
	if (!pf_fb_vector(&fb, &root, seg_slot, 4, &segments, "FlatTensor.segments")) {
		if (!fb.failed)
			FATAL(info, "the data file has no segments list: the runtime rejects it");
		goto done;
	}
	walk_segments(info, &fb, &segments);
	if (!pf_fb_vector(&fb, &root, named_slot, 4, &named, "FlatTensor.named_data")) {
		if (!fb.failed)
			FATAL(info, "the data file has no named_data list: the runtime rejects it");
		goto done;
	}
	walk_named_data(info, &fb, &named, info->ptd_legacy_layout);
done:
	if (fb.failed)
		FATAL(info, "the data index flatbuffer is corrupt or truncated: %s: the runtime cannot use this file",
		      fb.err);
	info->program_extent = fb.extent;
}
