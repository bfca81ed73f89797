/* SPDX-License-Identifier: MIT */
/*
 * branch_test.c - the key matrix (after the kernel's lib/test_static_keys.c):
 * true/false key x likely/unlikely branch, each run as verify -> enable ->
 * verify -> disable -> verify -> enable -> verify -> restore, executing the
 * patched code and reading the site bytes after every flip.
 */
#include "check.h"
#include "sites.h"
#include "static_keys.h"

DEFINE_STATIC_KEY_TRUE(true_likely);
DEFINE_STATIC_KEY_TRUE(true_unlikely);
DEFINE_STATIC_KEY_FALSE(false_likely);
DEFINE_STATIC_KEY_FALSE(false_unlikely);
DEFINE_STATIC_KEY_TRUE(true_both);
DEFINE_STATIC_KEY_FALSE(false_both);
DEFINE_STATIC_KEY_FALSE(lonely); /* no site at all */
DEFINE_STATIC_KEY_TRUE_NAMED(renamed, "renamed.key");

static int f_true_likely(void) { return static_branch_likely(&true_likely); }
static int f_true_unlikely(void) { return static_branch_unlikely(&true_unlikely); }
static int f_false_likely(void) { return static_branch_likely(&false_likely); }
static int f_false_unlikely(void) { return static_branch_unlikely(&false_unlikely); }
static int f_renamed(void) { return static_branch_likely(&renamed) ? 1 : 0; }

/* Both kinds of branch on one key, in if statements. */
static int f_true_both(void)
{
	int r = 0;

	if (static_branch_likely(&true_both))
		r |= 1;
	if (static_branch_unlikely(&true_both))
		r |= 2;
	return r;
}

static int f_false_both(void)
{
	int r = 0;

	if (static_branch_unlikely(&false_both))
		r |= 1;
	if (static_branch_likely(&false_both))
		r |= 2;
	return r;
}

struct row {
	const char *name;
	struct static_key *key;
	int initial;
	int (*branch)(void);
	int when_on; /* what branch() returns while the key is enabled */
	uint32_t sites;
};

static const struct row rows[] = {
	{"true key, likely", &true_likely.key, 1, f_true_likely, 1, 1},
	{"true key, unlikely", &true_unlikely.key, 1, f_true_unlikely, 1, 1},
	{"false key, likely", &false_likely.key, 0, f_false_likely, 1, 1},
	{"false key, unlikely", &false_unlikely.key, 0, f_false_unlikely, 1, 1},
	{"true key, both branches", &true_both.key, 1, f_true_both, 3, 2},
	{"false key, both branches", &false_both.key, 0, f_false_both, 3, 2},
	{"named key", &renamed.key, 1, f_renamed, 1, 1},
};

static void verify(const struct row *r, int state, const char *step)
{
	char what[160];

	snprintf(what, sizeof what, "%s: %s", r->name, step);
	CHECK(what, r->key->enabled == state);
	CHECK(what, r->branch() == (state ? r->when_on : 0));
	CHECK(what, sites_match(r->key));
	CHECK(what, check_no_wx_mapping());
}

static void run_row(const struct row *r)
{
	/* >=: the compiler may copy a site when it inlines or clones */
	CHECK(r->name, r->key->sites >= r->sites);
	CHECK(r->name, r->key->type == r->initial);
	verify(r, r->initial, "initial");
	CHECK_OK(r->name, static_key_enable(r->key));
	verify(r, 1, "after enable");
	CHECK_OK(r->name, static_key_enable(r->key)); /* no-op */
	verify(r, 1, "after a second enable");
	CHECK_OK(r->name, static_key_disable(r->key));
	verify(r, 0, "after disable");
	CHECK_OK(r->name, static_key_enable(r->key));
	verify(r, 1, "after enable again");
	CHECK_OK(r->name, static_key_set(r->key, r->initial));
	verify(r, r->initial, "restored");
}

int main(void)
{
	size_t i;

	CHECK_OK("init", static_keys_init());
	CHECK_OK("init is idempotent", static_keys_init());
	CHECK("eight keys listed", static_keys_count() == 8);
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++)
		run_row(&rows[i]);

	/* The typed macros compile for both key types and flip the same. */
	CHECK_OK("static_branch_disable", static_branch_disable(&true_likely));
	CHECK("static_key_enabled", static_key_enabled(&true_likely) == 0);
	CHECK("true_likely off", f_true_likely() == 0);
	CHECK_OK("static_branch_enable", static_branch_enable(&false_unlikely));
	CHECK("false_unlikely on", f_false_unlikely() == 1);

	/* A key with no site is listed and flips. */
	CHECK("lonely listed", static_keys_find("lonely") == &lonely.key);
	CHECK("lonely has no site", lonely.key.sites == 0 && !lonely.key.entries);
	CHECK_OK("lonely enable", static_branch_enable(&lonely));
	CHECK("lonely on", static_key_enabled(&lonely) == 1);
	CHECK_OK("lonely disable", static_branch_disable(&lonely));
	CHECK("lonely off", static_key_enabled(&lonely) == 0);

	CHECK("named key found by its name",
	      static_keys_find("renamed.key") == &renamed.key);
	CHECK("no key by its C name", static_keys_find("renamed") == NULL);
	CHECK("unknown key", static_keys_find("nope") == NULL);
	CHECK("strerror covers every code",
	      strcmp(static_keys_strerror(STATIC_KEYS_EBADSITE),
		     static_keys_strerror(-99)) != 0);
	return check_summary();
}
