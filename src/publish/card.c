/*
 * The model card (README.md) `pteflow publish` writes for a release: front
 * matter the Hub reads (library_name, tags, base_model, pipeline_tag; shared
 * docs hub-upload-protocol.md section 8) and a short body from the manifest.
 * Every string from the manifest goes through one YAML-safe quoting (front
 * matter) or a Markdown table cell escape (body). Workload: once per publish.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "publish/publish.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/text.h"

#define CARD_MAX (1u << 20)

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A YAML double-quoted scalar: printable characters, '"' and '\' escaped, others dropped. */
static void yaml_q(pf_buf *b, const char *s)
{
	(void)pf_buf_puts(b, "\"");
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			(void)pf_buf_append(b, "\\", 1);
		if ((unsigned char)*p >= 0x20 && *p != 0x7f)
			(void)pf_buf_append(b, p, 1);
	}
	(void)pf_buf_puts(b, "\"");
}

/* A Markdown table cell: '|' and line breaks would break the table. */
static void cell(pf_buf *b, const char *s)
{
	for (const char *p = s ? s : ""; *p; p++) {
		if (*p == '|')
			(void)pf_buf_puts(b, "\\|");
		else if ((unsigned char)*p >= 0x20 && *p != 0x7f)
			(void)pf_buf_append(b, p, 1);
	}
}

/* The value of a --quantize/--quant... option in any step's argv, or NULL. */
static const char *quantization(const cJSON *steps)
{
	const cJSON *s;
	cJSON_ArrayForEach(s, steps)
	{
		const cJSON *argv = cJSON_GetObjectItemCaseSensitive(s, "argv"), *a;
		cJSON_ArrayForEach(a, argv)
		{
			const char *v = cJSON_IsString(a) ? a->valuestring : "";
			if (strncmp(v, "--quant", 7) != 0)
				continue;
			if (strchr(v, '='))
				return strchr(v, '=') + 1;
			if (a->next && cJSON_IsString(a->next))
				return a->next->valuestring;
		}
	}
	return NULL;
}

static bool has_name(const cJSON *list, const char *name)
{
	const cJSON *x;
	cJSON_ArrayForEach(x, list) if (cJSON_IsString(x) && !strcmp(x->valuestring, name)) return true;
	return false;
}

