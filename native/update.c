/* SPDX-License-Identifier: MIT */
/*
 * update.c - flipping keys. One request carries any number of keys and is
 * all or nothing (docs/design.md, "A request, step by step"):
 *
 *   mark    each key in the request whose state changes (flags, target)
 *   check   every site of every marked key holds the old bytes right now
 *   patch   walk the sites in address order, one os_patch per run of
 *           pages; on failure restore the runs already patched (runs.c).
 *           Where the strategy writes in place, through the cross-
 *           modification protocol (protocol.c, docs/concurrency.md): on
 *           x86 three passes over every run (breakpoint over byte 0, the
 *           other bytes, byte 0) with a core synchronisation after each;
 *           elsewhere one aligned store per site and one synchronisation
 *   publish the new key states and counts, then the stats
 *
 * This file holds mark, check and publish, the entry points (update, set,
 * enable/disable, inc/dec) with the module lock that refuses re-entry, and
 * the strategy's preparation; update.h holds what the three files share.
 *
 * Marked keys carry KEY_FLAG_PENDING, their wanted state in KEY_FLAG_TARGET
 * and, while patching, `cursor`: the index of their first site not yet
 * patched. Keeping that state in the keys is what lets a request of any
 * size run without allocating.
 */
#include "update.h"

/* Where the changes of one request come from (an array, or Deno's tables). */
struct request {
	size_t count;
	const void *src;
	int (*at)(const void *src, size_t i, struct static_key **key,
		  int *enabled);
};

static int module_prepare(struct module *m, int strategy);
static int module_prepare_default(struct module *m);

/* ---- mark --------------------------------------------------------------- */

void update_unmark(struct module *m)
{
	struct static_key *k;

	KEYS_FOR_EACH(m, k)
	{
		k->flags = 0;
		k->cursor = 0;
	}
}

static int request_mark(const struct request *req)
{
	struct errbuf eb;
	size_t i;

	for (i = 0; i < req->count; i++) {
		struct static_key *k = NULL;
		int enabled = 0;
		int rc = req->at(req->src, i, &k, &enabled);

		if (rc)
			return rc;
		if (!module_key_valid(k)) {
			err_begin(&eb);
			err_str(&eb, "Cannot update keys: change ");
			err_u64(&eb, i);
			err_str(&eb, " names ");
			err_hex(&eb, (uintptr_t)k);
			err_str(&eb, ", which is not a key of this module");
			return STATIC_KEYS_EINVAL;
		}
		enabled = enabled ? 1 : 0;
		if (k->flags & KEY_FLAG_PENDING) {
			if (KEY_TARGET(k) == enabled)
				continue;
			err_begin(&eb);
			err_str(&eb, "Cannot update keys: key \"");
			err_str(&eb, k->name);
			err_str(&eb, "\" is asked to be both enabled and "
				     "disabled in one request");
			return STATIC_KEYS_EINVAL;
		}
		k->flags = (uint16_t)(KEY_FLAG_PENDING |
				      (enabled ? KEY_FLAG_TARGET : 0));
		k->cursor = 0;
	}
	return 0;
}

/* ---- check -------------------------------------------------------------- */

