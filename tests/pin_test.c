/* SPDX-License-Identifier: MIT */
/*
 * pin_test.c - pins and mixed requests. The key matrix (TRUE/FALSE key x
 * likely/unlikely site x pin on/off x enable/disable/inc/dec/set while
 * pinned x unpin): while pinned, every call is counted as on an unpinned
 * key and returns what it would return there, but the sites keep the
 * pin's instruction; unpinning moves the key to the state its count says.
 * Then static_keys_apply: ops in order, one request, and a failing one
 * leaves every byte, count and pin as it was.
 */
#include "check.h"
#include "plat.h"
#include "sites.h"
#include "static_keys.h"

DEFINE_STATIC_KEY_FALSE(off_key);
DEFINE_STATIC_KEY_TRUE(on_key);
DEFINE_STATIC_KEY_FALSE(other);

/* Each key has a likely and an unlikely site; each returns the key's state. */
__attribute__((noinline)) static int off_likely(void)
{
	return static_branch_likely(&off_key) ? 1 : 0;
}
__attribute__((noinline)) static int off_unlikely(void)
{
	return static_branch_unlikely(&off_key) ? 1 : 0;
}
__attribute__((noinline)) static int on_likely(void)
{
	return static_branch_likely(&on_key) ? 1 : 0;
}
__attribute__((noinline)) static int on_unlikely(void)
{
	return static_branch_unlikely(&on_key) ? 1 : 0;
}
__attribute__((noinline, aligned(PLAT_PAGE_ALIGN))) static int other_on(void)
{
	return static_branch_unlikely(&other) ? 1 : 0;
}

struct subject {
	const char *name;
	struct static_key *key;
	int initial;
	int (*likely)(void);
	int (*unlikely)(void);
};

enum action { ACT_NONE, ACT_ENABLE, ACT_DISABLE, ACT_INC, ACT_DEC, ACT_SET_ON,
	      ACT_UPDATE_OFF, ACT_COUNT };
static const char *const action_names[ACT_COUNT] = {
	"nothing", "enable", "disable", "inc", "dec", "set on", "update off"};

/* The action on `key`: its return code; *count becomes the model's count. */
static int act(struct static_key *key, enum action a, int *count)
{
	struct static_key_change off = {key, 0};

	switch (a) {
	case ACT_NONE:
		return 0;
	case ACT_ENABLE:
	case ACT_SET_ON:
		*count = *count > 0 ? *count : 1;
		return a == ACT_ENABLE ? static_key_enable(key)
				       : static_key_set(key, 1);
	case ACT_DISABLE:
		*count = 0;
		return static_key_disable(key);
	case ACT_INC:
		(*count)++;
		return static_key_slow_inc(key);
	case ACT_DEC:
		if (*count == 0)
			return static_key_slow_dec(key) == STATIC_KEYS_ECOUNT
				       ? 1 /* refused, as unpinned */
				       : -100;
		(*count)--;
		return static_key_slow_dec(key);
	case ACT_UPDATE_OFF:
		*count = 0;
		return static_keys_update(&off, 1);
	default:
		return -100;
	}
}

static char label[160];

static const char *at(const struct subject *s, const char *step, int pin,
		      enum action a)
{
	snprintf(label, sizeof label, "%s, pinned %s, %s: %s", s->name,
		 pin ? "on" : "off", action_names[a], step);
	return label;
}

/* The key's state, its count, its pin, its bytes and what its sites return. */
static void verify(const struct subject *s, const char *what, int enabled,
		   int count, int pin)
{
	CHECK(what, static_key_enabled((struct static_key_false *)s->key) == enabled);
	CHECK(what, static_key_count((struct static_key_false *)s->key) == count);
	CHECK(what, static_key_pinned((struct static_key_false *)s->key) == pin);
	CHECK(what, sites_hold(s->key, enabled));
	CHECK(what, s->likely() == enabled && s->unlikely() == enabled);
}

/* Back to the key as defined: not pinned, count = initial state. */
static void reset(const struct subject *s)
{
	static_key_unpin(s->key);
	static_key_disable(s->key); /* count 0; enable keeps a count above 1 */
	static_key_set(s->key, s->initial);
	verify(s, "reset", s->initial, s->initial, STATIC_KEY_PIN_NONE);
}

