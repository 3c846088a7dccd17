/*
 * Unit tests of src/manifest: rendering a record with every optional part,
 * secrets never reaching the text or the files, atomic writes that leave no
 * temporary file behind, and the bounded reader `pteflow verify` uses.
 * With PF_MANIFEST_SAMPLE_OUT set, manifest_render.full_record also writes
 * its text there: tests/cli/test_manifest_schema.py validates it against
 * schemas/manifest.schema.json.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest/manifest.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

#define SECRET "hf_TESTSECRETtoken1234567890"
#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static char *tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *tmpl = pf_xasprintf("%s/pteflow-manifest-XXXXXX", base && base[0] ? base : "/tmp");
	cr_assert_not_null(mkdtemp(tmpl));
	return tmpl;
}

static char **strv(int n, ...)
{
	va_list ap;
	char **v = pf_xcalloc((size_t)n, sizeof(char *));
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		v[i] = pf_xstrdup(va_arg(ap, const char *));
	va_end(ap);
	return v;
}

static void add_gate(pf_artifact_result *a, const char *name, bool passed, uint64_t limit, char **values, size_t n)
{
	pf_gate_result *g;
	a->gates = pf_xreallocarray(a->gates, a->n_gates + 1, sizeof(*a->gates));
	g = &a->gates[a->n_gates++];
	memset(g, 0, sizeof(*g));
	g->name = pf_xstrdup(name);
	g->expected = pf_xstrdup("expected text");
	g->actual = pf_xstrdup("actual text");
	g->passed = passed;
	g->limit_bytes = limit;
	g->values = values;
	g->n_values = n;
	if (!passed)
		g->message = pf_xstrdup("\"model.pte\" failed: " SECRET);
}

static pf_pte_info *structure(void)
{
	pf_pte_info *p = pf_xcalloc(1, sizeof(*p));
	p->kind = PF_FILE_PTE;
	p->methods = pf_xcalloc(1, sizeof(*p->methods));
	p->n_methods = 1;
	p->methods[0].name = pf_xstrdup("forward");
	p->methods[0].n_inputs = 1;
	p->methods[0].n_outputs = 1;
	p->methods[0].delegates = strv(1, "XnnpackBackend");
	p->methods[0].n_delegates = 1;
	p->backends = strv(1, "XnnpackBackend");
	p->n_backends = 1;
	p->n_segments = 2;
	p->external_keys = strv(2, "linear.weight", "linear.bias");
	p->n_external = 2;
	p->findings = pf_xcalloc(1, sizeof(*p->findings));
	p->n_findings = 1;
	p->findings[0].severity = PF_PTE_WARN;
	p->findings[0].message = pf_xstrdup("segment 1 is padded oddly");
	return p;
}

/* A record with every optional part filled, and the secret planted everywhere a caller might leak it. */
static void full_record(pf_run_record *rec)
{
	pf_artifact_result *a;
	memset(rec, 0, sizeof(*rec));
	rec->pteflow_version = pf_xstrdup("0.1.0");
	rec->pipeline_name = pf_xstrdup("llama-3.2-1b");
	rec->pipeline_path = pf_xstrdup("pipelines/llama.yaml");
	memcpy(rec->pipeline_sha256, HEX_A, 65);
	rec->target = pf_xstrdup("android");
	rec->created_utc = pf_xstrdup("2026-11-22T05:46:47Z");
	rec->out_dir = pf_xstrdup("/somewhere/out");
	rec->host.os = pf_xstrdup("Linux 6.1.0 x86_64");
	rec->host.hostname = pf_xstrdup("builder");
	rec->host.cpu_count = 2;
	rec->host.memory_bytes = 8ull << 30;
	rec->host.memory_available_bytes = 6ull << 30;
	rec->host.guard_auto = pf_xstrdup("cgroup2");
	rec->git = (pf_git_record){.present = true, .repository = pf_xstrdup("https://github.com/o/r"),
				   .commit = pf_xstrdup("0123456789abcdef0123456789abcdef01234567"),
				   .branch = pf_xstrdup("main"), .dirty = true, .describe = pf_xstrdup("v0.1.0-3-g0123456")};
	rec->ci = (pf_ci_record){.present = true, .repository = pf_xstrdup("o/r"), .run_id = pf_xstrdup("42"),
				 .run_attempt = pf_xstrdup("1"), .workflow = pf_xstrdup("export"),
				 .ref = pf_xstrdup("refs/heads/main"), .sha = pf_xstrdup("0123456789abcdef0123456789abcdef01234567"),
				 .runner_os = pf_xstrdup("Linux"), .job = pf_xstrdup("export"),
				 .server_url = pf_xstrdup("https://github.com")};
	rec->model = pf_xcalloc(1, sizeof(*rec->model));
	rec->model->repo = pf_xstrdup("meta-llama/Llama-3.2-1B");
	rec->model->repo_type = pf_xstrdup("model");
	rec->model->revision = pf_xstrdup("main");
	rec->model->commit = pf_xstrdup("0123456789abcdef0123456789abcdef01234567");
	rec->model->endpoint = pf_xstrdup("http://127.0.0.1:8080?token=" SECRET);
	rec->model->files = pf_xcalloc(1, sizeof(pf_model_file));
	rec->model->n_files = 1;
	rec->model->files[0] = (pf_model_file){.path = pf_xstrdup("model.safetensors"), .size_bytes = 2471645608ull,
						.etag = pf_xstrdup("\"abc\""), .lfs = true};
	memcpy(rec->model->files[0].sha256, HEX_B, 65);
	rec->model->duration_ms = 12345;
	rec->model->bytes_downloaded = 2471645608ull;
	rec->steps = pf_xcalloc(2, sizeof(pf_step_record));
	rec->n_steps = 2;
	rec->steps[0].name = pf_xstrdup("export");
	rec->steps[0].argv = strv(4, "python", "export.py", "--token", SECRET);
	rec->steps[0].n_argv = 4;
	rec->steps[0].ran = true;
	rec->steps[0].result = (pf_proc_result){.end = PF_END_OK, .wall_ms = 5000, .user_ms = 4000, .sys_ms = 300,
						.maxrss_bytes = 3ull << 30, .log_bytes = 1234};
	rec->steps[0].result.guard.mode = PF_GUARD_CGROUP2;
	rec->steps[0].result.guard.limit_bytes = 6ull << 30;
	rec->steps[0].result.guard.peak_bytes = 3ull << 30;
	snprintf(rec->steps[0].result.guard.detail, sizeof(rec->steps[0].result.guard.detail), "env HF_TOKEN=%s", SECRET);
	memcpy(rec->steps[0].result.log_sha256, HEX_A, 65);
	rec->steps[0].log_path = pf_xstrdup("logs/export.log");
	rec->steps[0].result_json = pf_xstrdup("{\"python\": \"3.11\", \"token\": \"" SECRET "\", \"nested\": {\"a\": [1, 2]}}");
	rec->steps[0].timeout_ms = 3600000;
	/* Issue 13: a prediction with an actual inside (peak), one outside (size) and one not measured (runtime). */
	rec->steps[0].prediction = pf_xcalloc(1, sizeof(pf_prediction));
	rec->steps[0].prediction->module = pf_xstrdup("export_llm");
	rec->steps[0].prediction->model_json = pf_xstrdup("{\"layers\": 16}");
	rec->steps[0].prediction->peak = (pf_interval){.low = 2ull << 30, .point = 3ull << 30, .high = 4ull << 30};
	rec->steps[0].prediction->has_actual_peak = true;
	rec->steps[0].prediction->actual_peak = 3ull << 30;
	rec->steps[0].prediction->artifacts = pf_xcalloc(1, sizeof(pf_predicted_artifact));
	rec->steps[0].prediction->n_artifacts = 1;
	rec->steps[0].prediction->artifacts[0].path = pf_xstrdup("/abs/out/model.pte");
	rec->steps[0].prediction->artifacts[0].rel = pf_xstrdup("model.pte");
	rec->steps[0].prediction->artifacts[0].kind = pf_xstrdup("pte");
	rec->steps[0].prediction->artifacts[0].size = (pf_interval){.low = 900, .point = 1000, .high = 1100};
	rec->steps[0].prediction->artifacts[0].has_actual = true;
	rec->steps[0].prediction->artifacts[0].actual_size = 800;
	rec->steps[0].prediction->artifacts[0].has_runtime = true;
	rec->steps[0].prediction->artifacts[0].runtime = (pf_interval){.low = 1, .point = 2, .high = 3};
	rec->steps[1].name = pf_xstrdup("broken");
	rec->steps[1].argv = strv(1, "true");
	rec->steps[1].n_argv = 1;
	rec->steps[1].ran = true;
	rec->steps[1].result = (pf_proc_result){.end = PF_END_SIGNAL, .signal = 9};
	rec->steps[1].result_json = pf_xstrdup("{not json");
	rec->artifacts = pf_xcalloc(2, sizeof(pf_artifact_result));
	rec->n_artifacts = 2;
	a = &rec->artifacts[0];
	a->path = pf_xstrdup("model.pte");
	a->kind = pf_xstrdup("pte");
	a->exists = true;
	a->size_bytes = 1234567890ull;
	memcpy(a->sha256, HEX_A, 65);
	a->structure = structure();
	a->min_free_ram_bytes = 2575308624ull;
	a->produced_by = pf_xstrdup("export");
	add_gate(a, "max_size", true, 1500000000ull, NULL, 0);
	add_gate(a, "min_size", true, 1000, NULL, 0);
	add_gate(a, "methods", true, 0, strv(1, "forward"), 1);
	add_gate(a, "backends", false, 0, strv(1, "XnnpackBackend"), 1);
	add_gate(a, "external_data", true, 0, strv(1, "weights.ptd"), 1);
	a->passed = false;
	a = &rec->artifacts[1];
	a->path = pf_xstrdup("weights.ptd");
	a->kind = pf_xstrdup("ptd");
	add_gate(a, "exists", false, 0, NULL, 0);
	rec->tool_versions_json = pf_xstrdup("{\"torch\": \"2.15.0\", \"executorch\": \"1.5.1\"}");
	rec->duration_ms = 99999;
	rec->passed = false;
	rec->failure = pf_xstrdup("gate backends failed; token " SECRET);
}

