/*
 * `pteflow verify --model-sig model.sig --key PUB.pem`: check an OpenSSF
 * model signature (made by `model_signing sign key` or by `run --sign-key`)
 * as `model_signing verify key` does: the bundle's key hint against the
 * given keys, the ECDSA signature over DSSE's PAE, the statement and its root
 * digest, then the folder re-hashed and compared with the signed list (extra,
 * missing and changed files are all named). The signature file is hostile
 * (format.c); the folder is walked without following links, a FIFO or device
 * is never read, and the names the signature lists are never opened: only the
 * folder's own files are. Workload: one signature, a folder of a few files of
 * up to a few GB, streamed.
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attest/attest.h"
#include "modelsig/internal.h"
#include "modelsig/modelsig.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/safefs.h"
#include "util/text.h"
#include "verify/hash.h"

#define SHOWN_NAMES 8

void pf_modelsig_report_dispose(pf_modelsig_report *r)
{
	if (!r)
		return;
	free(r->signature_detail);
	free(r->files_detail);
	free(r->model_name);
	memset(r, 0, sizeof(*r));
}

/* Text from a hostile file, safe to print: control characters become '?', at most 120 bytes. */
static void put_shown(pf_buf *b, const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < n && i < 120; i++) {
		char c = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
		(void)pf_buf_append(b, &c, 1);
	}
	if (n > 120)
		(void)pf_buf_puts(b, "...");
}

static void check_signature(pf_modelsig_report *r, const pf_modelsig_claims *c, pf_attest_key *const *keys,
                            size_t n_keys)
{
	const pf_dsse_envelope *env = c->envelope;
	const pf_dsse_signature *s = &env->signatures[0]; /* the one model_signing signs and checks */
	size_t pae_len = 0, hinted = 0;
	unsigned char *pae = pf_attest_pae(&pae_len, env->payload_type, env->payload, env->payload_len);
	for (size_t k = 0; k < n_keys && !r->signature_ok; k++) {
		size_t pem_len = 0;
		char *pem = pf_attest_key_public_pem(keys[k], &pem_len);
		char hint[65];
		pf_sha256_bytes(hint, pem, pem_len);
		free(pem);
		if (c->key_hint && strcmp(c->key_hint, hint) != 0)
			continue; /* model_signing: "Key mismatch" */
		hinted++;
		if (pf_attest_verify_signature(keys[k], s->sig, s->sig_len, pae, pae_len) == 0) {
			r->signature_ok = true;
			r->signature_detail = pf_xasprintf("verifies with the given key (%s %.16s..)",
			                                   pf_attest_key_type_name(pf_attest_key_type(keys[k])),
			                                   pf_attest_key_id(keys[k]));
		}
	}
	if (!r->signature_ok && c->key_hint && hinted == 0)
		/* the hint is hostile text: shown only when it is the hex digest it should be */
		r->signature_detail = pf_xasprintf("key mismatch: the signature was made with the key whose PEM has "
		                                   "SHA-256 %.16s.., and no --key given is that key",
		                                   pf_is_sha256_hex(c->key_hint) ? c->key_hint : "(not a digest)");
	else if (!r->signature_ok)
		r->signature_detail = pf_xstrdup("does not verify with the given key: the statement was changed after "
		                                 "signing, or it was signed with another key");
	free(pae);
}

static int ptr_strcmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Is rel, or a folder above it, among the sorted clean ignore paths? ("" ignores everything, as "." does in Python) */
static bool ignored(const char *rel, char *const *sorted, size_t n)
{
	size_t len = strlen(rel);
	char *probe;
	bool hit = false;
	if (!n)
		return false;
	probe = pf_xstrdup(rel);
	for (size_t cut = 0; cut <= len && !hit; cut++) {
		const char *key;
		if (cut < len && rel[cut] != '/')
			continue;
		probe[cut] = '\0';
		key = probe;
		hit = bsearch(&key, sorted, n, sizeof(char *), ptr_strcmp) != NULL;
		if (cut < len)
			probe[cut] = '/';
	}
	if (!hit) /* "" (the whole model) */
		hit = bsearch(&(const char *){""}, sorted, n, sizeof(char *), ptr_strcmp) != NULL;
	free(probe);
	return hit;
}

/* Do not descend into ignored folders. */
typedef struct ignore_set {
	char **paths;
	size_t n;
} ignore_set;

static bool descend(const char *rel, void *ctx)
{
	const ignore_set *s = ctx;
	return !ignored(rel, s->paths, s->n);
}

static int hash_fd(char hex[65], int fd)
{
	enum { CHUNK = 1 << 20 }; /* 1 MiB, as model_signing reads */
	pf_sha256 *h = pf_sha256_new();
	unsigned char *buf = pf_xmalloc(CHUNK);
	int rc = 0;
	for (;;) {
		ssize_t n = read(fd, buf, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = pf_error_errno("cannot read");
			break;
		}
		if (n == 0)
			break;
		pf_sha256_update(h, buf, (size_t)n);
	}
	free(buf);
	if (rc < 0) {
		pf_sha256_free(h);
		return rc;
	}
	pf_sha256_final_hex(h, hex);
	return 0;
}

