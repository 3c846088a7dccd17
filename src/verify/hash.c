/*
 * Streaming SHA-256 (and git blob SHA-1) over files and memory with OpenSSL's
 * EVP interface. Used by the artifact gates, `pteflow verify`, SHA256SUMS and
 * the downloader. Workload: artifacts of up to a few GB read once in 64 KiB
 * blocks into one reused buffer, so memory stays constant and the figure is
 * bound by the SHA-256 core, not by syscalls; the kernel is told the access
 * is sequential so read-ahead stays ahead of the hash. Why 64 KiB and not
 * 1 MiB: measured on a 512 MiB cached file (bench/bench_hash.sh), a buffer
 * at or above glibc's mmap threshold (128 KiB) gets its own mapping, and
 * read() into it cost 4x the system time (0.04 s -> 0.18 s of read() per
 * 512 MiB, 10 us -> 46 us per call) for the same user time; 64 KiB stays on
 * the heap and in the CPU cache between the copy and the hash.
 */
#include "verify/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/mem.h"

#define READ_BLOCK_BYTES (64u * 1024u)

struct pf_sha256 {
	EVP_MD_CTX *ctx;
};

static void to_hex(char *out, const unsigned char *md, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[2 * n] = '\0';
}

static EVP_MD_CTX *ctx_new(const EVP_MD *md)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, md, NULL) != 1) {
		fputs("pteflow: error: openssl cannot start a digest: out of memory\n", stderr);
		exit(3);
	}
	return ctx;
}

pf_sha256 *pf_sha256_new(void)
{
	pf_sha256 *h = pf_xmalloc(sizeof(*h));
	h->ctx = ctx_new(EVP_sha256());
	return h;
}

void pf_sha256_update(pf_sha256 *h, const void *data, size_t len)
{
	if (len)
		EVP_DigestUpdate(h->ctx, data, len);
}

void pf_sha256_final_hex(pf_sha256 *h, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_DigestFinal_ex(h->ctx, md, &n);
	to_hex(hex, md, 32);
	pf_sha256_free(h);
}

void pf_sha256_free(pf_sha256 *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void pf_sha256_bytes(char hex[65], const void *data, size_t len)
{
	pf_sha256 *h = pf_sha256_new();
	pf_sha256_update(h, data, len);
	pf_sha256_final_hex(h, hex);
}

static int open_regular(int *out_fd, uint64_t *out_size, const char *path)
{
	struct stat st;
	/* non-blocking: a FIFO named as an artifact or subject must fail the fstat check, not hang in open() */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return pf_error_code(PF_ENOTFOUND, "\"%s\" does not exist", path);
		return pf_error_errno("cannot open \"%s\"", path);
	}
	if (fstat(fd, &st) != 0) {
		int rc = pf_error_errno("cannot read \"%s\"", path);
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return pf_error_code(PF_EINVALID, "\"%s\" is not a regular file", path);
	}
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
#ifdef POSIX_FADV_SEQUENTIAL
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
	*out_fd = fd;
	*out_size = (uint64_t)st.st_size;
	return 0;
}

/* Feed the whole file to ctx; *out_read receives the bytes actually read. */
static int digest_fd(EVP_MD_CTX *ctx, uint64_t *out_read, int fd, const char *path)
{
	unsigned char *block = pf_xmalloc(READ_BLOCK_BYTES);
	uint64_t total = 0;
	int rc = 0;
	for (;;) {
		ssize_t n = read(fd, block, READ_BLOCK_BYTES);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = pf_error_errno("cannot read \"%s\"", path);
			goto done;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(ctx, block, (size_t)n);
		total += (uint64_t)n;
	}
	*out_read = total;
done:
	free(block);
	return rc;
}

int pf_sha256_file(char hex[65], uint64_t *out_size, const char *path)
{
	EVP_MD_CTX *ctx = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	uint64_t size = 0, got = 0;
	int fd = -1;
	int rc = open_regular(&fd, &size, path);
	if (rc < 0)
		return rc;
	ctx = ctx_new(EVP_sha256());
	rc = digest_fd(ctx, &got, fd, path);
	if (rc < 0)
		goto done;
	EVP_DigestFinal_ex(ctx, md, &n);
	to_hex(hex, md, 32);
	if (out_size)
		*out_size = got; /* what was hashed, even if the file changed since fstat */
done:
	EVP_MD_CTX_free(ctx);
	close(fd);
	return rc;
}

int pf_git_blob_sha1_file(char hex[41], const char *path)
{
	EVP_MD_CTX *ctx = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char head[48];
	uint64_t size = 0, got = 0;
	int fd = -1, len;
	int rc = open_regular(&fd, &size, path);
	if (rc < 0)
		return rc;
	ctx = ctx_new(EVP_sha1());
	len = snprintf(head, sizeof(head), "blob %llu", (unsigned long long)size);
	EVP_DigestUpdate(ctx, head, (size_t)len + 1); /* the NUL belongs to the header */
	rc = digest_fd(ctx, &got, fd, path);
	if (rc < 0)
		goto done;
	if (got != size) {
		rc = pf_error_code(PF_EFAILED, "\"%s\" changed size while it was hashed: hash it again", path);
		goto done;
	}
	EVP_DigestFinal_ex(ctx, md, &n);
	to_hex(hex, md, 20);
done:
	EVP_MD_CTX_free(ctx);
	close(fd);
	return rc;
}
