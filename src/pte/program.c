/*
 * Walk of the ExecuTorch Program flatbuffer (schema program.fbs, slots as in
 * pte-format.md section 3) for the .pte reader: the data tables first
 * (data.c: segments, constants, mutable and named data), then every
 * execution plan with its values,
 * chains, instructions, operators and delegates. Each cross-reference the
 * runtime would follow (value, operator, delegate and segment indices,
 * constant offsets, inline delegate blobs) is range-checked, and each field
 * the runtime requires (chains, instructions, call arguments, list items) is
 * checked present; problems are reported as findings (section 7). A plan
 * that is a metadata method has its values read by metadata.c.
 *
 * Backend ids and EXTERNAL tensor names are gathered as references into the
 * region and de-duplicated by their bytes (pf_pte_refset) before anything is
 * copied, so a file that repeats a name a million times costs one copy.
 *
 * Workload: one pass, O(1) per table and per vector element (O(log n) per
 * de-duplicated name, whose bytes count against the element budget), under
 * the work budget of fb.h; the first flatbuffer-level error stops the walk.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pte/walk.h"
#include "util/mem.h"

/*
 * Per-method copies (method names, each method's backend ids) multiply when
 * many execution_plan entries share one plan table: they may fill half the
 * name budget, so the file-wide lists built at the end (backends, EXTERNAL
 * names) always have room.
 */
static bool method_names_fit(pf_pte_walk *w)
{
	if (w->info->name_bytes <= PF_PTE_MAX_NAME_BYTES / 2)
		return true;
	if (!w->methods_cut)
		WARN(w,
		     "the methods' names and backend lists take more than %u bytes: the listings are cut there, so "
		     "later methods are listed by number and without their backends (a real export is far smaller: "
		     "the file repeats its plans)",
		     PF_PTE_MAX_NAME_BYTES / 2);
	w->methods_cut = true;
	return false;
}

/* Program.segments: absolute ranges must lie inside the segment data and the file. */
static void check_indices(pf_pte_walk *w, const pf_fb_vec *v, uint32_t n_values, const char *what, bool allow_none)
{
	if (!pf_fb_spend(w->fb, v->n))
		return;
	for (uint32_t i = 0; i < v->n; i++) {
		const uint8_t *p = w->fb->data + v->pos + (uint64_t)v->width * i;
		int64_t idx = v->width == 8 ? (int64_t)pf_fb_le64(p) : (int64_t)(int32_t)pf_fb_le32(p);
		if (allow_none && idx == -1)
			continue;
		if (idx < 0 || (uint64_t)idx >= n_values) {
			FATAL(w,
			      "method \"%s\": %s %u refers to value %lld, but the method has %u values: the program is "
			      "corrupt",
			      w->method, what, (unsigned)i, (long long)idx, (unsigned)n_values);
			return;
		}
	}
}

static void check_index(pf_pte_walk *w, int32_t idx, uint32_t n, const char *what, const char *of)
{
	if (idx < 0 || (uint32_t)idx >= n)
		FATAL(w, "method \"%s\": %s is %d, but the method has %u %s: the program is corrupt", w->method, what,
		      (int)idx, (unsigned)n, of);
}

