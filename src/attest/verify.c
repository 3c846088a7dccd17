/*
 * `pteflow verify MANIFEST --provenance FILE [--key PUB.pem]...`: the checks
 * on a provenance file that travels with a release (untrusted). In order:
 * the envelope (bounded parse, payload type), the signature over DSSE's PAE
 * (every signature must verify with a trusted key: a signature from a key
 * nobody trusted is reported, not ignored), the statement (in-toto v1, SLSA
 * provenance v1), each subject's sha256 against the file on disk (paths that
 * escape the folder or pass a symbolic link are never opened), the manifest's
 * digest against the one recorded, and the source repository and ref when the
 * caller expects some. Every check runs even after one fails, so the report
 * names them all. Workload: one envelope of a few KiB; subjects are hashed by
 * streaming (a few files of up to a few GB).
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "attest/attest.h"
#include "attest/internal.h"
#include "manifest/manifest.h"
#include "util/buf.h"
#include "util/text.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "verify/hash.h"

#define MAX_SUBJECTS 100000u

const char *pf_attest_status_name(pf_attest_status s)
{
	switch (s) {
	case PF_ATTEST_OK:
		return "OK";
	case PF_ATTEST_FAILED:
		return "FAILED";
	case PF_ATTEST_UNSIGNED:
		return "UNSIGNED";
	}
	return "FAILED";
}

static void check(pf_attest_report *r, const char *name, pf_attest_status status, const char *fmt, ...) PF_PRINTF(4, 5);

static void check(pf_attest_report *r, const char *name, pf_attest_status status, const char *fmt, ...)
{
	pf_attest_check *c;
	va_list ap;
	char msg[2048];
	if (r->n_checks >= sizeof(r->checks) / sizeof(r->checks[0]))
		return;
	c = &r->checks[r->n_checks++];
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->name = name;
	c->status = status;
	c->detail = pf_xstrdup(msg);
}

void pf_attest_report_dispose(pf_attest_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_checks; i++)
		free(r->checks[i].detail);
	free(r->source_repo);
	free(r->source_ref);
	free(r->builder_id);
	memset(r, 0, sizeof(*r));
}

/* Text from a hostile file, safe to print: control characters become '?', at most 200 bytes. */
static char *shown(const char *s)
{
	char *p = pf_secret_redact(s ? s : "");
	if (strlen(p) > 200)
		memcpy(p + 197, "...", 4); /* p holds more than 200 bytes */
	for (char *c = p; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return p;
}

static void check_signatures(pf_attest_report *r, const pf_dsse_envelope *env, const pf_attest_verify_options *o)
{
	size_t pae_len = 0, good = 0;
	unsigned char *pae = NULL;
	pf_buf bad, signers;
	pf_buf_init(&bad, 16u * 1024u);
	pf_buf_init(&signers, 1024u);
	r->n_signatures = env->n_signatures;
	if (o->n_keys == 0) {
		check(r, "signature", PF_ATTEST_UNSIGNED,
		      env->n_signatures ? "not checked: %zu signature(s) present, but no --key was given to check them with"
					: "not checked: the provenance is unsigned (%zu signatures); only its digests were checked",
		      env->n_signatures);
		goto done;
	}
	if (env->n_signatures == 0) {
		check(r, "signature", PF_ATTEST_FAILED,
		      "the provenance is unsigned: it was written without --sign-key, so nothing proves who made it");
		goto done;
	}
	pae = pf_attest_pae(&pae_len, env->payload_type, env->payload, env->payload_len);
	for (size_t i = 0; i < env->n_signatures; i++) {
		const pf_dsse_signature *s = &env->signatures[i];
		const pf_attest_key *by = NULL;
		/* keyid is a hint only (DSSE): every trusted key is tried */
		for (size_t k = 0; k < o->n_keys && !by; k++)
			if (pf_attest_verify_signature(o->keys[k], s->sig, s->sig_len, pae, pae_len) == 0)
				by = o->keys[k];
		if (by) {
			if (good++ < 4)
				(void)pf_buf_printf(&signers, "%s%s %.16s..", signers.len ? ", " : "",
						    pf_attest_key_type_name(pf_attest_key_type(by)), pf_attest_key_id(by));
		} else {
			char *kid = shown(s->keyid[0] ? s->keyid : "none");
			(void)pf_buf_printf(&bad, "%ssignature %zu of %zu (keyid %.16s) does not verify with %s", bad.len ? "; " : "",
					    i + 1, env->n_signatures, kid, o->n_keys == 1 ? "the given key" : "any given key");
			free(kid);
		}
	}
	if (good == env->n_signatures) {
		r->signed_by_key = true;
		check(r, "signature", PF_ATTEST_OK, "%zu of %zu signature(s) verify with the given key%s (%s)", good,
		      env->n_signatures, o->n_keys == 1 ? "" : "s", pf_buf_cstr(&signers));
	} else if (good > 0) {
		check(r, "signature", PF_ATTEST_FAILED,
		      "%s: a signature from a key you did not trust sits beside %zu valid one(s); pteflow requires every "
		      "signature to verify (pass each key you trust with --key)",
		      pf_buf_cstr(&bad), good);
	} else {
		check(r, "signature", PF_ATTEST_FAILED,
		      "%s: the payload was changed after signing, or it was signed with another key", pf_buf_cstr(&bad));
	}
done:
	free(pae);
	pf_buf_dispose(&bad);
	pf_buf_dispose(&signers);
}

static const cJSON *path_get(const cJSON *root, const char *const *keys)
{
	const cJSON *v = root;
	for (size_t i = 0; keys[i] && v; i++)
		v = cJSON_GetObjectItemCaseSensitive(v, keys[i]);
	return v;
}

static const char *str_at(const cJSON *root, const char *const *keys)
{
	const cJSON *v = path_get(root, keys);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *known_digest(const pf_attest_verify_options *o, const char *name)
{
	for (size_t i = 0; i < o->n_known; i++)
		if (o->known_paths[i] && o->known_sha256[i] && !strcmp(o->known_paths[i], name) &&
		    pf_is_sha256_hex(o->known_sha256[i]))
			return o->known_sha256[i];
	return NULL;
}

/*
 * What one file was found to hold, kept by its normalised name so that a
 * statement naming one file many times ("./big.bin", "big.bin", "a//b")
 * reads it once: an open-addressing table sized from the subject count.
 */
typedef struct file_memo {
	char *name; /* normalised; NULL = empty slot */
	char got[65];
	char *why;  /* NULL when read fine; else why it was not (heap) */
} file_memo;

typedef struct subject_memo {
	file_memo *slots;
	size_t cap;      /* a power of two, at least twice the subjects */
	bool may_read;   /* false when the signature failed: no file is read for a statement nobody vouches for */
	size_t n_unread; /* subjects left unread because of that */
} subject_memo;

/* "./a//b/./c" -> "a/b/c" (heap); ".." is left for pf_manifest_path_safe to refuse. */
static char *normal_name(const char *name)
{
	pf_buf b;
	pf_buf_init(&b, strlen(name) + 1);
	for (const char *p = name; *p;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n && !(n == 1 && p[0] == '.')) {
			if (b.len)
				(void)pf_buf_append(&b, "/", 1);
			(void)pf_buf_append(&b, p, n);
		}
		p += n + (slash ? 1 : 0);
	}
	return pf_buf_detach(&b);
}

static file_memo *memo_slot(subject_memo *m, const char *name)
{
	uint64_t h = 1469598103934665603ull;
	for (const char *c = name; *c; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211ull;
	for (size_t i = (size_t)h & (m->cap - 1);; i = (i + 1) & (m->cap - 1))
		if (!m->slots[i].name || !strcmp(m->slots[i].name, name))
			return &m->slots[i];
}

/* Read (once) the file a normalised subject name points to. */
static const file_memo *memo_read(subject_memo *m, const char *norm, const char *dir, const char *n)
{
	file_memo *f = memo_slot(m, norm);
	char *abs;
	int rc;
	if (f->name)
		return f;
	f->name = pf_xstrdup(norm);
	if (pf_fs_through_link(dir, norm)) {
		f->why = pf_xasprintf("\"%s\" is, or lies in a folder that is, a symbolic link: it was not opened", n);
		return f;
	}
	abs = pf_fs_join(dir, norm);
	rc = pf_sha256_file(f->got, NULL, abs);
	free(abs);
	if (rc == PF_ENOTFOUND)
		f->why = pf_xasprintf("\"%s\" is missing from \"%s\"", n, dir);
	else if (rc < 0)
		f->why = pf_xasprintf("\"%s\" cannot be read: %s", n, pf_error_last());
	return f;
}

/* One subject against its file; NULL when it holds, else why (heap). */
static char *subject_problem(const cJSON *s, const char *dir, const pf_attest_verify_options *o, subject_memo *m)
{
	const char *name_keys[] = {"name", NULL}, *sha_keys[] = {"digest", "sha256", NULL};
	const char *name = str_at(s, name_keys), *want = str_at(s, sha_keys), *got = NULL;
	char *why = NULL, *n = NULL, *norm = NULL;
	if (!name)
		return pf_xstrdup("a subject has no name");
	n = shown(name);
	if (!pf_is_sha256_hex(want)) {
		why = pf_xasprintf("\"%s\" has no sha256 digest", n);
		goto done;
	}
	norm = normal_name(name);
	if (!pf_manifest_path_safe(name) || !norm[0]) {
		why = pf_xasprintf("\"%s\" escapes the folder: it was not opened (the provenance was edited or is hostile)", n);
		goto done;
	}
	got = known_digest(o, norm);
	if (!got && !m->may_read) {
		m->n_unread++;
		goto done;
	}
	if (!got) {
		const file_memo *f = memo_read(m, norm, dir, n);
		if (f->why) {
			why = pf_xstrdup(f->why);
			goto done;
		}
		got = f->got;
	}
	if (strcmp(got, want) != 0)
		why = pf_xasprintf("\"%s\": the provenance records sha256 %.16s.., the file has %.16s..", n, want, got);
done:
	free(n);
	free(norm);
	return why;
}

static bool signature_failed(const pf_attest_report *r)
{
	for (size_t i = 0; i < r->n_checks; i++)
		if (!strcmp(r->checks[i].name, "signature") && r->checks[i].status == PF_ATTEST_FAILED)
			return true;
	return false;
}

static void check_subjects(pf_attest_report *r, const cJSON *st, const char *dir, const pf_attest_verify_options *o)
{
	const cJSON *subjects = cJSON_GetObjectItemCaseSensitive(st, "subject"), *s;
	size_t n = 0, bad_count = 0;
	subject_memo m;
	pf_buf bad;
	memset(&m, 0, sizeof(m));
	pf_buf_init(&bad, 64u * 1024u);
	if (!cJSON_IsArray(subjects) || cJSON_GetArraySize(subjects) == 0) {
		check(r, "subjects", PF_ATTEST_FAILED, "the statement lists no subject: it attests nothing");
		goto done;
	}
	m.may_read = !signature_failed(r);
	for (m.cap = 16; m.cap < 2 * (size_t)cJSON_GetArraySize(subjects) && m.cap < 4 * (size_t)MAX_SUBJECTS;)
		m.cap *= 2;
	m.slots = pf_xcalloc(m.cap, sizeof(file_memo));
	cJSON_ArrayForEach(s, subjects)
	{
		char *why;
		if (++n > MAX_SUBJECTS) {
			bad_count++;
			(void)pf_buf_printf(&bad, "%smore than %u subjects", bad.len ? "; " : "", MAX_SUBJECTS);
			break;
		}
		why = subject_problem(s, dir, o, &m);
		if (why) {
			bad_count++;
			(void)pf_buf_printf(&bad, "%s%s", bad.len ? "; " : "", why);
			free(why);
		}
	}
	r->n_subjects = n;
	if (bad_count)
		check(r, "subjects", PF_ATTEST_FAILED, "%zu of %zu subject(s) do not match the files: %s", bad_count, n,
		      pf_buf_cstr(&bad));
	else if (m.n_unread)
		check(r, "subjects", PF_ATTEST_OK, "%zu subject(s) match their files' sha256; %zu not read: the signature "
						   "failed, so no file is read for what it lists", n - m.n_unread, m.n_unread);
	else
		check(r, "subjects", PF_ATTEST_OK, "%zu subject(s) match their files' sha256", n);
done:
	for (size_t i = 0; i < m.cap && m.slots; i++) {
		free(m.slots[i].name);
		free(m.slots[i].why);
	}
	free(m.slots);
	pf_buf_dispose(&bad);
}

/* The manifest given on the command line is the one the statement records as its byproduct. */
static void check_manifest(pf_attest_report *r, const cJSON *st, const char *manifest_path)
{
	const char *keys[] = {"predicate", "runDetails", "byproducts", NULL};
	const cJSON *list = path_get(st, keys), *b;
	const char *want = NULL;
	char got[65];
	if (!cJSON_IsArray(list))
		list = NULL;
	cJSON_ArrayForEach(b, list)
	{
		const char *mt[] = {"mediaType", NULL}, *sha[] = {"digest", "sha256", NULL};
		const char *media = str_at(b, mt);
		if (media && !strcmp(media, "application/json") && pf_is_sha256_hex(str_at(b, sha))) {
			want = str_at(b, sha);
			break;
		}
	}
	if (!want) {
		check(r, "manifest", PF_ATTEST_FAILED, "the statement records no manifest digest: it was not written by pteflow");
		return;
	}
	if (pf_sha256_file(got, NULL, manifest_path) < 0) {
		check(r, "manifest", PF_ATTEST_FAILED, "cannot hash the manifest: %s", pf_error_last());
		return;
	}
	if (strcmp(got, want) != 0)
		check(r, "manifest", PF_ATTEST_FAILED,
		      "the manifest's sha256 is %.16s.., the provenance records %.16s..: the manifest was edited, or the "
		      "provenance belongs to another run",
		      got, want);
	else
		check(r, "manifest", PF_ATTEST_OK, "the manifest is the one the provenance records (sha256 %.16s..)", got);
}

/* "refs/tags/v1" matches "refs/tags/v1" and "v1"; "refs/heads/main" matches "main". */
static bool ref_matches(const char *have, const char *want)
{
	if (!strcmp(have, want))
		return true;
	if (!strncmp(want, "refs/", 5))
		return false;
	return (!strncmp(have, "refs/heads/", 11) && !strcmp(have + 11, want)) ||
	       (!strncmp(have, "refs/tags/", 10) && !strcmp(have + 10, want));
}

static void check_source(pf_attest_report *r, const pf_attest_verify_options *o)
{
	if (o->expect_repo) {
		char *want = pf_attest_repo_slug(o->expect_repo);
		char *have = r->source_repo ? shown(r->source_repo) : NULL;
		if (!have)
			check(r, "source-repo", PF_ATTEST_FAILED, "expected \"%s\", the provenance names no source repository",
			      o->expect_repo);
		else if (!want || strcasecmp(have, want) != 0)
			check(r, "source-repo", PF_ATTEST_FAILED, "expected \"%s\", the provenance names \"%s\"", o->expect_repo,
			      have);
		else
			check(r, "source-repo", PF_ATTEST_OK, "built from \"%s\"", have);
		free(want);
		free(have);
	}
	if (o->expect_ref) {
		char *have = r->source_ref ? shown(r->source_ref) : NULL;
		if (!have)
			check(r, "source-ref", PF_ATTEST_FAILED, "expected \"%s\", the provenance names no source ref (built "
								 "from a detached checkout or outside git)", o->expect_ref);
		else if (!ref_matches(have, o->expect_ref))
			check(r, "source-ref", PF_ATTEST_FAILED, "expected \"%s\", the provenance names \"%s\"", o->expect_ref,
			      have);
		else
			check(r, "source-ref", PF_ATTEST_OK, "built from \"%s\"", have);
		free(have);
	}
}

static void check_statement(pf_attest_report *r, const pf_dsse_envelope *env, const pf_attest_verify_options *o)
{
	cJSON *st = NULL;
	const char *type_keys[] = {"_type", NULL}, *pt_keys[] = {"predicateType", NULL};
	const char *repo_keys[] = {"predicate", "buildDefinition", "externalParameters", "source", "repository", NULL};
	const char *ref_keys[] = {"predicate", "buildDefinition", "externalParameters", "source", "ref", NULL};
	const char *builder_keys[] = {"predicate", "runDetails", "builder", "id", NULL};
	const char *type, *ptype;
	char *dir = NULL;
	if (!pf_json_depth_ok((const char *)env->payload, env->payload_len, PF_ATTEST_MAX_DEPTH) ||
	    !(st = cJSON_ParseWithLength((const char *)env->payload, env->payload_len)) || !cJSON_IsObject(st)) {
		check(r, "statement", PF_ATTEST_FAILED, "the payload is not a JSON object (or nested deeper than %d levels): "
							"it is not an in-toto statement", PF_ATTEST_MAX_DEPTH);
		goto done;
	}
	type = str_at(st, type_keys);
	ptype = str_at(st, pt_keys);
	if (!type || strcmp(type, PF_ATTEST_STATEMENT_TYPE) != 0 || !ptype || strcmp(ptype, PF_ATTEST_PREDICATE_TYPE) != 0) {
		char *t = shown(type ? type : "none"), *p = shown(ptype ? ptype : "none");
		check(r, "statement", PF_ATTEST_FAILED, "expected an in-toto statement (%s) of SLSA provenance (%s), found "
							"\"%s\" of \"%s\"", PF_ATTEST_STATEMENT_TYPE, PF_ATTEST_PREDICATE_TYPE, t, p);
		free(t);
		free(p);
	} else {
		check(r, "statement", PF_ATTEST_OK, "in-toto Statement v1, SLSA provenance v1");
	}
	if (str_at(st, repo_keys))
		r->source_repo = pf_xstrdup(str_at(st, repo_keys));
	if (str_at(st, ref_keys))
		r->source_ref = pf_xstrdup(str_at(st, ref_keys));
	if (str_at(st, builder_keys))
		r->builder_id = shown(str_at(st, builder_keys));
	dir = o->dir ? pf_xstrdup(o->dir) : pf_fs_dirname(o->manifest_path ? o->manifest_path : o->provenance_path);
	check_subjects(r, st, dir, o);
	if (o->manifest_path)
		check_manifest(r, st, o->manifest_path);
	check_source(r, o);
done:
	free(dir);
	cJSON_Delete(st);
}

int pf_attest_verify(pf_attest_report *out, const pf_attest_verify_options *o)
{
	pf_buf b;
	pf_dsse_envelope *env = NULL;
	int rc;
	memset(out, 0, sizeof(*out));
	pf_buf_init(&b, PF_ATTEST_MAX_BYTES + 1u);
	rc = pf_fs_read_file(&b, o->provenance_path, PF_ATTEST_MAX_BYTES + 1u);
	if (rc == PF_ELIMIT) {
		rc = pf_error_code(PF_EINVALID, "the provenance is larger than %u MiB: it is not an envelope pteflow wrote",
				   PF_ATTEST_MAX_BYTES >> 20);
		goto done;
	}
	if (rc == PF_ENOTFOUND)
		goto done;
	if (rc < 0) {
		rc = pf_error_code(PF_EENV, "%s", pf_error_last());
		goto done;
	}
	rc = pf_attest_envelope_parse(&env, pf_buf_cstr(&b), b.len);
	if (rc == PF_ATTEST_ETRUNCATED) {
		check(out, "envelope", PF_ATTEST_FAILED, "%s", pf_error_last());
		rc = 0;
		goto verdict;
	}
	if (rc < 0)
		goto done;
	if (strcmp(env->payload_type, PF_ATTEST_PAYLOAD_TYPE) != 0) {
		char *t = shown(env->payload_type);
		check(out, "envelope", PF_ATTEST_FAILED, "payloadType is \"%s\", not \"%s\": it is not an in-toto attestation", t,
		      PF_ATTEST_PAYLOAD_TYPE);
		free(t);
	} else {
		check(out, "envelope", PF_ATTEST_OK, "DSSE envelope of %s, %zu signature(s)", PF_ATTEST_PAYLOAD_TYPE,
		      env->n_signatures);
	}
	/* DSSE: the signature over PAE first, then the payload is read */
	check_signatures(out, env, o);
	check_statement(out, env, o);
verdict:
	out->ok = out->n_checks > 0;
	for (size_t i = 0; i < out->n_checks; i++)
		if (out->checks[i].status == PF_ATTEST_FAILED)
			out->ok = false;
done:
	pf_attest_envelope_free(env);
	pf_buf_dispose(&b);
	return rc;
}

static const pf_attest_check *first_failed(const pf_attest_report *r)
{
	for (size_t i = 0; i < r->n_checks; i++)
		if (r->checks[i].status == PF_ATTEST_FAILED)
			return &r->checks[i];
	return NULL;
}

static void verdict_of(pf_buf *b, const pf_attest_report *r)
{
	const pf_attest_check *bad = first_failed(r);
	size_t n_bad = 0;
	for (size_t i = 0; i < r->n_checks; i++)
		n_bad += r->checks[i].status == PF_ATTEST_FAILED;
	if (bad)
		(void)pf_buf_printf(b, "FAILED: provenance check \"%s\" failed%s", bad->name,
				    n_bad > 1 ? " (and others above)" : "");
	else if (r->signed_by_key)
		(void)pf_buf_printf(b, "provenance verified: signed, %zu subject(s) match", r->n_subjects);
	else
		(void)pf_buf_printf(b, "provenance digests match (%zu subject(s)), but its signature was NOT checked: pass "
				       "--key PUB.pem to check who made it", r->n_subjects);
}

char *pf_attest_report_text(const pf_attest_report *r)
{
	pf_buf b;
	pf_buf_init(&b, 1024u * 1024u);
	for (size_t i = 0; i < r->n_checks; i++)
		(void)pf_buf_printf(&b, "%s  provenance %s: %s\n", pf_attest_status_name(r->checks[i].status),
				    r->checks[i].name, r->checks[i].detail);
	verdict_of(&b, r);
	(void)pf_buf_puts(&b, "\n");
	return pf_buf_detach(&b);
}

static void add_str(cJSON *o, const char *key, const char *v)
{
	char *clean;
	if (!v) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	clean = shown(v);
	cJSON_AddStringToObject(o, key, clean);
	free(clean);
}

char *pf_attest_report_json(const pf_attest_report *r, const char *provenance_path)
{
	cJSON *o = cJSON_CreateObject(), *checks = cJSON_CreateArray();
	pf_buf v;
	char *text, *copy;
	pf_buf_init(&v, 64u * 1024u);
	add_str(o, "file", provenance_path);
	cJSON_AddBoolToObject(o, "ok", r->ok);
	cJSON_AddBoolToObject(o, "signature_checked", r->signed_by_key);
	cJSON_AddNumberToObject(o, "signatures", (double)r->n_signatures);
	cJSON_AddNumberToObject(o, "subjects", (double)r->n_subjects);
	add_str(o, "source_repository", r->source_repo);
	add_str(o, "source_ref", r->source_ref);
	add_str(o, "builder_id", r->builder_id);
	for (size_t i = 0; i < r->n_checks; i++) {
		cJSON *c = cJSON_CreateObject();
		add_str(c, "name", r->checks[i].name);
		add_str(c, "status", pf_attest_status_name(r->checks[i].status));
		add_str(c, "detail", r->checks[i].detail);
		cJSON_AddItemToArray(checks, c);
	}
	cJSON_AddItemToObject(o, "checks", checks);
	verdict_of(&v, r);
	add_str(o, "verdict", pf_buf_cstr(&v));
	text = cJSON_Print(o);
	copy = pf_xstrdup(text ? text : "{}");
	cJSON_free(text);
	cJSON_Delete(o);
	pf_buf_dispose(&v);
	return copy;
}
