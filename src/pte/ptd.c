/*
 * Walk of the FlatTensor flatbuffer of a .ptd data file (pte-format.md
 * section 5): version, segments and named data with their optional tensor
 * layouts; recognises the legacy v0.6.0 layout (section 5.3) and lists its
 * tensors' names and layouts as keys too. The keys it lists are what a
 * .pte's EXTERNAL tensors are resolved against.
 *
 * Workload: one pass, O(1) per key and segment (plus the key's bytes), under
 * fb.h's work budget.
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

/*
 * A key's tensor layout: dtype, sizes and dim_order in three consecutive
 * slots from `first` (0 in a TensorLayout, 1 in a legacy TensorMetadata). They
 * must agree with the `blob` bytes behind the key; then they are set in *key,
 * to be kept for the .pte cross-check.
 */
static void check_layout(pf_pte_info *info, pf_fb *fb, const pf_fb_table *layout, unsigned first, pf_pte_ref *key,
                         uint64_t blob)
{
	pf_fb_vec sizes, dim_order;
	unsigned code = pf_fb_u8(fb, layout, first, 0), elem = pf_pte_scalar_size(code);
	uint64_t nbytes = elem;
	bool have_sizes = pf_fb_vector(fb, layout, first + 1, 4, &sizes, "TensorLayout.sizes");
	bool have_dims = pf_fb_vector(fb, layout, first + 2, 1, &dim_order, "TensorLayout.dim_order");
	char *name;
	if (fb->failed)
		return;
	name = pf_pte_name_dup(key->s, key->len);
	if (!elem) {
		FATAL(info, "key \"%s\" has the unknown scalar type %u: the data file is corrupt", name, code);
		goto done;
	}
	if (!have_sizes || !have_dims || sizes.n != dim_order.n) {
		FATAL(info,
		      "key \"%s\" has a tensor layout without matching sizes and dim_order: the runtime would read "
		      "past them",
		      name);
		goto done;
	}
	if (!pf_fb_spend(fb, sizes.n))
		goto done;
	for (uint32_t d = 0; d < sizes.n; d++) {
		int32_t s = (int32_t)pf_fb_le32(fb->data + sizes.pos + 4 * (uint64_t)d);
		if (s < 0 || pf_mul_overflow(nbytes, (uint64_t)s, &nbytes)) {
			FATAL(info,
			      "key \"%s\" has an invalid shape (size %d in dimension %u): the data file is corrupt",
			      name, (int)s, (unsigned)d);
			goto done;
		}
	}
	if (nbytes > blob) {
		FATAL(info,
		      "key \"%s\" describes %llu bytes of tensor data but its segment holds %llu: the data file is "
		      "corrupt",
		      name, (unsigned long long)nbytes, (unsigned long long)blob);
	} else {
		key->scalar_type = (uint8_t)code;
		key->has_dim_order = true;
		key->n_dims = sizes.n;
		key->n_dim_order = dim_order.n;
		key->sizes = fb->data + sizes.pos;
		key->dim_order = fb->data + dim_order.pos;
	}
done:
	free(name);
}

/* A key string at `slot` of table t into *key; false (with a finding when the file is whole) if it has none. */
static bool read_key(pf_pte_info *info, pf_fb *fb, const pf_fb_table *t, unsigned slot, const char *what, uint32_t i,
                     pf_pte_ref *key)
{
	memset(key, 0, sizeof(*key));
	if (!pf_fb_string(fb, t, slot, &key->s, &key->len, what)) {
		if (!fb->failed)
			FATAL(info, "%s %u has no key: the data file is corrupt", t->what, (unsigned)i);
		return false;
	}
	/* Its bytes are compared and copied: they count against the work budget. */
	return pf_fb_spend(fb, 1 + (uint64_t)key->len);
}

static void walk_named_data(pf_pte_info *info, pf_fb *fb, const pf_fb_vec *v, bool legacy, pf_pte_refset *keys)
{
	for (uint32_t i = 0; i < v->n && !fb->failed; i++) {
		pf_fb_table t, layout;
		pf_pte_ref key;
		uint32_t seg;
		if (!pf_fb_vec_table(fb, v, i, &t, "NamedData"))
			return;
		if (!read_key(info, fb, &t, 0, "NamedData.key", i, &key))
			continue;
		seg = pf_fb_u32(fb, &t, 1, 0);
		if (seg >= info->n_segments) {
			char *name = pf_pte_name_dup(key.s, key.len);
			FATAL(info,
			      "key \"%s\" is in segment %u, but the file has %zu segments: the data file is corrupt",
			      name, (unsigned)seg, info->n_segments);
			free(name);
		} else if (!legacy && pf_fb_subtable(fb, &t, 2, &layout, "TensorLayout")) {
			check_layout(info, fb, &layout, 0, &key, info->segments[seg].size);
		}
		pf_pte_refset_add(keys, &key);
	}
}

