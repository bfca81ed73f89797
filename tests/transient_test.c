/* SPDX-License-Identifier: MIT */
/*
 * transient_test.c - a refusal that passes does not last: each part of a
 * strategy's set-up (the scratch buffer, /proc/self/mem, the library file,
 * the alias's memfd, the membarrier registration, the read that checks
 * /proc/self/mem shows this process) refused at the first
 * flip or at a strategy change, for a passing reason: RLIMIT_AS at the
 * current size (ENOMEM), RLIMIT_NOFILE at the descriptors in use (EMFILE),
 * a registration answered EAGAIN; the SIGTRAP handler of an in-place flip
 * (x86) once its strategy is prepared. Each in a child of a process that has
 * prepared nothing yet. The flip (or the change) fails, changes nothing
 * and says it is a transient refusal; once the limit is raised the same
 * call works, with the same strategy (no fallback for good), and a remap
 * leaves the library file-backed. A refusal for good (EPERM from a
 * policy) is told apart: the default strategy falls back to "remap".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "plat.h"
#include "sites.h"
#include "static_keys.h"

#if defined(__linux__)
#include "seccomp.h"

DEFINE_STATIC_KEY_FALSE(tk);

__attribute__((noinline)) static int guarded(void)
{
	return static_branch_unlikely(&tk) ? 1 : 0;
}

static struct static_keys_stats first; /* the parent's, before any flip */
static int chosen;       /* the strategy a first flip picks without limits */
static int alias_usable; /* alias can be set up here (not under qemu-user) */

/* ---- limits ------------------------------------------------------------------ */

static struct rlimit saved_as, saved_nofile;

/* VmSize in bytes, read without allocating; 0 if unknown. */
static uint64_t vm_size(void)
{
	char buf[4096], *at;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	at = strstr(buf, "VmSize:");
	return at ? strtoull(at + 7, NULL, 10) * 1024 : 0;
}

/*
 * RLIMIT_AS at the current size: no new mapping. 0, or -1 when the limit
 * has no effect here (qemu-user keeps RLIMIT_AS for itself).
 */
static int limit_as(void)
{
	volatile char stack[256 * 1024]; /* grown now: growth counts too */
	struct rlimit r;
	void *p;

	if (check_under_valgrind())
		return -1; /* valgrind lays out the address space itself */
	memset((char *)stack, 1, sizeof stack);
	getrlimit(RLIMIT_AS, &saved_as);
	r.rlim_cur = vm_size();
	r.rlim_max = saved_as.rlim_max;
	if (!r.rlim_cur || setrlimit(RLIMIT_AS, &r))
		return -1;
	p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED) {
		munmap(p, 1 << 20);
		setrlimit(RLIMIT_AS, &saved_as);
		return -1;
	}
	return 0;
}

static void raise_as(void)
{
	setrlimit(RLIMIT_AS, &saved_as);
}

/* RLIMIT_NOFILE at the lowest free descriptor: no new one. */
static int limit_nofile(void)
{
	struct rlimit r;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	close(fd);
	getrlimit(RLIMIT_NOFILE, &saved_nofile);
	r.rlim_cur = (rlim_t)fd;
	r.rlim_max = saved_nofile.rlim_max;
	return setrlimit(RLIMIT_NOFILE, &r);
}

static void raise_nofile(void)
{
	setrlimit(RLIMIT_NOFILE, &saved_nofile);
}

/* ---- checks ---------------------------------------------------------------- */

static int transient(const char *what, int rc)
{
	const char *e = static_keys_last_error();

	if (rc == STATIC_KEYS_EPATCH && strstr(e, "transient refusal") &&
	    strstr(e, what))
		return 1;
	fprintf(stderr, "  -> %d: %s\n", rc, e);
	return 0;
}

static int unchanged(void)
{
	return !static_key_enabled(&tk) && sites_match(&tk.key) && guarded() == 0;
}

static int flips(void)
{
	return static_key_enable(&tk.key) == 0 && guarded() == 1 && sites_match(&tk.key);
}

static int strategy_is(int s)
{
	struct static_keys_stats st;

	static_keys_get_stats(&st);
	return st.strategy == (uint32_t)s;
}

