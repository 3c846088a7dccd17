/* Unit tests of src/cache: fingerprints and their differences, the Python import closure, folder
 * snapshots, and the store (put, get, restore, damage, gc). */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/fingerprint.h"
#include "cache/pydeps.h"
#include "cache/snapshot.h"
#include "cache/store.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

static char *temp_dir(void)
{
	char tmpl[] = "/tmp/pf-cache-test-XXXXXX";
	char *d = mkdtemp(tmpl);
	cr_assert(d);
	return pf_xstrdup(d);
}

static void put_file(const char *dir, const char *rel, const char *text)
{
	char *p = pf_fs_join(dir, rel), *slash = strrchr(p, '/');
	*slash = '\0';
	cr_assert_eq(pf_fs_mkdir_p(p), 0);
	*slash = '/';
	cr_assert_eq(pf_fs_write_atomic(p, text, strlen(text)), 0);
	free(p);
}

static void two_parts(pf_fingerprint *fp, const char *argv1, const char *env_a)
{
	pf_fp_init(fp);
	pf_fp_component_begin(fp, "command");
	pf_fp_add(fp, "argv[0]", "prog", 4, "prog");
	pf_fp_add(fp, "argv[1]", argv1, strlen(argv1), argv1);
	pf_fp_component_begin(fp, "env");
	if (env_a)
		pf_fp_add(fp, "A", env_a, strlen(env_a), NULL);
	pf_fp_finish(fp);
}

Test(cache_fingerprint, same_inputs_same_hash_and_no_difference)
{
	pf_fingerprint a, b;
	two_parts(&a, "x", "1");
	two_parts(&b, "x", "1");
	cr_assert_str_eq(a.sha256, b.sha256);
	cr_assert_null(pf_fp_diff(&a, &b, NULL));
	pf_fp_dispose(&a);
	pf_fp_dispose(&b);
}

Test(cache_fingerprint, names_the_first_changed_component_and_item)
{
	pf_fingerprint a, b;
	const char *comp = NULL;
	char *why;
	two_parts(&a, "x", "1");
	two_parts(&b, "y", "2");
	why = pf_fp_diff(&b, &a, &comp);
	cr_assert_str_eq(comp, "command");
	cr_assert_str_eq(why, "command: \"argv[1]\" changed: \"x\" -> \"y\"");
	free(why);
	pf_fp_dispose(&b);
	two_parts(&b, "x", "2");
	why = pf_fp_diff(&b, &a, &comp);
	/* a value without a shown text (a secret) is named, never shown */
	cr_assert(strstr(why, "env: \"A\" changed (content "), "%s", why);
	free(why);
	pf_fp_dispose(&b);
	two_parts(&b, "x", NULL);
	why = pf_fp_diff(&b, &a, NULL);
	cr_assert_str_eq(why, "env: \"A\" is gone");
	free(why);
	why = pf_fp_diff(&a, &b, NULL);
	cr_assert_str_eq(why, "env: \"A\" is new");
	free(why);
	pf_fp_dispose(&a);
	pf_fp_dispose(&b);
}

Test(cache_fingerprint, item_boundaries_count)
{
	/* "ab" + "c" must not hash like "a" + "bc" */
	pf_fingerprint a, b;
	pf_fp_init(&a);
	pf_fp_component_begin(&a, "c");
	pf_fp_add(&a, "k", "ab", 2, NULL);
	pf_fp_add(&a, "l", "c", 1, NULL);
	pf_fp_finish(&a);
	pf_fp_init(&b);
	pf_fp_component_begin(&b, "c");
	pf_fp_add(&b, "k", "a", 1, NULL);
	pf_fp_add(&b, "l", "bc", 2, NULL);
	pf_fp_finish(&b);
	cr_assert_str_neq(a.sha256, b.sha256);
	pf_fp_dispose(&a);
	pf_fp_dispose(&b);
}

