/* SPDX-License-Identifier: MIT */
/*
 * update.c - flipping keys. One request carries any number of keys and is
 * all or nothing (docs/design.md, "A request, step by step"):
 *
 *   mark    each key in the request whose state changes (flags, target)
 *   check   every site of every marked key holds the old bytes right now
 *   patch   walk the sites in address order, one os_patch per run of
 *           pages; on failure restore the runs already patched
 *   publish the new key states and counts, then the stats
 *
 * Marked keys carry KEY_FLAG_PENDING, their wanted state in KEY_FLAG_TARGET
 * and, while patching, `cursor`: the index of their first site not yet
 * patched. Keeping that state in the keys is what lets a request of any
 * size run without allocating.
 */
#include "core.h"

#include "arch/arch.h"

/* Where the changes of one request come from (an array, or Deno's tables). */
struct request {
	size_t count;
	const void *src;
	int (*at)(const void *src, size_t i, struct static_key **key,
		  int *enabled);
};

struct patch_ctx {
	struct module *m;
	int invert; /* rolling back: write old bytes when asked for new */
};

#define KEYS_FOR_EACH(m, k)                                                    \
	for ((k) = (m)->sec.keys_start; (k) && (k) < (m)->sec.keys_stop; (k)++)
#define KEY_PENDING(k) ((k)->flags & KEY_FLAG_PENDING)
#define KEY_TARGET(k) (((k)->flags & KEY_FLAG_TARGET) ? 1 : 0)

static int module_prepare(struct module *m, int strategy);

/* ---- bytes of a site ---------------------------------------------------- */

static int bytes_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	while (n--)
		if (*a++ != *b++)
			return 0;
	return 1;
}

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

/* A key whose sites this request rewrites (repair: its marked ones). */
static int key_moves(const struct static_key *k)
{
	return KEY_PENDING(k) &&
	       ((k->flags & KEY_FLAG_REPAIR) || KEY_TARGET(k) != k->enabled);
}

static int site_moves(const struct static_key *k, const struct jump_entry *e)
{
	return !(k->flags & KEY_FLAG_REPAIR) || jump_entry_marked(e);
}

/* The state whose bytes a site of a moving key gets: new, or old on undo. */
static int site_state(const struct static_key *k, int old)
{
	if (!old)
		return KEY_TARGET(k);
	return (k->flags & KEY_FLAG_REPAIR) ? !k->enabled : k->enabled;
}

static uintptr_t page_down(const struct module *m, uintptr_t a)
{
	return a & ~(uintptr_t)(m->caps.page_size - 1);
}

static uintptr_t site_end_page(const struct module *m, uintptr_t code)
{
	return page_down(m, code + ARCH_JUMP_SIZE - 1) + m->caps.page_size;
}

/*
 * The next run: pages from that of the lowest site not yet patched, grown
 * while a pending site starts inside the run or on the page right after
 * it (a site may straddle two pages). Contiguous pages with sites are one
 * run, so one os_patch, however many pages and keys they carry. Returns 0
 * when every site is done.
 */
static int next_run(struct module *m, uintptr_t *start, uintptr_t *end)
{
	uintptr_t lo = UINTPTR_MAX, hi;
	struct static_key *k, *last;

	KEYS_FOR_EACH(m, k)
	{
		uint32_t i;

		if (!key_moves(k))
			continue;
		for (i = k->cursor; i < k->sites; i++) {
			uintptr_t c = jump_entry_code(&k->entries[i]);

			if (!site_moves(k, &k->entries[i]))
				continue;
			if (c < lo)
				lo = c;
			break;
		}
	}
	if (lo == UINTPTR_MAX)
		return 0;
	hi = site_end_page(m, lo);
	/*
	 * Visit the keys round and round; a key's scan follows hi as it grows.
	 * Done when the walk comes back to the last key that grew hi (every
	 * other key has been scanned since, against the final hi), or after a
	 * whole round without growth. One moving key takes one round.
	 */
	last = NULL;
	k = m->sec.keys_start;
	for (;;) {
		uint32_t i;

		for (i = key_moves(k) ? k->cursor : k->sites; i < k->sites; i++) {
			uintptr_t c = jump_entry_code(&k->entries[i]);

			if (page_down(m, c) > hi)
				break; /* a gap: the run ends at hi */
			if (!site_moves(k, &k->entries[i]))
				continue;
			if (site_end_page(m, c) > hi) {
				hi = site_end_page(m, c);
				last = k;
			}
		}
		if (++k == m->sec.keys_stop) {
			k = m->sec.keys_start;
			if (!last)
				break;
		}
		if (k == last)
			break;
	}
	*start = page_down(m, lo);
	*end = hi;
	return 1;
}

static void fill_run(void *ctx, uint8_t *view, uintptr_t base, size_t len,
		     int undo)
{
	struct patch_ctx *pc = ctx;
	struct static_key *k;

	KEYS_FOR_EACH(pc->m, k)
	{
		int state = site_state(k, undo ^ pc->invert);
		uint32_t i;

		if (!key_moves(k))
			continue;
		for (i = k->cursor; i < k->sites; i++) {
			const struct jump_entry *e = &k->entries[i];
			uintptr_t c = jump_entry_code(e);

			if (c >= base + len)
				break;
			if (site_moves(k, e))
				jump_entry_bytes(e, state, view + (c - base));
		}
	}
}

