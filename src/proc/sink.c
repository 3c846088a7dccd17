/*
 * A step's output on its way out, for proc.c: into the log file (secrets
 * redacted, SHA-256 computed as it is written) and, line by line, echoed to
 * stderr as "[step] line". Fed each read of the step's output pipe; a step
 * may print megabytes, and a line longer than ECHO_LINE_MAX is echoed in
 * pieces so pteflow's memory stays flat.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc/internal.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

#define ECHO_LINE_MAX 65536


static void write_all(int fd, const char *p, size_t n, int *err)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (err && !*err)
				*err = w < 0 ? errno : EIO;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static void echo_line(pf_proc_sink *s)
{
	pf_buf out;
	pf_buf_init(&out, SIZE_MAX);
	(void)pf_buf_printf(&out, "[%s] ", s->name);
	(void)pf_buf_append(&out, s->line.data ? s->line.data : "", s->line.len);
	(void)pf_buf_append(&out, "\n", 1);
	write_all(STDERR_FILENO, out.data, out.len, NULL);
	pf_buf_dispose(&out);
	pf_buf_reset(&s->line);
}

/* Redacted bytes ready to go out: to the log (hashed) and, line by line, to stderr. */
static void emit(pf_proc_sink *s, const char *p, size_t n)
{
	if (n == 0)
		return;
	if (s->log_fd >= 0) {
		write_all(s->log_fd, p, n, &s->write_errno);
		if (s->sha)
			EVP_DigestUpdate(s->sha, p, n);
		s->bytes += n;
	}
	if (!s->echo)
		return;
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;
		if (s->line.len + take > ECHO_LINE_MAX) {
			size_t room = ECHO_LINE_MAX - s->line.len;
			(void)pf_buf_append(&s->line, p, room);
			echo_line(s);
			p += room;
			n -= room;
			continue;
		}
		(void)pf_buf_append(&s->line, p, take);
		p += take;
		n -= take;
		if (nl) {
			echo_line(s);
			p++;
			n--;
		}
	}
}

static void emit_redacted(pf_proc_sink *s, const char *p, size_t n)
{
	size_t out_len;
	char *clean;
	if (n == 0)
		return;
	clean = pf_secret_redact_n(p, n, &out_len);
	emit(s, clean, out_len);
	free(clean);
}

/*
 * Feed raw output. Bytes are emitted up to a cut such that no registered
 * secret straddles it (every secret that touches the window around the cut
 * lies inside the window, so pf_secret_contains on it finds it); the rest
 * waits in `carry` for the next read.
 */
void pf_proc_sink_feed(pf_proc_sink *s, const char *p, size_t n, bool final)
{
	size_t keep = pf_secret_max_len(), len, cut;
	char *data;
	keep = keep ? keep - 1 : 0;
	if (keep == 0 && s->carry_len == 0) {
		emit(s, p, n);
		return;
	}
	data = pf_xmalloc(s->carry_len + n + 1);
	if (s->carry_len)
		memcpy(data, s->carry, s->carry_len);
	if (n)
		memcpy(data + s->carry_len, p, n);
	len = s->carry_len + n;
	free(s->carry);
	s->carry = NULL;
	s->carry_len = 0;
	if (final || keep == 0) {
		emit_redacted(s, data, len);
		free(data);
		return;
	}
	cut = len > keep ? len - keep : 0;
	while (cut > 0) {
		size_t lo = cut > keep ? cut - keep : 0;
		size_t hi = cut + keep < len ? cut + keep : len;
		if (!pf_secret_contains(data + lo, hi - lo))
			break;
		cut--;
	}
	emit_redacted(s, data, cut);
	s->carry_len = len - cut;
	s->carry = pf_xmalloc(s->carry_len + 1);
	memcpy(s->carry, data + cut, s->carry_len);
	free(data);
}

void pf_proc_sink_finish(pf_proc_sink *s, pf_proc_result *out)
{
	pf_proc_sink_feed(s, NULL, 0, true);
	if (s->echo && s->line.len)
		echo_line(s);
	if (s->sha) {
		unsigned char md[32];
		unsigned int mdlen = 0;
		static const char hex[] = "0123456789abcdef";
		EVP_DigestFinal_ex(s->sha, md, &mdlen);
		for (unsigned int i = 0; i < mdlen && i < 32; i++) {
			out->log_sha256[2 * i] = hex[md[i] >> 4];
			out->log_sha256[2 * i + 1] = hex[md[i] & 15];
		}
		out->log_sha256[64] = '\0';
	}
	out->log_bytes = s->bytes;
}

void pf_proc_sink_dispose(pf_proc_sink *s)
{
	if (s->log_fd >= 0)
		close(s->log_fd);
	if (s->sha)
		EVP_MD_CTX_free(s->sha);
	free(s->carry);
	pf_buf_dispose(&s->line);
}

int pf_proc_sink_open(pf_proc_sink *s, const pf_proc_spec *spec)
{
	s->log_fd = -1;
	pf_buf_init(&s->line, ECHO_LINE_MAX + 1);
	s->name = spec->name ? spec->name : "step";
	s->echo = spec->echo;
	if (!spec->log_path)
		return 0;
	s->log_fd = open(spec->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (s->log_fd < 0)
		return pf_error_errno("cannot write the log \"%s\"", spec->log_path);
	s->sha = EVP_MD_CTX_new();
	if (!s->sha || EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL) != 1)
		return pf_error_set("cannot start SHA-256 for \"%s\"", spec->log_path);
	return 0;
}
