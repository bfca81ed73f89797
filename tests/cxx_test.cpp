// SPDX-License-Identifier: MIT
// cxx_test.cpp - the public header as C++: every macro and function of
// static_keys.h used from a C++ translation unit, keys at namespace scope
// and in a namespace, branches in a function template, a member function
// and an inline function two units emit; verified -> inverted -> verified
// as the C suite does.
#include <static_keys.h>

#include "cxx_inline.h"

#include <cstdio>
#include <cstring>

DEFINE_STATIC_KEY_TRUE(cxx_true);
DEFINE_STATIC_KEY_FALSE(cxx_false);
DEFINE_STATIC_KEY_TRUE_NAMED(cxx_named_true, "cxx-named-true");
DEFINE_STATIC_KEY_FALSE_NAMED(cxx_named_false, "cxx-named-false");
DECLARE_STATIC_KEY_FALSE(cxx_false); // a second declaration is fine
DECLARE_STATIC_KEY_TRUE(cxx_true);

DEFINE_STATIC_KEY_FALSE(cxx_inline_key);

namespace feature {
DEFINE_STATIC_KEY_FALSE(in_namespace);
}

static int failures;

static void check(const char *name, bool ok)
{
	if (!ok) {
		failures++;
		std::fprintf(stderr, "FAIL %s\n", name);
	}
}

static void check_ok(const char *name, int rc)
{
	check(name, rc == 0);
	if (rc)
		std::fprintf(stderr, "  -> %d: %s (%s)\n", rc,
			     static_keys_strerror(rc), static_keys_last_error());
}

// Each site, laid out both ways.
static int true_likely() { return static_branch_likely(&cxx_true) ? 1 : 0; }
static int true_unlikely() { return static_branch_unlikely(&cxx_true) ? 1 : 0; }
static int false_likely() { return static_branch_likely(&cxx_false) ? 1 : 0; }
static int false_unlikely() { return static_branch_unlikely(&cxx_false) ? 1 : 0; }
static int named_true() { return static_branch_likely(&cxx_named_true) ? 1 : 0; }
static int named_false() { return static_branch_unlikely(&cxx_named_false) ? 1 : 0; }

template <class T> static T scaled(T v)
{
	return static_branch_unlikely(&feature::in_namespace) ? v * 2 : v;
}

// Out of line: on PE/COFF a site cannot be in an inline (COMDAT) function.
struct Worker {
	int run() const;
};

int Worker::run() const
{
	return static_branch_likely(&cxx_true) ? 10 : 20;
}

// Every branch shows its key's state.
static void verify(bool t, bool f, const char *step)
{
	check(step, true_likely() == t && true_unlikely() == t);
	check(step, false_likely() == f && false_unlikely() == f);
	check(step, static_key_enabled(&cxx_true) == t);
	check(step, static_key_enabled(&cxx_false) == f);
	check(step, Worker().run() == (t ? 10 : 20));
}

int main()
{
	struct static_keys_stats stats;

	check_ok("init", static_keys_init());
	check("six keys", static_keys_count() == 6);
	check("keys by name", static_keys_find("cxx_true") == &cxx_true.key &&
				      static_keys_find("cxx-named-true") ==
					      &cxx_named_true.key &&
				      static_keys_find("in_namespace") ==
					      &feature::in_namespace.key);
	check("keys by index", static_keys_at(0) != nullptr &&
				       static_keys_at(6) == nullptr);
	verify(true, false, "initial states");
	check("named initial", named_true() == 1 && named_false() == 0);

	check_ok("disable true", static_branch_disable(&cxx_true));
	check_ok("enable false", static_branch_enable(&cxx_false));
	verify(false, true, "inverted");
	check_ok("enable true", static_branch_enable(&cxx_true));
	check_ok("disable false", static_branch_disable(&cxx_false));
	verify(true, false, "back");

	check_ok("inc", static_branch_inc(&cxx_false));
	check("count 1", static_key_count(&cxx_false) == 1);
	verify(true, true, "after inc");
	check_ok("dec", static_branch_dec(&cxx_false));
	check("dec below 0 refused",
	      static_branch_dec(&cxx_false) == STATIC_KEYS_ECOUNT);
	verify(true, false, "after dec");

	const struct static_key_change changes[] = {
		{&cxx_named_true.key, 0}, {&cxx_named_false.key, 1}};
	check_ok("one request", static_keys_update(changes, 2));
	check("request applied", named_true() == 0 && named_false() == 1);

	check("template off", scaled(21) == 21 && scaled(1.5) == 1.5);
	check_ok("template on", static_branch_enable(&feature::in_namespace));
	check("template on", scaled(21) == 42 && scaled(1.5) == 3.0);

#ifndef _WIN32 /* PE/COFF: no site in COMDAT code (os/os_sections.h) */
	check("inline off", cxx_inline_branch() == 1 && cxx_inline_from_b() == 1);
	check_ok("inline on", static_branch_enable(&cxx_inline_key));
	check("inline on, both units",
	      cxx_inline_branch() == 2 && cxx_inline_from_b() == 2);
#endif

	check_ok("set strategy", static_keys_set_strategy(STATIC_KEYS_STRATEGY_DEFAULT));
	check_ok("stats", static_keys_get_stats(&stats));
	check("stats count", stats.keys == 6 && stats.entries >= 9);
	check("strategy name",
	      std::strlen(static_keys_strategy_name((int)stats.strategy)) > 0);
	check("strerror", std::strlen(static_keys_strerror(STATIC_KEYS_ENOKEY)) > 0);
	std::printf("%s: %d failures\n", failures ? "FAIL" : "ok", failures);
	return failures;
}
