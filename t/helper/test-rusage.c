/* test-rusage.c: time and memory of a command. */
#include "test-tool.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * rusage OUT CMD [ARG...]: run CMD and write "wall user system maxrss
 * anon file" to OUT: seconds, then KiB. maxrss is wait4()'s ru_maxrss, the
 * figure GNU time's %M reports; anon and file split the resident set into
 * anonymous memory and mapped files (indexes, the binary), each the largest
 * seen in /proc/PID/status sampled every 10 ms, so a peak shorter than that
 * can be missed. Exits with CMD's status.
 */
int cmd__rusage(int argc, char **argv)
{
	const struct timespec tick = { 0, 10 * 1000 * 1000 };
	long anon = 0, file = 0;
	struct rusage ru;
	double t0, t;
	pid_t pid;
	int status;
	FILE *f;

	if (argc < 3)
		die("usage: test-tool rusage OUT CMD [ARG...]");
	t0 = now_seconds();
	pid = fork();
	if (pid < 0)
		die("cannot fork: %s", cdt_strerror(errno));
	if (!pid) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "cannot run '%s': %s\n", argv[2], cdt_strerror(errno));
		_exit(127);
	}
	for (;;) {
		pid_t r = wait4(pid, &status, WNOHANG, &ru);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			die("wait failed: %s", cdt_strerror(errno));
		anon = MAX(anon, status_kb(pid, "RssAnon"));
		file = MAX(file, status_kb(pid, "RssFile"));
		nanosleep(&tick, NULL);
	}
	t = now_seconds() - t0;
	f = fopen(argv[1], "w");
	if (!f)
		die("cannot open '%s': %s", argv[1], cdt_strerror(errno));
	fprintf(f, "%.3f %.2f %.2f %ld %ld %ld\n", t,
		(double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
		(double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss,
		anon, file);
	if (fclose(f))
		die("cannot write '%s': %s", argv[1], cdt_strerror(errno));
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