/* 1 when the page of tk's site is mapped from a file (the test program). */
static int site_file_backed(void)
{
	uintptr_t site = jump_entry_code(&tk.key.entries[0]);
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int backed = 0;

	if (!check_prot_visible()) { /* qemu-user's maps: not the guest's files */
		printf("NOTE: file-backed or not cannot be read back here\n");
		if (f)
			fclose(f);
		return 1;
	}
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		uintptr_t lo, hi;
		unsigned long inode;

		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %*s %*s %*s %lu", &lo, &hi,
			   &inode) == 3 &&
		    lo <= site && site < hi)
			backed = inode != 0;
	}
	fclose(f);
	return backed;
}

/* What a first flip picks with no limit (exit code), 255 if it fails. */
static void control_flip(void)
{
	struct static_keys_stats st;

	if (!flips())
		_exit(255);
	static_keys_get_stats(&st);
	_exit((int)st.strategy);
}

/* 1 when alias can be chosen before any flip, with no limit. */
static void control_alias(void)
{
	_exit(static_keys_set_strategy(STATIC_KEYS_STRATEGY_ALIAS) == 0);
}

/* The exit code of fn in a child, or 255. */
static int probe(void (*fn)(void))
{
	pid_t pid = fork();
	int st = 0;

	if (pid == 0)
		fn();
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return 255;
	return WEXITSTATUS(st);
}

/* ---- the cases, each in a child ------------------------------------------- */

static void as_first_flip(void)
{
	int rc;

	if (limit_as()) {
		printf("NOTE: RLIMIT_AS does not limit the program here (an "
		       "emulator, valgrind): its cases are left out\n");
		return;
	}
	rc = static_key_enable(&tk.key);
	raise_as();
	CHECK("RLIMIT_AS, first flip: a transient refusal", transient("mmap", rc));
	CHECK("RLIMIT_AS, first flip: nothing changed", unchanged());
	CHECK("RLIMIT_AS, raised: the next flip works", flips());
	CHECK("RLIMIT_AS, raised: with the default strategy", strategy_is(chosen));
}

static void as_remap(void)
{
	int rc;

	if (limit_as())
		return;
	/* the scratch cannot be had now; remap does without it */
	rc = static_keys_set_strategy(STATIC_KEYS_STRATEGY_REMAP);
	CHECK("RLIMIT_AS, remap: chosen", rc == 0);
	rc = static_key_enable(&tk.key);
	raise_as();
	CHECK("RLIMIT_AS, remap: a transient refusal", transient("mmap", rc));
	CHECK("RLIMIT_AS, remap: nothing changed", unchanged());
	CHECK("RLIMIT_AS, raised: remap flips", flips());
	CHECK("RLIMIT_AS, raised: the library stays file-backed", site_file_backed());
	if (chosen == STATIC_KEYS_STRATEGY_PROCMEM)
		CHECK_OK("RLIMIT_AS, raised: the scratch is had, procmem too",
			 static_keys_set_strategy(STATIC_KEYS_STRATEGY_PROCMEM));
}

static void as_alias(void)
{
	int rc;

	if (!alias_usable)
		return;
	if (limit_as())
		return;
	rc = static_keys_set_strategy(STATIC_KEYS_STRATEGY_ALIAS);
	raise_as();
	CHECK("RLIMIT_AS, alias: a transient refusal", transient("mmap", rc));
	CHECK("RLIMIT_AS, alias: the strategy did not change", strategy_is((int)first.strategy));
	CHECK_OK("RLIMIT_AS, raised: alias", static_keys_set_strategy(STATIC_KEYS_STRATEGY_ALIAS));
	CHECK("RLIMIT_AS, raised: alias flips", flips());
}