static void run_done(struct module *m, uintptr_t end)
{
	struct static_key *k;

	KEYS_FOR_EACH(m, k)
	{
		if (!key_moves(k))
			continue;
		while (k->cursor < k->sites &&
		       jump_entry_code(&k->entries[k->cursor]) < end)
			k->cursor++;
	}
}

static void cursors_reset(struct module *m)
{
	struct static_key *k;

	KEYS_FOR_EACH(m, k)
	k->cursor = 0;
}

static int run_patch(struct module *m, uintptr_t start, uintptr_t end,
		     int invert, struct os_patch *p)
{
	struct patch_ctx pc = {m, invert};
	int rc;

	p->strategy = m->strategy;
	p->start = start;
	p->len = end - start;
	p->fill = fill_run;
	p->ctx = &pc;
	p->rollback = invert;
	p->fault = invert && m->fault_rollback == 1;
	p->syscalls = 0;
	p->failed = NULL;
	p->raw_error = 0;
	if ((m->fault_at > 0 && --m->fault_at == 0) ||
	    (invert && m->fault_rollback == 2)) {
		p->failed = "injected fault";
		return STATIC_KEYS_EPATCH;
	}
	if (m->patch_hook)
		m->patch_hook();
	rc = os_patch(p);
	m->stats.syscalls += p->syscalls;
	m->stats.last_syscalls += p->syscalls;
	if (rc)
		return rc;
	arch_sync_icache((void *)start, (void *)end);
	m->stats.pages_patched += p->len / m->caps.page_size;
	m->stats.last_pages += p->len / m->caps.page_size;
	m->stats.runs++;
	m->stats.last_runs++;
	return 0;
}

/*
 * rc: what the failed run returned; undo_rc: 0 when every run before it was
 * restored, else the worst code a restoring run returned (EWX over EPATCH).
 */
static void patch_error(struct module *m, const struct os_patch *p, int rc,
			uintptr_t start, uintptr_t end, int undo_rc)
{
	struct errbuf eb;

	err_begin(&eb);
	err_str(&eb, "Cannot patch pages ");
	err_hex(&eb, start);
	err_str(&eb, "-");
	err_hex(&eb, end);
	err_str(&eb, " with strategy \"");
	err_str(&eb, static_keys_strategy_name(m->strategy));
	err_str(&eb, "\": ");
	err_str(&eb, p->failed ? p->failed : "the OS layer");
	err_str(&eb, " failed with error ");
	err_i64(&eb, p->raw_error);
	if (rc == STATIC_KEYS_EWX)
		err_str(&eb, ", and the OS refused to make the pages read+execute "
			     "again: they hold their old bytes but are left "
			     "writable and executable");
	if (undo_rc)
		err_str(&eb, undo_rc == STATIC_KEYS_EWX
				     ? "; restoring the pages patched before failed "
				       "too and left a page writable and executable"
				     : "; restoring the pages patched before failed "
				       "too");
	if (undo_rc)
		err_str(&eb, ", so sites may disagree with their keys: call "
			     "static_keys_repair()");
	else if (rc != STATIC_KEYS_EWX)
		err_str(&eb, "; every page was restored and no key changed");
	else
		err_str(&eb, "; every other page was restored and no key changed");
}

/*
 * Patches every run; on failure rolls back the runs before it. EWX wins
 * over other codes: a page left writable and executable is reported first.
 */
int update_patch(struct module *m)
{
	struct os_patch p, undo;
	uintptr_t start, end, fail_start, fail_end, s2, e2;
	int rc, urc, undo_rc = 0;

	/* The strategy's set-up (and the rollback's) before the first patch. */
	if (!m->prepared) {
		rc = module_prepare(m, m->strategy);
		if (rc)
			return rc;
	}
	m->stats.last_pages = 0;
	m->stats.last_syscalls = 0;
	m->stats.last_runs = 0;
	while (next_run(m, &start, &end)) {
		rc = run_patch(m, start, end, 0, &p);
		if (!rc) {
			run_done(m, end);
			continue;
		}
		fail_start = start;
		fail_end = end;
		cursors_reset(m);
		while (next_run(m, &s2, &e2) && s2 < fail_start) {
			urc = run_patch(m, s2, e2, 1, &undo);
			if (urc && undo_rc != STATIC_KEYS_EWX)
				undo_rc = urc;
			run_done(m, e2);
		}
		patch_error(m, &p, rc, fail_start, fail_end, undo_rc);
		return undo_rc == STATIC_KEYS_EWX ? STATIC_KEYS_EWX : rc;
	}
	return 0;
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
		err_str(&eb, diag->failed ? diag->failed : "the OS layer");
		err_str(&eb, " failed with error ");
		err_i64(&eb, diag->raw_error);
		err_str(&eb, "; the strategy in use did not change");
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
	if (strategy == STATIC_KEYS_STRATEGY_DEFAULT)
		strategy = m->caps.default_strategy;
	if (strategy < 0 || strategy >= STATIC_KEYS_STRATEGY_COUNT ||
	    !(m->caps.strategies & (1u << strategy))) {
		rc = strategy_refused(m, strategy, STATIC_KEYS_ENOTSUP, NULL);
	} else {
		err_clear();
		rc = module_prepare(m, strategy);
	}
	module_unlock();
	return rc;
}
