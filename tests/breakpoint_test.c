/* SPDX-License-Identifier: MIT */
/*
 * breakpoint_test.c - a debugger's breakpoint on a site (x86: int3 over
 * byte 0, the rest intact, as gdb writes it) is the debugger's:
 *
 *   init     one set before init is accepted (the rest of the module
 *            works, flips of its key are refused while it is there); so
 *            is junk or the other instruction at a site (init reads no
 *            site): flips of its key are refused and repair leaves it,
 *            nothing written, until the site is whole
 *   trap     a thread that meets it goes to the debugger's handler (the
 *            one installed before ours), not along a key's path; one that
 *            meets the breakpoint a refused restore of ours left goes
 *            along its key's path, also when a handler above ours moved
 *            the program counter back onto the site first
 *   repair   rewrites our leftovers and leaves the debugger's, also after
 *            a failed repair
 */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "check.h"
#include "module.h"
#include "plat.h"
#include "sites.h"
#include "spread.h"
#include "static_keys.h"

#include "os/test_hooks.h"

#if defined(__x86_64__) || defined(__i386__)
#ifdef __x86_64__
#define PC_REG REG_RIP
#else
#define PC_REG REG_EIP
#endif

DEFINE_STATIC_KEY_FALSE(watched); /* gets the debugger's breakpoint */
DEFINE_STATIC_KEY_FALSE(free_key);

__attribute__((noinline)) static int f_watched(void)
{
	return static_branch_unlikely(&watched) ? 1 : 0;
}

__attribute__((noinline)) static int f_free(void)
{
	return static_branch_unlikely(&free_key) ? 1 : 0;
}

static uint8_t *watched_site;
static uint8_t watched_byte; /* what the breakpoint covers */

/*
 * Forgets init and owner: the next call sets the module up again, as in a
 * fresh process (keys as defined: what flips and repair noted is gone).
 */
static void module_forget(void)
{
	struct static_key *k;

	for (k = this_module.sec.keys_start; k && k < this_module.sec.keys_stop; k++)
		k->reserved = 0;
	this_module.init = MODULE_NEW;
	this_module.setup_thread = 0;
	this_module.owner = 0;
}

static int poke(uint8_t *at, uint8_t byte)
{
	return plat_poke_code(at, &byte, 1);
}

/*
 * The debugger (installed before our handler, so ours hands it what it
 * does not claim): its own breakpoint at the watched site is a hit, which
 * it takes out and resumes on, as gdb does. Any other trap is one of ours
 * that our handler did not claim: the thread could not go on, so the test
 * ends there.
 */
static volatile sig_atomic_t hits;

static void debugger(int sig, siginfo_t *info, void *uc)
{
	ucontext_t *u = uc;
	uint8_t *pc = (uint8_t *)u->uc_mcontext.gregs[PC_REG];

	(void)sig;
	if (info->si_code == SI_KERNEL && pc - 1 == watched_site) {
		hits++;
		poke(watched_site, watched_byte);
		u->uc_mcontext.gregs[PC_REG] = (greg_t)(uintptr_t)watched_site;
		return;
	}
	static const char msg[] = "FAIL: a breakpoint of ours reached the "
				  "debugger's handler\n";
	if (write(2, msg, sizeof msg - 1) < 0)
		_exit(101);
	_exit(100);
}

/*
 * A handler above ours that moves the program counter back onto the
 * breakpoint once, then calls ours (the one it replaced), as a debugger
 * that took our breakpoint for its own and passed the signal on might.
 */
static struct sigaction below;
static volatile sig_atomic_t moved;

static void mover(int sig, siginfo_t *info, void *uc)
{
	ucontext_t *u = uc;

	if (!moved++)
		u->uc_mcontext.gregs[PC_REG]--;
	below.sa_sigaction(sig, info, uc);
}

static void install(void (*fn)(int, siginfo_t *, void *), struct sigaction *old)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTRAP, &sa, old);
}

static int in_protocol(void)
{
	struct static_keys_stats st;

	static_keys_get_stats(&st);
	return (st.protocol >> st.strategy) & 1u;
}

static int repaired(uint32_t rewritten, uint32_t unknown, int rc_want)
{
	struct static_keys_repair_report r;
	int rc = static_keys_repair(&r, NULL, 0);

	if (rc == rc_want && r.rewritten == rewritten && r.unknown == unknown)
		return 1;
	fprintf(stderr, "  repair: %d, %u rewritten, %u unknown: %s\n", rc,
		r.rewritten, r.unknown, static_keys_last_error());
	return 0;
}

static uint8_t other_byte; /* byte 0 of the other instruction */