static void nofile_first_flip(void)
{
	int rc;

	if (limit_nofile())
		return;
	rc = static_key_enable(&tk.key);
	CHECK("RLIMIT_NOFILE, first flip: a transient refusal", transient("open", rc));
	CHECK("RLIMIT_NOFILE, first flip: nothing changed", unchanged());
	if (chosen == STATIC_KEYS_STRATEGY_PROCMEM) {
		rc = static_keys_set_strategy(STATIC_KEYS_STRATEGY_PROCMEM);
		CHECK("RLIMIT_NOFILE, procmem asked for: a transient refusal, not \"no /proc\"",
		      transient("/proc/self/mem", rc) &&
			      !strstr(static_keys_last_error(), "security policy"));
	}
	raise_nofile();
	CHECK("RLIMIT_NOFILE, raised: the next flip works", flips());
	CHECK("RLIMIT_NOFILE, raised: with the default strategy", strategy_is(chosen));
	CHECK("RLIMIT_NOFILE, raised: the library stays file-backed", site_file_backed());
}

static void nofile_remap(void)
{
	int rc;

	if (limit_nofile())
		return;
	CHECK_OK("RLIMIT_NOFILE, remap: chosen", static_keys_set_strategy(STATIC_KEYS_STRATEGY_REMAP));
	rc = static_key_enable(&tk.key);
	CHECK("RLIMIT_NOFILE, remap: a transient refusal (the library file)",
	      transient("library file", rc));
	CHECK("RLIMIT_NOFILE, remap: nothing changed", unchanged());
	raise_nofile();
	CHECK("RLIMIT_NOFILE, raised: remap flips", flips());
	CHECK("RLIMIT_NOFILE, raised: from the library's own file", site_file_backed());
}

static void nofile_alias(void)
{
	int rc;

	if (!alias_usable)
		return;
	if (limit_nofile())
		return;
	/* /proc/self/maps is read first; the memfd alone: alias_memfd */
	rc = static_keys_set_strategy(STATIC_KEYS_STRATEGY_ALIAS);
	CHECK("RLIMIT_NOFILE, alias: a transient refusal", transient("failed", rc));
	CHECK("RLIMIT_NOFILE, alias: the strategy did not change", strategy_is((int)first.strategy));
	raise_nofile();
	CHECK_OK("RLIMIT_NOFILE, raised: alias", static_keys_set_strategy(STATIC_KEYS_STRATEGY_ALIAS));
	CHECK("RLIMIT_NOFILE, raised: alias flips", flips());
}

/*
 * The SIGTRAP handler of an in-place flip (x86's breakpoint protocol), set
 * up at the first flip: with a strategy prepared before the limit, only
 * the handler's block (a memfd, mapped) is new at the flip.
 */
static int prepared_in_place(void)
{
	static const int order[] = {STATIC_KEYS_STRATEGY_PROCMEM,
				    STATIC_KEYS_STRATEGY_MPROTECT,
				    STATIC_KEYS_STRATEGY_ALIAS};
	struct static_keys_stats st;
	size_t i;

	if (!ARCH_NEEDS_BREAKPOINT) {
		/* one store replaces a site: no flip sets up a handler */
		printf("NOTE: " ARCH_NAME " flips a site with one store, no "
		       "breakpoint: the handler's cases are left out\n");
		return -1;
	}
	static_keys_get_stats(&st);
	for (i = 0; i < sizeof order / sizeof order[0]; i++)
		if (((st.protocol >> order[i]) & 1u) &&
		    static_keys_set_strategy(order[i]) == 0)
			return order[i];
	printf("NOTE: no in-place strategy runs the breakpoint protocol here: "
	       "the handler's cases are left out\n");
	return -1;
}

static void trap_nofile(void)
{
	int s = prepared_in_place(), rc;

	if (s < 0 || limit_nofile())
		return;
	rc = static_key_enable(&tk.key);
	CHECK("RLIMIT_NOFILE, the SIGTRAP handler: a transient refusal naming the call",
	      transient("memfd_create(SIGTRAP handler) failed with error 24", rc));
	CHECK("RLIMIT_NOFILE, the SIGTRAP handler: nothing changed", unchanged());
	CHECK("RLIMIT_NOFILE, the SIGTRAP handler: the strategy did not change", strategy_is(s));
	raise_nofile();
	CHECK("RLIMIT_NOFILE, raised: the same strategy flips", flips() && strategy_is(s));
}

