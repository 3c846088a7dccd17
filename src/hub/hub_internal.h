/*
 * Internal interfaces of the hub module, shared by its files and its unit
 * tests (tests/unit/hub). Nothing outside src/hub/ includes this header.
 */
#ifndef PF_HUB_INTERNAL_H
#define PF_HUB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hub/hub.h"
#include "util/buf.h"

/* ---- hub_url.c: URLs the way huggingface_hub builds them ---- */

/* Python quote(): unreserved A-Z a-z 0-9 _ . - ~ literal, '/' kept when keep_slash, rest %XX. Caller frees. */
char *pf_hub_quote(const char *s, bool keep_slash);
/* "models" / "datasets" / "spaces" for a repo type (NULL = model); NULL if unknown. */
const char *pf_hub_type_api(const char *repo_type);
/* URL prefix of a repo type: "" / "datasets/" / "spaces/". */
const char *pf_hub_type_prefix(const char *repo_type);
/* "org/name" or "name" of safe characters, no "--", no "..": 0 or PF_EINVALID. */
int pf_hub_repo_id_check(const char *repo_id);
/* Cache folder name "models--org--name". Caller frees. */
char *pf_hub_repo_folder(const char *repo_type, const char *repo_id);
/* <endpoint>/<prefix><repo>/resolve/<rev quoted with '/'>/<path quoted keeping '/'>. Caller frees. */
char *pf_hub_resolve_url(const char *endpoint, const char *repo_type, const char *repo_id, const char *revision,
                         const char *path);
/* "scheme://host:port" of a URL, lower-cased, default port filled in; NULL if not absolute http(s). Caller frees. */
char *pf_hub_url_origin(const char *url);
/* true if `location` names a scheme (absolute URL). */
bool pf_hub_url_is_absolute(const char *location);
/* `location` resolved against `base`: absolute as is, "//host/x" with base's scheme, "/x" on base's
 * scheme+authority, "x" or "?q" against base's path. Caller frees; NULL if base is not absolute. */
char *pf_hub_url_relative(const char *base, const char *location);
/* true for a full 40-hex lower-case commit id. */
bool pf_hub_is_commit(const char *s);
/* true for 64 lower-case hex digits (an LFS file's sha256 etag). */
bool pf_hub_is_sha256(const char *s);

/* ---- hub_headers.c: response headers, parsed case-insensitively with bounds ---- */

#define PF_HUB_HEADER_LINE_MAX 8192
#define PF_HUB_HEADERS_MAX 256

typedef struct pf_hub_headers {
	long status;       /* from the status line; 0 before one */
	char *repo_commit; /* X-Repo-Commit */
	char *etag;        /* ETag, normalised */
	char *linked_etag; /* X-Linked-Etag, normalised */
	char *location;
	char *content_range;
	char *error_code;    /* X-Error-Code */
	char *error_message; /* X-Error-Message */
	char *link_next;     /* Link: <...>; rel="next" */
	char *content_encoding;
	uint64_t linked_size, content_length;
	bool has_linked_size, has_content_length;
	long retry_after_s;     /* -1 when absent or not an integer */
	long ratelimit_reset_s; /* RateLimit t=N when r=0, else -1 */
	uint64_t range_total;   /* total from Content-Range, when has_range_total */
	bool has_range_total;
	uint64_t range_start; /* first byte from "Content-Range: bytes START-END/...", when has_range_start */
	bool has_range_start;
	size_t n_lines;
	bool rejected; /* a line broke a limit or the grammar: the transfer was aborted */
} pf_hub_headers;

void pf_hub_headers_init(pf_hub_headers *h);
void pf_hub_headers_dispose(pf_hub_headers *h);
/*
 * Feed one raw header line (with or without CRLF). A status line starts a new
 * response (a redirect hop or 100-continue): earlier values are dropped.
 * PF_ELIMIT if the line or the count of lines is too large; PF_EINVALID on a
 * malformed status line. Unknown headers are ignored.
 */
int pf_hub_headers_feed(pf_hub_headers *h, const char *line, size_t len);
/* Etag normalisation: strip leading 'W' and '/' then surrounding '"'. Caller frees. */
char *pf_hub_etag_normalise(const char *v, size_t len);
/* URL of the rel="next" element of a Link header value, or NULL. Caller frees. */
char *pf_hub_link_next(const char *v, size_t len);
/* Non-negative decimal without sign or junk, bounded to uint64: 0 or PF_EINVALID. */
int pf_hub_parse_u64(uint64_t *out, const char *s, size_t len);

