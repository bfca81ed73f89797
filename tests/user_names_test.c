/* SPDX-License-Identifier: MIT */
/*
 * user_names_test.c - a user's program that has functions and data named
 * as the core's internals are (os_init, err_str, update_patch, ...) links
 * the shipped core (libstatic_keys_core.a, through StaticKeys::static_keys)
 * and both work: the archive's internal names are local to its one object
 * (cmake/static_keys_core_object.cmake), so neither side meets the other's.
 * Linked against the test core, whose names are all global, it fails to
 * link ("multiple definition").
 */
#include "check.h"
#include "static_keys.h"

DEFINE_STATIC_KEY_FALSE(mine);

/* The user's own names, as global as a user's names are. */
int os_init(int x);
const char *err_str(void);
int update_patch(int x);
int module_ready(void);
int site_read(int x);
int this_module = 42;

int os_init(int x) { return x + 1; }
const char *err_str(void) { return "the user's err_str"; }
int update_patch(int x) { return x * 2; }
int module_ready(void) { return 7; }
int site_read(int x) { return -x; }

static int f_mine(void) { return static_branch_unlikely(&mine) ? 1 : 0; }

int main(void)
{
	CHECK("the user's os_init is the user's", os_init(1) == 2);
	CHECK("the user's err_str is the user's",
	      strcmp(err_str(), "the user's err_str") == 0);
	CHECK("the user's data is the user's", this_module == 42);
	CHECK_OK("init", static_keys_init());
	CHECK_OK("enable", static_branch_enable(&mine));
	CHECK("the key's site flipped", f_mine() == 1);
	CHECK_OK("disable", static_branch_disable(&mine));
	CHECK("and back", f_mine() == 0);
	CHECK("the user's names still answer",
	      update_patch(3) == 6 && module_ready() == 7 && site_read(2) == -2 &&
		      this_module == 42);
	return check_summary();
}