/* Tensor value: shape, dtype, and where its data comes from. */
static void walk_tensor(pf_pte_walk *w, const pf_fb_table *t, uint32_t vi)
{
	pf_pte_info *info = w->info;
	pf_fb_vec sizes, dim_order;
	pf_fb_table alloc, extra;
	unsigned code = pf_fb_u8(w->fb, t, 0, 0), elem = pf_pte_scalar_size(code);
	uint64_t nbytes = elem, idx;
	bool has_alloc, has_extra, overflow = false;
	uint8_t location = 0;

	if (!elem) {
		FATAL(w, "method \"%s\": value %u is a tensor of unknown scalar type %u: the program is corrupt",
		      w->method, (unsigned)vi, code);
		nbytes = 0;
	}
	if (!pf_fb_vector(w->fb, t, 2, 4, &sizes, "Tensor.sizes")) {
		if (!w->fb->failed)
			FATAL(w, "method \"%s\": tensor value %u has no sizes: the program is corrupt", w->method,
			      (unsigned)vi);
		return;
	}
	if (!pf_fb_spend(w->fb, sizes.n))
		return;
	for (uint32_t d = 0; d < sizes.n; d++) {
		int32_t s = (int32_t)pf_fb_le32(w->fb->data + sizes.pos + 4 * (uint64_t)d);
		if (s < 0) {
			FATAL(w,
			      "method \"%s\": tensor value %u has the negative size %d in dimension %u: the program "
			      "is corrupt",
			      w->method, (unsigned)vi, (int)s, (unsigned)d);
			return;
		}
		if (!overflow && pf_mul_overflow(nbytes, (uint64_t)s, &nbytes))
			overflow = true;
	}
	if (overflow) {
		FATAL(w,
		      "method \"%s\": tensor value %u has a shape whose byte size overflows 64 bits: the program is "
		      "corrupt",
		      w->method, (unsigned)vi);
		return;
	}
	pf_fb_vector(w->fb, t, 3, 1, &dim_order, "Tensor.dim_order");
	idx = pf_fb_u32(w->fb, t, 5, 0);
	has_alloc = pf_fb_subtable(w->fb, t, 6, &alloc, "AllocationDetails");
	has_extra = pf_fb_subtable(w->fb, t, 9, &extra, "ExtraTensorInfo");
	if (w->fb->failed)
		return;
	if (has_extra) {
		const char *fqn = NULL;
		uint32_t len = 0;
		location = pf_fb_u8(w->fb, &extra, 2, 0);
		pf_fb_string(w->fb, &extra, 1, &fqn, &len, "ExtraTensorInfo.fully_qualified_name");
		if (w->fb->failed)
			return;
		if (location > EXTERNAL) {
			FATAL(w,
			      "method \"%s\": tensor value %u has the unknown data location %u: the program is corrupt",
			      w->method, (unsigned)vi, (unsigned)location);
			return;
		}
		if (location == EXTERNAL) {
			w->n_external_tensors++;
			if (fqn && len > 0) {
				pf_pte_ref r = {.s = fqn,
				                .len = len,
				                .scalar_type = (uint8_t)code,
				                .has_dim_order = dim_order.present,
				                .n_dims = sizes.n,
				                .n_dim_order = dim_order.n,
				                .sizes = w->fb->data + sizes.pos,
				                .dim_order = w->fb->data + dim_order.pos};
				if (pf_pte_walk_spend_name(w, len))
					pf_pte_refset_add(&w->external, &r);
			} else if (!w->warned_no_fqn) {
				WARN(w,
				     "method \"%s\": external tensor value %u has no fully qualified name: the method "
				     "will fail to load, since its data cannot be looked up",
				     w->method, (unsigned)vi);
				w->warned_no_fqn = true;
			}
			return;
		}
	}
	if (idx == 0)
		return;
	if (!has_alloc) {
		/* A constant: in the constant segment, or inline in the deprecated constant_buffer. */
		if (w->cs_offsets.n > 1) {
			uint64_t off, end;
			if (idx >= w->cs_offsets.n) {
				FATAL(w,
				      "method \"%s\": constant tensor value %u uses constant %llu, but the constant "
				      "segment "
				      "lists %u: the program is corrupt",
				      w->method, (unsigned)vi, (unsigned long long)idx, (unsigned)w->cs_offsets.n);
				return;
			}
			off = pf_fb_vec_u64(w->fb, &w->cs_offsets, (uint32_t)idx);
			if (w->cs_ok && (pf_add_overflow(off, nbytes, &end) || end > w->cs_size))
				FATAL(
				    w,
				    "method \"%s\": constant tensor value %u (%llu bytes at offset %llu) runs past the "
				    "end of the constant segment (%llu bytes): the program is corrupt",
				    w->method, (unsigned)vi, (unsigned long long)nbytes, (unsigned long long)off,
				    (unsigned long long)w->cs_size);
		} else {
			pf_fb_table b;
			pf_fb_vec storage;
			if (idx >= w->constant_buffer.n) {
				FATAL(w,
				      "method \"%s\": constant tensor value %u uses constant buffer %llu, but the "
				      "program "
				      "has %u: the program is corrupt",
				      w->method, (unsigned)vi, (unsigned long long)idx, (unsigned)w->constant_buffer.n);
				return;
			}
			if (!pf_fb_vec_table(w->fb, &w->constant_buffer, (uint32_t)idx, &b, "Buffer"))
				return;
			pf_fb_vector(w->fb, &b, 0, 1, &storage, "Buffer.storage");
			if (!w->fb->failed && storage.n < nbytes)
				FATAL(w,
				      "method \"%s\": constant tensor value %u needs %llu bytes but its inline buffer "
				      "%llu "
				      "holds %u: the program is corrupt",
				      w->method, (unsigned)vi, (unsigned long long)nbytes, (unsigned long long)idx,
				      (unsigned)storage.n);
		}
		return;
	}
	/* Mutable tensor with initial data. */
	{
		uint64_t m = has_extra ? pf_fb_u64(w->fb, &extra, 0, 0) : 0, off, end;
		uint32_t seg;
		pf_fb_table ms;
		pf_fb_vec offs;
		if (m >= w->mutable_segments.n) {
			FATAL(w,
			      "method \"%s\": mutable tensor value %u uses mutable data %llu, but the program has %u: "
			      "the program is corrupt",
			      w->method, (unsigned)vi, (unsigned long long)m, (unsigned)w->mutable_segments.n);
			return;
		}
		if (!pf_fb_vec_table(w->fb, &w->mutable_segments, (uint32_t)m, &ms, "SubsegmentOffsets"))
			return;
		seg = pf_fb_u32(w->fb, &ms, 0, 0);
		pf_fb_vector(w->fb, &ms, 1, 8, &offs, "mutable_data_segments.offsets");
		if (w->fb->failed)
			return;
		if (idx >= offs.n) {
			FATAL(
			    w,
			    "method \"%s\": mutable tensor value %u uses initial value %llu, but its segment lists %u: "
			    "the program is corrupt",
			    w->method, (unsigned)vi, (unsigned long long)idx, (unsigned)offs.n);
			return;
		}
		off = pf_fb_vec_u64(w->fb, &offs, (uint32_t)idx);
		if (seg < info->n_segments &&
		    (pf_add_overflow(off, nbytes, &end) || end > pf_pte_walk_segment_size(w, seg)))
			FATAL(w,
			      "method \"%s\": mutable tensor value %u (%llu bytes at offset %llu) runs past the end of "
			      "segment %u: the program is corrupt",
			      w->method, (unsigned)vi, (unsigned long long)nbytes, (unsigned long long)off,
			      (unsigned)seg);
	}
}