Test(manifest_render, full_record)
{
	pf_run_record rec;
	char *text = NULL;
	const char *sample = getenv("PF_MANIFEST_SAMPLE_OUT");
	cJSON *root, *art, *step;
	full_record(&rec);
	cr_assert_eq(pf_manifest_render(&text, &rec), 0, "%s", pf_error_last());
	root = cJSON_Parse(text);
	cr_assert_not_null(root, "the manifest is not JSON");
	cr_assert_eq(cJSON_GetObjectItem(root, "schema_version")->valueint, PF_MANIFEST_SCHEMA_VERSION);
	cr_assert_str_eq(cJSON_GetObjectItem(root, "runtime")->valuestring, "ExecuTorch");
	cr_assert_str_eq(cJSON_GetObjectItem(root, "status")->valuestring, "failed");
	cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(root, "all_gates_passed")));
	art = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "artifacts"), 0);
	cr_assert_float_eq(cJSON_GetObjectItem(art, "size_gb")->valuedouble, 1.235, 1e-9);
	cr_assert(strstr(text, "\"size_gb\":\t1.235"), "three decimals");
	cr_assert_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(art, "gates"), 0), "max_size_bytes")->valuedouble,
		     1500000000.0);
	cr_assert_null(cJSON_GetObjectItem(root, "out_dir"), "the absolute output folder is not written");
	step = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "steps"), 0);
	cr_assert_str_eq(cJSON_GetObjectItem(step, "status")->valuestring, "success");
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(step, "result"), "python")->valuestring, "3.11");
	{
		cJSON *pred = cJSON_GetObjectItem(step, "prediction"), *peak, *size, *rt;
		cr_assert_not_null(pred);
		peak = cJSON_GetObjectItem(pred, "peak_memory");
		cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(peak, "within")));
		cr_assert_float_eq(cJSON_GetObjectItem(peak, "error_pct")->valuedouble, 0.0, 1e-9);
		size = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(pred, "artifacts"), 0), "size");
		cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(size, "within")));
		cr_assert_float_eq(cJSON_GetObjectItem(size, "error_pct")->valuedouble, 25.0, 1e-9);
		rt = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(pred, "artifacts"), 0), "runtime_memory");
		cr_assert(cJSON_IsNull(cJSON_GetObjectItem(rt, "actual")));
		cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(pred, "artifacts"), 0), "path")
		                     ->valuestring, "model.pte");
		cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(pred, "model"), "layers")->valueint, 16);
	}
	cr_assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(root, "steps"), 1), "prediction"));
	step = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "steps"), 1);
	cr_assert_str_eq(cJSON_GetObjectItem(step, "status")->valuestring, "killed_by_signal");
	cr_assert_eq(cJSON_GetObjectItem(step, "signal")->valueint, 9);
	cr_assert(strstr(cJSON_GetObjectItem(cJSON_GetObjectItem(step, "result"), "error")->valuestring, "not valid JSON"));
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "tool_versions"), "torch")->valuestring, "2.15.0");
	if (sample)
		cr_assert_eq(pf_fs_write_atomic(sample, text, strlen(text)), 0, "%s", pf_error_last());
	cJSON_Delete(root);
	free(text);
	pf_run_record_dispose(&rec);
}

