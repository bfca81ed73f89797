/* SPDX-License-Identifier: MIT */
/*
 * sigtrap_test.c - the protocol's breakpoint handler (x86) keeps other
 * SIGTRAPs as they were: a user's handler installed before init still
 * gets raise(SIGTRAP) and an int3 that is not a site; one installed after
 * a flip is chained at the next flip; with no handler the default action
 * still ends the process, and SIG_IGN still ignores.
 *
 * One handler per process (docs/concurrency.md): two plugins with their
 * own cores, flipped and closed in either order, leave SIGTRAP working
 * (no call into an unloaded library), and the last one puts back exactly
 * the handler that was there before. A handler installed after ours that
 * calls the one it replaced first (as Deno's does) hears every SIGTRAP
 * once, before and after more flips (no loop between the two), and stops
 * the default action, as it would without us; an int3 with no handler
 * still kills. Another layer that replaces ours 17 times uses up the 16
 * entry points: the flip that finds none refuses, naming the cause. Under
 * a debugger that swallows the default action's SIGTRAP, the handler in
 * force before is put back (not left at SIG_DFL).
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ptrace.h>
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

/* ---- two plugins, each with its own core -------------------------------- */

/* The Deno ABI every module exports. */
struct plugin {
	void *h;
	int32_t (*set)(uint32_t, int32_t);
	int32_t (*info)(uint32_t, int32_t *);
};

static int plugin_open(struct plugin *p, const char *path)
{
	memset(p, 0, sizeof *p);
	p->h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!p->h)
		return -1;
	p->set = (int32_t(*)(uint32_t, int32_t))dlsym(p->h, "static_keys_ffi_set");
	p->info = (int32_t(*)(uint32_t, int32_t *))dlsym(p->h, "static_keys_ffi_key_info");
	return p->set && p->info ? 0 : -1;
}

/* Flips the plugin's first key and back: two requests, in place. */
static int plugin_flip(struct plugin *p)
{
	int32_t info[5]; /* static_keys_ffi_key_info writes 5 fields (ABI 2) */

	if (p->info(0, info))
		return -1;
	return p->set(0, !info[0]) || p->set(0, info[0]);
}

/*
 * A handler installed after ours that calls the one it replaced first and
 * then does its own work, as Deno's does (its listeners then run, and no
 * default action happens). More than a few calls for one signal is a loop.
 */
static struct sigaction chained_prev;
static volatile sig_atomic_t chained;

static void chaining_handler(int sig, siginfo_t *info, void *uc)
{
	if (++chained > 4)
		_exit(9);
	if (chained_prev.sa_handler == SIG_DFL || chained_prev.sa_handler == SIG_IGN)
		return;
	if (chained_prev.sa_flags & SA_SIGINFO)
		chained_prev.sa_sigaction(sig, info, uc);
	else
		chained_prev.sa_handler(sig);
}

static void install_chaining(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = chaining_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTRAP, &sa, &chained_prev);
}

enum chain { NO_CHAIN, CHAIN, CHAIN_THEN_FLIP };

/*
 * In a child: the user's handler, both plugins flipped, the chaining
 * handler (or not), then the plugins closed (b first when `b_first`);
 * every SIGTRAP reaches the user's handler, and the chaining one once.
 */