static void trap_as(void)
{
	int s = prepared_in_place(), rc;

	if (s < 0 || limit_as())
		return;
	rc = static_key_enable(&tk.key);
	raise_as();
	CHECK("RLIMIT_AS, the SIGTRAP handler: a transient refusal naming the call",
	      transient("mmap(SIGTRAP handler) failed with error 12", rc));
	CHECK("RLIMIT_AS, the SIGTRAP handler: nothing changed", unchanged());
	CHECK("RLIMIT_AS, the SIGTRAP handler: the strategy did not change", strategy_is(s));
	CHECK("RLIMIT_AS, raised: the same strategy flips", flips() && strategy_is(s));
}

#define REGISTER_SYNC_CORE (1 << 6) /* MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE */

static int refusing = 1, refuse_with = EAGAIN, asked;

/* Answers the listener's calls: an error while refusing, then lets them through. */
static void *supervise(void *arg)
{
	(void)arg;
	for (;;) {
		struct seccomp_notif req;
		struct seccomp_notif_resp resp;

		memset(&req, 0, sizeof req);
		if (ioctl(sc_listener, SECCOMP_IOCTL_NOTIF_RECV, &req)) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		memset(&resp, 0, sizeof resp);
		resp.id = req.id;
		__atomic_add_fetch(&asked, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&refusing, __ATOMIC_SEQ_CST))
			resp.error = -refuse_with;
		else
			resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		ioctl(sc_listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
	}
}

/* Refuses `r` (answered by supervise) until refusing is cleared; 0 or -1. */
static int refuse_for_a_while(const struct sc_rule *r, int err)
{
	pthread_t t;

	refuse_with = err;
	if (check_under_valgrind()) {
		printf("NOTE: valgrind does not implement seccomp(2): a refusal "
		       "lifted later is not tested\n");
		return -1;
	}
	if (sc_install(r, 1) || pthread_create(&t, NULL, supervise, NULL)) {
		printf("NOTE: no seccomp listener here (error %d): a refusal "
		       "lifted later is not tested\n", errno);
		return -1;
	}
	return 0;
}

static void alias_memfd(void)
{
	struct sc_rule r = {__NR_memfd_create, SC_NOTIFY, {{0}}};
	int rc;

	if (!alias_usable)
		return;
	if (refuse_for_a_while(&r, EMFILE))
		return;
	rc = static_keys_set_strategy(STATIC_KEYS_STRATEGY_ALIAS);
	CHECK("alias, memfd_create (EMFILE): a transient refusal", transient("memfd_create", rc));
	CHECK("alias, memfd_create (EMFILE): the strategy did not change",
	      strategy_is((int)first.strategy));
	__atomic_store_n(&refusing, 0, __ATOMIC_SEQ_CST);
	CHECK_OK("alias, memfd_create let through: alias",
		 static_keys_set_strategy(STATIC_KEYS_STRATEGY_ALIAS));
	CHECK("alias, memfd_create let through: flips", flips());
}

/*
 * The read that checks /proc/self/mem shows our memory (not an emulator's),
 * refused for a while (EAGAIN): at the first flip with procmem the default,
 * the flip is refused as transient, not sent to "remap" for good.
 */
static void procmem_pread(void)
{
	struct sc_rule r = {__NR_pread64, SC_NOTIFY, {{0}}};
	int rc;

	if (chosen != STATIC_KEYS_STRATEGY_PROCMEM)
		return;
	if (refuse_for_a_while(&r, EAGAIN))
		return;
	rc = static_key_enable(&tk.key);
	CHECK("pread of /proc/self/mem (EAGAIN), first flip: a transient refusal",
	      transient("pread(\"/proc/self/mem\") failed with error 11", rc));
	CHECK("pread of /proc/self/mem (EAGAIN): nothing changed", unchanged());
	__atomic_store_n(&refusing, 0, __ATOMIC_SEQ_CST);
	CHECK("pread let through: the next flip works", flips());
	CHECK("pread let through: with procmem, not remap for good",
	      strategy_is(STATIC_KEYS_STRATEGY_PROCMEM));
}

