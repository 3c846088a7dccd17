/*
 * Test helper for the step runner: builds a process tree that never ends on
 * its own and records every pid in a file (one per line, appended by each
 * process itself), so a test can prove that nothing survives a timeout or an
 * interrupt. The tree: this process; A (same group); B (same group) with its
 * children C (setsid: left the group) and D (same group); and E, a setsid
 * grandchild whose parent exits at once (an orphan). 6 pids in all.
 *
 *   pf_tool_spawn_tree PIDFILE [--ignore-term]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static const char *pidfile;
static int ignore_term;

static void record(void)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "%d\n", (int)getpid());
	int fd = open(pidfile, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd >= 0) {
		if (write(fd, line, (size_t)n) != n)
			perror("pf_tool_spawn_tree: write");
		close(fd);
	}
}

static void forever(void)
{
	if (ignore_term)
		signal(SIGTERM, SIG_IGN);
	record();
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	pid_t b;
	if (argc < 2) {
		fprintf(stderr, "usage: pf_tool_spawn_tree PIDFILE [--ignore-term]\n");
		return 2;
	}
	pidfile = argv[1];
	ignore_term = argc > 2 && strcmp(argv[2], "--ignore-term") == 0;
	if (fork() == 0)
		forever(); /* A */
	b = fork();
	if (b == 0) {
		if (fork() == 0) {
			setsid();
			forever(); /* C */
		}
		if (fork() == 0)
			forever(); /* D */
		forever();         /* B */
	}
	if (fork() == 0) {
		if (fork() == 0) {
			setsid();
			forever(); /* E, orphaned below */
		}
		_exit(0);
	}
	printf("pf_tool_spawn_tree: started\n");
	fflush(stdout);
	forever();
	return 0;
}
