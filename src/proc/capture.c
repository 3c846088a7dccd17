/*
 * pf_proc_capture (proc.h): a quick helper command's standard output, for
 * probes that take well under a second (the interpreter's versions). Not for
 * steps: no guard, no process group, no log. posix_spawn keeps pteflow's
 * descriptors out (they are close-on-exec).
 */
#define _GNU_SOURCE
#include "proc/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/clock.h"
#include "util/error.h"

int pf_proc_capture(char **out, char *const *argv, char *const *envp, size_t max_bytes, uint64_t timeout_ms)
{
	posix_spawn_file_actions_t fa;
	int pipefd[2] = {-1, -1}, status = 0, rc = 0, err;
	pid_t pid = -1;
	pf_buf b;
	uint64_t deadline = pf_clock_mono_ms() + timeout_ms;
	char chunk[4096];
	pf_buf_init(&b, max_bytes);
	*out = NULL;
	if (pipe2(pipefd, O_CLOEXEC) != 0)
		return pf_error_errno("a pipe cannot be created");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (err != 0) {
		rc = pf_error_code(PF_EENV, "\"%s\" cannot be started: %s", argv[0], strerror(err));
		pid = -1;
		goto done;
	}
	for (;;) {
		struct pollfd p = {pipefd[0], POLLIN, 0};
		uint64_t now = pf_clock_mono_ms();
		ssize_t n;
		int left = now >= deadline ? 0 : (int)(deadline - now > 1000 ? 1000 : deadline - now);
		if (now >= deadline) {
			rc = pf_error_code(PF_ELIMIT, "\"%s\" did not finish within %llu ms", argv[0],
					   (unsigned long long)timeout_ms);
			goto done;
		}
		if (poll(&p, 1, left) < 0 && errno != EINTR) {
			rc = pf_error_errno("waiting for \"%s\" failed", argv[0]);
			goto done;
		}
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(pipefd[0], chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (pf_buf_append(&b, chunk, (size_t)n) < 0) {
			rc = pf_error_code(PF_ELIMIT, "\"%s\" printed more than %zu bytes", argv[0], max_bytes);
			goto done;
		}
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	pid = -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		rc = pf_error_code(PF_EFAILED, "\"%s\" %s %d", argv[0], WIFEXITED(status) ? "exited with status" : "was killed by signal",
				   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
done:
	if (pid > 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	close(pipefd[0]);
	if (rc == 0)
		*out = pf_buf_detach(&b);
	pf_buf_dispose(&b);
	return rc;
}
