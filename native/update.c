/* SPDX-License-Identifier: MIT */
/*
 * update.c - flipping keys. One request carries any number of keys and is
 * all or nothing (docs/design.md, "A request, step by step"):
 *
 *   mark    each key the request names: the count and pin its ops leave
 *           (next_count, flags) and the state that follows (target)
 *   check   every site of every marked key holds the old bytes right now
 *   patch   walk the sites in address order, one os_patch per run of
 *           pages; on failure restore the runs already patched (runs.c).
 *           Where the strategy writes in place, through the cross-
 *           modification protocol (protocol.c, docs/concurrency.md): on
 *           x86 passes over every run (breakpoint over byte 0, the other
 *           bytes unless none changes, byte 0) with a core
 *           synchronisation after each but the last; elsewhere one
 *           aligned store per site and one synchronisation
 *   publish the new key states and counts, then the stats
 *
 * This file holds mark, check and publish, and the entry points that
 * change state (update, apply, set, enable/disable, inc/dec, pin/unpin,
 * set_strategy), each under the module lock that refuses re-entry
 * (module.c); the strategy's set-up is strategy.c's, each site's bytes
 * site.c's. update.h holds what the three files of a request share.
 *
 * Marked keys carry KEY_FLAG_PENDING, their wanted state in KEY_FLAG_TARGET,
 * the pin the request leaves in the KEY_FLAG_PIN bits, the count it leaves
 * in `next_count` and, while patching, `cursor`: the index of their first
 * site not yet patched. Keeping that state in the keys is what lets a
 * request of any size run without allocating.
 */
#include "strategy.h"
#include "update.h"

/* Where the ops of one request come from (an array, or Deno's tables). */
struct request {
	size_t count;
	const void *src;
	int (*at)(const void *src, size_t i, struct static_key_op *op);
};

/* ---- mark --------------------------------------------------------------- */

void update_unmark(struct module *m)
{
	struct static_key *k;

	KEYS_FOR_EACH(m, k)
	{
		k->flags = 0;
		k->cursor = 0;
		k->next_count = 0;
	}
}

static int op_refused(int code, size_t i, const struct static_key *k,
		      const char *why)
{
	struct errbuf eb;

	err_begin(&eb);
	err_str(&eb, "Cannot update keys: change ");
	err_u64(&eb, i);
	if (k) {
		err_str(&eb, " (key \"");
		err_str(&eb, k->name);
		err_str(&eb, "\")");
	}
	err_str(&eb, why);
	return code;
}

_Static_assert(sizeof(struct static_key) % 8 == 0,
	       "keys are 8-aligned in their section and walked by size");

/* Op i moves key k's next count, pin or set flags; 0 or a code. */
static int op_mark(struct static_key *k, const struct static_key_op *op,
		   size_t i)
{
	unsigned pin = KEY_NEXT_PIN(k);
	int on = op->arg ? 1 : 0;

	switch (op->op) {
	case STATIC_KEY_OP_SET:
		if ((k->flags & KEY_FLAG_SET) &&
		    !(k->flags & KEY_FLAG_SET_ON) != !on) {
			struct errbuf eb;

			err_begin(&eb);
			err_str(&eb, "Cannot update keys: key \"");
			err_str(&eb, k->name);
			err_str(&eb, "\" is asked to be both enabled and "
				     "disabled in one request");
			return STATIC_KEYS_EINVAL;
		}
		k->flags |= KEY_FLAG_SET | (on ? KEY_FLAG_SET_ON : 0);
		k->next_count = on ? (k->next_count > 0 ? k->next_count : 1) : 0;
		return 0;
	case STATIC_KEY_OP_INC:
		if (k->next_count == INT32_MAX)
			return op_refused(STATIC_KEYS_ECOUNT, i, k,
					  ": cannot inc, its count is at "
					  "INT32_MAX");
		k->next_count++;
		return 0;
	case STATIC_KEY_OP_DEC:
		if (k->next_count <= 0)
			return op_refused(STATIC_KEYS_ECOUNT, i, k,
					  ": cannot dec, its count is already "
					  "0; every dec must match an earlier "
					  "inc or enable");
		k->next_count--;
		return 0;
	case STATIC_KEY_OP_PIN:
	case STATIC_KEY_OP_UNPIN:
		pin = op->op == STATIC_KEY_OP_UNPIN ? STATIC_KEY_PIN_NONE
			: on ? STATIC_KEY_PIN_ON : STATIC_KEY_PIN_OFF;
		k->flags = (uint8_t)((k->flags & ~KEY_FLAG_PIN_MASK) |
				     (pin << KEY_FLAG_PIN_SHIFT));
		return 0;
	default:
		return op_refused(STATIC_KEYS_EINVAL, i, k,
				  ": the op is not a STATIC_KEY_OP_*");
	}
}

