/* SPDX-License-Identifier: MIT */
/*
 * fork_test.c - after fork() a flip in one process never changes the
 * other, whatever the strategy: the child flips and the parent's code and
 * key stay as they were; the parent flips and the child's stay. alias is
 * the hard case (its code runs from a shared memfd), also after leaving
 * it; procmem too (an inherited /proc/self/mem writes the parent).
 */
#define _GNU_SOURCE
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "plat.h"
#include "sites.h"
#include "static_keys.h"

DEFINE_STATIC_KEY_FALSE(forked);

__attribute__((noinline)) static int f_forked(void)
{
	return static_branch_unlikely(&forked) ? 1 : 0;
}

/* 0 when this process's code and key both say `on`. */
static int holds(int on)
{
	return !(f_forked() == on && static_key_enabled(&forked) == on &&
		 sites_hold(&forked.key, on));
}

/* The child flips; the parent must not see it. */
static void child_flips(const char *what)
{
	int status = 0;
	pid_t pid = fork();

	if (pid == 0) {
		int bad = static_branch_enable(&forked) != 0 || holds(1);

		bad |= static_branch_disable(&forked) != 0 || holds(0);
		bad |= static_branch_enable(&forked) != 0 || holds(1);
		if (bad)
			fprintf(stderr, "  child: %s\n", static_keys_last_error());
		_exit(bad);
	}
	CHECK(what, pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(what, WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(what, holds(0) == 0);
	CHECK(what, check_no_wx_mapping());
}

/* The parent flips while the child waits; the child must not see it. */
static void parent_flips(const char *what)
{
	int go[2], status = 0;
	char c = 0;
	pid_t pid;

	CHECK(what, pipe(go) == 0);
	pid = fork();
	if (pid == 0) {
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		_exit(holds(0));
	}
	close(go[0]);
	CHECK_OK(what, static_branch_enable(&forked));
	CHECK(what, holds(1) == 0);
	CHECK(what, write(go[1], "x", 1) == 1);
	close(go[1]);
	CHECK(what, pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(what, WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_OK(what, static_branch_disable(&forked));
	CHECK(what, holds(0) == 0);
}

static void both_ways(int strategy, const char *note)
{
	char what[96];
	int rc = static_keys_set_strategy(strategy);

	snprintf(what, sizeof what, "%s%s", static_keys_strategy_name(strategy), note);
	if (rc == STATIC_KEYS_ENOTSUP) {
		printf("skipped %s: %s\n", what, static_keys_last_error());
		return;
	}
	CHECK_OK(what, rc);
	fflush(stdout);
	child_flips(what);
	parent_flips(what);
	child_flips(what); /* once more: the parent's set-up survived a fork */
}

int main(void)
{
	CHECK_OK("init", static_keys_init());
	CHECK("off", holds(0) == 0);
	both_ways(STATIC_KEYS_STRATEGY_REMAP, "");
	both_ways(STATIC_KEYS_STRATEGY_MPROTECT, "");
	/* procmem and alias are not testable under an emulator (plat.h) */
	if (check_prot_visible()) {
		both_ways(STATIC_KEYS_STRATEGY_PROCMEM, "");
		both_ways(STATIC_KEYS_STRATEGY_ALIAS, "");
		both_ways(STATIC_KEYS_STRATEGY_MPROTECT, " after alias");
		both_ways(STATIC_KEYS_STRATEGY_ALIAS, " again");
		both_ways(STATIC_KEYS_STRATEGY_PROCMEM, " after alias");
	}
	return check_summary();
}
