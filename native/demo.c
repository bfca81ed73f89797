/* SPDX-License-Identifier: MIT */
/*
 * demo.c - the keys and functions of the package's default module
 * (libstatic_keys). mod.ts, the demo task, the tests and the benchmarks
 * drive these; a user's own dylib replaces them with its own.
 */
#include "static_keys.h"

DEFINE_STATIC_KEY_FALSE(tracing);      /* off: record trace events */
DEFINE_STATIC_KEY_TRUE(checks);        /* on: validate the workload */
DEFINE_STATIC_KEY_FALSE(experimental); /* off: take the new code path */
DEFINE_STATIC_KEY_FALSE(audit);        /* no site yet: listed all the same */

static uint64_t demo_events;

/* 1 when the tracing branch is taken. */
STATIC_KEYS_EXPORT int32_t static_keys_demo_tracing(void)
{
	return static_branch_unlikely(&tracing) ? 1 : 0;
}

/* 1 when the checks branch is taken. */
STATIC_KEYS_EXPORT int32_t static_keys_demo_checks(void)
{
	return static_branch_likely(&checks) ? 1 : 0;
}

/* 1 when the experimental branch is taken. */
STATIC_KEYS_EXPORT int32_t static_keys_demo_experimental(void)
{
	return static_branch_unlikely(&experimental) ? 1 : 0;
}

/* Trace events recorded by static_keys_demo_work so far. */
STATIC_KEYS_EXPORT uint64_t static_keys_demo_events(void)
{
	return demo_events;
}

/*
 * A small workload: n rounds of a hash, each guarded by all three keys.
 * Returns the hash, which depends on the experimental path, so a caller
 * sees the flip in the result as well as in the event count.
 */
STATIC_KEYS_EXPORT uint64_t static_keys_demo_work(uint32_t n)
{
	uint64_t h = 1469598103934665603ull;
	uint32_t i;

	for (i = 0; i < n; i++) {
		if (static_branch_unlikely(&experimental))
			h = (h ^ i) * 1099511628211ull + 7;
		else
			h = (h ^ i) * 1099511628211ull;
		if (static_branch_unlikely(&tracing))
			__atomic_fetch_add(&demo_events, 1, __ATOMIC_RELAXED);
		if (static_branch_likely(&checks) && h == 0)
			h = 1; /* invariant: the hash is never 0 */
	}
	return h;
}

/*
 * The same workload with ordinary flags instead of keys: what a static key
 * replaces. A flag that may change while the program runs is read with an
 * atomic load each time, as real code must; each test is then a load, a
 * compare and a conditional branch where the key's test is one nop or jmp.
 */
static int32_t demo_flag_tracing, demo_flag_checks = 1, demo_flag_experimental;

/* Sets the flags static_keys_demo_work_flags tests (0 or 1 each). */
STATIC_KEYS_EXPORT void static_keys_demo_set_flags(int32_t tracing,
						   int32_t checks,
						   int32_t experimental)
{
	__atomic_store_n(&demo_flag_tracing, tracing, __ATOMIC_RELAXED);
	__atomic_store_n(&demo_flag_checks, checks, __ATOMIC_RELAXED);
	__atomic_store_n(&demo_flag_experimental, experimental,
			 __ATOMIC_RELAXED);
}

/* static_keys_demo_work with flags: the same result for the same states. */
STATIC_KEYS_EXPORT uint64_t static_keys_demo_work_flags(uint32_t n)
{
	uint64_t h = 1469598103934665603ull;
	uint32_t i;

	for (i = 0; i < n; i++) {
		if (__atomic_load_n(&demo_flag_experimental, __ATOMIC_RELAXED))
			h = (h ^ i) * 1099511628211ull + 7;
		else
			h = (h ^ i) * 1099511628211ull;
		if (__atomic_load_n(&demo_flag_tracing, __ATOMIC_RELAXED))
			__atomic_fetch_add(&demo_events, 1, __ATOMIC_RELAXED);
		if (__atomic_load_n(&demo_flag_checks, __ATOMIC_RELAXED) && h == 0)
			h = 1; /* invariant: the hash is never 0 */
	}
	return h;
}