/*
 * Runs the ops on each key's next count and pin (the key's own fields stay
 * as they are), then marks the keys named with the state they end in: the
 * pin's, else count > 0.
 */
static int request_mark(struct module *m, const struct request *req)
{
	struct static_key *k;
	size_t i;

	for (i = 0; i < req->count; i++) {
		struct static_key_op op = {NULL, 0, 0};
		int rc = req->at(req->src, i, &op);

		if (rc)
			return rc;
		k = op.key;
		if (!module_key_valid(k)) {
			struct errbuf eb;

			err_begin(&eb);
			err_str(&eb, "Cannot update keys: change ");
			err_u64(&eb, i);
			err_str(&eb, " names ");
			err_hex(&eb, (uintptr_t)k);
			err_str(&eb, ", which is not a key of this module");
			return STATIC_KEYS_EINVAL;
		}
		if (!KEY_PENDING(k)) {
			k->flags = (uint8_t)(KEY_FLAG_PENDING |
					     (k->pin << KEY_FLAG_PIN_SHIFT));
			k->next_count = k->count;
			k->cursor = 0;
		}
		rc = op_mark(k, &op, i);
		if (rc)
			return rc;
	}
	KEYS_FOR_EACH(m, k)
	{
		unsigned pin = KEY_NEXT_PIN(k);
		int target = pin ? pin == STATIC_KEY_PIN_ON : k->next_count > 0;

		if (KEY_PENDING(k) && target)
			k->flags |= KEY_FLAG_TARGET;
	}
	return 0;
}

/* ---- check -------------------------------------------------------------- */

static __attribute__((noinline)) int
site_check(const struct static_key *k, const struct jump_entry *e)
{
	enum site_state state;
	struct errbuf eb;

	if (!arch_jump_in_reach(jump_entry_code(e), jump_entry_target(e))) {
		err_begin(&eb);
		err_str(&eb, "Cannot flip key \"");
		err_str(&eb, k->name);
		err_str(&eb, "\": the site at ");
		err_hex(&eb, jump_entry_code(e));
		err_str(&eb, " cannot reach its target ");
		err_hex(&eb, jump_entry_target(e));
		err_str(&eb, "; nothing was written");
		return STATIC_KEYS_ERANGE;
	}
	state = site_read(e, k->enabled);
	if (state == SITE_AGREES)
		return 0;
	/* The kernel's "unexpected op" check, minus the crash. */
	err_begin(&eb);
	err_str(&eb, "Cannot flip key \"");
	err_str(&eb, k->name);
	err_str(&eb, "\": ");
	site_mismatch(&eb, e, k->enabled);
	err_str(&eb, "; nothing was written. Something else rewrote this code");
	if (state == SITE_TRAPPED)
		err_str(&eb, ": a breakpoint over its first bytes (a debugger's "
			     "or a uprobe's); flip again once it is removed");
	return STATIC_KEYS_EBADSITE;
}

static int request_check(struct module *m)
{
	struct static_key *k;
	uint32_t i;

	KEYS_FOR_EACH(m, k)
	{
		int enabled = k->enabled;

		if (!KEY_PENDING(k) || KEY_TARGET(k) == enabled)
			continue;
		for (i = 0; i < k->sites; i++) {
			const struct jump_entry *e = &k->entries[i];
			int rc;

			/* the common case inline; site_check says what is wrong */
			if (arch_jump_in_reach(jump_entry_code(e),
					       jump_entry_target(e)) &&
			    site_holds_state(e, enabled))
				continue;
			rc = site_check(k, e);
			if (rc)
				return rc;
		}
		k->reserved = KEY_SITES_CHECKED; /* repair may rewrite them */
	}
	return 0;
}

/* ---- patch -------------------------------------------------------------- */

/* The request's runs, through the protocol where the strategy needs it. */
int update_patch(struct module *m)
{
	int rc;

	/* The strategy's set-up (and the rollback's) before the first patch. */
	rc = strategy_ready(m);
	if (rc)
		return rc;
	m->stats.last_pages = 0;
	m->stats.last_syscalls = 0;
	m->stats.last_runs = 0;
	return strategy_protocol(m) ? patch_protocol(m) : patch_plain(m);
}

/* ---- publish ------------------------------------------------------------ */

static void request_publish(struct module *m)
{
	struct static_key *k;
	int patched = 0;

	KEYS_FOR_EACH(m, k)
	{
		if (!KEY_PENDING(k))
			continue;
		__atomic_store_n(&k->count, k->next_count, __ATOMIC_RELAXED);
		__atomic_store_n(&k->pin, (uint8_t)KEY_NEXT_PIN(k),
				 __ATOMIC_RELAXED);
		if (!key_moves(k))
			continue;
		if (k->sites)
			patched = 1;
		__atomic_store_n(&k->enabled, (uint8_t)KEY_TARGET(k),
				 __ATOMIC_RELEASE);
		m->stats.flips++;
	}
	if (patched)
		m->stats.requests++;
}