/*
 * v0.6.0 layout (pte-format.md 5.3): tensors are listed in FlatTensor.tensors
 * by fully qualified name, each with its own layout, segment and offset.
 */
static void walk_legacy_tensors(pf_pte_info *info, pf_fb *fb, const pf_fb_table *root, pf_pte_refset *keys)
{
	pf_fb_vec v;
	pf_fb_vector(fb, root, 2, 4, &v, "FlatTensor.tensors");
	for (uint32_t i = 0; i < v.n && !fb->failed; i++) {
		pf_fb_table t;
		pf_pte_ref key;
		uint32_t seg;
		uint64_t offset, size;
		if (!pf_fb_vec_table(fb, &v, i, &t, "TensorMetadata"))
			return;
		if (!read_key(info, fb, &t, 0, "TensorMetadata.fully_qualified_name", i, &key))
			continue;
		seg = pf_fb_u32(fb, &t, 4, 0);
		offset = pf_fb_u64(fb, &t, 5, 0);
		if (fb->failed)
			return;
		size = seg < info->n_segments ? info->segments[seg].size : 0;
		if (seg >= info->n_segments || offset > size) {
			char *name = pf_pte_name_dup(key.s, key.len);
			FATAL(
			    info,
			    "tensor \"%s\" is at offset %llu of segment %u, but the file has %zu segments and that one "
			    "holds %llu bytes: the data file is corrupt",
			    name, (unsigned long long)offset, (unsigned)seg, info->n_segments,
			    (unsigned long long)size);
			free(name);
		} else {
			check_layout(info, fb, &t, 1, &key, size - offset);
		}
		pf_pte_refset_add(keys, &key);
	}
}

/*
 * The keys, de-duplicated by their bytes before they are copied (a file that
 * repeats one key cannot push the others out of the list), in byte order,
 * with the layouts that passed check_layout.
 */
static void store_keys(pf_pte_info *info, pf_pte_refset *keys)
{
	char *dup;
	pf_pte_refset_finish(keys);
	for (size_t i = 0; i < keys->n; i++) {
		if (!pf_pte_list_add(info, &info->data_keys, &info->n_data_keys, keys->v[i].s, keys->v[i].len))
			break;
		if (keys->v[i].sizes)
			pf_pte_add_layout(info, &keys->v[i]);
	}
	if (keys->n_repeats) {
		dup = pf_pte_name_dup(keys->repeat.s, keys->repeat.len);
		WARN(info, "key \"%s\" appears more than once: only one of its blobs can be found", dup);
		free(dup);
	}
	if (keys->cut)
		WARN(info, "the data file has more than %u distinct keys: only the first %u (in byte order) are listed",
		     PF_PTE_MAX_LIST, PF_PTE_MAX_LIST);
}

/*
 * pte-format.md 5.3: the v0.6.0 root has more slots (version,
 * tensor_alignment, tensors, segments, named_data) and a plain integer in
 * slot 1 where the current layout has its segments vector (a vector of table
 * references). Both tests, so a current file that grows new fields is not
 * mistaken for a legacy one.
 */
static bool is_legacy(pf_fb *fb, const pf_fb_table *root)
{
	return pf_fb_n_slots(root) > 3 && !pf_fb_probe_ref_vector(fb, root, 1);
}

void pf_pte_walk_flat_tensor(pf_pte_info *info, const uint8_t *region, uint64_t len)
{
	pf_fb fb;
	pf_fb_table root;
	pf_fb_vec segments, named;
	pf_pte_refset keys;
	unsigned seg_slot = 1, named_slot = 2;
	pf_pte_refset_init(&keys, PF_PTE_MAX_LIST);
	pf_fb_init(&fb, region, len);
	if (!pf_fb_root(&fb, &root, "FlatTensor"))
		goto done;
	info->ptd_version = pf_fb_u32(&fb, &root, 0, 0);
	if (is_legacy(&fb, &root)) {
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
	if (info->ptd_legacy_layout)
		walk_legacy_tensors(info, &fb, &root, &keys);
	if (!pf_fb_vector(&fb, &root, named_slot, 4, &named, "FlatTensor.named_data")) {
		if (!fb.failed)
			FATAL(info, "the data file has no named_data list: the runtime rejects it");
		goto done;
	}
	walk_named_data(info, &fb, &named, info->ptd_legacy_layout, &keys);
done:
	store_keys(info, &keys);
	if (fb.failed)
		FATAL(info, "the data index flatbuffer is corrupt or truncated: %s: the runtime cannot use this file",
		      fb.err);
	if (fb.n_misaligned)
		WARN(info,
		     "%llu vectors of 8-byte values are not 8-byte aligned (the first: %s at byte %llu): the runtime "
		     "reads them, but a strict FlatBuffers verifier refuses the file",
		     (unsigned long long)fb.n_misaligned, fb.misaligned_what, (unsigned long long)fb.misaligned_at);
	info->program_extent = fb.extent;
	pf_pte_refset_dispose(&keys);
}