static void matrix(const struct subject *s)
{
	struct static_keys_stats before, after;
	int pin, a;

	for (pin = 0; pin <= 1; pin++) {
		for (a = 0; a < ACT_COUNT; a++) {
			int want_pin = pin ? STATIC_KEY_PIN_ON : STATIC_KEY_PIN_OFF;
			int count = s->initial, rc;

			reset(s);
			CHECK_OK(at(s, "pin", pin, a), static_key_pin(s->key, pin));
			verify(s, at(s, "pinned", pin, a), pin, count, want_pin);

			static_keys_get_stats(&before);
			rc = act(s->key, (enum action)a, &count);
			CHECK(at(s, "the call returns as unpinned", pin, a),
			      rc == 0 || rc == 1);
			static_keys_get_stats(&after);
			CHECK(at(s, "patches nothing", pin, a),
			      after.pages_patched == before.pages_patched &&
				      after.flips == before.flips);
			verify(s, at(s, "counted, not flipped", pin, a), pin,
			       count, want_pin);

			CHECK_OK(at(s, "pin again, same state", pin, a),
				 static_key_pin(s->key, pin));
			verify(s, at(s, "pinned again", pin, a), pin, count,
			       want_pin);

			CHECK_OK(at(s, "unpin", pin, a), static_key_unpin(s->key));
			verify(s, at(s, "unpinned: the count decides", pin, a),
			       count > 0, count, STATIC_KEY_PIN_NONE);
			CHECK_OK(at(s, "unpin again", pin, a),
				 static_key_unpin(s->key));
			verify(s, at(s, "unpin twice changes nothing", pin, a),
			       count > 0, count, STATIC_KEY_PIN_NONE);
		}
	}
	/* Repinned to the other state: patched at once. */
	reset(s);
	CHECK_OK("pin on", static_key_pin(s->key, 1));
	CHECK_OK("repin off", static_key_pin(s->key, 0));
	verify(s, "repinned off", 0, s->initial, STATIC_KEY_PIN_OFF);
	reset(s);
}

/* A failed request: every byte, count and pin as before. */
static void unchanged(const char *what)
{
	CHECK(what, static_key_enabled(&off_key) == 1 &&
			    static_key_count(&off_key) == 0 &&
			    static_key_pinned(&off_key) == STATIC_KEY_PIN_ON);
	CHECK(what, static_key_enabled(&on_key) == 1 &&
			    static_key_count(&on_key) == 2 &&
			    static_key_pinned(&on_key) == STATIC_KEY_PIN_NONE);
	CHECK(what, static_key_enabled(&other) == 0 &&
			    static_key_count(&other) == 0 &&
			    static_key_pinned(&other) == STATIC_KEY_PIN_NONE);
	CHECK(what, sites_match(&off_key.key) && sites_match(&on_key.key) &&
			    sites_match(&other.key));
	CHECK(what, off_likely() == 1 && on_unlikely() == 1 && other_on() == 0);
}