/* The instruction of watched's other state goes on its first site. */
static void other_on_site(void)
{
	uint8_t other[ARCH_JUMP_SIZE];

	site_bytes(&watched.key.entries[0], !watched.key.enabled, other);
	other_byte = other[0];
	CHECK("the other instruction goes on the site",
	      other_byte != watched_byte &&
		      !plat_poke_code(watched_site, other, sizeof other));
}

/* A repair reports the site and leaves byte 0 as `byte`. */
static void junk_repair(const char *what, uint8_t byte)
{
	struct static_keys_repair_report r;

	CHECK(what, static_keys_repair(&r, NULL, 0) == STATIC_KEYS_EBADSITE &&
			    r.unknown == 1 && r.rewritten == 0 &&
			    *watched_site == byte);
}

/* init: a breakpoint, junk, the other instruction at a site are accepted. */
static void at_init(void)
{
	CHECK_OK("init", static_keys_init());
	watched_site = (uint8_t *)jump_entry_code(&watched.key.entries[0]);
	watched_byte = *watched_site;

	module_forget();
	CHECK("a breakpoint goes on the site", !poke(watched_site, 0xcc));
	CHECK_OK("init with a breakpoint on a site", static_keys_init());
	CHECK("the module has every key", static_keys_count() >= 4 &&
						  static_keys_find("free_key") == &free_key.key);
	CHECK("a flip of its key is refused",
	      static_branch_enable(&watched) == STATIC_KEYS_EBADSITE &&
		      strstr(static_keys_last_error(), "holds cc"));
	CHECK("the error says why", strstr(static_keys_last_error(),
					   "a breakpoint over its first bytes (a "
					   "debugger's or a uprobe's); flip again "
					   "once it is removed"));
	CHECK("the breakpoint is left as it is", *watched_site == 0xcc);
	CHECK_OK("other keys flip", static_branch_enable(&free_key));
	CHECK("and run", f_free() == 1);
	CHECK_OK("back", static_branch_disable(&free_key));
	CHECK("the breakpoint comes out", !poke(watched_site, watched_byte));
	CHECK_OK("then its key flips", static_branch_enable(&watched));
	CHECK("and runs", f_watched() == 1 && sites_match(&watched.key));
	CHECK_OK("back", static_branch_disable(&watched));

	/* init reads no site: junk there is refused by what would write it */
	module_forget();
	CHECK("junk goes on the site", !poke(watched_site, 0xf4));
	CHECK_OK("init with junk at a site", static_keys_init());
	CHECK("the module has every key", static_keys_find("free_key") == &free_key.key);
	CHECK("a flip of its key is refused, nothing written",
	      static_branch_enable(&watched) == STATIC_KEYS_EBADSITE &&
		      strstr(static_keys_last_error(), "holds f4") &&
		      *watched_site == 0xf4 && !static_key_enabled(&watched));
	junk_repair("repair leaves the junk", 0xf4);
	CHECK_OK("other keys flip", static_branch_enable(&free_key));
	CHECK("and run", f_free() == 1);
	CHECK_OK("back", static_branch_disable(&free_key));
	CHECK("the site is whole again", !poke(watched_site, watched_byte));
	CHECK_OK("then its key flips", static_branch_enable(&watched));
	CHECK("and runs", f_watched() == 1 && sites_match(&watched.key));
	CHECK_OK("back", static_branch_disable(&watched));

	/*
	 * The other instruction at a site before init: no flip has found its
	 * key's sites whole, so its entry is not known to describe the site.
	 */
	module_forget();
	other_on_site();
	CHECK_OK("init with the other instruction at a site", static_keys_init());
	CHECK("a flip of its key is refused, nothing written",
	      static_branch_enable(&watched) == STATIC_KEYS_EBADSITE &&
		      *watched_site == other_byte && !static_key_enabled(&watched));
	CHECK("a flip to the state it is in writes nothing",
	      static_branch_disable(&watched) == 0 &&
		      *watched_site == other_byte);
	junk_repair("repair leaves the other instruction", other_byte);
	CHECK("and says why", strstr(static_keys_last_error(),
				     "no flip or repair has found this key's "
				     "sites whole since the module was loaded"));
	CHECK("the site is whole again", !poke(watched_site, watched_byte));
	CHECK_OK("a repair finds the key whole", static_keys_repair(NULL, NULL, 0));
	other_on_site();
	CHECK_OK("then repair rewrites the other instruction",
		 static_keys_repair(NULL, NULL, 0));
	CHECK("back to the key's state", *watched_site == watched_byte &&
						 sites_match(&watched.key));
}

