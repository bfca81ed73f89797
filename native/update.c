/* SPDX-License-Identifier: MIT */
/*
 * update.c - flipping keys. One request carries any number of keys and is
 * all or nothing (docs/design.md, "A request, step by step"):
 *
 *   mark    each key in the request whose state changes (flags, target)
 *   check   every site of every marked key holds the old bytes right now
 *   patch   walk the sites in address order, one os_patch per run of
 *           pages; on failure restore the runs already patched. Where
 *           the strategy writes in place, through the cross-modification
 *           protocol (docs/concurrency.md): on x86 three passes over every
 *           run (breakpoint over byte 0, the other bytes, byte 0) with a
 *           core synchronisation after each; elsewhere one aligned store
 *           per site and one synchronisation
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

/* Which bytes of each site a pass writes (the protocol's steps). */
enum patch_pass {
	PASS_ALL,  /* the whole site (arch_site_store in the protocol) */
	PASS_TRAP, /* the breakpoint over byte 0 */
	PASS_TAIL, /* the bytes after the breakpoint */
	PASS_HEAD, /* the breakpoint's bytes: the site is whole again */
};

struct patch_ctx {
	struct module *m;
	int invert; /* rolling back: write old bytes when asked for new */
	int pass;   /* enum patch_pass */
};

#define KEYS_FOR_EACH(m, k)                                                    \
	for ((k) = (m)->sec.keys_start; (k) && (k) < (m)->sec.keys_stop; (k)++)
#define KEY_PENDING(k) ((k)->flags & KEY_FLAG_PENDING)
#define KEY_TARGET(k) (((k)->flags & KEY_FLAG_TARGET) ? 1 : 0)

static int module_prepare(struct module *m, int strategy);
static int module_prepare_default(struct module *m);

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

/*
 * One site's share of a pass. An undo inside a protocol pass (the OS layer
 * restoring a run it could not finish) leaves the breakpoint and the old
 * tail: safe while the handler is armed, and the core's own restore then
 * runs the whole protocol back to the old bytes.
 */