Test(manifest_render, minimal_record_has_nulls_not_holes)
{
	pf_run_record rec;
	char *text = NULL;
	cJSON *root;
	memset(&rec, 0, sizeof(rec));
	rec.passed = true;
	cr_assert_eq(pf_manifest_render(&text, &rec), 0);
	root = cJSON_Parse(text);
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(root, "model")));
	cr_assert(cJSON_IsNull(cJSON_GetObjectItem(root, "ci")));
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(root, "all_gates_passed")));
	cr_assert_str_eq(cJSON_GetObjectItem(root, "status")->valuestring, "passed");
	cJSON_Delete(root);
	free(text);
}

static void assert_file_clean(const char *dir, const char *name)
{
	pf_buf b;
	char *p = pf_fs_join(dir, name);
	pf_buf_init(&b, 1u << 24);
	cr_assert_eq(pf_fs_read_file(&b, p, 1u << 24), 0, "%s", pf_error_last());
	cr_assert_null(strstr(pf_buf_cstr(&b), SECRET), "the secret reached %s", name);
	cr_assert_null(strstr(pf_buf_cstr(&b), "TESTSECRET"), "part of the secret reached %s", name);
	pf_buf_dispose(&b);
	free(p);
}

Test(manifest_secrets, never_written)
{
	pf_run_record rec;
	char *text = NULL, *dir = tmpdir();
	pf_secret_clear();
	pf_secret_add(SECRET);
	full_record(&rec);
	cr_assert_eq(pf_manifest_render(&text, &rec), 0);
	cr_assert_null(strstr(text, SECRET), "the secret reached the rendered manifest");
	cr_assert(strstr(text, "\"--token\", \"***\"]"), "the argv keeps its place, redacted:\n%s", text);
	cr_assert(strstr(text, "HF_TOKEN=***"));
	cr_assert_eq(pf_manifest_write(&rec, dir, "manifest.json"), 0, "%s", pf_error_last());
	assert_file_clean(dir, "manifest.json");
	assert_file_clean(dir, "SHA256SUMS");
	pf_secret_clear();
	/* Without the registration the same record does carry it: the check above can fail. */
	free(text);
	cr_assert_eq(pf_manifest_render(&text, &rec), 0);
	cr_assert_not_null(strstr(text, SECRET));
	free(text);
	pf_run_record_dispose(&rec);
	pf_fs_remove_tree(dir);
	free(dir);
}

