/* SPDX-License-Identifier: MIT */
/*
 * gdb_test.c - the program tests/gdb_test.cmake runs under gdb (x86
 * Linux), to hold docs/concurrency.md's debugger section to account:
 *
 *   trap        the flipping thread itself runs the site between the
 *               protocol's passes (the test hook before each patch), so it
 *               meets the protocol's breakpoint: gdb stops with SIGTRAP,
 *               and `signal SIGTRAP` sends the thread on along a whole
 *               path, where `continue` would resume mid-instruction
 *   breakpoint  gdb's `break *site` set before init: init succeeds, the
 *               other key flips, the site's key is refused while gdb has
 *               the breakpoint in, and the site runs (gdb reports its hit)
 *
 * Exit code: the failed checks; 77 when no breakpoint protocol runs here.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "module.h"
#include "static_keys.h"

#include "os/test_hooks.h"

DEFINE_STATIC_KEY_FALSE(watched);
DEFINE_STATIC_KEY_FALSE(other);

__attribute__((noinline)) static int f_watched(void)
{
	return static_branch_unlikely(&watched) ? 1 : 0;
}

__attribute__((noinline)) static int f_other(void)
{
	return static_branch_unlikely(&other) ? 1 : 0;
}

/* Where gdb puts its breakpoint: the watched site, found before init. */
volatile uintptr_t gdb_site;

/* gdb stops here (break gdb_ready) to set its breakpoint. */
__attribute__((noinline)) void gdb_ready(void)
{
	__asm__ volatile("" ::: "memory");
}

static int wrong;

/* Before each os_patch of a flip: the site holds the breakpoint in passes 2-3. */
static void run_sites(void)
{
	int r = f_watched();

	wrong += r != 0 && r != 1;
}

static int in_protocol(void)
{
	struct static_keys_stats st;

	static_keys_get_stats(&st);
	return (st.protocol >> st.strategy) & 1u;
}

static int trap(void)
{
	struct static_keys_stats st;

	CHECK_OK("init", static_keys_init());
	if (!in_protocol()) {
		printf("skipped: no breakpoint protocol here\n");
		return 77;
	}
	test_hooks.before_patch = run_sites;
	CHECK_OK("enable", static_branch_enable(&watched));
	CHECK_OK("disable", static_branch_disable(&watched));
	test_hooks.before_patch = NULL;
	static_keys_get_stats(&st);
	printf("traps %llu\n", (unsigned long long)st.traps);
	CHECK("the thread met the breakpoint and was sent on", st.traps >= 2);
	CHECK("along whole paths", wrong == 0);
	CHECK("the site is whole", f_watched() == 0);
	return check_summary();
}

static int breakpoint(void)
{
	struct os_sections sec;
	int rc;

	os_sections(&sec);
	while (sec.entries_start < sec.entries_stop &&
	       jump_entry_key(sec.entries_start) != &watched.key)
		sec.entries_start++;
	if (sec.entries_start == sec.entries_stop)
		return 99;
	gdb_site = jump_entry_code(sec.entries_start);
	gdb_ready();
	CHECK("gdb's breakpoint is on the site", *(const uint8_t *)gdb_site == 0xcc);
	CHECK_OK("init with it", static_keys_init());
	CHECK_OK("the other key flips", static_branch_enable(&other));
	CHECK("and runs", f_other() == 1);
	rc = static_branch_enable(&watched);
	CHECK("the site's key is refused", rc == STATIC_KEYS_EBADSITE);
	printf("%s\n", static_keys_last_error());
	CHECK("the site runs its key's path", f_watched() == 0);
	return check_summary();
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "trap"))
		return trap();
	if (argc == 2 && !strcmp(argv[1], "breakpoint"))
		return breakpoint();
	fprintf(stderr, "usage: gdb_test trap|breakpoint\n");
	return 2;
}
