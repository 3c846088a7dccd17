/*
 * Test helper for the memory guards: allocates and touches N MiB, in one
 * jump or many small steps, optionally at a given rate and optionally in a
 * grandchild that left the process group (setsid), then holds the memory
 * for a while and says what it did on stdout. Memory comes from mmap, not
 * malloc, so a sanitizer build adds no shadow memory to the figure.
 *
 *   pf_tool_alloc --mib N [--step-mib S] [--rate-mib-s R] [--hold-ms M] [--grandchild] [--populate]
 *                 [--fork-holders K]
 *
 * --populate faults each MiB in with MAP_POPULATE (kernel side, several
 * GiB/s) instead of touching every page from user space (about 1 GiB/s),
 * so the benchmark can reach high allocation rates. --fork-holders forks K
 * children once the memory is touched, which hold it (copy-on-write, shared
 * with the parent: a pool of forked workers) for the hold time too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unsigned long long opt_mib, opt_step_mib, opt_rate, opt_hold_ms, opt_holders;
static int opt_grandchild, opt_populate;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts;
	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int number(const char *s, unsigned long long *out)
{
	char *end;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return end == s || *end || errno ? -1 : 0;
}

static int allocate(void)
{
	const size_t mib = 1024 * 1024;
	unsigned long long step = opt_step_mib ? opt_step_mib : opt_mib, done = 0;
	long page = sysconf(_SC_PAGESIZE);
	double t0 = now_s(), dt;
	printf("pf_tool_alloc: pid %d allocating %llu MiB\n", (int)getpid(), opt_mib);
	fflush(stdout);
	while (done < opt_mib) {
		unsigned long long n = step < opt_mib - done ? step : opt_mib - done;
		char *p = mmap(NULL, n * mib, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			fprintf(stderr, "pf_tool_alloc: mmap of %llu MiB failed: %s\n", n, strerror(errno));
			return 1;
		}
		for (unsigned long long m = 0; m < n; m++) {
			if (opt_populate) {
				/* fault this MiB in from the kernel side: MAP_FIXED over our own reservation */
				if (mmap(p + m * mib, mib, PROT_READ | PROT_WRITE,
				         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_POPULATE, -1, 0) == MAP_FAILED) {
					fprintf(stderr, "pf_tool_alloc: populate failed: %s\n", strerror(errno));
					return 1;
				}
			} else {
				for (size_t off = 0; off < mib; off += (size_t)page)
					p[m * mib + off] = 1;
			}
			done++;
			if (opt_rate) {
				double ahead = (double)done / (double)opt_rate - (now_s() - t0);
				if (ahead > 0.0005)
					sleep_s(ahead);
			}
		}
	}
	dt = now_s() - t0;
	printf("pf_tool_alloc: touched %llu MiB in steps of %llu MiB in %.0f ms (%.0f MiB/s)\n", done, step, dt * 1000,
	       dt > 0 ? (double)done / dt : 0.0);
	fflush(stdout);
	for (unsigned long long i = 0; i < opt_holders; i++) {
		pid_t c = fork();
		if (c < 0)
			return 1;
		if (c == 0) {
			sleep_s((double)opt_hold_ms / 1000.0);
			_exit(0);
		}
	}
	if (opt_holders) {
		printf("pf_tool_alloc: %llu forked children share the memory\n", opt_holders);
		fflush(stdout);
	}
	sleep_s((double)opt_hold_ms / 1000.0);
	while (opt_holders && wait(NULL) > 0)
		;
	return 0;
}

/* Wait for `pid` and end the same way it did. */
static int follow(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 1;
	if (WIFSIGNALED(st)) {
		signal(WTERMSIG(st), SIG_DFL);
		kill(getpid(), WTERMSIG(st));
		pause();
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		unsigned long long *dst = NULL;
		if (strcmp(argv[i], "--grandchild") == 0) {
			opt_grandchild = 1;
			continue;
		}
		if (strcmp(argv[i], "--populate") == 0) {
			opt_populate = 1;
			continue;
		}
		if (strcmp(argv[i], "--mib") == 0)
			dst = &opt_mib;
		else if (strcmp(argv[i], "--step-mib") == 0)
			dst = &opt_step_mib;
		else if (strcmp(argv[i], "--rate-mib-s") == 0)
			dst = &opt_rate;
		else if (strcmp(argv[i], "--hold-ms") == 0)
			dst = &opt_hold_ms;
		else if (strcmp(argv[i], "--fork-holders") == 0)
			dst = &opt_holders;
		if (!dst || i + 1 >= argc || number(argv[i + 1], dst) != 0) {
			fprintf(stderr, "usage: pf_tool_alloc --mib N [--step-mib S] [--rate-mib-s R] [--hold-ms M] "
			                "[--grandchild] [--populate] [--fork-holders K]\n");
			return 2;
		}
		i++;
	}
	if (opt_grandchild) {
		pid_t c = fork();
		if (c < 0)
			return 1;
		if (c == 0) {
			pid_t g = fork();
			if (g < 0)
				_exit(1);
			if (g == 0) {
				if (setsid() < 0)
					_exit(1);
				printf("pf_tool_alloc: grandchild %d left the process group\n", (int)getpid());
				_exit(allocate());
			}
			_exit(follow(g));
		}
		return follow(c);
	}
	return allocate();
}