static void membarrier_passing(void)
{
	struct sc_rule r = {__NR_membarrier, SC_NOTIFY, {{0, SC_EQ, REGISTER_SYNC_CORE}}};
	int rc;

	if (!first.protocol)
		return; /* no protocol here: nothing to register */
	if (refuse_for_a_while(&r, EAGAIN))
		return;
	rc = static_key_enable(&tk.key);
	CHECK("membarrier registration (EAGAIN): a transient refusal", transient("membarrier", rc));
	CHECK("membarrier registration (EAGAIN): nothing changed", unchanged());
	rc = static_key_enable(&tk.key);
	CHECK("membarrier registration: asked again at the next flip",
	      rc == STATIC_KEYS_EPATCH && __atomic_load_n(&asked, __ATOMIC_SEQ_CST) >= 2);
	__atomic_store_n(&refusing, 0, __ATOMIC_SEQ_CST);
	CHECK("membarrier registration, let through: the next flip works", flips());
	CHECK("membarrier registration, let through: with the default strategy",
	      strategy_is(chosen));
}

static void membarrier_refused(void)
{
	struct sc_rule r = {__NR_membarrier, EPERM, {{0, SC_EQ, REGISTER_SYNC_CORE}}};
	int rc;

	if (!first.protocol || first.strategy == STATIC_KEYS_STRATEGY_REMAP)
		return;
	if (sc_install(&r, 1)) {
		printf("NOTE: no seccomp here (error %d)\n", errno);
		return;
	}
	CHECK("membarrier registration refused for good: the flip falls back to remap", flips());
	CHECK("membarrier registration refused for good: remap", strategy_is(STATIC_KEYS_STRATEGY_REMAP));
	rc = static_keys_set_strategy(STATIC_KEYS_STRATEGY_MPROTECT);
	CHECK("membarrier registration refused for good: mprotect is not offered, saying why",
	      rc == STATIC_KEYS_ENOTSUP && strstr(static_keys_last_error(), "membarrier") &&
		      !strstr(static_keys_last_error(), "transient"));
}

static int tally[2] = {-1, -1}; /* the children's counts of checks passed */

static void in_child(const char *name, void (*fn)(void))
{
	pid_t pid;
	int st;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		int n;

		check_passed = check_failed = 0;
		fn();
		n = check_passed; /* to the parent, which counts it */
		if (write(tally[1], &n, sizeof n) != (ssize_t)sizeof n)
			check_failed++;
		fflush(stdout);
		fflush(stderr);
		_exit(check_failed > 255 ? 255 : check_failed);
	}
	CHECK(name, pid > 0 && waitpid(pid, &st, 0) == pid);
	{
		int n = 0;

		if (pid > 0 && read(tally[0], &n, sizeof n) == (ssize_t)sizeof n)
			check_passed += n;
	}
	if (pid > 0 && WIFSIGNALED(st))
		fprintf(stderr, "  %s: the child died of signal %d\n", name, WTERMSIG(st));
	CHECK(name, pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
	CHECK("a pipe for the children's counts", pipe2(tally, O_NONBLOCK) == 0);
	CHECK_OK("init", static_keys_init());
	static_keys_get_stats(&first);
	CHECK("nothing prepared yet", guarded() == 0 && first.requests == 0);
	chosen = probe(control_flip);
	CHECK("a first flip without limits works", chosen != 255);
	alias_usable = probe(control_alias) == 1;
	if (!alias_usable)
		printf("NOTE: alias cannot be set up here: its cases are left out\n");
	in_child("RLIMIT_AS at the first flip", as_first_flip);
	in_child("RLIMIT_AS with remap", as_remap);
	in_child("RLIMIT_AS with alias", as_alias);
	in_child("RLIMIT_NOFILE at the first flip", nofile_first_flip);
	in_child("RLIMIT_NOFILE with remap", nofile_remap);
	in_child("RLIMIT_NOFILE with alias", nofile_alias);
	in_child("RLIMIT_NOFILE at the SIGTRAP handler", trap_nofile);
	in_child("RLIMIT_AS at the SIGTRAP handler", trap_as);
	in_child("the alias's memfd refused for a while", alias_memfd);
	in_child("the read of /proc/self/mem refused for a while", procmem_pread);
	in_child("membarrier registration refused for a while", membarrier_passing);
	in_child("membarrier registration refused for good", membarrier_refused);
	CHECK("the parent is as before", unchanged());
	return check_summary();
}
#else
int main(void)
{
	printf("skipped: the limits and the set-up tested are Linux's\n");
	return 77;
}
#endif