/* ---- hub_path.c: remote file names that are safe to place under a folder ---- */

/* 0 if `path` is relative, non-empty, no "..", ".", empty segment, '\\', control byte or NUL within len; else
 * PF_EINVALID. */
int pf_hub_path_check(const char *path, size_t len);

/* ---- hub_env.c: endpoint, token, cache root, offline ---- */

/* Which source a token came from (for a log line that never shows the token). */
char *pf_hub_token_source(const char **source);
char *pf_hub_cache_root(const char *override);
bool pf_hub_env_true(const char *name);

/* ---- hub_api.c: repo info and file listing ---- */

typedef struct pf_hub_entry {
	char *path;
	uint64_t size_bytes;
	char *oid;        /* git blob SHA-1 (40 hex) */
	char *lfs_sha256; /* 64 hex, NULL for git-stored files */
} pf_hub_entry;

typedef struct pf_hub_listing {
	char *commit;
	pf_hub_entry *entries;
	size_t n_entries;
} pf_hub_listing;

typedef struct pf_hub_ctx pf_hub_ctx;

void pf_hub_listing_dispose(pf_hub_listing *l);
/* Parse one tree page (JSON array) and append its files. PF_EINVALID on bad JSON. */
int pf_hub_tree_parse(pf_hub_listing *l, const char *json, size_t len);
/* Parse repo info JSON: sha into l->commit, siblings (if want_files) into entries. */
int pf_hub_info_parse(pf_hub_listing *l, const char *json, size_t len, bool want_files);

/* ---- hub_cache.c: the huggingface_hub cache layout ---- */

/* Write refs/<rev> = commit (no newline) atomically, only when it changes. */
int pf_hub_ref_write(const char *repo_dir, const char *rev, const char *commit);
/* Commit named by refs/<rev>, or NULL (PF_ENOTFOUND set). Caller frees. */
char *pf_hub_ref_read(const char *repo_dir, const char *rev);
/* Relative symlink target from snapshots/<commit>/<path> to blobs/<etag>. Caller frees. */
char *pf_hub_link_target(const char *path, const char *etag);
/* Create snapshots/<commit>/<path> -> ../../blobs/<etag> (parents too; replaces a stale link). */
int pf_hub_snapshot_link(const char *repo_dir, const char *commit, const char *path, const char *etag);
/* true if `file` exists and resolves to a regular file. */
bool pf_hub_file_ok(const char *file);
/* SHA-256 of a cached file: the blob name when it is 64 hex (LFS), else hashed. */
int pf_hub_cached_sha256(char hex[65], uint64_t *size, const char *file);
/* Record the cached snapshot `commit` (offline mode): every file matching the patterns; names what is missing. */
int pf_hub_offline_collect(pf_model_record *rec, const char *repo_dir, const char *commit, const pf_hub_options *opts);
/* trees/<commit>.json as huggingface_hub >= 1.22 writes it (format_version 1, the full listing). */
int pf_hub_tree_cache_write(const char *repo_dir, const pf_hub_listing *l);
/* Read it into l (entries appended, commit set); PF_ENOTFOUND when absent or unusable. */
int pf_hub_tree_cache_read(pf_hub_listing *l, const char *repo_dir, const char *commit);

/* Keep a file iff (no include or one matches) and (no exclude matches). */
bool pf_hub_wanted(const pf_hub_options *opts, const char *path);

#define PF_HUB_MAX_FILES 200000
#define PF_HUB_JSON_MAX (64u << 20)

/* ---- hub_publish.c: the hub's answers a publish reads (pure, fuzzed: tests/fuzz/fuzz_hub_publish.c) ---- */
struct pf_hub_upload;
/* Mark each file lfs/regular and unchanged from a preupload answer; PF_EFAILED when it is malformed. */
int pf_hub_preupload_apply(struct pf_hub_upload *files, size_t n_files, const char *json, size_t len);
/*
 * A multipart upload's parts from the batch answer's upload.header object
 * (chunk_size + one URL per part, keys "00001".. in any order): the URLs in
 * part order, exactly ceil(size / chunk_size) of them numbered 1..n, else
 * PF_EFAILED. *urls is heap (pf_strv_free(*urls, *n)).
 */
int pf_hub_multipart_plan(char ***urls, size_t *n, uint64_t *chunk, const char *header_json, size_t len,
                          uint64_t size);

#endif