static void mixed(void)
{
	struct static_keys_stats before, after;
	struct static_key_op ok[] = {
		{&off_key.key, STATIC_KEY_OP_UNPIN, 0},
		{&off_key.key, STATIC_KEY_OP_INC, 0},
		{&on_key.key, STATIC_KEY_OP_PIN, 0},
		{&on_key.key, STATIC_KEY_OP_DEC, 0},
		{&other.key, STATIC_KEY_OP_SET, 1},
	};
	struct static_key_op dec_below[] = {
		{&other.key, STATIC_KEY_OP_SET, 1},
		{&on_key.key, STATIC_KEY_OP_PIN, 0},
		{&off_key.key, STATIC_KEY_OP_UNPIN, 0},
		{&off_key.key, STATIC_KEY_OP_DEC, 0}, /* count 0: refused */
	};
	struct static_key_op order[] = {
		{&other.key, STATIC_KEY_OP_INC, 0},
		{&other.key, STATIC_KEY_OP_DEC, 0},
		{&other.key, STATIC_KEY_OP_DEC, 0}, /* the second dec: below 0 */
	};
	struct static_key_op bad_op[] = {
		{&other.key, STATIC_KEY_OP_SET, 1},
		{&on_key.key, 9, 0},
	};
	struct static_keys_stats st;
	struct static_key_op stranger[] = {
		{&other.key, STATIC_KEY_OP_PIN, 1},
		{(struct static_key *)&st, STATIC_KEY_OP_INC, 0},
	};
	struct static_key_op conflict[] = {
		{&other.key, STATIC_KEY_OP_SET, 1},
		{&other.key, STATIC_KEY_OP_SET, 0},
	};
	struct static_key_op overflow[] = {
		{&on_key.key, STATIC_KEY_OP_INC, 0},
	};

	/* off_key pinned on at count 0, on_key counted 2, other off. */
	CHECK_OK("set up: pin", static_key_pin(&off_key.key, 1));
	CHECK_OK("set up: inc", static_key_slow_inc(&on_key.key));
	unchanged("set up");

	static_keys_get_stats(&before);
	CHECK("dec below 0 refused", static_keys_apply(dec_below, 4) == STATIC_KEYS_ECOUNT);
	CHECK("dec below 0 explained",
	      strstr(static_keys_last_error(), "change 3") &&
		      strstr(static_keys_last_error(), "already 0"));
	unchanged("dec below 0 changed nothing");
	CHECK("ops apply in order", static_keys_apply(order, 3) == STATIC_KEYS_ECOUNT);
	unchanged("order changed nothing");
	CHECK("unknown op refused", static_keys_apply(bad_op, 2) == STATIC_KEYS_EINVAL);
	CHECK("unknown op explained", strstr(static_keys_last_error(), "STATIC_KEY_OP_") != NULL);
	unchanged("unknown op changed nothing");
	CHECK("stranger refused", static_keys_apply(stranger, 2) == STATIC_KEYS_EINVAL);
	unchanged("stranger changed nothing");
	CHECK("conflict refused", static_keys_apply(conflict, 2) == STATIC_KEYS_EINVAL);
	unchanged("conflict changed nothing");
	CHECK("NULL refused", static_keys_apply(NULL, 1) == STATIC_KEYS_EINVAL);
	unchanged("NULL changed nothing");
	on_key.key.count = INT32_MAX; /* the overflow without 2^31 incs */
	CHECK("overflow refused", static_keys_apply(overflow, 1) == STATIC_KEYS_ECOUNT);
	CHECK("overflow left the count", static_key_count(&on_key) == INT32_MAX);
	on_key.key.count = 2;
	unchanged("overflow changed nothing");
	static_keys_get_stats(&after);
	CHECK("refused requests patched nothing",
	      after.pages_patched == before.pages_patched &&
		      after.requests == before.requests && after.flips == before.flips);
	CHECK("an empty request is fine", static_keys_apply(NULL, 0) == 0);

	/* The mixed request: off_key unpinned with a count of 1 (stays on),
	 * on_key pinned off (flips) and counted down, other set on (flips). */
	CHECK_OK("mixed request", static_keys_apply(ok, 5));
	static_keys_get_stats(&after);
	CHECK("one request", after.requests == before.requests + 1);
	CHECK("two flips", after.flips == before.flips + 2);
	CHECK("off_key: unpinned, counted, on",
	      static_key_enabled(&off_key) == 1 && static_key_count(&off_key) == 1 &&
		      static_key_pinned(&off_key) == STATIC_KEY_PIN_NONE);
	CHECK("on_key: pinned off, counted down",
	      static_key_enabled(&on_key) == 0 && static_key_count(&on_key) == 1 &&
		      static_key_pinned(&on_key) == STATIC_KEY_PIN_OFF);
	CHECK("other: on", static_key_enabled(&other) == 1 && static_key_count(&other) == 1);
	CHECK("bytes", sites_match(&off_key.key) && sites_match(&on_key.key) &&
			       sites_match(&other.key));
	CHECK("functions", off_unlikely() == 1 && on_likely() == 0 && other_on() == 1);
}

int main(void)
{
	const struct subject subjects[] = {
		{"FALSE key", &off_key.key, 0, off_likely, off_unlikely},
		{"TRUE key", &on_key.key, 1, on_likely, on_unlikely},
	};
	size_t i;

	CHECK_OK("init", static_keys_init());
	CHECK("sites", off_key.key.sites == 2 && on_key.key.sites == 2);
	CHECK("not pinned at start", static_key_pinned(&off_key) == STATIC_KEY_PIN_NONE &&
					     static_key_pinned(&on_key) == STATIC_KEY_PIN_NONE);
	for (i = 0; i < sizeof subjects / sizeof subjects[0]; i++)
		matrix(&subjects[i]);
	CHECK("pin of a stranger refused",
	      static_key_pin((struct static_key *)&subjects[0], 1) == STATIC_KEYS_EINVAL);
	mixed();
	CHECK("no wx", check_no_wx_mapping());
	return check_summary();
}