Test(cache_fingerprint, json_round_trip_keeps_the_hash)
{
	pf_fingerprint a, b;
	cJSON *j;
	two_parts(&a, "x", "1");
	j = pf_fp_to_json(&a);
	cr_assert_eq(pf_fp_from_json(&b, j), 0);
	cr_assert_str_eq(a.sha256, b.sha256);
	cr_assert_null(pf_fp_diff(&a, &b, NULL));
	cJSON_Delete(j);
	pf_fp_dispose(&a);
	pf_fp_dispose(&b);
}

static bool listed(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

Test(cache_pydeps, closure_follows_every_import_form_and_nothing_else)
{
	char *root = temp_dir();
	char **files = NULL;
	size_t n = 0;
	put_file(root, "pkg/__init__.py", "from . import base\n");
	put_file(root, "pkg/base.py", "X = 1\n");
	put_file(root, "pkg/main.py",
		 "import os\nfrom . import alpha\nfrom .beta import thing\n"
		 "def f():\n    from pkg.gamma import g\n    import pkg.sub.delta as d\n"
		 "from . import (\n    epsilon,  # a comment\n    zeta as z,\n)\n");
	put_file(root, "pkg/alpha.py", "from .beta import other\n");
	put_file(root, "pkg/beta.py", "");
	put_file(root, "pkg/gamma.py", "");
	put_file(root, "pkg/sub/__init__.py", "");
	put_file(root, "pkg/sub/delta.py", "from .. import eta\n");
	put_file(root, "pkg/epsilon.py", "");
	put_file(root, "pkg/zeta.py", "");
	put_file(root, "pkg/eta.py", "");
	put_file(root, "pkg/unused.py", "import pkg.main\n");
	cr_assert_eq(pf_pydeps_closure(&files, &n, root, "pkg.main"), 0, "%s", pf_error_last());
	const char *want[] = {"pkg/__init__.py", "pkg/base.py",  "pkg/main.py",           "pkg/alpha.py",
			      "pkg/beta.py",     "pkg/gamma.py", "pkg/sub/__init__.py",   "pkg/sub/delta.py",
			      "pkg/epsilon.py",  "pkg/zeta.py",  "pkg/eta.py"};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert(listed(files, n, want[i]), "missing %s", want[i]);
	cr_assert_not(listed(files, n, "pkg/unused.py"));
	cr_assert_eq(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 1; i < n; i++)
		cr_assert(strcmp(files[i - 1], files[i]) < 0, "sorted");
	pf_strv_free(files, n);
	cr_assert_eq(pf_pydeps_closure(&files, &n, root, "pkg.nothere"), PF_ENOTFOUND);
	cr_assert_eq(pf_pydeps_package(&files, &n, root, "pkg"), 0);
	cr_assert_eq(n, 12);
	pf_strv_free(files, n);
	pf_fs_remove_tree(root);
	free(root);
}

Test(cache_snapshot, new_and_changed_files_are_outputs_and_skipped_names_are_not)
{
	char *dir = temp_dir();
	const char *skip[] = {"logs", "manifest.json", NULL};
	pf_snapshot before, after;
	const pf_snap_file **changed = NULL;
	size_t n = 0;
	bool special = false;
	put_file(dir, "kept.txt", "same");
	put_file(dir, "rewritten.txt", "old");
	put_file(dir, "logs/x.log", "log");
	pf_snapshot_take(&before, dir, skip);
	cr_assert_eq(before.n_files, 2);
	put_file(dir, "rewritten.txt", "new!");
	put_file(dir, "sub/new.bin", "n");
	put_file(dir, "manifest.json", "{}");
	put_file(dir, ".model.pte.pteflow-abc123", "temp");
	{
		char *link = pf_fs_join(dir, "link");
		cr_assert_eq(symlink("kept.txt", link), 0);
		free(link);
	}
	pf_snapshot_take(&after, dir, skip);
	pf_snapshot_changed(&changed, &n, &before, &after, &special);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(changed[0]->path, "link");
	cr_assert_str_eq(changed[1]->path, "rewritten.txt");
	cr_assert_str_eq(changed[2]->path, "sub/new.bin");
	cr_assert(special, "a symbolic link is not a regular output");
	free(changed);
	pf_snapshot_dispose(&before);
	pf_snapshot_dispose(&after);
	pf_fs_remove_tree(dir);
	free(dir);
}

static pf_store_entry *entry_for(const char *fp_value, const char *out)
{
	pf_store_entry *e = pf_xcalloc(1, sizeof(*e));
	two_parts(&e->fp, fp_value, "1");
	memcpy(e->fingerprint, e->fp.sha256, 65);
	e->pipeline = pf_xstrdup("p");
	e->step = pf_xstrdup("s");
	e->created_utc = pf_xstrdup("2026-01-01T00:00:00Z");
	e->guard = pf_xstrdup("watchdog");
	e->peak_bytes = 1234;
	e->outputs = pf_xcalloc(2, sizeof(pf_store_file));
	e->outputs[0].path = pf_xstrdup("model.pte");
	e->outputs[1].path = pf_xstrdup("sub/data.ptd");
	e->n_outputs = 2;
	e->log.path = pf_xstrdup("logs/s.log");
	put_file(out, "model.pte", fp_value);
	put_file(out, "sub/data.ptd", "data");
	put_file(out, "logs/s.log", "log line\n");
	return e;
}

static char *read_text(const char *dir, const char *rel)
{
	char *p = pf_fs_join(dir, rel);
	pf_buf b;
	pf_buf_init(&b, 1 << 20);
	cr_assert_eq(pf_fs_read_file(&b, p, 1 << 20), 0);
	free(p);
	return pf_buf_detach(&b);
}

Test(cache_store, put_get_restore_round_trip)
{
	char *root = temp_dir(), *out = pf_fs_join(root, "out"), *out2 = pf_fs_join(root, "out2");
	char *sd = pf_fs_join(root, "store"), last[65];
	pf_store *s = NULL;
	pf_store_entry *e = entry_for("model-bytes", out), *got = NULL;
	uint64_t copied = 0;
	char *text;
	cr_assert_eq(pf_store_open(&s, sd), 0, "%s", pf_error_last());
	cr_assert_eq(pf_store_put(s, e, out, &copied), 0, "%s", pf_error_last());
	cr_assert_eq(copied, strlen("model-bytes") + 4 + 9);
	cr_assert_eq(strlen(e->outputs[0].sha256), 64);
	cr_assert_eq(pf_store_get(&got, s, e->fingerprint), 0, "%s", pf_error_last());
	cr_assert_eq(got->n_outputs, 2);
	cr_assert_eq(got->peak_bytes, 1234);
	cr_assert_null(pf_fp_diff(&got->fp, &e->fp, NULL));
	cr_assert_eq(pf_store_restore(s, got, out2), 0, "%s", pf_error_last());
	text = read_text(out2, "sub/data.ptd");
	cr_assert_str_eq(text, "data");
	free(text);
	text = read_text(out2, "logs/s.log");
	cr_assert_str_eq(text, "log line\n");
	free(text);
	cr_assert_eq(pf_store_last(last, s, "p", NULL, "s"), 0);
	cr_assert_str_eq(last, e->fingerprint);
	cr_assert_eq(pf_store_last(last, s, "p", "t", "s"), PF_ENOTFOUND);
	pf_store_entry_free(got);
	{
		pf_store_entry *none = NULL;
		char zeros[65];
		memset(zeros, '0', 64);
		zeros[64] = '\0';
		cr_assert_eq(pf_store_get(&none, s, zeros), PF_ENOTFOUND);
	}
	pf_store_entry_free(e);
	pf_store_free(s);
	pf_fs_remove_tree(root);
	free(root);
	free(out);
	free(out2);
	free(sd);
}

Test(cache_store, a_damaged_object_fails_the_restore_and_touches_nothing)
{
	char *root = temp_dir(), *out = pf_fs_join(root, "out"), *out2 = pf_fs_join(root, "out2");
	char *sd = pf_fs_join(root, "store"), *obj;
	pf_store *s = NULL;
	pf_store_entry *e = entry_for("model-bytes", out), *got = NULL;
	int fd;
	cr_assert_eq(pf_store_open(&s, sd), 0);
	cr_assert_eq(pf_store_put(s, e, out, NULL), 0);
	obj = pf_xasprintf("%s/objects/%.2s/%s", sd, e->outputs[1].sha256, e->outputs[1].sha256);
	chmod(obj, 0644);
	fd = open(obj, O_WRONLY | O_TRUNC);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, "dat", 3), 3); /* truncated by one byte */
	close(fd);
	cr_assert_eq(pf_store_get(&got, s, e->fingerprint), 0);
	put_file(out2, "model.pte", "what was there before");
	cr_assert_eq(pf_store_restore(s, got, out2), PF_EINVALID);
	/* its size differs from the record: found before a byte of it is read */
	cr_assert(strstr(pf_error_last(), "\"sub/data.ptd\" has 3 bytes, its record says 4"), "%s", pf_error_last());
	{
		/* nothing was put in place (not even the outputs that matched), and no temporary file is left */
		char *text = read_text(out2, "model.pte");
		char *ptd = pf_fs_join(out2, "sub/data.ptd");
		cr_assert_str_eq(text, "what was there before");
		cr_assert_not(pf_fs_exists(ptd));
		free(text);
		free(ptd);
	}
	cr_assert_not(pf_fs_exists(obj), "the damaged object is removed");
	pf_store_entry_free(got);
	got = NULL;
	cr_assert_eq(pf_store_get(&got, s, e->fingerprint), PF_ENOTFOUND, "the entry is removed");
	pf_store_entry_free(e);
	pf_store_free(s);
	pf_fs_remove_tree(root);
	free(obj);
	free(root);
	free(out);
	free(out2);
	free(sd);
}