/* EValue: union tag in slot 0, member table in slot 1. */
static void walk_value(pf_pte_walk *w, const pf_fb_vec *values, uint32_t vi)
{
	pf_fb_table ev, val;
	pf_fb_vec items;
	uint8_t tag;
	bool has;
	if (!pf_fb_vec_table(w->fb, values, vi, &ev, "EValue"))
		return;
	tag = pf_fb_u8(w->fb, &ev, 0, 0);
	if (tag > 11) {
		FATAL(w, "method \"%s\": value %u has the unknown type tag %u: the program is corrupt", w->method,
		      (unsigned)vi, (unsigned)tag);
		return;
	}
	has = pf_fb_subtable(w->fb, &ev, 1, &val, "EValue.val");
	if (w->fb->failed)
		return;
	if (has != (tag != 0)) {
		FATAL(w, "method \"%s\": value %u %s: the program is corrupt", w->method, (unsigned)vi,
		      tag ? "has a type but no content" : "has content but no type");
		return;
	}
	switch (tag) {
	case 2: /* Int */
	case 4: /* Double */
		(void)pf_fb_u64(w->fb, &val, 0, 0);
		break;
	case 3: /* Bool */
		(void)pf_fb_u8(w->fb, &val, 0, 0);
		break;
	case 5:
		walk_tensor(w, &val, vi);
		break;
	case 6: {
		const char *s;
		uint32_t len;
		if (!pf_fb_string(w->fb, &val, 0, &s, &len, "String.string_val") && !w->fb->failed)
			FATAL(
			    w,
			    "method \"%s\": string value %u has no string: the runtime refuses it (\"missing string\")",
			    w->method, (unsigned)vi);
		break;
	}
	case 7:  /* IntList: its items are indices of Int values */
	case 8:  /* DoubleList */
	case 9:  /* BoolList */
	case 10: /* TensorList */
	case 11: /* OptionalTensorList */
		if (!pf_fb_vector(w->fb, &val, 0,
		                  tag == 9    ? 1
		                  : tag >= 10 ? 4
		                              : 8,
		                  &items,
		                  tag == 9    ? "BoolList.items"
		                  : tag >= 10 ? "TensorList.items"
		                              : "EValue list items")) {
			if (!w->fb->failed)
				FATAL(w,
				      "method \"%s\": list value %u has no items: the runtime refuses it (\"missing "
				      "list\")",
				      w->method, (unsigned)vi);
		} else if (tag == 7) {
			check_indices(w, &items, values->n, "an int list item", false);
		} else if (tag >= 10) {
			check_indices(w, &items, values->n, "a tensor list item", tag == 11);
		}
		break;
	default:
		break;
	}
}