static void two_plugins(int b_first, enum chain chain)
{
	struct plugin a, b, *first = b_first ? &b : &a, *second = b_first ? &a : &b;
	struct sigaction cur;

	install(user_handler);
	CHECK("plugins open", !plugin_open(&a, STATIC_KEYS_PLUGIN_PATH) &&
				      !plugin_open(&b, STATIC_KEYS_CONC_PATH));
	CHECK("both flip", !plugin_flip(&a) && !plugin_flip(&b));
	if (chain != NO_CHAIN)
		install_chaining();
	if (chain == CHAIN_THEN_FLIP)
		CHECK("a flip after the chaining handler", !plugin_flip(&a));
	chained = 0;
	raise(SIGTRAP);
	CHECK("raise() reaches the handler before ours, once", mine == 1);
	CHECK("and the one after ours, once", chained == (chain != NO_CHAIN));
	dlclose(first->h);
	chained = 0;
	raise(SIGTRAP);
	unrelated_int3();
	CHECK("after the first close, raise() and int3 reach it",
	      mine == 3 && chained == 2 * (chain != NO_CHAIN));
	CHECK("the other plugin still flips", !plugin_flip(second));
	dlclose(second->h);
	chained = 0;
	raise(SIGTRAP);
	unrelated_int3();
	CHECK("after both closed, raise() and int3 reach it",
	      mine == 5 && chained == 2 * (chain != NO_CHAIN));
	sigaction(SIGTRAP, NULL, &cur);
	if (chain == NO_CHAIN)
		CHECK("the last close put back exactly the handler before",
		      (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == user_handler);
	else
		CHECK("the chaining handler is still the one in force",
		      (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == chaining_handler);
}

/*
 * In a child, with no handler before ours: a plugin flipped, then the
 * chaining handler (a Deno listener): raise() goes to it and the process
 * lives on, before and after another flip and after the close. Without
 * the chaining handler, an int3 ends the process (the parent checks).
 */
static void default_before(enum chain chain)
{
	struct plugin a;

	CHECK("plugin opens", !plugin_open(&a, STATIC_KEYS_PLUGIN_PATH));
	CHECK("flips", !plugin_flip(&a));
	if (chain == NO_CHAIN) {
		unrelated_int3(); /* the default action: the child ends here */
		return;
	}
	install_chaining();
	if (chain == CHAIN_THEN_FLIP)
		CHECK("a flip after the chaining handler", !plugin_flip(&a));
	chained = 0;
	raise(SIGTRAP);
	CHECK("the chaining handler hears raise() once, the process lives", chained == 1);
	dlclose(a.h);
	chained = 0;
	raise(SIGTRAP);
	unrelated_int3();
	CHECK("after the close too", chained == 2);
}

/*
 * Another signal layer that installs its handler over ours again and again,
 * each one calling the handler it replaced: every flip installs a new entry
 * point over it (the old ones stay valid for the layers that saved them).
 * 16 entry points: the replacement that finds none left refuses the flip,
 * naming the cause, and changes nothing; so does the next.
 */
#define LAYERS 17
static struct sigaction layer_prev[LAYERS];
static int layers, layer_depth;

static void layer_handler(int sig, siginfo_t *info, void *uc)
{
	int i = layers - 1 - layer_depth;
	const struct sigaction *p;

	if (i < 0)
		return;
	p = &layer_prev[i];
	layer_depth++;
	if (p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN) {
		if (p->sa_flags & SA_SIGINFO)
			p->sa_sigaction(sig, info, uc);
		else
			p->sa_handler(sig);
	}
	layer_depth--;
}

static void layered(int unused_x, int unused_y)
{
	struct sigaction sa;
	int r, rc, on = 0, first_refused = 0, refused = 0;

	(void)unused_x;
	(void)unused_y;
	CHECK_OK("layers: the first flip installs the handler", static_branch_enable(&trap_key));
	on = 1;
	if (!in_protocol()) { /* the default fell back at the first flip */
		printf("NOTE: no breakpoint protocol after the first flip here: "
		       "the entry points are not tested\n");
		return;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = layer_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	for (r = 1; r <= LAYERS; r++) {
		sigaction(SIGTRAP, &sa, &layer_prev[layers++]);
		rc = on ? static_branch_disable(&trap_key) : static_branch_enable(&trap_key);
		if (!rc) {
			on = !on;
			continue;
		}
		if (!first_refused)
			first_refused = r;
		refused++;
		CHECK("layers: refused with EPATCH", rc == STATIC_KEYS_EPATCH);
		CHECK("layers: the message names the cause and what to do",
		      strstr(static_keys_last_error(),
			     "another signal layer replaced it 16 times or more, and "
			     "each time took one of its 16 entry points: none is left; "
			     "install that layer's handler before the first flip") != NULL &&
			      !strstr(static_keys_last_error(), "transient"));
		CHECK("layers: nothing changed",
		      static_key_enabled(&trap_key) == on && f_trap() == on &&
			      sites_match(&trap_key.key));
	}
	printf("layers: the flip after replacement %d is the first refused\n", first_refused);
	CHECK("layers: 15 replacements are taken over, the 16th and 17th refused",
	      first_refused == 16 && refused == 2);
}

/*
 * A SIGTRAP nobody claims, with SIG_DFL before ours, under a debugger that
 * swallows the default action's signal (PTRACE_CONT with no signal): the
 * raise returns, and our handler is back in force, not SIG_DFL.
 */
static void swallowed_child(void)
{
	struct sigaction cur;

	signal(SIGTRAP, SIG_DFL);
	if (static_branch_enable(&trap_key) || static_branch_disable(&trap_key))
		_exit(3);
	raise(SIGTRAP); /* SI_TKILL: not the protocol's; passed to SIG_DFL */
	if (sigaction(SIGTRAP, NULL, &cur))
		_exit(4);
	if (!(cur.sa_flags & SA_SIGINFO) || cur.sa_handler == SIG_DFL)
		_exit(5); /* left with SIG_DFL */
	_exit(0);
}

/* The child's exit code, or -1 (no ptrace here: skipped), -2 on a failure. */
static int swallowed(void)
{
	int ready[2], status = 0, stops = 0;
	pid_t pid;
	char c = 0;

	if (pipe(ready))
		return -2;
	pid = fork();
	if (pid == 0) {
		close(ready[0]);
		c = ptrace(PTRACE_TRACEME, 0, NULL, NULL) ? 'n' : 'y';
		if (write(ready[1], &c, 1) != 1)
			_exit(6);
		if (c == 'n')
			_exit(7);
		raise(SIGSTOP); /* the parent takes over from here */
		swallowed_child();
	}
	close(ready[1]);
	if (pid < 0 || read(ready[0], &c, 1) != 1) {
		close(ready[0]);
		return -2;
	}
	close(ready[0]);
	if (c == 'n') {
		waitpid(pid, &status, 0);
		return -1;
	}
	for (;;) {
		int sig;

		if (waitpid(pid, &status, 0) != pid)
			return -2;
		if (WIFEXITED(status))
			return stops >= 2 ? WEXITSTATUS(status) : -2;
		if (WIFSIGNALED(status))
			return 100 + WTERMSIG(status);
		sig = WSTOPSIG(status);
		if (sig == SIGTRAP && ++stops == 2)
			sig = 0; /* the second: trap_pass's, for the default action */
		else if (sig == SIGSTOP)
			sig = 0;
		ptrace(PTRACE_CONT, pid, NULL, (void *)(intptr_t)sig);
	}
}

/* Runs fn(arg) in a child; its status. */
static int in_child(void (*fn)(int, int), int x, int y)
{
	pid_t pid = fork();
	int status = 0;

	if (pid == 0) {
		check_passed = check_failed = 0; /* the child's own */
		fn(x, y);
		fflush(stdout);
		fflush(stderr);
		_exit(check_failed ? 1 : 0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

static void two_plugins_run(int b_first, int chain)
{
	two_plugins(b_first, (enum chain)chain);
}

static void default_before_run(int chain, int unused)
{
	(void)unused;
	default_before((enum chain)chain);
}

static void plugins(void)
{
	static const char *const names[] = {"no handler after ours",
					     "a chaining handler after ours",
					     "a chaining handler, then a flip"};
	int chain, b_first, status;
	char what[160];

	for (chain = NO_CHAIN; chain <= CHAIN_THEN_FLIP; chain++) {
		for (b_first = 0; b_first < 2; b_first++) {
			status = in_child(two_plugins_run, b_first, chain);
			snprintf(what, sizeof what, "two plugins closed %s first, %s",
				 b_first ? "second" : "first", names[chain]);
			CHECK(what, WIFEXITED(status) && WEXITSTATUS(status) == 0);
		}
		status = in_child(default_before_run, chain, 0);
		snprintf(what, sizeof what, "no handler before ours, %s", names[chain]);
		if (chain == NO_CHAIN)
			CHECK("no handler before ours: an int3 ends the process",
			      WIFSIGNALED(status) && WTERMSIG(status) == SIGTRAP);
		else
			CHECK(what, WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}

int main(void)
{
	struct sigaction cur;
	int status;

	/* first, while this module has armed nothing its children inherit */
	CHECK_OK("init", static_keys_init());
	if (in_protocol()) {
		plugins();
		status = in_child(layered, 0, 0);
		CHECK("17 replacements by another layer: the 16th flip is refused, saying why",
		      WIFEXITED(status) && WEXITSTATUS(status) == 0);
		status = swallowed();
		if (status == -1)
			printf("NOTE: no ptrace here: a swallowed default action is not tested\n");
		else
			CHECK("a debugger swallows the default action: our handler is back, "
			      "not SIG_DFL", status == 0);
	}

	install(user_handler); /* before the first flip, as a user's own would be */
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
