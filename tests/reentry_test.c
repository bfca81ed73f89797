/* SPDX-License-Identifier: MIT */
/*
 * reentry_test.c - every call that changes state is refused with EBUSY,
 * changing nothing, while another runs on the same thread. A signal is
 * raised from inside a flip (the core's patch hook, called before each
 * page patch); its handler tries every such call. Under the old fast path
 * an inc during a dec flip returned 0 and was lost, and a strategy switch
 * went through under the flip.
 */
#include <signal.h>

#include "check.h"
#include "plat.h"
#include "sites.h"
#include "static_keys.h"

#ifdef SIGUSR1
#define TEST_SIGNAL SIGUSR1
#else
#define TEST_SIGNAL SIGTERM
#endif

DEFINE_STATIC_KEY_FALSE(counted);
DEFINE_STATIC_KEY_TRUE(bystander);

__attribute__((noinline)) static int f(void)
{
	return (static_branch_unlikely(&counted) ? 1 : 0) +
	       (static_branch_likely(&bystander) ? 2 : 0);
}

enum { R_INC, R_DEC, R_ENABLE, R_SET_MANY, R_STRATEGY, R_REPAIR, R_INIT, R_COUNT, R_N };
static volatile sig_atomic_t raised, handled;
static int got[R_N];

static void handler(int sig)
{
	struct static_key_change c = {&bystander.key, 0};

	(void)sig;
	got[R_INC] = static_branch_inc(&counted);
	got[R_DEC] = static_branch_dec(&counted);
	got[R_ENABLE] = static_branch_disable(&bystander);
	got[R_SET_MANY] = static_keys_update(&c, 1);
	got[R_STRATEGY] = static_keys_set_strategy(STATIC_KEYS_STRATEGY_MPROTECT);
	got[R_REPAIR] = static_keys_repair(NULL, NULL, 0);
	got[R_INIT] = static_keys_init();       /* reads are fine */
	got[R_COUNT] = (int)static_keys_count(); /* reads are fine */
	handled = 1;
	signal(TEST_SIGNAL, handler); /* Windows resets it to SIG_DFL on entry */
}

/* Raises the signal once, from inside the first page patch of a flip. */
static void raise_once(void)
{
	if (raised)
		return;
	raised = 1;
	raise(TEST_SIGNAL);
}

static void expect_refused(const char *when)
{
	static const char *const names[] = {"inc", "dec", "enable", "update",
					    "set_strategy", "repair"};
	int i;

	CHECK(when, handled);
	for (i = 0; i < R_INIT; i++) {
		if (got[i] != STATIC_KEYS_EBUSY)
			fprintf(stderr, "  %s: %s returned %d\n", when, names[i], got[i]);
		CHECK(when, got[i] == STATIC_KEYS_EBUSY);
	}
	CHECK("init from the handler", got[R_INIT] == 0);
	CHECK("reading from the handler", got[R_COUNT] == (int)static_keys_count());
}

static void flip_with_signal(int (*flip)(void), const char *when)
{
	raised = handled = 0;
	test_hooks.before_patch = raise_once;
	CHECK_OK(when, flip());
	test_hooks.before_patch = NULL;
	expect_refused(when);
}

static int do_inc(void)
{
	return static_branch_inc(&counted);
}

static int do_dec(void)
{
	return static_branch_dec(&counted);
}

int main(void)
{
	struct static_keys_stats st;

	CHECK("handler", signal(TEST_SIGNAL, handler) != SIG_ERR);
	CHECK_OK("init", static_keys_init());
	CHECK("starts", f() == 2);

	flip_with_signal(do_inc, "signal during an inc flip");
	CHECK("the flip's inc counted once", static_key_count(&counted) == 1 &&
						     static_key_enabled(&counted));
	CHECK("bystander untouched", static_key_enabled(&bystander) && f() == 3);

	flip_with_signal(do_dec, "signal during a dec flip");
	CHECK("the handler's inc was refused, not lost",
	      static_key_count(&counted) == 0 && !static_key_enabled(&counted));
	CHECK("code agrees", f() == 2 && sites_match(&counted.key) &&
				     sites_match(&bystander.key));
	static_keys_get_stats(&st);
	CHECK("strategy unchanged", st.strategy == PLAT_STRATEGY_DEFAULT);

	/* Outside a flip the same calls go through. */
	CHECK_OK("inc after", static_branch_inc(&counted));
	CHECK_OK("inc again (fast path)", static_branch_inc(&counted));
	CHECK("count 2", static_key_count(&counted) == 2 && f() == 3);
	CHECK_OK("dec (fast path)", static_branch_dec(&counted));
	CHECK_OK("dec (flip)", static_branch_dec(&counted));
	CHECK("count 0", static_key_count(&counted) == 0 && f() == 2);
	CHECK_OK("repair after", static_keys_repair(NULL, NULL, 0));
	if (plat_strategy_offered(STATIC_KEYS_STRATEGY_MPROTECT) &&
	    PLAT_STRATEGY_DEFAULT != STATIC_KEYS_STRATEGY_MPROTECT)
		CHECK_OK("strategy after", static_keys_set_strategy(STATIC_KEYS_STRATEGY_MPROTECT));
	return check_summary();
}