static int count_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL)
		n += strstr(e->d_name, ".tmp.") != NULL;
	closedir(d);
	return n;
}

Test(manifest_write, sums_and_failure_leave_no_temporary_file)
{
	pf_run_record rec;
	char *dir = tmpdir(), *blocker = NULL;
	pf_buf b;
	full_record(&rec);
	cr_assert_eq(pf_manifest_write(&rec, dir, "manifest.json"), 0, "%s", pf_error_last());
	pf_buf_init(&b, 1u << 20);
	blocker = pf_fs_join(dir, "SHA256SUMS");
	cr_assert_eq(pf_fs_read_file(&b, blocker, 1u << 20), 0);
	cr_assert_str_eq(pf_buf_cstr(&b), HEX_A "  model.pte\n", "only artifacts that exist are listed");
	pf_buf_dispose(&b);
	free(blocker);
	/* A folder where the manifest should go: the rename fails after the temp file was written. */
	blocker = pf_fs_join(dir, "blocked.json");
	cr_assert_eq(pf_fs_mkdir_p(blocker), 0);
	cr_assert_lt(pf_manifest_write(&rec, dir, "blocked.json"), 0);
	cr_assert(pf_error_last()[0], "a message says why");
	cr_assert_eq(count_tmp(dir), 0, "a temporary file was left behind");
	cr_assert(pf_fs_is_dir(blocker));
	free(blocker);
	/* A folder that does not exist. */
	blocker = pf_fs_join(dir, "no/such/folder");
	cr_assert_lt(pf_manifest_write(&rec, blocker, "manifest.json"), 0);
	cr_assert_eq(count_tmp(dir), 0);
	free(blocker);
	pf_run_record_dispose(&rec);
	pf_fs_remove_tree(dir);
	free(dir);
}