static void fill_site(const struct jump_entry *e, int state, int pass,
		      int undo, uint8_t *at)
{
	uint8_t b[ARCH_JUMP_SIZE];
	int i;

	jump_entry_bytes(e, state, b);
	if (pass == PASS_ALL) {
		arch_site_store(at, b);
		return;
	}
#if ARCH_NEEDS_BREAKPOINT
	if (pass == PASS_TRAP || undo)
		arch_breakpoint(at);
	if (pass == PASS_TAIL || undo)
		for (i = ARCH_BREAKPOINT_SIZE; i < ARCH_JUMP_SIZE; i++)
			at[i] = b[i];
	if (pass == PASS_HEAD && !undo)
		for (i = 0; i < ARCH_BREAKPOINT_SIZE; i++)
			at[i] = b[i];
#else
	(void)i;
	(void)undo;
#endif
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
				fill_site(e, state, pc->pass,
					  undo && pc->pass != PASS_ALL,
					  view + (c - base));
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
		     int invert, int pass, struct os_patch *p)
{
	struct patch_ctx pc = {m, invert, pass};
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
	if (pass == PASS_ALL || pass == PASS_HEAD) { /* once per request */
		m->stats.pages_patched += p->len / m->caps.page_size;
		m->stats.last_pages += p->len / m->caps.page_size;
		m->stats.runs++;
		m->stats.last_runs++;
	}
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
	if (start < end) {
		err_str(&eb, "Cannot patch pages ");
		err_hex(&eb, start);
		err_str(&eb, "-");
		err_hex(&eb, end);
	} else { /* the protocol's core synchronisation failed */
		err_str(&eb, "Cannot flip keys");
	}
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

/* 1 when the module's strategy runs the protocol (update_caps). */
static int protocol_on(const struct module *m)
{
	return (m->stats.protocol >> m->strategy) & 1u;
}

/*
 * Patches every run; on failure rolls back the runs before it. EWX wins
 * over other codes: a page left writable and executable is reported first.
 */
static int patch_plain(struct module *m)
{
	struct os_patch p, undo;
	uintptr_t start, end, fail_start, fail_end, s2, e2;
	int rc, urc, undo_rc = 0;

	while (next_run(m, &start, &end)) {
		rc = run_patch(m, start, end, 0, PASS_ALL, &p);
		if (!rc) {
			run_done(m, end);
			continue;
		}
		fail_start = start;
		fail_end = end;
		cursors_reset(m);
		while (next_run(m, &s2, &e2) && s2 < fail_start) {
			urc = run_patch(m, s2, e2, 1, PASS_ALL, &undo);
			if (urc && undo_rc != STATIC_KEYS_EWX)
				undo_rc = urc;
			run_done(m, e2);
		}
		patch_error(m, &p, rc, fail_start, fail_end, undo_rc);
		return undo_rc == STATIC_KEYS_EWX ? STATIC_KEYS_EWX : rc;
	}
	return 0;
}

/* ---- the cross-modification protocol (docs/concurrency.md) ------------- */

/* A site of this module at `code`, by binary search in each key's entries. */
static const struct jump_entry *site_find(struct module *m, uintptr_t code,
					  struct static_key **key)
{
	struct static_key *k;

	KEYS_FOR_EACH(m, k)
	{
		uint32_t lo = 0, hi = k->sites;

		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			uintptr_t c = jump_entry_code(&k->entries[mid]);

			if (c == code) {
				*key = k;
				return &k->entries[mid];
			}
			if (c < code)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	return NULL;
}

/*
 * The trap side (os_trap_fn): a thread met the breakpoint of a site the
 * running request rewrites. It goes on as if the instruction the site is
 * becoming had run: to the jump target, or past the site. Outside a
 * request: a site whose breakpoint is gone (the request ended while the
 * thread was on its way here) runs again; one whose breakpoint stayed (a
 * restore the OS refused, until repair) acts as its key's state says.
 * Reads only; signal-safe.
 */
static uintptr_t protocol_trap(void *ctx, uintptr_t pc, int after)
{
#if ARCH_NEEDS_BREAKPOINT
	struct module *m = ctx;
	uintptr_t site = after ? pc - ARCH_BREAKPOINT_SIZE : pc, to = 0;
	const struct jump_entry *e;
	struct static_key *k = NULL;
	uint8_t bp[ARCH_BREAKPOINT_SIZE];
	int dir;

	__atomic_add_fetch(&m->trap_inflight, 1, __ATOMIC_SEQ_CST);
	dir = __atomic_load_n(&m->protocol, __ATOMIC_SEQ_CST);
	e = site_find(m, site, &k);
	arch_breakpoint(bp);
	if (e && dir && key_moves(k) && site_moves(k, e)) {
		int insn = site_state(k, dir == 2) ^ jump_entry_branch(e);

		to = insn ? jump_entry_target(e) : site + ARCH_JUMP_SIZE;
		__atomic_add_fetch(&m->stats.traps, 1, __ATOMIC_RELAXED);
	} else if (e && !bytes_equal((const uint8_t *)site, bp, sizeof bp)) {
		to = site;
	} else if (e) { /* left by a refused restore: not this request's */
		int insn = __atomic_load_n(&k->enabled, __ATOMIC_ACQUIRE) ^
			   jump_entry_branch(e);

		to = insn ? jump_entry_target(e) : site + ARCH_JUMP_SIZE;
	}
	__atomic_sub_fetch(&m->trap_inflight, 1, __ATOMIC_SEQ_CST);
	return to;
#else
	(void)ctx;
	(void)pc;
	(void)after;
	return 0;
#endif
}

/* Ends the protocol: no handler reads the request once this returns. */
static void protocol_disarm(struct module *m)
{
	__atomic_store_n(&m->protocol, 0, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&m->trap_inflight, __ATOMIC_SEQ_CST))
		os_thread_yield();
}

static int protocol_sync(struct module *m, struct os_patch *p)
{
	int rc = os_sync_core();

	m->stats.core_syncs++;
	if (rc) {
		p->failed = "the core synchronisation (membarrier)";
		p->raw_error = rc;
		p->syscalls = 0;
	}
	return rc;
}

/*
 * One pass over every run. Forward, stops at the first failure (its run
 * in *fs..*fe); back (invert), goes on and returns the worst code.
 */
static int protocol_pass(struct module *m, int pass, int invert,
			 struct os_patch *p, uintptr_t *fs, uintptr_t *fe)
{
	uintptr_t start, end;
	int rc, worst = 0;

	cursors_reset(m);
	while (next_run(m, &start, &end)) {
		rc = run_patch(m, start, end, invert, pass, p);
		if (rc && !invert) {
			*fs = start;
			*fe = end;
			return rc;
		}
		if (rc && worst != STATIC_KEYS_EWX)
			worst = rc;
		run_done(m, end);
	}
	return worst;
}

/*
 * Every site of the request through the protocol, all runs per pass, one
 * core synchronisation per pass. On failure the same passes run back to
 * the old bytes over every run (a site half way holds the breakpoint, so
 * the restore is safe from any pass).
 */
static int patch_protocol(struct module *m)
{
	struct os_patch p, undo;
	uintptr_t fs = 0, fe = 0;
	int first = ARCH_NEEDS_BREAKPOINT ? PASS_TRAP : PASS_ALL;
	int last = ARCH_NEEDS_BREAKPOINT ? PASS_HEAD : PASS_ALL;
	int pass, rc = 0, urc, undo_rc = 0;

	if (ARCH_NEEDS_BREAKPOINT && os_trap_arm(protocol_trap, m))
		return err_set(STATIC_KEYS_EPATCH,
			       "Cannot flip keys: the OS refused the breakpoint "
			       "handler the flip needs; nothing was written");
	__atomic_store_n(&m->protocol, 1, __ATOMIC_SEQ_CST);
	for (pass = first; pass <= last && !rc; pass++) {
		rc = protocol_pass(m, pass, 0, &p, &fs, &fe);
		if (!rc)
			rc = protocol_sync(m, &p);
	}
	if (rc) {
		__atomic_store_n(&m->protocol, 2, __ATOMIC_SEQ_CST);
		for (pass = first; pass <= last; pass++) {
			urc = protocol_pass(m, pass, 1, &undo, &fs, &fe);
			if (urc && undo_rc != STATIC_KEYS_EWX)
				undo_rc = urc;
			protocol_sync(m, &undo);
		}
	}
	protocol_disarm(m);
	if (rc)
		patch_error(m, &p, rc, fs, fe, undo_rc);
	return rc ? (undo_rc == STATIC_KEYS_EWX ? STATIC_KEYS_EWX : rc) : 0;
}

void update_caps(struct module *m)
{
	const struct os_caps *c = &m->caps;
	uint32_t proto = 0, safe = c->swap_strategies;

	if (c->sync_core && (!ARCH_NEEDS_BREAKPOINT || c->traps))
		proto = c->inplace_strategies & c->strategies;
	/*
	 * x86: behind the breakpoint any in-place write is safe. 4-byte ISAs:
	 * only where the core's own aligned store is what executors see (a
	 * kernel's copy, as procmem's, is not promised to be one store).
	 */
	safe |= ARCH_NEEDS_BREAKPOINT ? proto : proto & c->store_strategies;
	m->stats.protocol = proto;
	m->stats.concurrent = safe & c->strategies;
	m->default_strategy = c->default_strategy;
	if (c->fast_strategy && ((safe >> c->fast_strategy) & 1u))
		m->default_strategy = c->fast_strategy;
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
		err_str(&eb, diag->failed ? diag->failed : "the OS layer");
		err_str(&eb, " failed with error ");
		err_i64(&eb, diag->raw_error);
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