/* Caller holds the module (module_lock). */
static int update_locked(struct module *m, const struct request *req)
{
	int rc;

	rc = request_mark(m, req);
	if (rc)
		goto out_unmark;
	rc = request_check(m);
	if (rc)
		goto out_unmark;
	rc = update_patch(m);
	if (rc)
		goto out_unmark;
	request_publish(m);
out_unmark:
	update_unmark(m);
	return rc;
}

static int update(const struct request *req)
{
	struct module *m = &this_module;
	int rc = module_lock("Cannot update keys");

	if (rc)
		return rc;
	err_clear();
	rc = update_locked(m, req);
	module_unlock();
	return rc;
}

/* ---- public entry points ------------------------------------------------ */

static int changes_at(const void *src, size_t i, struct static_key_op *op)
{
	const struct static_key_change *c = src;

	op->key = c[i].key;
	op->op = STATIC_KEY_OP_SET;
	op->arg = c[i].enabled;
	return 0;
}

static int ops_at(const void *src, size_t i, struct static_key_op *op)
{
	*op = ((const struct static_key_op *)src)[i];
	return 0;
}

int static_keys_update(const struct static_key_change *changes, size_t count)
{
	struct request req = {count, changes, changes_at};

	if (count && !changes)
		return err_set(STATIC_KEYS_EINVAL,
			       "Cannot update keys: changes is NULL");
	return update(&req);
}

int static_keys_apply(const struct static_key_op *ops, size_t count)
{
	struct request req = {count, ops, ops_at};

	if (count && !ops)
		return err_set(STATIC_KEYS_EINVAL,
			       "Cannot update keys: ops is NULL");
	return update(&req);
}

int update_apply(size_t count, const void *src,
		 int (*at)(const void *, size_t, struct static_key_op *))
{
	struct request req = {count, src, at};

	return update(&req);
}

int static_key_set(struct static_key *key, int enabled)
{
	struct static_key_change c = {key, enabled};

	return static_keys_update(&c, 1);
}

int static_key_enable(struct static_key *key)
{
	return static_key_set(key, 1);
}

int static_key_disable(struct static_key *key)
{
	return static_key_set(key, 0);
}

int static_key_pin(struct static_key *key, int enabled)
{
	struct static_key_op op = {key, STATIC_KEY_OP_PIN, enabled ? 1 : 0};

	return static_keys_apply(&op, 1);
}

int static_key_unpin(struct static_key *key)
{
	struct static_key_op op = {key, STATIC_KEY_OP_UNPIN, 0};

	return static_keys_apply(&op, 1);
}

/* Caller holds the module. */
static int count_check(struct static_key *key, int inc)
{
	if (!module_key_valid(key))
		return err_set(STATIC_KEYS_EINVAL,
			       "Cannot count key: the pointer is not a key of "
			       "this module");
	if (inc && key->count == INT32_MAX)
		return err_set(STATIC_KEYS_ECOUNT,
			       "Cannot inc key: its count is at INT32_MAX");
	if (!inc && key->count <= 0) {
		struct errbuf eb;

		err_begin(&eb);
		err_str(&eb, "Cannot dec key \"");
		err_str(&eb, key->name);
		err_str(&eb, "\": its count is already 0; every dec must "
			     "match an earlier inc or enable");
		return STATIC_KEYS_ECOUNT;
	}
	return 0;
}

/*
 * The count moves by `step` (+1 or -1); a move to or from 0 of an unpinned
 * key flips it, as a request that publishes the new count. The whole call
 * holds the module, so a signal handler cannot slip an inc between the
 * check and the store.
 */
static int count_step(struct static_key *key, int step)
{
	struct static_key_op op = {key, step > 0 ? STATIC_KEY_OP_INC
						 : STATIC_KEY_OP_DEC, 0};
	struct request req = {1, &op, ops_at};
	int rc = module_lock(step > 0 ? "Cannot inc key" : "Cannot dec key");

	if (rc)
		return rc;
	err_clear();
	rc = count_check(key, step > 0);
	if (!rc && !key->pin && key->count == (step > 0 ? 0 : 1))
		rc = update_locked(&this_module, &req);
	else if (!rc)
		__atomic_store_n(&key->count, key->count + step,
				 __ATOMIC_RELAXED);
	module_unlock();
	return rc;
}

int static_key_slow_inc(struct static_key *key)
{
	return count_step(key, 1);
}

int static_key_slow_dec(struct static_key *key)
{
	return count_step(key, -1);
}

int static_keys_set_strategy(int strategy)
{
	struct module *m = &this_module;
	int rc = module_lock("Cannot change strategy");

	if (rc)
		return rc;
	rc = strategy_select(m, strategy);
	module_unlock();
	return rc;
}