Test(manifest_read, reads_back_what_it_wrote)
{
	pf_run_record rec;
	pf_manifest *m = NULL;
	char *text = NULL;
	full_record(&rec);
	cr_assert_eq(pf_manifest_render(&text, &rec), 0);
	cr_assert_eq(pf_manifest_parse(&m, text, strlen(text)), 0, "%s", pf_error_last());
	cr_assert_str_eq(m->pipeline_name, "llama-3.2-1b");
	cr_assert_eq(m->n_entries, 2);
	cr_assert_str_eq(m->entries[0].path, "model.pte");
	cr_assert_str_eq(m->entries[0].kind, "pte");
	cr_assert_eq(m->entries[0].size_bytes, 1234567890ull);
	cr_assert_str_eq(m->entries[0].sha256, HEX_A);
	cr_assert(m->entries[0].has_sha256);
	cr_assert_eq(m->entries[0].max_size, 1500000000ull);
	cr_assert_eq(m->entries[0].min_size, 1000);
	cr_assert_eq(m->entries[0].n_methods, 1);
	cr_assert_str_eq(m->entries[0].backends[0], "XnnpackBackend");
	cr_assert(m->entries[0].check_external);
	cr_assert_str_eq(m->entries[0].data[0], "weights.ptd");
	cr_assert_not(m->entries[0].unsafe);
	cr_assert_not(m->entries[1].has_sha256, "a missing artifact has a null sha256");
	pf_manifest_free(m);
	free(text);
	pf_run_record_dispose(&rec);
}

static int parse(const char *text)
{
	pf_manifest *m = NULL;
	int rc = pf_manifest_parse(&m, text, strlen(text));
	pf_manifest_free(m);
	return rc;
}