int pf_publish_card(char **out, const char *manifest_json, size_t len)
{
	cJSON *m = NULL, *tags = cJSON_CreateArray();
	const cJSON *a, *arts, *kpi, *model, *pipe, *t;
	const char *quant;
	bool llm = false;
	pf_buf b;
	int rc = 0;
	*out = NULL;
	pf_buf_init(&b, CARD_MAX);
	if (!pf_json_depth_ok(manifest_json, len, 64) || !(m = cJSON_ParseWithLength(manifest_json, len)) ||
	    !cJSON_IsObject(m)) {
		rc = pf_error_code(PF_EINVALID, "the manifest is not a JSON object: cannot write a model card");
		goto done;
	}
	arts = cJSON_GetObjectItemCaseSensitive(m, "artifacts");
	model = cJSON_GetObjectItemCaseSensitive(m, "model");
	pipe = cJSON_GetObjectItemCaseSensitive(m, "pipeline");
	kpi = cJSON_GetObjectItemCaseSensitive(m, "kpi");
	cJSON_AddItemToArray(tags, cJSON_CreateString("executorch"));
	cJSON_ArrayForEach(a, arts)
	{
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(a, "structure"), *be;
		cJSON_ArrayForEach(be, cJSON_GetObjectItemCaseSensitive(st, "backends"))
		{
			if (cJSON_IsString(be) && !has_name(tags, be->valuestring))
				cJSON_AddItemToArray(tags, cJSON_CreateString(be->valuestring));
		}
		if (cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st, "metadata"),
		                                     "get_max_seq_len"))
			llm = true;
	}
	(void)pf_buf_puts(&b, "---\nlibrary_name: executorch\ntags:\n");
	cJSON_ArrayForEach(t, tags)
	{
		(void)pf_buf_puts(&b, "- ");
		yaml_q(&b, t->valuestring);
		(void)pf_buf_puts(&b, "\n");
	}
	if (str(model, "repo")) {
		(void)pf_buf_puts(&b, "base_model: ");
		yaml_q(&b, str(model, "repo"));
		(void)pf_buf_puts(&b, "\n");
	}
	if (llm)
		(void)pf_buf_puts(&b, "pipeline_tag: text-generation\n");
	(void)pf_buf_puts(&b, "---\n\n# ");
	cell(&b, str(pipe, "name") ? str(pipe, "name") : "ExecuTorch release");
	(void)pf_buf_puts(&b, "\n\nExecuTorch program(s) exported and verified by pteflow");
	if (str(pipe, "target")) {
		(void)pf_buf_puts(&b, " (target `");
		cell(&b, str(pipe, "target"));
		(void)pf_buf_puts(&b, "`)");
	}
	(void)pf_buf_puts(&b, ".\n\n");
	if (str(model, "repo")) {
		(void)pf_buf_puts(&b, "- Base model: `");
		cell(&b, str(model, "repo"));
		(void)pf_buf_puts(&b, "`");
		if (str(model, "commit")) {
			(void)pf_buf_puts(&b, " at `");
			cell(&b, str(model, "commit"));
			(void)pf_buf_puts(&b, "`");
		}
		(void)pf_buf_puts(&b, "\n");
	}
	if ((quant = quantization(cJSON_GetObjectItemCaseSensitive(m, "steps")))) {
		(void)pf_buf_puts(&b, "- Quantization: `");
		cell(&b, quant);
		(void)pf_buf_puts(&b, "`\n");
	}
	(void)pf_buf_puts(&b,
	                  "- Check this folder with `pteflow verify manifest.json` (and `--provenance "
	                  "provenance.intoto.jsonl --key PUB.pem`, or `model_signing verify key` for model.sig).\n\n"
	                  "## Artifacts\n\n| file | size (bytes) | sha256 | gates |\n| --- | --- | --- | --- |\n");
	cJSON_ArrayForEach(a, arts)
	{
		const cJSON *size = cJSON_GetObjectItemCaseSensitive(a, "size_bytes"), *g;
		size_t n_gates = 0, n_passed = 0;
		cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(a, "gates"))
		{
			n_gates++;
			n_passed += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "passed"));
		}
		(void)pf_buf_puts(&b, "| ");
		cell(&b, str(a, "path"));
		(void)pf_buf_printf(&b, " | %.0f | `", cJSON_IsNumber(size) ? size->valuedouble : 0.0);
		cell(&b, str(a, "sha256"));
		(void)pf_buf_printf(&b, "` | %zu of %zu passed |\n", n_passed, n_gates);
	}
	if (cJSON_IsObject(kpi)) {
		const cJSON *g;
		(void)pf_buf_puts(&b, "\n## Measured runtime KPIs\n\n| gate | expected | measured | verdict |\n"
		                      "| --- | --- | --- | --- |\n");
		cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(kpi, "gates"))
		{
			(void)pf_buf_puts(&b, "| ");
			cell(&b, str(g, "name"));
			(void)pf_buf_puts(&b, " | ");
			cell(&b, str(g, "expected"));
			(void)pf_buf_puts(&b, " | ");
			cell(&b, str(g, "actual"));
			(void)pf_buf_puts(&b, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "passed"))
			                          ? " | passed |\n"
			                          : " | FAILED |\n");
		}
	}
	if (b.len >= CARD_MAX - 1) {
		rc = pf_error_code(PF_ELIMIT, "the model card would be larger than 1 MiB");
		goto done;
	}
	*out = pf_buf_detach(&b);
done:
	cJSON_Delete(m);
	cJSON_Delete(tags);
	pf_buf_dispose(&b);
	return rc;
}
