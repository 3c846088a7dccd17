/*
 * Unit tests of src/hub: huggingface_hub pattern semantics (table produced
 * with Python's fnmatch.fnmatchcase plus the library's '/'-suffix and '\\'
 * rules), URL encoding, header parsing and etag normalisation, path safety,
 * token selection order and the cache's relative link targets.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hub/hub.h"
#include "hub/hub_internal.h"
#include "hub/hub_net.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

struct pat_case {
	const char *pattern, *path;
	bool match;
};

static const struct pat_case pat_cases[] = {
    {"*.json", "config.json", true},
    {"*.json", "sub/config.json", true},
    {"data/*.json", "data/x/y.json", true},
    {"data/", "data/a/b.bin", true},
    {"data/", "data", false},
    {"*.safetensors", "model.safetensors", true},
    {"*.safetensors", "model.safetensors.index.json", false},
    {"model-????"
     "?-of-????"
     "?.safetensors",
     "model-00001-of-00002.safetensors", true},
    {"model-????"
     "?-of-????"
     "?.safetensors",
     "model-1-of-2.safetensors", false},
    {"[!a]*", "abc", false},
    {"[!a]*", "bcd", true},
    {"[a-c]x", "bx", true},
    {"[a-c]x", "dx", false},
    {"[]]x", "]x", true},
    {"[!]]x", "]x", false},
    {"[x", "[x", true},
    {"[x", "x", false},
    {"**/*.bin", "a/b/c.bin", true},
    {"**/*.bin", "c.bin", false},
    {"*", "anything/at/all", true},
    {"?", "/", true},
    {"README.md", "readme.md", false},
    {"sub\\*.txt", "sub/a.txt", true},
    {"onnx/*", "onnx/model.onnx", true},
    {"onnx/*", "model.onnx", false},
    {"*.[Jj][Ss][Oo][Nn]", "A.JSON", true},
    {"", "", true},
    {"a*b*c", "aXbYbZc", true},
    {"a*b*c", "aXbYbZ", false},
    {"[a-]x", "-x", true},
    {"[!-a]x", "bx", true},
};

Test(hub_pattern, matches_python_fnmatch_table)
{
	for (size_t i = 0; i < sizeof(pat_cases) / sizeof(pat_cases[0]); i++) {
		const struct pat_case *c = &pat_cases[i];
		cr_expect_eq(pf_hub_pattern_match(c->pattern, c->path), c->match, "pattern \"%s\" path \"%s\": want %d",
		             c->pattern, c->path, c->match);
	}
}

Test(hub_pattern, many_stars_stay_fast)
{
	char path[4001];
	memset(path, 'a', 4000);
	path[4000] = '\0';
	cr_assert_not(pf_hub_pattern_match("*a*a*a*a*a*a*a*a*a*a*b", path));
}

Test(hub_url, quote_like_python)
{
	char *a = pf_hub_quote("refs/pr/3", false);
	char *b = pf_hub_quote("a b/c#.bin", true);
	char *c = pf_hub_quote("ünï~_.-", true);
	cr_assert_str_eq(a, "refs%2Fpr%2F3");
	cr_assert_str_eq(b, "a%20b/c%23.bin");
	cr_assert_str_eq(c, "%C3%BCn%C3%AF~_.-");
	free(a);
	free(b);
	free(c);
}

Test(hub_url, resolve_url_shapes)
{
	char *m = pf_hub_resolve_url("http://h:1", NULL, "org/name", "refs/pr/1", "sub dir/x.bin");
	char *d = pf_hub_resolve_url("https://huggingface.co", "dataset", "org/name", "main", "data/train.parquet");
	cr_assert_str_eq(m, "http://h:1/org/name/resolve/refs%2Fpr%2F1/sub%20dir/x.bin");
	cr_assert_str_eq(d, "https://huggingface.co/datasets/org/name/resolve/main/data/train.parquet");
	free(m);
	free(d);
}