static int site_check(const struct static_key *k, const struct jump_entry *e)
{
	uint8_t want[ARCH_JUMP_SIZE];
	const uint8_t *site = (const uint8_t *)jump_entry_code(e);
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
	jump_entry_bytes(e, k->enabled, want);
	if (bytes_equal(site, want, ARCH_JUMP_SIZE))
		return 0;
	/* The kernel's "unexpected op" check, minus the crash. */
	err_begin(&eb);
	err_str(&eb, "Cannot flip key \"");
	err_str(&eb, k->name);
	err_str(&eb, "\": the site at ");
	err_hex(&eb, jump_entry_code(e));
	err_str(&eb, " holds ");
	err_bytes(&eb, site, ARCH_JUMP_SIZE);
	err_str(&eb, ", expected ");
	err_bytes(&eb, want, ARCH_JUMP_SIZE);
	err_str(&eb, (k->enabled ^ jump_entry_branch(e)) ? " (jmp, " : " (nop, ");
	err_u64(&eb, ARCH_JUMP_SIZE);
	err_str(&eb, " bytes); nothing was written. Something else rewrote "
		     "this code");
#if ARCH_NEEDS_BREAKPOINT
	{
		uint8_t bp[ARCH_BREAKPOINT_SIZE];

		arch_breakpoint(bp);
		if (bytes_equal(site, bp, sizeof bp) &&
		    bytes_equal(site + sizeof bp, want + sizeof bp,
				ARCH_JUMP_SIZE - sizeof bp))
			err_str(&eb, ": a breakpoint over its first bytes (a "
				     "debugger's or a uprobe's); flip again once "
				     "it is removed");
	}
#endif
	return STATIC_KEYS_EBADSITE;
}

static int request_check(struct module *m)
{
	struct static_key *k;
	uint32_t i;

	KEYS_FOR_EACH(m, k)
	{
		if (!KEY_PENDING(k) || KEY_TARGET(k) == k->enabled)
			continue;
		for (i = 0; i < k->sites; i++) {
			int rc = site_check(k, &k->entries[i]);

			if (rc)
				return rc;
		}
	}
	return 0;
}

/* ---- patch -------------------------------------------------------------- */

/* 1 when the module's strategy runs the protocol (update_caps). */
static int protocol_on(const struct module *m)
{
	return (m->stats.protocol >> m->strategy) & 1u;
}

/* The request's runs, through the protocol where the strategy needs it. */
int update_patch(struct module *m)
{
	int rc;

	/* The strategy's set-up (and the rollback's) before the first patch. */
	if (!m->prepared) {
		rc = m->strategy == m->default_strategy ? module_prepare_default(m)
						     : module_prepare(m, m->strategy);
		if (rc)
			return rc;
	}
	m->stats.last_pages = 0;
	m->stats.last_syscalls = 0;
	m->stats.last_runs = 0;
	return protocol_on(m) ? patch_protocol(m) : patch_plain(m);
}

/* ---- publish ------------------------------------------------------------ */

