/* SPDX-License-Identifier: MIT */
/*
 * uprobe_test.c - flips keep a tracer's uprobes working: a probe attached
 * before a flip still fires after it and leaves no int3 behind when it is
 * detached; a probe attached after a flip fires. A real uprobe through
 * tracefs (root, a kernel with uprobes), one child process per strategy so
 * that a SIGTRAP is a failed check, not a crashed suite. Every probe is
 * removed by the parent whatever the child did.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "plat.h"
#include "static_keys.h"

DEFINE_STATIC_KEY_FALSE(traced);

static volatile int calls;

/*
 * The probe goes on this function's first instruction, which is not its
 * site: a uprobe on a site is itself a patch (its breakpoint over byte 0),
 * and the core then refuses the site as rewritten.
 */
__attribute__((noinline, aligned(PLAT_PAGE_ALIGN))) static int probed(void)
{
	int n = 10;

	calls++;
	if (static_branch_unlikely(&traced))
		n++;
	return n;
}

static const char *tracefs;
static char exe[1024];
static unsigned long probe_offset;

/* Writes s to tracefs file `file`; 0 or an errno. */
static int tfs_write(const char *file, const char *s, int append)
{
	char path[256];
	int fd, err = 0;

	snprintf(path, sizeof path, "%s/%s", tracefs, file);
	fd = open(path, O_WRONLY | (append ? O_APPEND : O_TRUNC) | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		err = errno ? errno : EIO;
	close(fd);
	return err;
}

static int probe_enable(const char *name, int on)
{
	char file[128];

	snprintf(file, sizeof file, "events/static_keys_test/%s/enable", name);
	return tfs_write(file, on ? "1" : "0", 0);
}

/* Registers and enables a uprobe on probed(); 0 or an errno. */
static int probe_attach(const char *name)
{
	char def[1400];
	int err;

	snprintf(def, sizeof def, "p:static_keys_test/%s %s:0x%lx\n", name, exe,
		 probe_offset);
	err = tfs_write("uprobe_events", def, 1);
	return err ? err : probe_enable(name, 1);
}

static void probe_detach(const char *name)
{
	char def[128];

	probe_enable(name, 0);
	snprintf(def, sizeof def, "-:static_keys_test/%s\n", name);
	tfs_write("uprobe_events", def, 1);
}

/* Hits of the probe so far (uprobe_profile), or -1. */
static long probe_hits(const char *name)
{
	char path[256], line[1600], file[1100], ev[256];
	unsigned long hits;
	long found = -1;
	FILE *f;

	snprintf(path, sizeof path, "%s/uprobe_profile", tracefs);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (found < 0 && fgets(line, sizeof line, f))
		if (sscanf(line, " %1099s %255s %lu", file, ev, &hits) == 3 &&
		    !strcmp(ev, name))
			found = (long)hits;
	fclose(f);
	return found;
}

/* Where tracefs is, mounting it if need be; NULL if uprobes are out of reach. */
static const char *find_tracefs(void)
{
	static const char *const dirs[] = {"/sys/kernel/tracing",
					   "/sys/kernel/debug/tracing"};
	char path[128];
	size_t i;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "%s/uprobe_events", dirs[i]);
		if (!access(path, W_OK))
			return dirs[i];
	}
	if (mount("nodev", dirs[0], "tracefs", 0, NULL))
		return NULL;
	snprintf(path, sizeof path, "%s/uprobe_events", dirs[0]);
	return access(path, W_OK) ? NULL : dirs[0];
}

/* File offset of addr in this executable, from /proc/self/maps; 0 if none. */
static unsigned long file_offset(const void *addr)
{
	unsigned long lo, hi, off, a = (unsigned long)(uintptr_t)addr, r = 0;
	char line[1600];
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return 0;
	while (!r && fgets(line, sizeof line, f))
		if (sscanf(line, "%lx-%lx %*s %lx", &lo, &hi, &off) == 3 && a >= lo &&
		    a < hi)
			r = a - lo + off;
	fclose(f);
	return r;
}