static void walk_instruction(pf_pte_walk *w, const pf_fb_table *ins, uint32_t n_values, uint32_t n_operators,
                             uint32_t n_delegates, uint32_t n_instructions, uint32_t ci, uint32_t ii)
{
	pf_fb_table a;
	pf_fb_vec args;
	uint8_t tag = pf_fb_u8(w->fb, ins, 0, 0);
	bool has = pf_fb_subtable(w->fb, ins, 1, &a, "Instruction.instr_args");
	int32_t x;
	if (w->fb->failed)
		return;
	if (tag == 0 || tag > 5 || !has) {
		FATAL(w, "method \"%s\": instruction %u of chain %u has %s: the program is corrupt", w->method,
		      (unsigned)ii, (unsigned)ci, (tag == 0 || tag > 5) ? "an unknown kind" : "no arguments");
		return;
	}
	switch (tag) {
	case 1: /* KernelCall */
	case 2: /* DelegateCall */
		x = pf_fb_i32(w->fb, &a, 0, 0);
		if (tag == 1)
			check_index(w, x, n_operators, "a kernel call's operator index", "operators");
		else
			check_index(w, x, n_delegates, "a delegate call's delegate index", "delegates");
		if (pf_fb_vector(w->fb, &a, 1, 4, &args, "call args"))
			check_indices(w, &args, n_values, "a call argument", false);
		else if (!w->fb->failed)
			FATAL(w,
			      "method \"%s\": instruction %u of chain %u (a %s call) has no argument list: the runtime "
			      "refuses it",
			      w->method, (unsigned)ii, (unsigned)ci, tag == 1 ? "kernel" : "delegate");
		break;
	case 3: /* MoveCall */
		check_index(w, pf_fb_i32(w->fb, &a, 0, 0), n_values, "a move's source", "values");
		check_index(w, pf_fb_i32(w->fb, &a, 1, 0), n_values, "a move's destination", "values");
		break;
	case 4: /* JumpFalseCall: the destination may be one past the last instruction (the end) */
		check_index(w, pf_fb_i32(w->fb, &a, 0, 0), n_values, "a jump's condition", "values");
		x = pf_fb_i32(w->fb, &a, 1, 0);
		if (x < 0 || (uint32_t)x > n_instructions)
			FATAL(w,
			      "method \"%s\": a jump in chain %u goes to instruction %d of %u: the program is corrupt",
			      w->method, (unsigned)ci, (int)x, (unsigned)n_instructions);
		break;
	case 5: /* FreeCall */
		check_index(w, pf_fb_i32(w->fb, &a, 0, 0), n_values, "a free's value", "values");
		break;
	default:
		break;
	}
}

