/* SPDX-License-Identifier: MIT */
/*
 * sigtrap_test.c - the protocol's breakpoint handler (x86) keeps other
 * SIGTRAPs as they were: a user's handler installed before init still
 * gets raise(SIGTRAP) and an int3 that is not a site; one installed after
 * a flip is chained at the next flip; with no handler the default action
 * still ends the process, and SIG_IGN still ignores.
 */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "plat.h"
#include "sites.h"
#include "static_keys.h"

#if defined(__x86_64__) || defined(__i386__)

DEFINE_STATIC_KEY_FALSE(trap_key);

static volatile sig_atomic_t mine, mine_code;

__attribute__((noinline)) static int f_trap(void)
{
	return static_branch_unlikely(&trap_key) ? 1 : 0;
}

static void user_handler(int sig, siginfo_t *info, void *uc)
{
	(void)sig;
	(void)uc;
	mine++;
	mine_code = info->si_code;
}

static void install(void (*fn)(int, siginfo_t *, void *))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTRAP, &sa, NULL);
}

/* A breakpoint that is not a site: the kernel reports it like a site's. */
__attribute__((noinline)) static void unrelated_int3(void)
{
	__asm__ volatile("int3");
}

static int in_protocol(void)
{
	struct static_keys_stats st;

	static_keys_get_stats(&st);
	return (st.protocol >> st.strategy) & 1u;
}

/* In a child: flip under the protocol, then SIGTRAP with `prev` before. */
static int child_status(void (*prev)(int))
{
	pid_t pid = fork();
	int status = 0;

	if (pid == 0) {
		signal(SIGTRAP, prev);
		if (static_branch_enable(&trap_key) || static_branch_disable(&trap_key))
			_exit(3);
		raise(SIGTRAP);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

int main(void)
{
	struct sigaction cur;
	int status;

	install(user_handler); /* before init, as a user's own would be */
	CHECK_OK("init", static_keys_init());
	CHECK_OK("flip", static_branch_enable(&trap_key));
	CHECK("flipped", f_trap() == 1 && sites_match(&trap_key.key));
	/* after the first flip: a default the kernel refuses falls back then */
	if (!in_protocol()) {
		printf("skipped: the default strategy runs no breakpoint protocol "
		       "here (no membarrier SYNC_CORE, or an emulator)\n");
		return check_failed ? check_summary() : 77;
	}

	raise(SIGTRAP);
	CHECK("raise() reaches the user's handler", mine == 1 && mine_code == SI_TKILL);
	unrelated_int3();
	CHECK("an int3 that is no site reaches it too",
	      mine == 2 && (mine_code == SI_KERNEL || check_under_valgrind()));

	/* replaced after a flip: the next flip chains it instead */
	install(user_handler);
	CHECK_OK("flip back", static_branch_disable(&trap_key));
	sigaction(SIGTRAP, NULL, &cur);
	CHECK("the flip put the protocol's handler back in front",
	      (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction != user_handler);
	raise(SIGTRAP);
	CHECK("a handler installed later is chained at the next flip", mine == 3);
	CHECK("code agrees", f_trap() == 0 && sites_match(&trap_key.key));

	status = child_status(SIG_DFL);
	CHECK("with no handler before, the default action still kills",
	      WIFSIGNALED(status) && WTERMSIG(status) == SIGTRAP);
	status = child_status(SIG_IGN);
	CHECK("SIG_IGN before still ignores", WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return check_summary();
}

#else
int main(void)
{
	printf("skipped: sites change with one store here; no breakpoint\n");
	return 77;
}
#endif