/* The scenario, in a child: attach before a flip, detach, attach after. */
static int scenario(int strategy, const char *before, const char *after)
{
	uint8_t first = *(volatile uint8_t *)(uintptr_t)probed;
	int rc;

	check_passed = check_failed = 0; /* the child counts its own */
	rc = static_keys_set_strategy(strategy);
	if (rc == STATIC_KEYS_ENOTSUP) {
		printf("skipped %s: %s\n", static_keys_strategy_name(strategy),
		       static_keys_last_error());
		return 0;
	}
	CHECK_OK("strategy", rc);

	CHECK("attach before a flip", probe_attach(before) == 0);
	CHECK("probed, off", probed() == 10);
	CHECK("probe fires", probe_hits(before) == 1);
	CHECK_OK("flip on", static_branch_enable(&traced));
	CHECK("probed, on (no SIGTRAP)", probed() == 11);
	CHECK("probe still fires after the flip", probe_hits(before) == 2);
	probe_detach(before);
	CHECK("detached: probed runs (no SIGTRAP)", probed() == 11);
	CHECK("detached: no int3 left behind",
	      *(volatile uint8_t *)(uintptr_t)probed == first);

	CHECK("attach after a flip", probe_attach(after) == 0);
	CHECK("probed, on", probed() == 11);
	CHECK("a probe attached after a flip fires", probe_hits(after) == 1);
	CHECK_OK("flip off", static_branch_disable(&traced));
	CHECK("probed, off again", probed() == 10);
	CHECK("and keeps firing", probe_hits(after) == 2);
	probe_detach(after);
	CHECK("detached again: probed runs", probed() == 10);
	CHECK("detached again: no int3 left behind",
	      *(volatile uint8_t *)(uintptr_t)probed == first);
	return check_summary();
}

int main(void)
{
	static const int strategies[] = {
		STATIC_KEYS_STRATEGY_DEFAULT, STATIC_KEYS_STRATEGY_REMAP,
		STATIC_KEYS_STRATEGY_PROCMEM, STATIC_KEYS_STRATEGY_MPROTECT};
	size_t i;
	ssize_t n;

	if (!check_prot_visible()) {
		printf("skipped: under an emulator a uprobe would plant the "
		       "host's breakpoint in guest code\n");
		return 77;
	}
	if (check_under_valgrind()) {
		printf("skipped: valgrind runs its own translation of the code, "
		       "and meets a uprobe's int3 as a real trap\n");
		return 77;
	}
	if (geteuid() != 0) {
		printf("skipped: uprobes through tracefs need root\n");
		return 77;
	}
	tracefs = find_tracefs();
	if (!tracefs) {
		printf("skipped: no writable tracefs with uprobe_events (kernel "
		       "without CONFIG_UPROBE_EVENTS, or tracefs not mountable)\n");
		return 77;
	}
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	probe_offset = file_offset((const void *)(uintptr_t)probed);
	if (n <= 0 || !probe_offset) {
		printf("skipped: cannot find this executable's file offsets\n");
		return 77;
	}
	exe[n] = '\0';
	CHECK_OK("init", static_keys_init());

	for (i = 0; i < sizeof strategies / sizeof strategies[0]; i++) {
		const char *what = static_keys_strategy_name(strategies[i]);
		char before[64], after[64];
		int status = 0;
		pid_t pid;

		snprintf(before, sizeof before, "sk_%d_%zu_before", (int)getpid(), i);
		snprintf(after, sizeof after, "sk_%d_%zu_after", (int)getpid(), i);
		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			int failed = scenario(strategies[i], before, after);

			fflush(stdout);
			_exit(failed);
		}
		CHECK(what, pid > 0 && waitpid(pid, &status, 0) == pid);
		probe_detach(before); /* whatever the child got to */
		probe_detach(after);
		if (WIFSIGNALED(status))
			fprintf(stderr, "FAIL %s: the child died of %s\n", what,
				strsignal(WTERMSIG(status)));
		CHECK(what, WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	return check_summary();
}
