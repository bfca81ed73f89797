/* SPDX-License-Identifier: MIT */
/*
 * runs.c - the patch step of a request (update.c): its sites grouped into
 * runs of contiguous pages, walked in address order through each key's
 * cursor; the bytes each run gets (fill_run, one pass of the protocol or
 * the whole site); one os_patch per run; and, for strategies without the
 * protocol, the patch of every run with the rollback of the runs before a
 * failed one. patch_error writes the last-error text of either path.
 */
#include "update.h"

#include "os/test_hooks.h"

struct patch_ctx {
	struct module *m;
	int invert; /* rolling back: write old bytes when asked for new */
	int pass;   /* enum patch_pass */
};

/*
 * The next run: pages from that of the lowest site not yet patched, grown
 * while a pending site starts inside the run or on the page right after
 * it (a site may straddle two pages). Contiguous pages with sites are one
 * run, so one os_patch, however many pages and keys they carry. Returns 0
 * when every site is done.
 */
int next_run(struct module *m, uintptr_t *start, uintptr_t *end)
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
 * runs the whole protocol back to the old bytes. fill_run never asks for an
 * undo while rolling back (see there).
 */
static inline __attribute__((always_inline)) void
fill_site(const struct jump_entry *e, int state, int pass, int undo,
	  uint8_t *at)
{
	uint8_t b[ARCH_JUMP_SIZE];
	int i;

	site_bytes(e, state, b);
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

/*
 * The request's sites of key k inside [base, lim), from its cursor on,
 * through fill_site; rolling back (invert), only those that do not hold
 * their old bytes yet. Inlined into fill_run once per case with `pass`,
 * `back` and `invert` constant, so that a pass computes only what it
 * writes (the breakpoint pass, no site's bytes at all).
 */
static inline __attribute__((always_inline)) void
fill_key(const struct static_key *k, int state, int pass, int back,
	 int invert, uint8_t *view, uintptr_t base, uintptr_t lim)
{
	const struct jump_entry *e = k->entries + k->cursor;
	const struct jump_entry *stop = k->entries + k->sites;
	/* site_moves, with the flag read once: the view may alias the key */
	int repair = (k->flags & KEY_FLAG_REPAIR) != 0;
	uint8_t old[ARCH_JUMP_SIZE];

	for (; e < stop; e++) {
		uintptr_t c = jump_entry_code(e);

		if (c >= lim)
			break;
		if (c < base || c + ARCH_JUMP_SIZE > lim ||
		    (repair && !jump_entry_marked(e)))
			continue;
		if (invert) {
			site_bytes(e, state, old);
			if (site_holds(view + (c - base), old))
				continue;
		}
		fill_site(e, state, pass, back, view + (c - base));
	}
}

/*
 * The bytes of one run (os_fill_fn). Writes only the request's own sites
 * inside [base, base + len), and only the old or new bytes of each (or
 * the protocol's breakpoint). An undo (the OS layer gives up on this call
 * and asks what to leave in the view) is the old bytes going forward; when
 * rolling back it is the call's own bytes again, since those are the old
 * ones: a restore never puts the request's new bytes back. Rolling back,
 * a site that holds its old bytes already (the view mirrors the code) is
 * left alone: the request never reached it.
 */
static void fill_run(void *ctx, uint8_t *view, uintptr_t base, size_t len,
		     int undo)
{
	struct patch_ctx *pc = ctx;
	int back = undo && !pc->invert && pc->pass != PASS_ALL;
	uintptr_t lim = base + len;
	struct static_key *k;

	KEYS_FOR_EACH(pc->m, k)
	{
		int state = site_state(k, undo || pc->invert);

		if (!key_moves(k))
			continue;
		if (pc->invert || back)
			fill_key(k, state, pc->pass, back, pc->invert, view,
				 base, lim);
		else if (pc->pass == PASS_TRAP)
			fill_key(k, state, PASS_TRAP, 0, 0, view, base, lim);
		else if (pc->pass == PASS_HEAD)
			fill_key(k, state, PASS_HEAD, 0, 0, view, base, lim);
		else
			fill_key(k, state, pc->pass, 0, 0, view, base, lim);
	}
}

/* A key's sites are in address order: each cursor moves by binary search. */
void run_done(struct module *m, uintptr_t end)
{
	struct static_key *k;

	KEYS_FOR_EACH(m, k)
	{
		uint32_t lo, hi;

		if (!key_moves(k))
			continue;
		lo = k->cursor;
		hi = k->sites;
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;

			if (jump_entry_code(&k->entries[mid]) < end)
				lo = mid + 1;
			else
				hi = mid;
		}
		k->cursor = lo;
	}
}