Test(hub_url, repo_folder_and_ids)
{
	char *f = pf_hub_repo_folder("model", "sentence-transformers/all-MiniLM-L6-v2");
	char *g = pf_hub_repo_folder("dataset", "gpt2");
	cr_assert_str_eq(f, "models--sentence-transformers--all-MiniLM-L6-v2");
	cr_assert_str_eq(g, "datasets--gpt2");
	free(f);
	free(g);
	cr_assert_eq(pf_hub_repo_id_check("org/name"), 0);
	cr_assert_eq(pf_hub_repo_id_check("gpt2"), 0);
	cr_assert_eq(pf_hub_repo_id_check("../x"), PF_EINVALID);
	cr_assert_eq(pf_hub_repo_id_check("a/b/c"), PF_EINVALID);
	cr_assert_eq(pf_hub_repo_id_check("a--b/c"), PF_EINVALID);
	cr_assert_eq(pf_hub_repo_id_check("org/na me"), PF_EINVALID);
	cr_assert_eq(pf_hub_repo_id_check(""), PF_EINVALID);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	cr_assert_not_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

Test(hub_url, repo_id_allows_96_characters_per_part)
{
	char *a90 = repeat('a', 90), *b90 = repeat('b', 90), *a96 = repeat('a', 96), *b97 = repeat('b', 97);
	char id[256];
	snprintf(id, sizeof(id), "%s/%s", a90, b90);
	cr_assert_eq(pf_hub_repo_id_check(id), 0, "90 + 90 characters");
	snprintf(id, sizeof(id), "%s/%s", a96, a96);
	cr_assert_eq(pf_hub_repo_id_check(id), 0, "96 + 96 characters");
	cr_assert_eq(pf_hub_repo_id_check(a96), 0, "a 96-character name without namespace");
	snprintf(id, sizeof(id), "org/%s", b97);
	cr_assert_eq(pf_hub_repo_id_check(id), PF_EINVALID, "97-character name");
	snprintf(id, sizeof(id), "%s/name", b97);
	cr_assert_eq(pf_hub_repo_id_check(id), PF_EINVALID, "97-character namespace");
	cr_assert_eq(pf_hub_repo_id_check(b97), PF_EINVALID, "97-character name without namespace");
	free(a90);
	free(b90);
	free(a96);
	free(b97);
}

Test(hub_url, origins_decide_where_the_token_goes)
{
	char *a = pf_hub_url_origin("http://127.0.0.1:8080/x/resolve/main/a");
	char *b = pf_hub_url_origin("HTTPS://HuggingFace.co/api");
	char *c = pf_hub_url_origin("http://user:pw@127.0.0.1:9/x");
	cr_assert_str_eq(a, "http://127.0.0.1:8080");
	cr_assert_str_eq(b, "https://huggingface.co:443");
	cr_assert_str_eq(c, "http://127.0.0.1:9");
	cr_assert_null(pf_hub_url_origin("ftp://x/y"));
	cr_assert_null(pf_hub_url_origin("/relative"));
	free(a);
	free(b);
	free(c);
	cr_assert(pf_hub_url_is_absolute("https://cdn/x"));
	cr_assert_not(pf_hub_url_is_absolute("/api/resolve-cache/x"));
	{
		char *r = pf_hub_url_relative("http://127.0.0.1:5/org/m/resolve/main/a", "/new/m/resolve/main/a");
		cr_assert_str_eq(r, "http://127.0.0.1:5/new/m/resolve/main/a");
		free(r);
	}
	cr_assert(pf_hub_is_sha256("7c5d3f4b8b76583b422fcb9189ad6c89d5d97a094541ce8932dce3ecabde1421"));
	cr_assert_not(pf_hub_is_sha256("e7da7f221d5bf496a48136c0cd264e630fe9fcc8"));
	cr_assert_not(pf_hub_is_sha256("d41d8cd98f00b204e9800998ecf8427e"), "an MD5 is not a sha256");
	cr_assert_not(pf_hub_is_sha256("7C5D3F4B8B76583B422FCB9189AD6C89D5D97A094541CE8932DCE3ECABDE1421"));
	cr_assert(pf_hub_is_commit("e7da7f221d5bf496a48136c0cd264e630fe9fcc8"));
	cr_assert_not(pf_hub_is_commit("main"));
	cr_assert_not(pf_hub_is_commit("E7DA7F221D5BF496A48136C0CD264E630FE9FCC8"));
}

struct rel_case {
	const char *base, *location, *want;
};

Test(hub_url, relative_locations_resolve_like_rfc3986)
{
	static const struct rel_case cases[] = {
	    {"http://h:1/a/b/c?x=1", "//g:2/x", "http://g:2/x"},
	    {"https://h/a/b", "//cdn.example:8443/p?sig=1", "https://cdn.example:8443/p?sig=1"},
	    {"http://h:1/a/b/c?x=1", "/x", "http://h:1/x"},
	    {"http://h:1/a/b/c?x=1", "/x?y=2", "http://h:1/x?y=2"},
	    {"http://h:1/a/b/c?x=1", "x", "http://h:1/a/b/x"},
	    {"http://h:1/a/b/c?x=1", "x/y?q", "http://h:1/a/b/x/y?q"},
	    {"http://h:1/lfs/abc?sig=1", "abc?sig=1&moved=1", "http://h:1/lfs/abc?sig=1&moved=1"},
	    {"http://h:1/a/b/c?x=1", "?q", "http://h:1/a/b/c?q"},
	    {"http://h:1/a/b/c#frag", "?q", "http://h:1/a/b/c?q"},
	    {"http://h:1", "x", "http://h:1/x"},
	    {"http://h:1", "/x", "http://h:1/x"},
	    {"http://h:1?old", "?q", "http://h:1?q"},
	    {"HTTP://User@H:1/a", "/x", "HTTP://User@H:1/x"}, /* the authority as written */
	    {"http://h:1/a", "https://cdn/x?s=1", "https://cdn/x?s=1"},
	    {"/relative/base", "https://cdn/x", "https://cdn/x"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *r = pf_hub_url_relative(cases[i].base, cases[i].location);
		cr_expect(r && !strcmp(r, cases[i].want), "\"%s\" against \"%s\": got \"%s\", want \"%s\"",
		          cases[i].location, cases[i].base, r ? r : "(null)", cases[i].want);
		free(r);
	}
	cr_assert_null(pf_hub_url_relative("/relative/base", "/x"), "a base that is not absolute");
	cr_assert_null(pf_hub_url_relative("h:1/a", "x"));
	cr_assert_null(pf_hub_url_relative(NULL, "/x"), "no base");
	cr_assert_null(pf_hub_url_relative(NULL, "https://cdn/x"), "no base");
	cr_assert_null(pf_hub_url_relative("http://h:1/a", NULL), "no location");
}

static void feed(pf_hub_headers *h, const char *line)
{
	cr_assert_eq(pf_hub_headers_feed(h, line, strlen(line)), 0, "line %s", line);
}

Test(hub_headers, lfs_redirect_metadata)
{
	pf_hub_headers h;
	pf_hub_headers_init(&h);
	feed(&h, "HTTP/1.1 302 Found\r\n");
	feed(&h, "location: https://cdn-lfs.hf.co/x?sig=1\r\n");
	feed(&h, "X-LINKED-ETAG: \"7c5d3f4b8b76583b422fcb9189ad6c89d5d97a094541ce8932dce3ecabde1421\"\r\n");
	feed(&h, "x-linked-size: 548118077\r\n");
	feed(&h, "X-Repo-Commit: e7da7f221d5bf496a48136c0cd264e630fe9fcc8\r\n");
	feed(&h, "ETag: W/\"a16a55fda99d2f2e7b69cce5cf93ff4ad3049930\"\r\n");
	feed(&h, "\r\n");
	cr_assert_eq(h.status, 302);
	cr_assert_str_eq(h.location, "https://cdn-lfs.hf.co/x?sig=1");
	cr_assert_str_eq(h.linked_etag, "7c5d3f4b8b76583b422fcb9189ad6c89d5d97a094541ce8932dce3ecabde1421");
	cr_assert_str_eq(h.etag, "a16a55fda99d2f2e7b69cce5cf93ff4ad3049930");
	cr_assert(h.has_linked_size);
	cr_assert_eq(h.linked_size, 548118077ull);
	cr_assert_str_eq(h.repo_commit, "e7da7f221d5bf496a48136c0cd264e630fe9fcc8");
	pf_hub_headers_dispose(&h);
}

Test(hub_headers, new_status_line_forgets_the_previous_hop)
{
	pf_hub_headers h;
	pf_hub_headers_init(&h);
	feed(&h, "HTTP/1.1 307 Temporary Redirect\r\n");
	feed(&h, "Location: /api/resolve-cache/x\r\n");
	feed(&h, "HTTP/2 200\r\n");
	feed(&h, "content-length: 12\r\n");
	cr_assert_eq(h.status, 200);
	cr_assert_null(h.location);
	cr_assert(h.has_content_length);
	cr_assert_eq(h.content_length, 12);
	pf_hub_headers_dispose(&h);
}

Test(hub_headers, errors_retry_and_ranges)
{
	pf_hub_headers h;
	pf_hub_headers_init(&h);
	feed(&h, "HTTP/1.1 429 Too Many Requests");
	feed(&h, "Retry-After: 7");
	feed(&h, "RateLimit: \"resolvers\";r=0;t=42");
	feed(&h, "X-Error-Code: GatedRepo");
	feed(&h, "X-Error-Message: Access to model x is restricted");
	feed(&h, "Content-Range: bytes 10-19/100");
	cr_assert_eq(h.retry_after_s, 7);
	cr_assert_eq(h.ratelimit_reset_s, 42);
	cr_assert_str_eq(h.error_code, "GatedRepo");
	cr_assert(h.has_range_total);
	cr_assert_eq(h.range_total, 100);
	feed(&h, "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT");
	cr_assert_eq(h.retry_after_s, -1);
	feed(&h, "RateLimit: \"api\";r=5;t=42");
	cr_assert_eq(h.ratelimit_reset_s, -1);
	pf_hub_headers_dispose(&h);
}

Test(hub_headers, content_range_start)
{
	static const char *garbage[] = {"Content-Range: bytes */10", "Content-Range: bytes -5/10",
	                                "Content-Range: bytes x-9/10", "Content-Range: items 5-9/10",
	                                "Content-Range: bytes 5", "Content-Range: 5-9/10",
	                                "Content-Range: bytes 99999999999999999999999-9/10", "Content-Range: bytes "};
	pf_hub_headers h;
	pf_hub_headers_init(&h);
	feed(&h, "HTTP/1.1 206 Partial Content");
	cr_assert_not(h.has_range_start, "no Content-Range yet");
	feed(&h, "Content-Range: bytes 5-9/10");
	cr_assert(h.has_range_start);
	cr_assert_eq(h.range_start, 5);
	cr_assert(h.has_range_total);
	cr_assert_eq(h.range_total, 10);
	feed(&h, "content-range: BYTES 0-0/1");
	cr_assert(h.has_range_start);
	cr_assert_eq(h.range_start, 0);
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		feed(&h, "Content-Range: bytes 5-9/10");
		feed(&h, garbage[i]);
		cr_expect_not(h.has_range_start, "%s", garbage[i]);
	}
	feed(&h, "Content-Range: bytes 5-9/10");
	feed(&h, "HTTP/1.1 206 Partial Content");
	cr_assert_not(h.has_range_start, "a new response forgets the previous range");
	pf_hub_headers_dispose(&h);
}

Test(hub_headers, hostile_values_are_bounded)
{
	pf_hub_headers h;
	static char big[PF_HUB_HEADER_LINE_MAX + 10];
	pf_hub_headers_init(&h);
	memset(big, 'a', sizeof(big) - 1);
	cr_assert_eq(pf_hub_headers_feed(&h, big, strlen(big)), PF_ELIMIT);
	feed(&h, "HTTP/1.1 200 OK");
	feed(&h, "Content-Length: 99999999999999999999999");
	cr_assert_not(h.has_content_length);
	feed(&h, "Content-Length: -5");
	cr_assert_not(h.has_content_length);
	feed(&h, "X-Linked-Size: 12abc");
	cr_assert_not(h.has_linked_size);
	for (int i = 0; i < PF_HUB_HEADERS_MAX - 3; i++)
		feed(&h, "X-Junk: 1");
	cr_assert_eq(pf_hub_headers_feed(&h, "X-Junk: 1", 9), PF_ELIMIT);
	cr_assert_eq(pf_hub_headers_feed(&h, "HTTP/1.1 xx", 11), PF_EINVALID);
	pf_hub_headers_dispose(&h);
}

Test(hub_headers, etag_normalisation)
{
	const char *in[] = {"W/\"abc\"", "\"abc\"", "abc", "W/abc", "\"\""};
	const char *want[] = {"abc", "abc", "abc", "abc", ""};
	for (size_t i = 0; i < 5; i++) {
		char *n = pf_hub_etag_normalise(in[i], strlen(in[i]));
		cr_expect_str_eq(n, want[i], "etag %s", in[i]);
		free(n);
	}
}

Test(hub_headers, link_next)
{
	const char *v = "<https://h/api/models/x/tree/main?cursor=abc>; rel=\"next\", <https://h/prev>; rel=\"prev\"";
	const char *w = "<https://h/a>; rel=\"xet-auth\", <https://h/b>; rel=next";
	char *n = pf_hub_link_next(v, strlen(v));
	char *m = pf_hub_link_next(w, strlen(w));
	cr_assert_str_eq(n, "https://h/api/models/x/tree/main?cursor=abc");
	cr_assert_str_eq(m, "https://h/b");
	cr_assert_null(pf_hub_link_next("<https://h/a>; rel=\"prev\"", 25));
	cr_assert_null(pf_hub_link_next("<unterminated", 13));
	free(n);
	free(m);
}

Test(hub_path, hostile_names_are_refused)
{
	const char *bad[] = {"../x", "a/../../x", "/etc/passwd", "a\\..\\b", "a//b", "./a", "a/.", "C:/x", "", "a/"};
	const char *good[] = {"config.json", "sub/dir/x.bin", "..hidden", "a..b/c", ".gitattributes"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(pf_hub_path_check(bad[i], strlen(bad[i])), PF_EINVALID, "%s", bad[i]);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_expect_eq(pf_hub_path_check(good[i], strlen(good[i])), 0, "%s", good[i]);
	cr_assert_eq(pf_hub_path_check("a\0b", 3), PF_EINVALID);
	cr_assert_eq(pf_hub_path_check("a\nb", 3), PF_EINVALID);
	cr_assert_null(strchr(pf_error_last(), '\n'));
}

static void clear_token_env(void)
{
	unsetenv("HF_TOKEN");
	unsetenv("HUGGING_FACE_HUB_TOKEN");
	unsetenv("HF_TOKEN_PATH");
	unsetenv("HF_HOME");
	unsetenv("HF_HUB_DISABLE_IMPLICIT_TOKEN");
	unsetenv("XDG_CACHE_HOME");
}

static char *write_tmp(const char *dir, const char *name, const char *text)
{
	char *p = pf_fs_join(dir, name);
	cr_assert_eq(pf_fs_write_atomic(p, text, strlen(text)), 0);
	return p;
}

Test(hub_token, selection_order_and_cleaning)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char dir[512];
	const char *src;
	char *tok, *home_tok, *path_tok;
	snprintf(dir, sizeof(dir), "%s/pf_hub_tokXXXXXX", tmp);
	cr_assert_not_null(mkdtemp(dir));
	clear_token_env();
	setenv("HOME", dir, 1);
	cr_assert_null(pf_hub_token_source(&src), "no token anywhere");
	setenv("HF_HOME", dir, 1);
	home_tok = write_tmp(dir, "token", "  hf_home_token_1\r\n");
	tok = pf_hub_token_source(&src);
	cr_assert_str_eq(tok, "hf_home_token_1");
	free(tok);
	path_tok = write_tmp(dir, "other", "hf_path_token_2\n");
	setenv("HF_TOKEN_PATH", path_tok, 1);
	tok = pf_hub_token_source(&src);
	cr_assert_str_eq(tok, "hf_path_token_2");
	cr_assert_str_eq(src, "HF_TOKEN_PATH");
	free(tok);
	setenv("HUGGING_FACE_HUB_TOKEN", "hf_legacy_3", 1);
	tok = pf_hub_token_source(&src);
	cr_assert_str_eq(tok, "hf_legacy_3");
	free(tok);
	setenv("HF_TOKEN", " \t\n", 1); /* blank counts as none */
	tok = pf_hub_token_source(&src);
	cr_assert_str_eq(tok, "hf_legacy_3");
	free(tok);
	setenv("HF_TOKEN", "hf_env_4\n", 1);
	tok = pf_hub_token_source(&src);
	cr_assert_str_eq(tok, "hf_env_4");
	cr_assert_str_eq(src, "HF_TOKEN");
	free(tok);
	/* registered as a secret at once */
	{
		char *r = pf_secret_redact("x hf_env_4 y");
		cr_assert_str_eq(r, "x *** y");
		free(r);
	}
	setenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1", 1);
	cr_assert_null(pf_hub_token_source(&src));
	clear_token_env();
	unlink(home_tok);
	unlink(path_tok);
	rmdir(dir);
	free(home_tok);
	free(path_tok);
}

Test(hub_env, endpoint_and_cache_root)
{
	char *e, *r;
	setenv("HF_ENDPOINT", "http://127.0.0.1:9/", 1);
	e = pf_hub_endpoint();
	cr_assert_str_eq(e, "http://127.0.0.1:9");
	free(e);
	unsetenv("HF_ENDPOINT");
	e = pf_hub_endpoint();
	cr_assert_str_eq(e, "https://huggingface.co");
	free(e);
	unsetenv("HF_HUB_CACHE");
	unsetenv("HUGGINGFACE_HUB_CACHE");
	setenv("HF_HOME", "/x/hf", 1);
	r = pf_hub_cache_root(NULL);
	cr_assert_str_eq(r, "/x/hf/hub");
	free(r);
	setenv("HF_HUB_CACHE", "/y", 1);
	r = pf_hub_cache_root(NULL);
	cr_assert_str_eq(r, "/y");
	free(r);
	r = pf_hub_cache_root("/z");
	cr_assert_str_eq(r, "/z");
	free(r);
	unsetenv("HF_HUB_CACHE");
	unsetenv("HF_HOME");
}

Test(hub_env, tilde_means_home)
{
	char *r;
	const char *old_home = getenv("HOME");
	char *saved = old_home ? pf_xstrdup(old_home) : NULL;
	unsetenv("HF_HUB_CACHE");
	unsetenv("HUGGINGFACE_HUB_CACHE");
	unsetenv("XDG_CACHE_HOME");
	setenv("HOME", "/home/u", 1);
	setenv("HF_HOME", "~/hf", 1);
	r = pf_hub_cache_root(NULL);
	cr_assert_str_eq(r, "/home/u/hf/hub");
	free(r);
	setenv("HF_HOME", "~", 1);
	r = pf_hub_cache_root(NULL);
	cr_assert_str_eq(r, "/home/u/hub");
	free(r);
	setenv("HF_HOME", "~other/hf", 1); /* another user's home: left as written */
	r = pf_hub_cache_root(NULL);
	cr_assert_str_eq(r, "~other/hf/hub");
	free(r);
	unsetenv("HF_HOME");
	setenv("XDG_CACHE_HOME", "~/xdg", 1);
	r = pf_hub_cache_root(NULL);
	cr_assert_str_eq(r, "/home/u/xdg/huggingface/hub");
	free(r);
	setenv("HUGGINGFACE_HUB_CACHE", "~/legacy", 1);
	r = pf_hub_cache_root(NULL);
	cr_assert_str_eq(r, "/home/u/legacy");
	free(r);
	setenv("HF_HUB_CACHE", "~/c", 1);
	r = pf_hub_cache_root(NULL);
	cr_assert_str_eq(r, "/home/u/c");
	free(r);
	r = pf_hub_cache_root("~/cli");
	cr_assert_str_eq(r, "/home/u/cli");
	free(r);
	unsetenv("HF_HUB_CACHE");
	unsetenv("HUGGINGFACE_HUB_CACHE");
	unsetenv("XDG_CACHE_HOME");
	if (saved)
		setenv("HOME", saved, 1);
	else
		unsetenv("HOME");
	free(saved);
}

Test(hub_cache, relative_link_targets)
{
	char *a = pf_hub_link_target("config.json", "abc");
	char *b = pf_hub_link_target("sub/dir/x.bin", "def");
	cr_assert_str_eq(a, "../../blobs/abc");
	cr_assert_str_eq(b, "../../../../blobs/def");
	free(a);
	free(b);
}

Test(hub_api, tree_and_info_parsing)
{
	const char *tree =
	    "[{\"type\":\"directory\",\"path\":\"d\",\"oid\":\"x\"},"
	    "{\"type\":\"file\",\"path\":\"d/a.bin\",\"size\":5,\"oid\":\"0123456789012345678901234567890123456789\","
	    "\"lfs\":{\"oid\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"size\":5,"
	    "\"pointerSize\":9}},"
	    "{\"type\":\"file\",\"path\":\"b.txt\",\"size\":3,\"oid\":\"1111111111111111111111111111111111111111\"}]";
	const char *info =
	    "{\"id\":\"o/"
	    "n\",\"sha\":\"2222222222222222222222222222222222222222\",\"siblings\":[{\"rfilename\":\"x\"}]}";
	pf_hub_listing l = {0};
	cr_assert_eq(pf_hub_tree_parse(&l, tree, strlen(tree)), 0);
	cr_assert_eq(l.n_entries, 2);
	cr_assert_str_eq(l.entries[0].path, "d/a.bin");
	cr_assert_str_eq(l.entries[0].lfs_sha256, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	cr_assert_null(l.entries[1].lfs_sha256);
	cr_assert_eq(l.entries[1].size_bytes, 3);
	cr_assert_eq(pf_hub_info_parse(&l, info, strlen(info), false), 0);
	cr_assert_str_eq(l.commit, "2222222222222222222222222222222222222222");
	cr_assert_eq(pf_hub_tree_parse(&l, "{\"x\":1}", 7), PF_EINVALID);
	cr_assert_eq(pf_hub_tree_parse(&l, "[{\"type\":\"file\",\"path\":\"x\",\"lfs\":{\"oid\":\"zz\"}}]", 46),
	             PF_EINVALID);
	cr_assert_eq(pf_hub_info_parse(&l, "{\"sha\":\"short\"}", 15, false), PF_EINVALID);
	pf_hub_listing_dispose(&l);
}

Test(hub_retry, backoff_grows_is_capped_and_honours_the_server)
{
	pf_hub_ctx c;
	pf_hub_headers h;
	memset(&c, 0, sizeof(c));
	c.backoff_base_ms = 1000;
	for (int attempt = 1; attempt <= 8; attempt++) {
		uint64_t step = 1000;
		for (int i = 1; i < attempt && step < 8000; i++)
			step *= 2;
		if (step > 8000)
			step = 8000;
		for (int k = 0; k < 20; k++) {
			uint64_t ms = pf_hub_backoff_ms(&c, attempt, NULL);
			cr_assert(ms >= step && ms <= step + step / 2, "attempt %d: %llu ms", attempt,
			          (unsigned long long)ms);
		}
	}
	pf_hub_headers_init(&h);
	feed(&h, "HTTP/1.1 429 Too Many Requests");
	feed(&h, "Retry-After: 3");
	cr_assert_eq(pf_hub_backoff_ms(&c, 1, &h), 4000, "whole seconds, one more");
	feed(&h, "RateLimit: \"resolvers\";r=0;t=7");
	cr_assert_eq(pf_hub_backoff_ms(&c, 1, &h), 8000, "RateLimit r=0 wins over Retry-After");
	pf_hub_headers_dispose(&h);
	cr_assert(pf_hub_status_retryable(503) && pf_hub_status_retryable(429) && !pf_hub_status_retryable(404));
}