/* Where a delegate's blob lives: a segment, or an inline BackendDelegateInlineData whose data must exist. */
static void check_processed(pf_pte_walk *w, const pf_fb_table *ref, const char *name)
{
	pf_pte_info *info = w->info;
	pf_fb_table inline_data;
	pf_fb_vec data;
	uint8_t loc = pf_fb_u8(w->fb, ref, 0, LOC_INLINE);
	uint32_t index = pf_fb_u32(w->fb, ref, 1, 0);
	if (loc == LOC_SEGMENT && index >= info->n_segments)
		FATAL(w,
		      "method \"%s\": delegate \"%s\" is in segment %u, but the program has %zu segments: the "
		      "program is corrupt",
		      w->method, name, (unsigned)index, info->n_segments);
	else if (loc == LOC_SEGMENT && !w->has_segments_home)
		FATAL(w,
		      "method \"%s\": delegate \"%s\" lives in a segment but the file has no extended header: "
		      "the runtime cannot load it",
		      w->method, name);
	else if (loc == LOC_INLINE && index >= w->delegate_data.n)
		FATAL(w,
		      "method \"%s\": delegate \"%s\" uses inline blob %u, but the program has %u: the "
		      "program is corrupt",
		      w->method, name, (unsigned)index, (unsigned)w->delegate_data.n);
	else if (loc > LOC_SEGMENT)
		FATAL(w, "method \"%s\": delegate \"%s\" has the unknown data location %u: the program is corrupt",
		      w->method, name, (unsigned)loc);
	else if (loc == LOC_INLINE &&
	         pf_fb_vec_table(w->fb, &w->delegate_data, index, &inline_data, "BackendDelegateInlineData") &&
	         !pf_fb_vector(w->fb, &inline_data, 0, 1, &data, "BackendDelegateInlineData.data") && !w->fb->failed)
		FATAL(w,
		      "method \"%s\": delegate \"%s\" uses inline blob %u, which has no data: the runtime would "
		      "read a missing blob",
		      w->method, name, (unsigned)index);
}

/*
 * The plan's delegates: ids gathered by their bytes, so the method lists each
 * distinct id once (sorted) and the program-wide backend set is fed once per
 * plan, not once per delegate.
 */
static void walk_delegates(pf_pte_walk *w, const pf_fb_vec *delegates, pf_pte_method *m)
{
	pf_pte_refset ids;
	pf_pte_refset_init(&ids, PF_PTE_MAX_LIST);
	for (uint32_t d = 0; d < delegates->n && !w->fb->failed; d++) {
		pf_fb_table t, ref;
		pf_fb_vec specs;
		const char *id = NULL;
		uint32_t len = 0;
		char *name;
		if (!pf_fb_vec_table(w->fb, delegates, d, &t, "BackendDelegate"))
			break;
		pf_fb_string(w->fb, &t, 0, &id, &len, "BackendDelegate.id");
		pf_fb_vector(w->fb, &t, 2, 4, &specs, "BackendDelegate.compile_specs");
		for (uint32_t s = 0; s < specs.n && !w->fb->failed; s++) {
			pf_fb_table cs;
			pf_fb_vec value;
			const char *key;
			uint32_t klen;
			if (pf_fb_vec_table(w->fb, &specs, s, &cs, "CompileSpec")) {
				pf_fb_string(w->fb, &cs, 0, &key, &klen, "CompileSpec.key");
				pf_fb_vector(w->fb, &cs, 1, 1, &value, "CompileSpec.value");
			}
		}
		if (w->fb->failed)
			break;
		if (!id || len == 0) {
			FATAL(w, "method \"%s\": delegate %u has no backend id: the runtime cannot pick a backend",
			      w->method, (unsigned)d);
			continue;
		}
		if (pf_pte_walk_spend_name(w, len)) {
			pf_pte_ref r = {.s = id, .len = len};
			pf_pte_refset_add(&ids, &r);
		}
		name = pf_pte_name_dup(id, len);
		if (pf_fb_subtable(w->fb, &t, 1, &ref, "BackendDelegateDataReference"))
			check_processed(w, &ref, name);
		else if (!w->fb->failed)
			FATAL(w, "method \"%s\": delegate %u (\"%s\") has no processed blob: the program is corrupt",
			      w->method, (unsigned)d, name);
		free(name);
	}
	pf_pte_refset_finish(&ids);
	for (size_t i = 0; i < ids.n; i++) {
		if (method_names_fit(w))
			pf_pte_list_add(w->info, &m->delegates, &m->n_delegates, ids.v[i].s, ids.v[i].len);
		pf_pte_refset_add(&w->backends, &ids.v[i]);
	}
	pf_pte_refset_dispose(&ids);
}

