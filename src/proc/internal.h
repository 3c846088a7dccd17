/*
 * Internal to src/proc/: the step's supervisor (spawn.c) and what it says to
 * the run loop (proc.c).
 *
 * pteflow does not fork the step itself: it forks a small supervisor, which
 * forks the step and stays its parent. The supervisor is a child subreaper,
 * so every process the step starts (grandchildren, setsid daemons) stays
 * below it whatever happens to its parent; it holds the read end of a
 * "lifeline" pipe whose only write end is pteflow's. When pteflow dies in
 * any way (SIGKILL, the OOM killer), the kernel closes that end, the
 * supervisor reads EOF and kills the step's group, every member of its
 * cgroup and every descendant it has left, then removes the cgroup and
 * exits: the same on every guard path. When the step ends normally pteflow
 * writes PF_PROC_LIFELINE_QUIT first and the supervisor just exits.
 * Everything the supervisor runs is async-signal-safe (it is a fork of a
 * process that may have threads).
 */
#ifndef PF_PROC_INTERNAL_H
#define PF_PROC_INTERNAL_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "proc/proc.h"
#include "util/buf.h"

/* Why the step could not start, sent by the child on the close-on-exec error pipe with an errno. */
enum { PF_PROC_STAGE_CGROUP = 1, PF_PROC_STAGE_STDIO, PF_PROC_STAGE_CWD, PF_PROC_STAGE_EXEC };

/* What the supervisor sends on the status pipe. */
enum { PF_PROC_MSG_STARTED = 1, PF_PROC_MSG_EXITED };
typedef struct pf_proc_msg {
	int kind;
	pid_t pid;        /* STARTED: the step's pid, or -errno when fork failed */
	int status;       /* EXITED: the step's wait status */
	struct rusage ru; /* EXITED: its resources, as wait4 reports them */
} pf_proc_msg;

/* The byte pteflow writes on the lifeline when the step is over: exit without cleaning the cgroup. */
#define PF_PROC_LIFELINE_QUIT 'q'

/* The descriptors the supervisor keeps (every other one is closed). */
typedef struct pf_proc_sup_fds {
	int lifeline_r; /* EOF: pteflow is gone */
	int status_w;   /* pf_proc_msg records to pteflow */
	int out_w;      /* the step's stdout and stderr */
	int err_w;      /* the step's close-on-exec error pipe */
} pf_proc_sup_fds;

/* In the child of fork(): become the supervisor of the step and never return. */
_Noreturn void pf_proc_supervise(const pf_proc_spec *spec, const char *path, pf_guard *g, pf_proc_sup_fds fds);

/* A step's output on its way to the log and the echo (sink.c). */
typedef struct pf_proc_sink {
	const char *name;
	int log_fd;
	bool echo;
	EVP_MD_CTX *sha;
	uint64_t bytes;
	int write_errno;
	char *carry; /* unredacted bytes held back: a secret may continue in the next read */
	size_t carry_len;
	pf_buf line; /* redacted text of the current echo line */
} pf_proc_sink;

/* Open the log of spec (none when spec->log_path is NULL); 0 or <0 with the error set. */
int pf_proc_sink_open(pf_proc_sink *s, const pf_proc_spec *spec);
/* Bytes read from the step; `final` flushes what was held back (see sink.c). */
void pf_proc_sink_feed(pf_proc_sink *s, const char *p, size_t n, bool final);
/* Flush, and the log's size and SHA-256 into out. */
void pf_proc_sink_finish(pf_proc_sink *s, pf_proc_result *out);
void pf_proc_sink_dispose(pf_proc_sink *s);

#endif