#define ART(extra) "{\"schema_version\":1,\"pipeline\":{\"name\":\"p\"},\"artifacts\":[{\"path\":\"a.pte\",\"kind\":\"pte\"," \
	"\"size_bytes\":10,\"sha256\":\"" HEX_A "\",\"gates\":[]" extra "}]}"

Test(manifest_read, rejects_bad_shapes)
{
	char *deep = pf_xmalloc(200001);
	cr_assert_eq(parse(ART("")), 0, "%s", pf_error_last());
	cr_assert_eq(parse("{"), PF_EINVALID);
	cr_assert(strstr(pf_error_last(), "not valid JSON"));
	cr_assert_eq(parse("[]"), PF_EINVALID);
	cr_assert_eq(parse("{\"schema_version\":2,\"pipeline\":{\"name\":\"p\"},\"artifacts\":[]}"), PF_EINVALID);
	cr_assert(strstr(pf_error_last(), "schema_version"));
	cr_assert_eq(parse("{\"schema_version\":1,\"pipeline\":{\"name\":\"p\"}}"), PF_EINVALID);
	cr_assert_eq(parse("{\"schema_version\":1,\"pipeline\":{\"name\":\"p\"},\"artifacts\":[{\"path\":\"a\",\"kind\":\"exe\","
			   "\"size_bytes\":1,\"sha256\":null,\"gates\":[]}]}"), PF_EINVALID);
	cr_assert_eq(parse("{\"schema_version\":1,\"pipeline\":{\"name\":\"p\"},\"artifacts\":[{\"path\":\"a\",\"kind\":\"pte\","
			   "\"size_bytes\":-1,\"sha256\":null,\"gates\":[]}]}"), PF_EINVALID);
	cr_assert_eq(parse("{\"schema_version\":1,\"pipeline\":{\"name\":\"p\"},\"artifacts\":[{\"path\":\"a\",\"kind\":\"pte\","
			   "\"size_bytes\":1,\"sha256\":\"ABC\",\"gates\":[]}]}"), PF_EINVALID);
	cr_assert(strstr(pf_error_last(), "64 lower-case hex"));
	cr_assert_eq(parse("{\"schema_version\":1,\"pipeline\":{\"name\":\"p\"},\"artifacts\":[{\"path\":\"a\",\"kind\":\"pte\","
			   "\"size_bytes\":1,\"sha256\":null,\"gates\":[{\"name\":\"max_size\"}]}]}"), PF_EINVALID);
	for (int i = 0; i < 100000; i++)
		deep[i] = '[';
	for (int i = 100000; i < 200000; i++)
		deep[i] = ']';
	deep[200000] = '\0';
	cr_assert_eq(parse(deep), PF_EINVALID);
	cr_assert(strstr(pf_error_last(), "nested deeper"));
	free(deep);
}

Test(manifest_read, unsafe_paths_are_marked)
{
	const char *unsafe[] = {"../x.pte", "/etc/passwd", "a/../../b", "..", "a/.."};
	const char *safe[] = {"model.pte", "a..b/c", "sub/model.pte", "..a", ".hidden"};
	for (size_t i = 0; i < 5; i++) {
		cr_assert_not(pf_manifest_path_safe(unsafe[i]), "%s", unsafe[i]);
		cr_assert(pf_manifest_path_safe(safe[i]), "%s", safe[i]);
	}
	cr_assert_not(pf_manifest_path_safe(""));
}

Test(manifest_step, status_words)
{
	pf_step_record s;
	memset(&s, 0, sizeof(s));
	cr_assert_str_eq(pf_manifest_step_status(&s), "skipped");
	s.ran = true;
	cr_assert_str_eq(pf_manifest_step_status(&s), "success");
	s.result.end = PF_END_TIMEOUT;
	cr_assert_str_eq(pf_manifest_step_status(&s), "timed_out");
	s.result.end = PF_END_MEMORY;
	cr_assert_str_eq(pf_manifest_step_status(&s), "out_of_memory");
}