/*
 * ExecutionPlan.non_const_buffer_sizes: entry 0 is reserved (the runtime
 * starts at 1: MethodMeta::num_memory_planned_buffers is size - 1), the
 * others are the arenas a method needs. The sum saturates instead of
 * wrapping; a negative size is what no exporter writes and no allocator
 * can satisfy.
 */
static void walk_planned(pf_pte_walk *w, const pf_fb_vec *sizes, pf_pte_method *m)
{
	bool warned = false;
	for (uint32_t i = 1; i < sizes->n && !w->fb->failed; i++) {
		uint64_t v = pf_fb_vec_u64(w->fb, sizes, i);
		if (v > (uint64_t)INT64_MAX) {
			FATAL(w, "method \"%s\": planned memory buffer %u has the negative size %lld: the runtime cannot "
			      "allocate it; the program is corrupt", m->name, (unsigned)i, (long long)(int64_t)v);
			continue;
		}
		if (pf_add_overflow(m->planned_bytes, v, &m->planned_bytes)) {
			m->planned_bytes = UINT64_MAX;
			if (!warned)
				FATAL(w, "method \"%s\": its planned memory buffers add up to more than 2^64 bytes: the "
				      "program is corrupt", m->name);
			warned = true;
		}
		m->n_planned_buffers++;
	}
}

