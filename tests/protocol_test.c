/* SPDX-License-Identifier: MIT */
/*
 * protocol_test.c - the cross-modification protocol's failure path: a core
 * synchronisation that fails part way through a request (after the
 * breakpoints went in on x86) makes the request run back to the old bytes
 * over every run: the error says what failed, no key changes, every site
 * holds its old instruction, the code runs as before, and the next flip
 * works. And its middle (x86): before the tail and head passes every site
 * of the request holds the breakpoint, and a call that runs into one then
 * (here the flipping thread itself, from the test hook before each os
 * patch) is sent on along the old or the new path. And its shortcut
 * (x86): a flip that changes byte 0 only skips the tail pass and its core
 * sync. Under every strategy that runs the protocol here.
 */
#define _GNU_SOURCE /* plat_trap_call: the context's registers */
#include <string.h>

#include "check.h"
#include "plat.h"
#include "sites.h"
#include "static_keys.h"


DEFINE_STATIC_KEY_FALSE(p_one);
DEFINE_STATIC_KEY_TRUE(p_two);

__attribute__((noinline)) static int f_one(void)
{
	return static_branch_unlikely(&p_one) ? 1 : 0;
}

__attribute__((noinline)) static int f_two(void)
{
	return static_branch_likely(&p_two) ? 2 : 0;
}

static void sync_fails(int strategy, int at)
{
	struct static_key_change both[2] = {{&p_one.key, 1}, {&p_two.key, 0}};
	char what[96];

	snprintf(what, sizeof what, "%s, core sync %d of the request fails",
		 static_keys_strategy_name(strategy), at);
	if (plat_strategy_set(strategy))
		return;
	test_hooks.sync_fail = at;
	CHECK(what, static_keys_update(both, 2) == STATIC_KEYS_EPATCH);
	test_hooks.sync_fail = 0;
	CHECK(what, strstr(static_keys_last_error(), "core synchronisation") != NULL &&
			    strstr(static_keys_last_error(), "no key changed") != NULL);
	CHECK(what, !static_key_enabled(&p_one) && static_key_enabled(&p_two));
	CHECK(what, sites_match(&p_one.key) && sites_match(&p_two.key));
	CHECK(what, f_one() == 0 && f_two() == 2);
	CHECK(what, check_no_wx_mapping());
	CHECK_OK(what, static_keys_update(both, 2));
	CHECK(what, f_one() == 1 && f_two() == 0);
	both[0].enabled = 0;
	both[1].enabled = 1;
	CHECK_OK(what, static_keys_update(both, 2));
	CHECK(what, f_one() == 0 && f_two() == 2 && sites_match(&p_one.key));
}

#if ARCH_NEEDS_BREAKPOINT
static int hook_calls, saw_breakpoint, wrong_path;

/* Called before each os_patch of the request: look at the sites, run them. */
static void midway_hook(void)
{
	uint8_t bp[ARCH_BREAKPOINT_SIZE];
	const struct static_key *keys[2] = {&p_one.key, &p_two.key};
	int k, one, two;

	hook_calls++;
	arch_breakpoint(bp);
	for (k = 0; k < 2; k++)
		if (bytes_equal((const uint8_t *)jump_entry_code(&keys[k]->entries[0]),
				bp, ARCH_BREAKPOINT_SIZE))
			saw_breakpoint++;
	one = f_one();
	two = f_two();
	if ((one != 0 && one != 1) || (two != 0 && two != 2))
		wrong_path++;
}

/*
 * No core synchronisation follows the last pass: a core may still run the
 * breakpoint it fetched before, after the request returned. The handler
 * must send that thread back onto the site (where it now runs the new
 * instruction), never on along a path of its own nor to the handler
 * before it (SIG_DFL here: the process would end).
 */
static void stale_breakpoint(const char *what)
{
#ifdef PLAT_TRAP_CALL
	const struct static_key *keys[2] = {&p_one.key, &p_two.key};
	struct static_keys_stats before, after;
	int k;

	static_keys_get_stats(&before);
	for (k = 0; k < 2; k++) {
		uintptr_t site = jump_entry_code(&keys[k]->entries[0]);

		CHECK(what, plat_trap_call(site + ARCH_BREAKPOINT_SIZE) == site);
	}
	static_keys_get_stats(&after);
	CHECK(what, after.traps == before.traps); /* not a request's trap */
#else
	(void)what;
#endif
}

static int one_calls, one_tail_changed, one_heads;
static uint8_t one_was[ARCH_JUMP_SIZE];