static void request_publish(struct module *m)
{
	struct static_key *k;
	int patched = 0;

	KEYS_FOR_EACH(m, k)
	{
		if (!key_moves(k))
			continue;
		if (k->sites)
			patched = 1;
		__atomic_store_n(&k->count, KEY_TARGET(k), __ATOMIC_RELAXED);
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

	rc = request_mark(req);
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
	struct module *m = &static_keys_mod;
	int rc = module_lock("Cannot update keys");

	if (rc)
		return rc;
	err_clear();
	rc = update_locked(m, req);
	module_unlock();
	return rc;
}

/* ---- public entry points ------------------------------------------------ */

static int array_at(const void *src, size_t i, struct static_key **key,
		    int *enabled)
{
	const struct static_key_change *c = src;

	*key = c[i].key;
	*enabled = c[i].enabled;
	return 0;
}

int static_keys_update(const struct static_key_change *changes, size_t count)
{
	struct request req = {count, changes, array_at};

	if (count && !changes)
		return err_set(STATIC_KEYS_EINVAL,
			       "Cannot update keys: changes is NULL");
	return update(&req);
}

int static_keys_update_request(size_t count, const void *src,
			       int (*at)(const void *, size_t,
					 struct static_key **, int *))
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
 * The count moves by `step` (+1 or -1); a move to or from 0 flips the key,
 * and the flip publishes the new count. The whole call holds the module,
 * so a signal handler cannot slip an inc between the check and the store.
 */
static int count_step(struct static_key *key, int step)
{
	struct static_key_change c = {key, step > 0};
	struct request req = {1, &c, array_at};
	int rc = module_lock(step > 0 ? "Cannot inc key" : "Cannot dec key");

	if (rc)
		return rc;
	err_clear();
	rc = count_check(key, step > 0);
	if (!rc && key->count == (step > 0 ? 0 : 1))
		rc = update_locked(&static_keys_mod, &req);
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

/* Pages holding a byte of any site of the module: [lo, hi), or lo == hi. */
static void module_span(const struct module *m, uintptr_t *lo, uintptr_t *hi)
{
	const struct jump_entry *e = m->sec.entries_start;
	size_t i;

	*lo = UINTPTR_MAX;
	*hi = 0;
	for (i = 0; i < m->nr_entries; i++) {
		uintptr_t c = jump_entry_code(&e[i]);

		if (c < *lo)
			*lo = c;
		if (c + ARCH_JUMP_SIZE > *hi)
			*hi = c + ARCH_JUMP_SIZE;
	}
	if (!m->nr_entries) {
		*lo = *hi = 0;
		return;
	}
	*lo = page_down(m, *lo);
	*hi = site_end_page(m, *hi - 1);
}

static int strategy_refused(const struct module *m, int strategy, int rc,
			    const struct os_patch *diag)
{
	struct errbuf eb;

	err_begin(&eb);
	err_str(&eb, "Cannot use strategy \"");
	err_str(&eb, static_keys_strategy_name(strategy));
	err_str(&eb, "\": ");
	if (rc == STATIC_KEYS_ENOTSUP && diag && diag->failed) {
		err_str(&eb, diag->failed);
		err_str(&eb, " (error ");
		err_i64(&eb, diag->raw_error);
		err_str(&eb, "); the strategy in use did not change");
	} else if (rc == STATIC_KEYS_ENOTSUP) {
		err_str(&eb, "the ");
		err_str(&eb, m->caps.name);
		err_str(&eb, " layer does not offer it");
	} else {
		err_refusal(&eb, diag);
		err_str(&eb, "; the strategy in use did not change");
	}
	return rc;
}

/*
 * The default: caps.fast_strategy where update_caps chose it, unless the
 * OS refuses it here (a policy, an emulator): then the safe one for good.
 */
static int module_prepare_default(struct module *m)
{
	int rc = module_prepare(m, m->default_strategy);

	if (rc == STATIC_KEYS_ENOTSUP &&
	    m->default_strategy != m->caps.default_strategy) {
		m->default_strategy = m->caps.default_strategy;
		err_clear();
		rc = module_prepare(m, m->default_strategy);
	}
	return rc;
}

/* Makes `strategy` ready (os_prepare) and the module's; 0 or a code. */
static int module_prepare(struct module *m, int strategy)
{
	struct os_patch diag; /* no `= {0}`: clang -O0 makes it a memset call */
	uintptr_t lo, hi;
	int rc;

	diag.syscalls = 0; /* the out fields os_prepare reports through */
	diag.failed = NULL;
	diag.raw_error = 0;
	diag.transient = NULL;
	module_span(m, &lo, &hi);
	rc = os_prepare(strategy, lo, hi, &diag);
	m->stats.syscalls += diag.syscalls;
	if (rc)
		return strategy_refused(m, strategy, rc, &diag);
	m->strategy = strategy;
	m->stats.strategy = (uint32_t)strategy;
	m->prepared = 1;
	return 0;
}

int static_keys_set_strategy(int strategy)
{
	struct module *m = &static_keys_mod;
	int rc = module_lock("Cannot change strategy");

	if (rc)
		return rc;
	if (strategy == STATIC_KEYS_STRATEGY_DEFAULT) {
		err_clear();
		rc = module_prepare_default(m);
	} else if (strategy < 0 || strategy >= STATIC_KEYS_STRATEGY_COUNT ||
	    !(m->caps.strategies & (1u << strategy))) {
		rc = strategy_refused(m, strategy, STATIC_KEYS_ENOTSUP, NULL);
	} else {
		err_clear();
		rc = module_prepare(m, strategy);
	}
	module_unlock();
	return rc;
}