/* Names of the KernelTypes union members (EValue tags 1..11). */
static void walk_plan(pf_pte_walk *w, const pf_fb_table *plan, uint32_t pi)
{
	pf_pte_info *info = w->info;
	pf_pte_method *m = &info->methods[pi];
	pf_fb_vec values, inputs, outputs, chains, operators, delegates, sizes;
	const char *name = NULL;
	uint32_t len = 0;
	char fallback[32];

	pf_fb_string(w->fb, plan, 0, &name, &len, "ExecutionPlan.name");
	if (w->fb->failed)
		return;
	if (!name || len == 0)
		FATAL(w, "execution plan %u has no name: the method cannot be found", (unsigned)pi);
	else if (pf_pte_walk_spend_name(w, len) && method_names_fit(w))
		m->name = pf_pte_name_store(info, name, len);
	if (!m->name) {
		/* Nameless, or past the name budget (a warning said so). */
		snprintf(fallback, sizeof(fallback), "#%u", (unsigned)pi);
		m->name = pf_xstrdup(fallback);
	}
	w->method = m->name;
	if (!pf_fb_vector(w->fb, plan, 2, 4, &values, "ExecutionPlan.values") && !w->fb->failed)
		FATAL(w, "method \"%s\" has no values: the program is corrupt", m->name);
	pf_fb_vector(w->fb, plan, 3, 4, &inputs, "ExecutionPlan.inputs");
	pf_fb_vector(w->fb, plan, 4, 4, &outputs, "ExecutionPlan.outputs");
	pf_fb_vector(w->fb, plan, 5, 4, &chains, "ExecutionPlan.chains");
	pf_fb_vector(w->fb, plan, 6, 4, &operators, "ExecutionPlan.operators");
	pf_fb_vector(w->fb, plan, 7, 4, &delegates, "ExecutionPlan.delegates");
	pf_fb_vector(w->fb, plan, 8, 8, &sizes, "ExecutionPlan.non_const_buffer_sizes");
	if (w->fb->failed)
		return;
	/* Written even when empty by every exporter; the runtime refuses a plan without them. */
	if (!chains.present || chains.n == 0)
		FATAL(w, "method \"%s\" has no chains: the runtime refuses it (\"no chains\")", m->name);
	if (!delegates.present)
		FATAL(w, "method \"%s\" has no delegates list: the runtime refuses it (\"missing delegates field\")",
		      m->name);
	walk_planned(w, &sizes, m);
	m->n_values = values.n;
	m->n_inputs = inputs.n;
	m->n_outputs = outputs.n;
	m->n_operators = operators.n;
	check_indices(w, &inputs, values.n, "input", false);
	check_indices(w, &outputs, values.n, "output", false);
	for (uint32_t o = 0; o < operators.n && !w->fb->failed; o++) {
		pf_fb_table op;
		const char *s;
		uint32_t slen;
		if (pf_fb_vec_table(w->fb, &operators, o, &op, "Operator")) {
			pf_fb_string(w->fb, &op, 0, &s, &slen, "Operator.name");
			pf_fb_string(w->fb, &op, 1, &s, &slen, "Operator.overload");
		}
	}
	walk_delegates(w, &delegates, m);
	for (uint32_t vi = 0; vi < values.n && !w->fb->failed; vi++)
		walk_value(w, &values, vi);
	for (uint32_t c = 0; c < chains.n && !w->fb->failed; c++) {
		pf_fb_table chain;
		pf_fb_vec cin, cout, instructions;
		if (!pf_fb_vec_table(w->fb, &chains, c, &chain, "Chain"))
			return;
		if (pf_fb_vector(w->fb, &chain, 0, 4, &cin, "Chain.inputs"))
			check_indices(w, &cin, values.n, "a chain input", false);
		if (pf_fb_vector(w->fb, &chain, 1, 4, &cout, "Chain.outputs"))
			check_indices(w, &cout, values.n, "a chain output", false);
		if (!pf_fb_vector(w->fb, &chain, 2, 4, &instructions, "Chain.instructions") && !w->fb->failed)
			FATAL(w, "method \"%s\": chain %u has no instruction list: the runtime refuses it", m->name,
			      (unsigned)c);
		m->n_instructions =
		    instructions.n > UINT32_MAX - m->n_instructions ? UINT32_MAX : m->n_instructions + instructions.n;
		for (uint32_t i = 0; i < instructions.n && !w->fb->failed; i++) {
			pf_fb_table ins;
			if (pf_fb_vec_table(w->fb, &instructions, i, &ins, "Instruction"))
				walk_instruction(w, &ins, values.n, operators.n, delegates.n, instructions.n, c, i);
		}
	}
	if (inputs.n == 0 && outputs.n > 0 && m->n_instructions == 0 && operators.n == 0 && delegates.n == 0)
		pf_pte_walk_constants_of(w, plan, m, &values, &outputs);
}

/* Copy the distinct names of a finished set into a list (stored form, under the name budget). */
static void store_names(pf_pte_info *info, char ***v, size_t *n, const pf_pte_refset *set)
{
	for (size_t i = 0; i < set->n; i++)
		if (!pf_pte_list_add(info, v, n, set->v[i].s, set->v[i].len))
			break;
}

/* Backends and EXTERNAL names, de-duplicated over all plans (several methods may share one). */
static void finish_names(pf_pte_walk *w)
{
	pf_pte_info *info = w->info;
	pf_pte_refset_finish(&w->backends);
	store_names(info, &info->backends, &info->n_backends, &w->backends);
	pf_pte_refset_finish(&w->external);
	store_names(info, &info->external_keys, &info->n_external, &w->external);
	for (size_t i = 0; i < w->external.n && i < info->n_external; i++)
		pf_pte_add_layout(info, &w->external.v[i]);
	if (w->external.cut)
		WARN(w,
		     "the program names more than %u distinct EXTERNAL tensors: only the first %u (in byte order) are "
		     "listed and checked against a .ptd",
		     PF_PTE_MAX_LIST, PF_PTE_MAX_LIST);
	if (w->n_external_tensors > 0 && info->n_external > 0)
		WARN(w,
		     "%llu tensors are EXTERNAL: their data must come from a .ptd that provides %zu keys such as "
		     "\"%.512s\"; ship and load it with this program",
		     (unsigned long long)w->n_external_tensors, info->n_external, info->external_keys[0]);
}