void cursors_reset(struct module *m)
{
	struct static_key *k;

	KEYS_FOR_EACH(m, k)
	k->cursor = 0;
}

int run_patch(struct module *m, uintptr_t start, uintptr_t end, int invert,
	      int pass, struct os_patch *p)
{
	struct patch_ctx pc = {m, invert, pass};
	int rc;

	*p = (struct os_patch){
		.strategy = m->strategy,
		.start = start,
		.len = end - start,
		.fill = fill_run,
		.ctx = &pc,
		.rollback = invert,
	};
	if (TEST_HOOK_COUNTDOWN(fault_at) ||
	    (invert && TEST_HOOK(fault_rollback) == ROLLBACK_FAULT_ALL)) {
		p->failed = "injected fault";
		return STATIC_KEYS_EPATCH;
	}
	TEST_HOOK_CALL(before_patch);
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
 * After a rollback: every site of the module (not only the request's)
 * against its key's state. Returns how many disagree; *key and *site name
 * the first.
 */
static uint32_t sites_disagree(struct module *m, const struct static_key **key,
			       const struct jump_entry **site)
{
	struct static_key *k;
	uint32_t i, n = 0;

	KEYS_FOR_EACH(m, k)
	for (i = 0; i < k->sites; i++) {
		const struct jump_entry *e = &k->entries[i];

		if (site_read(e, k->enabled) == SITE_AGREES)
			continue;
		if (!n++) {
			*key = k;
			*site = e;
		}
	}
	return n;
}

/*
 * rc: what the failed run returned; undo_rc: 0 when every run before it was
 * restored, else the worst code a restoring run returned (EWX over EPATCH);
 * usync: the restore's failed core synchronisation, or NULL. What the
 * text says was restored is read back from the code first, never assumed.
 */
void patch_error(struct module *m, const struct os_patch *p, int rc,
		 uintptr_t start, uintptr_t end, int undo_rc,
		 const struct os_patch *usync)
{
	const struct static_key *k = NULL;
	const struct jump_entry *e = NULL;
	uint32_t bad = sites_disagree(m, &k, &e);
	struct errbuf eb;

	err_begin(&eb);
	if (start < end) {
		err_str(&eb, "Cannot patch pages ");
		err_hex(&eb, start);
		err_str(&eb, "-");
		err_hex(&eb, end);
	} else { /* the protocol's core synchronisation failed */
		err_str(&eb, "Cannot flip keys: the core synchronisation "
			     "after a pass");
	}
	err_str(&eb, " with strategy \"");
	err_str(&eb, static_keys_strategy_name(m->strategy));
	err_str(&eb, "\": ");
	err_refusal(&eb, p);
	if (rc == STATIC_KEYS_EWX)
		err_str(&eb, ", and the OS refused to make the pages read+execute "
			     "again: they are left writable and executable");
	if (undo_rc == STATIC_KEYS_EWX && rc != STATIC_KEYS_EWX)
		err_str(&eb, "; restoring the pages patched before failed too "
			     "and left a page writable and executable");
	else if (undo_rc)
		err_str(&eb, "; restoring the pages patched before failed too");
	if (usync) {
		err_str(&eb, "; the core synchronisation after restoring: ");
		err_refusal(&eb, usync);
	}
	if (bad) {
		err_str(&eb, "; no key changed, but ");
		err_u64(&eb, bad);
		err_str(&eb, bad == 1 ? " site disagrees with its key"
				      : " sites disagree with their keys");
		err_str(&eb, " (the first, of key \"");
		err_str(&eb, k->name);
		err_str(&eb, "\": ");
		site_mismatch(&eb, e, k->enabled);
		err_str(&eb, "): call static_keys_repair()");
	} else if (rc == STATIC_KEYS_EWX && !undo_rc) {
		err_str(&eb, "; every other page was restored and no key changed");
	} else if (undo_rc) {
		err_str(&eb, ", but every site holds its key's state again and "
			     "no key changed");
	} else {
		err_str(&eb, "; every page was restored and no key changed");
	}
}

/*
 * Patches every run; on failure rolls back the runs before it. EWX wins
 * over other codes: a page left writable and executable is reported first.
 */
int patch_plain(struct module *m)
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
		patch_error(m, &p, rc, fail_start, fail_end, undo_rc, NULL);
		return undo_rc == STATIC_KEYS_EWX ? STATIC_KEYS_EWX : rc;
	}
	return 0;
}
