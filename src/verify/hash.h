/*
 * Streaming SHA-256 of files and memory (OpenSSL EVP), in constant memory
 * whatever the file size.
 */
#ifndef PF_VERIFY_HASH_H
#define PF_VERIFY_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct pf_sha256 pf_sha256;

/* Incremental interface (used by the downloader while it streams). */
pf_sha256 *pf_sha256_new(void);
void pf_sha256_update(pf_sha256 *h, const void *data, size_t len);
/* Writes 64 lower-case hex digits + NUL into hex. Frees h. */
void pf_sha256_final_hex(pf_sha256 *h, char hex[65]);
void pf_sha256_free(pf_sha256 *h);

/* Hash a whole file; *out_size receives its size if not NULL. */
int pf_sha256_file(char hex[65], uint64_t *out_size, const char *path);
void pf_sha256_bytes(char hex[65], const void *data, size_t len);
/* Git blob SHA-1 ("blob <len>\0" + content) of a file, for git-stored Hub files. */
int pf_git_blob_sha1_file(char hex[41], const char *path);

#endif