/* Refused restore: sites of p0 and p1 keep our breakpoint (marked). */
static void half_flip(void)
{
	struct static_key_change both[2] = {{&spread.key, 1}, {&spread_too.key, 0}};

	test_hooks.fault_at = 3;
	test_hooks.fault_rollback = ROLLBACK_FAULT_ALL;
	CHECK("a flip whose restore is refused",
	      static_keys_update(both, 2) == STATIC_KEYS_EPATCH);
	test_hooks.fault_at = 0;
	test_hooks.fault_rollback = ROLLBACK_FAULT_NONE;
	CHECK("leaves our breakpoint on two pages",
	      *(const uint8_t *)jump_entry_code(&spread.key.entries[0]) == 0xcc &&
		      *(const uint8_t *)jump_entry_code(&spread.key.entries[1]) == 0xcc &&
		      *(const uint8_t *)jump_entry_code(&spread.key.entries[2]) != 0xcc);
}

/*
 * The page function holding spread's site `i`: spread's first two sites
 * keep the leftovers (the first two runs in address order, which need
 * not be p0 and p1).
 */
static int (*left_fn(uint32_t i))(void)
{
	uintptr_t code = jump_entry_code(&spread.key.entries[i]);
	int f;

	for (f = 0; f < 4; f++)
		if ((uintptr_t)fns[f] / PLAT_PAGE_ALIGN == code / PLAT_PAGE_ALIGN)
			return fns[f];
	return fns[0];
}

int main(void)
{
	struct sigaction ours;
	int i, got;

	at_init();
	install(debugger, NULL); /* before our handler, as a debugger's */
	CHECK_OK("a flip arms our handler", static_branch_enable(&free_key));
	CHECK_OK("back", static_branch_disable(&free_key));
	if (!in_protocol()) {
		printf("skipped: the default strategy runs no breakpoint protocol "
		       "here (no membarrier SYNC_CORE, or an emulator)\n");
		return check_failed ? check_summary() : 77;
	}

	/* the debugger's breakpoint reaches the debugger */
	CHECK("a debugger's breakpoint on a site", !poke(watched_site, 0xcc));
	CHECK("the thread takes the key's path", f_watched() == 0);
	CHECK("after the debugger's handler saw the hit", hits == 1);
	CHECK("which took its breakpoint out", sites_match(&watched.key));

	/* our leftover is ours, with a debugger breakpoint elsewhere */
	half_flip();
	CHECK("a debugger's breakpoint on another site", !poke(watched_site, 0xcc));
	got = 0;
	for (i = 0; i < 4; i++)
		got += fns[i]() == 2;
	CHECK("threads meeting our leftovers run the keys' old states", got == 4);
	CHECK("without the debugger's handler", hits == 1);

	/* a handler above ours moves the pc back onto our breakpoint */
	install(mover, &ours);
	below = ours;
	got = left_fn(0)();
	CHECK("with the pc moved back onto the site, the old state still runs",
	      got == 2 && moved >= 1);
	sigaction(SIGTRAP, &ours, NULL);

	/* repair: ours rewritten, the debugger's left; a failed one keeps marks */
	test_hooks.fault_at = 1;
	test_hooks.fault_rollback = ROLLBACK_FAULT_ALL;
	CHECK("a repair that fails, and its restore too", repaired(0, 1, STATIC_KEYS_EPATCH));
	test_hooks.fault_at = 0;
	test_hooks.fault_rollback = ROLLBACK_FAULT_NONE;
	CHECK("keeps our leftovers ours", left_fn(1)() == 2 && hits == 1);
	CHECK("repair rewrites our breakpoints only (2 sites on 2 pages)",
	      repaired(4, 1, STATIC_KEYS_EBADSITE));
	CHECK("and leaves the debugger's", *watched_site == 0xcc);
	CHECK("every spread site whole", sites_match(&spread.key) &&
						 sites_match(&spread_too.key) && all_return(2));
	CHECK("the debugger's breakpoint still reaches it", f_watched() == 0 && hits == 2);
	CHECK("a repair after that has nothing to do", repaired(0, 0, 0));
	return check_summary();
}

#else
/*
 * The page function holding spread's site `i`: spread's first two sites
 * keep the leftovers (the first two runs in address order, which need
 * not be p0 and p1).
 */
static int (*left_fn(uint32_t i))(void)
{
	uintptr_t code = jump_entry_code(&spread.key.entries[i]);
	int f;

	for (f = 0; f < 4; f++)
		if ((uintptr_t)fns[f] / PLAT_PAGE_ALIGN == code / PLAT_PAGE_ALIGN)
			return fns[f];
	return fns[0];
}

int main(void)
{
	printf("skipped: sites change with one store here; no breakpoint\n");
	return 77;
}
#endif