/* Before each os_patch of one_byte's flip: which bytes moved since the last. */
static void one_byte_hook(void)
{
	const uint8_t *at = (const uint8_t *)jump_entry_code(&p_one.key.entries[0]);

	one_calls++;
	if (!bytes_equal(at + ARCH_BREAKPOINT_SIZE, one_was + ARCH_BREAKPOINT_SIZE,
			 ARCH_JUMP_SIZE - ARCH_BREAKPOINT_SIZE))
		one_tail_changed++;
	if (at[0] != one_was[0])
		one_heads++;
	memcpy(one_was, at, ARCH_JUMP_SIZE);
}

/*
 * A flip of a key with one site, where the site's two instructions share
 * every byte after the breakpoint's (x86's test/jmp): two passes (the
 * breakpoint, then byte 0 of the new instruction) and one core sync
 * between them, and no pass ever writes the other bytes.
 */
static void one_byte(int strategy)
{
	struct static_keys_stats before, after;
	const uint8_t *at = (const uint8_t *)jump_entry_code(&p_one.key.entries[0]);
	char what[96];
	int round;

	snprintf(what, sizeof what, "%s, a 1-site flip writes byte 0 only",
		 static_keys_strategy_name(strategy));
	if (plat_tail_moves() || plat_strategy_set(strategy))
		return;
	CHECK(what, p_one.key.sites == 1);
	for (round = 0; round < 2; round++) { /* on and off */
		memcpy(one_was, at, ARCH_JUMP_SIZE);
		one_calls = one_tail_changed = one_heads = 0;
		static_keys_get_stats(&before);
		test_hooks.before_patch = one_byte_hook;
		CHECK_OK(what, round ? static_branch_disable(&p_one)
				     : static_branch_enable(&p_one));
		test_hooks.before_patch = NULL;
		one_byte_hook(); /* and after the last */
		static_keys_get_stats(&after);
		CHECK(what, one_calls == 3 && one_tail_changed == 0);
		CHECK(what, one_heads == 2); /* the breakpoint, the new byte 0 */
		CHECK(what, after.core_syncs - before.core_syncs == 1);
		/* procmem: one pwrite a pass */
		if (strategy == STATIC_KEYS_STRATEGY_PROCMEM)
			CHECK(what, after.last_syscalls == 2);
		CHECK(what, f_one() == !round && sites_match(&p_one.key));
	}
}

static void midway(int strategy)
{
	struct static_key_change both[2] = {{&p_one.key, 1}, {&p_two.key, 0}};
	struct static_keys_stats before, after;
	char what[96];
	int round;

	snprintf(what, sizeof what, "%s, sites run in the middle of a request",
		 static_keys_strategy_name(strategy));
	if (plat_strategy_set(strategy))
		return;
	for (round = 0; round < 2; round++) { /* there and back */
		both[0].enabled = !round;
		both[1].enabled = round;
		hook_calls = saw_breakpoint = wrong_path = 0;
		static_keys_get_stats(&before);
		test_hooks.before_patch = midway_hook;
		CHECK_OK(what, static_keys_update(both, 2));
		test_hooks.before_patch = NULL;
		static_keys_get_stats(&after);
		/* trap, (tail,) head: a patch per pass per run */
		CHECK(what, hook_calls > 0 &&
				    hook_calls % (int)plat_passes(strategy) == 0);
		/* both sites, before each pass after the first */
		CHECK(what, saw_breakpoint >= 2 * ((int)plat_passes(strategy) - 1));
		CHECK(what, wrong_path == 0);
		/* each breakpoint a call ran into was sent on by the handler */
		CHECK(what, after.traps - before.traps >= (uint64_t)saw_breakpoint);
		CHECK(what, f_one() == !round && f_two() == 2 * round);
		CHECK(what, sites_match(&p_one.key) && sites_match(&p_two.key));
		stale_breakpoint(what);
	}
}
#endif

int main(void)
{
	struct static_keys_stats st;
	int s, at, tested = 0;

	CHECK_OK("init", static_keys_init());
	static_keys_get_stats(&st);
	for (s = 1; s < STATIC_KEYS_STRATEGY_COUNT; s++) {
		if (!((st.protocol >> s) & 1u))
			continue;
		/* qemu-user keeps running its translation after a store
		 * through the alias view */
		if (s == STATIC_KEYS_STRATEGY_ALIAS && !check_prot_visible())
			continue;
		for (at = 1; at <= (int)plat_core_syncs(s); at++)
			sync_fails(s, at);
#if ARCH_NEEDS_BREAKPOINT
		midway(s);
		one_byte(s);
#endif
		tested++;
	}
	if (!tested) {
		printf("skipped: no strategy runs the protocol here\n");
		return 77;
	}
	return check_summary();
}