Test(cache_store, gc_removes_least_recently_used_and_shares_objects)
{
	char *root = temp_dir(), *out = pf_fs_join(root, "out"), *sd = pf_fs_join(root, "store");
	pf_store *s = NULL;
	pf_store_entry *a = entry_for("aaaaaaaaaa", out), *b = NULL, **list = NULL;
	pf_store_gc_report r;
	size_t n = 0;
	cr_assert_eq(pf_store_open(&s, sd), 0);
	cr_assert_eq(pf_store_put(s, a, out, NULL), 0);
	sleep(1);
	b = entry_for("bbbbbbbbbbbbbbbbbbbb", out);
	cr_assert_eq(pf_store_put(s, b, out, NULL), 0);
	cr_assert_eq(pf_store_list(&list, &n, s), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(list[0]->fingerprint, a->fingerprint, "oldest first");
	for (size_t i = 0; i < n; i++)
		pf_store_entry_free(list[i]);
	free(list);
	/* objects: 10 + 20 + "data" and the log, shared = 43 bytes; keeping b needs 33 */
	cr_assert_eq(pf_store_gc(&r, s, 40, false), 0);
	cr_assert_eq(r.bytes_before, 43);
	cr_assert_eq(r.entries_removed, 1, "removed %zu kept %zu broken %zu", r.entries_removed, r.entries_kept, r.broken_removed);
	cr_assert_eq(r.objects_removed, 1, "the shared files stay");
	cr_assert_eq(r.bytes_after, 33);
	cr_assert_eq(pf_store_gc(&r, s, 0, false), 0);
	cr_assert_eq(r.entries_removed, 1);
	cr_assert_eq(r.bytes_after, 0);
	pf_store_entry_free(a);
	pf_store_entry_free(b);
	pf_store_free(s);
	pf_fs_remove_tree(root);
	free(root);
	free(out);
	free(sd);
}

Test(cache_store, records_are_checked_like_untrusted_input)
{
	pf_store_entry *e = NULL;
	const char *bad[] = {
		"", "[]", "{\"format\": 2}",
		"{\"format\":1,\"fingerprint\":\"x\",\"step\":\"s\",\"run\":{},\"outputs\":[]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(pf_store_entry_parse(&e, bad[i], strlen(bad[i])), PF_EINVALID, "%s", bad[i]);
	cr_assert_null(e);
}