static int file_ptr_cmp(const void *x, const void *y)
{
	return strcmp((*(const pf_modelsig_file *const *)x)->name, (*(const pf_modelsig_file *const *)y)->name);
}

/* The signed entry named `name`, by binary search over the entries sorted by name (names are unique: format.c). */
static const pf_modelsig_file *find_file(const pf_modelsig_file *const *sorted, size_t n, const char *name)
{
	pf_modelsig_file probe = {.name = (char *)name};
	const pf_modelsig_file *key = &probe;
	const pf_modelsig_file *const *hit = bsearch(&key, sorted, n, sizeof(*sorted), file_ptr_cmp);
	return hit ? *hit : NULL;
}

static void note(pf_buf *b, size_t *count, const char *what, const char *name)
{
	if ((*count)++ < SHOWN_NAMES) {
		(void)pf_buf_printf(b, "%s%s \"", b->len ? "; " : "", what);
		put_shown(b, name);
		(void)pf_buf_puts(b, "\"");
	}
}

/* Re-hash the folder and compare with the signed list; the folder's own files only are opened. */
static int check_files(pf_modelsig_report *r, const pf_modelsig_claims *c, const char *model_dir, const char *sig_rel)
{
	static const char *const git_paths[] = {".git", ".gitattributes", ".github", ".gitignore"};
	ignore_set ig = {0};
	ms_entry *e = NULL;
	size_t n = 0, n_bad = 0, n_ok = 0, n_seen = 0;
	const pf_modelsig_file **sorted = pf_xcalloc(c->n_files + 1, sizeof(*sorted));
	bool *seen = pf_xcalloc(c->n_files + 1, sizeof(bool));
	pf_buf b;
	int dirfd = -1, rc = 0;
	pf_buf_init(&b, 64u * 1024u);
	ig.paths = pf_xcalloc(c->n_ignore + 6, sizeof(char *));
	for (size_t i = 0; i < c->n_ignore; i++)
		if ((ig.paths[ig.n] = ms_clean_path(c->ignore_paths[i])))
			ig.n++;
	for (size_t i = 0; i < 4; i++)
		ig.paths[ig.n++] = pf_xstrdup(git_paths[i]);
	if (sig_rel)
		ig.paths[ig.n++] = pf_xstrdup(sig_rel);
	qsort(ig.paths, ig.n, sizeof(char *), ptr_strcmp);
	for (size_t i = 0; i < c->n_files; i++)
		sorted[i] = &c->files[i];
	qsort(sorted, c->n_files, sizeof(*sorted), file_ptr_cmp);
	if ((rc = ms_walk(&e, &n, model_dir, descend, &ig)) < 0)
		goto done;
	if ((dirfd = open(model_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = pf_error_errno("cannot open the model folder \"%s\"", model_dir);
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		const pf_modelsig_file *f;
		char hex[65];
		int fd;
		if (e[i].kind == MS_DIR || ignored(e[i].name, ig.paths, ig.n))
			continue;
		if (e[i].kind != MS_FILE) {
			note(&b, &n_bad,
			     e[i].kind == MS_LINK ? "symbolic link (never followed)" : "special file (never read)",
			     e[i].name);
			continue;
		}
		if (!(f = find_file(sorted, c->n_files, e[i].name))) {
			note(&b, &n_bad, "extra file", e[i].name);
			continue;
		}
		seen[f - c->files] = true;
		n_seen++;
		fd = pf_safefs_open_read(dirfd, e[i].name, NULL, e[i].name);
		if (fd < 0 || hash_fd(hex, fd) < 0) {
			note(&b, &n_bad, "unreadable file", e[i].name);
			if (fd >= 0)
				close(fd);
			continue;
		}
		close(fd);
		if (strcmp(hex, f->sha256) != 0)
			note(&b, &n_bad, "changed file", e[i].name);
		else
			n_ok++;
	}
	for (size_t i = 0; i < c->n_files && n_seen < c->n_files; i++)
		if (!seen[i])
			note(&b, &n_bad, "missing file", c->files[i].name);
	if (n_bad > SHOWN_NAMES)
		(void)pf_buf_printf(&b, "; and %zu more", n_bad - SHOWN_NAMES);
	r->files_ok = n_bad == 0;
	r->files_detail =
	    n_bad ? pf_buf_detach(&b)
	          : pf_xasprintf("%zu of %zu signed file(s) match, nothing else in the folder", n_ok, c->n_files);
done:
	if (dirfd >= 0)
		close(dirfd);
	ms_entries_free(e, n);
	pf_strv_free(ig.paths, ig.n);
	free(sorted);
	free(seen);
	pf_buf_dispose(&b);
	return rc;
}

/* The signature's path relative to model_dir when it lies inside it (model_signing ignores it), else NULL. */
static char *sig_inside(const char *sig_path, const char *model_dir)
{
	char *dir = realpath(model_dir, NULL), *sig_dir_name = pf_fs_dirname(sig_path), *sig_dir = NULL, *rel = NULL;
	const char *base = strrchr(sig_path, '/') ? strrchr(sig_path, '/') + 1 : sig_path;
	size_t n;
	sig_dir = realpath(sig_dir_name, NULL);
	if (dir && sig_dir) {
		n = strlen(dir);
		if (!strcmp(sig_dir, dir))
			rel = pf_xstrdup(base);
		else if (!strncmp(sig_dir, dir, n) && (sig_dir[n] == '/' || (n == 1 && dir[0] == '/')))
			rel = pf_xasprintf("%s/%s", sig_dir + n + (dir[n - 1] == '/' ? 0 : 1), base);
	}
	free(dir);
	free(sig_dir);
	free(sig_dir_name);
	return rel;
}

int pf_modelsig_verify(pf_modelsig_report *out, const char *sig_path, const char *model_dir, pf_attest_key *const *keys,
                       size_t n_keys)
{
	pf_buf b;
	pf_modelsig_claims *c = NULL;
	char *sig_rel = NULL;
	int rc;
	memset(out, 0, sizeof(*out));
	pf_buf_init(&b, PF_MODELSIG_MAX_BYTES + 1);
	rc = pf_fs_read_file(&b, sig_path, PF_MODELSIG_MAX_BYTES);
	if (rc == PF_ELIMIT) {
		rc = pf_error_code(PF_EINVALID, "\"%s\" is larger than 64 MiB: not a model signature", sig_path);
		goto done;
	}
	if (rc == PF_ENOTFOUND) {
		rc = pf_error_code(PF_ENOTFOUND, "the model signature \"%s\" does not exist", sig_path);
		goto done;
	}
	if (rc < 0) {
		rc = pf_error_code(PF_EENV, "cannot read the model signature: %s", pf_error_last());
		goto done;
	}
	if ((rc = pf_modelsig_parse(&c, pf_buf_cstr(&b), b.len)) < 0)
		goto done;
	out->n_files = c->n_files;
	out->model_name = pf_xstrdup(c->model_name);
	check_signature(out, c, keys, n_keys);
	/* as model_signing: no file is compared for a statement nobody vouches for */
	if (!out->signature_ok) {
		out->files_detail = pf_xstrdup("not checked: the signature did not verify");
	} else {
		sig_rel = sig_inside(sig_path, model_dir);
		if ((rc = check_files(out, c, model_dir, sig_rel)) < 0)
			goto done;
	}
	out->ok = out->signature_ok && out->files_ok;
done:
	if (rc < 0)
		pf_modelsig_report_dispose(out);
	pf_modelsig_claims_free(c);
	pf_buf_dispose(&b);
	free(sig_rel);
	return rc;
}

char *pf_modelsig_report_text(const pf_modelsig_report *r)
{
	const char *files_status = r->files_ok ? "OK" : r->signature_ok ? "FAILED" : "SKIPPED";
	return pf_xasprintf("%s  model-sig signature: %s\n%s  model-sig files: %s\n%s\n",
	                    r->signature_ok ? "OK" : "FAILED", r->signature_detail ? r->signature_detail : "",
	                    files_status, r->files_detail ? r->files_detail : "",
	                    r->ok ? "model signature verified: the folder holds exactly the signed files"
	                          : "model signature NOT verified");
}

char *pf_modelsig_report_json(const pf_modelsig_report *r, const char *sig_path)
{
	cJSON *o = cJSON_CreateObject(), *checks = cJSON_CreateArray(), *c;
	char *text, *out;
	cJSON_AddStringToObject(o, "path", sig_path);
	cJSON_AddBoolToObject(o, "ok", r->ok);
	cJSON_AddStringToObject(o, "model_name", r->model_name ? r->model_name : "");
	cJSON_AddNumberToObject(o, "files", (double)r->n_files);
	c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "name", "signature");
	cJSON_AddStringToObject(c, "status", r->signature_ok ? "OK" : "FAILED");
	cJSON_AddStringToObject(c, "detail", r->signature_detail ? r->signature_detail : "");
	cJSON_AddItemToArray(checks, c);
	c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "name", "files");
	cJSON_AddStringToObject(c, "status", r->files_ok ? "OK" : r->signature_ok ? "FAILED" : "SKIPPED");
	cJSON_AddStringToObject(c, "detail", r->files_detail ? r->files_detail : "");
	cJSON_AddItemToArray(checks, c);
	cJSON_AddItemToObject(o, "checks", checks);
	text = cJSON_PrintUnformatted(o);
	if (!text)
		pf_xmalloc(SIZE_MAX);
	out = pf_xstrdup(text);
	cJSON_free(text);
	cJSON_Delete(o);
	return out;
}