void pf_pte_walk_program(pf_pte_info *info, const uint8_t *region, uint64_t len)
{
	pf_fb fb;
	pf_fb_table program;
	pf_fb_vec plans;
	pf_pte_walk w;
	memset(&w, 0, sizeof(w));
	w.info = info;
	w.fb = &fb;
	w.method = "";
	w.has_segments_home = info->has_extended_header && info->segment_base_offset != 0;
	pf_pte_refset_init(&w.backends, PF_PTE_MAX_LIST);
	pf_pte_refset_init(&w.external, PF_PTE_MAX_LIST);
	pf_fb_init(&fb, region, len);

	if (!pf_fb_root(&fb, &program, "Program"))
		goto done;
	info->schema_version = pf_fb_u32(&fb, &program, 0, 0);
	pf_pte_walk_segments(&w, &program);
	pf_pte_walk_constants(&w, &program);
	pf_fb_vector(&fb, &program, 3, 4, &w.delegate_data, "Program.backend_delegate_data");
	info->n_delegate_blobs = w.delegate_data.n;
	pf_pte_walk_mutable_segments(&w, &program);
	pf_pte_walk_named_data(&w, &program);
	if (fb.failed)
		goto done;
	if (!pf_fb_vector(&fb, &program, 1, 4, &plans, "Program.execution_plan")) {
		if (!fb.failed)
			FATAL(&w, "the program has no execution_plan list: the file is not a usable program");
		goto done;
	}
	/* pte-format.md section 7: loadable, so a warning; a pipeline that names its methods fails their gate. */
	if (plans.n == 0)
		WARN(&w, "the program has zero methods (no execution plans): it loads but nothing can be run; the "
		         "export produced an empty program");
	for (uint32_t pi = 0; pi < plans.n && !fb.failed; pi++) {
		pf_fb_table plan;
		if (!pf_fb_vec_table(&fb, &plans, pi, &plan, "ExecutionPlan"))
			break;
		if (pi >= PF_PTE_MAX_LIST) {
			FATAL(&w,
			      "the program claims %u methods, more than the %u a reader accepts: the file is corrupt "
			      "or hostile",
			      (unsigned)plans.n, PF_PTE_MAX_LIST);
			break;
		}
		/* Grown as tables are found, never sized from the hostile count. */
		if ((pi & (pi - 1)) == 0)
			info->methods =
			    pf_xreallocarray(info->methods, pi ? 2 * (size_t)pi : 1, sizeof(*info->methods));
		memset(&info->methods[pi], 0, sizeof(info->methods[pi]));
		info->n_methods = pi + 1;
		walk_plan(&w, &plan, pi);
	}
	finish_names(&w);
	if (info->n_methods > 0 && info->n_constant_methods == info->n_methods && !fb.failed)
		WARN(&w,
		     "all %zu methods are metadata methods (no inputs, no instructions): the program has nothing "
		     "to run; the export lost its forward method",
		     info->n_methods);
done:
	if (fb.failed)
		FATAL(&w,
		      "the program flatbuffer is corrupt or truncated: %s: the runtime would refuse it "
		      "(\"verification failed\")",
		      fb.err);
	if (fb.n_misaligned)
		WARN(&w,
		     "%llu vectors of 8-byte values are not 8-byte aligned (the first: %s at byte %llu): the runtime "
		     "reads them, but a strict FlatBuffers verifier refuses the file",
		     (unsigned long long)fb.n_misaligned, fb.misaligned_what, (unsigned long long)fb.misaligned_at);
	info->program_extent = fb.extent;
	pf_pte_refset_dispose(&w.backends);
	pf_pte_refset_dispose(&w.external);
}
