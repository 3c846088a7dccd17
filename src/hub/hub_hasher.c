/*
 * One background thread that hashes (SHA-256) the partial files while the
 * transfer loop writes them, so hashing overlaps the network instead of
 * adding to it. It follows each writer through the page cache with pread()
 * (no copies, no buffers per job beyond one 1 MiB read buffer), up to the
 * byte count the writer has published. The transfer loop waits for it only
 * when a file is complete. Shared state is a short list guarded by one mutex.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hub/hub_net.h"
#include "util/error.h"
#include "util/mem.h"
#include "verify/hash.h"

#define READ_BYTES (1u << 20)

struct pf_hub_hasher {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pf_hub_hashjob *jobs; /* listed jobs */
	bool stop;
	char *buf;
};

static pf_hub_hashjob *pick(pf_hub_hasher *h)
{
	for (pf_hub_hashjob *j = h->jobs; j; j = j->next)
		if (j->hashed < j->avail && !j->err)
			return j;
	return NULL;
}

static void *loop(void *arg)
{
	pf_hub_hasher *h = arg;
	pthread_mutex_lock(&h->mu);
	for (;;) {
		pf_hub_hashjob *j;
		uint64_t off, n;
		ssize_t got;
		while (!h->stop && !(j = pick(h)))
			pthread_cond_wait(&h->cv, &h->mu);
		if (h->stop)
			break;
		j->busy = true;
		off = j->hashed;
		n = j->avail - j->hashed;
		if (n > READ_BYTES)
			n = READ_BYTES;
		pthread_mutex_unlock(&h->mu);
		do
			got = pread(j->fd, h->buf, (size_t)n, (off_t)off);
		while (got < 0 && errno == EINTR);
		if (got > 0)
			pf_sha256_update(j->sha, h->buf, (size_t)got);
		pthread_mutex_lock(&h->mu);
		j->busy = false;
		if (got > 0)
			j->hashed += (uint64_t)got;
		else
			j->err = got < 0 ? errno : EIO;
		pthread_cond_broadcast(&h->cv);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

pf_hub_hasher *pf_hub_hasher_new(void)
{
	pf_hub_hasher *h = pf_xcalloc(1, sizeof(*h));
	h->buf = pf_xmalloc(READ_BYTES);
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	if (pthread_create(&h->thread, NULL, loop, h) != 0) {
		free(h->buf);
		pthread_mutex_destroy(&h->mu);
		pthread_cond_destroy(&h->cv);
		free(h);
		return NULL;
	}
	return h;
}

void pf_hub_hasher_free(pf_hub_hasher *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	h->stop = true;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->thread, NULL);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h->buf);
	free(h);
}

/* Caller holds the mutex: wait until the thread is off this job, then unlink it. */
static void unlist(pf_hub_hasher *h, pf_hub_hashjob *j)
{
	while (j->busy)
		pthread_cond_wait(&h->cv, &h->mu);
	for (pf_hub_hashjob **p = &h->jobs; *p; p = &(*p)->next) {
		if (*p == j) {
			*p = j->next;
			break;
		}
	}
	j->next = NULL;
	j->listed = false;
}

void pf_hub_hasher_start(pf_hub_hasher *h, pf_hub_hashjob *j, int fd, uint64_t avail)
{
	pf_hub_hasher_cancel(h, j);
	pthread_mutex_lock(&h->mu);
	j->fd = fd;
	j->sha = pf_sha256_new();
	j->hashed = 0;
	j->avail = avail;
	j->err = 0;
	j->listed = true;
	j->next = h->jobs;
	h->jobs = j;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

void pf_hub_hasher_advance(pf_hub_hasher *h, pf_hub_hashjob *j, uint64_t avail)
{
	pthread_mutex_lock(&h->mu);
	j->avail = avail;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

int pf_hub_hasher_finish(pf_hub_hasher *h, pf_hub_hashjob *j, char hex[65])
{
	int err;
	pthread_mutex_lock(&h->mu);
	while (j->listed && j->hashed < j->avail && !j->err)
		pthread_cond_wait(&h->cv, &h->mu);
	err = j->err;
	if (j->listed)
		unlist(h, j);
	pthread_mutex_unlock(&h->mu);
	if (!j->sha) {
		memset(hex, 0, 65);
		return pf_error_code(PF_EGENERIC, "internal: no hash in progress");
	}
	pf_sha256_final_hex(j->sha, hex);
	j->sha = NULL;
	if (err) {
		errno = err;
		return pf_error_errno("cannot read back a downloaded file to hash it");
	}
	return 0;
}

void pf_hub_hasher_cancel(pf_hub_hasher *h, pf_hub_hashjob *j)
{
	pthread_mutex_lock(&h->mu);
	if (j->listed)
		unlist(h, j);
	pthread_mutex_unlock(&h->mu);
	if (j->sha) {
		pf_sha256_free(j->sha);
		j->sha = NULL;
	}
}
