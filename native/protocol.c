/* SPDX-License-Identifier: MIT */
/*
 * protocol.c - the cross-modification protocol (docs/concurrency.md), for
 * strategies that write sites in place while other threads may run them:
 * on x86 three passes over every run (breakpoint over byte 0, the other
 * bytes, byte 0) with a core synchronisation after each but the last, two
 * when no site's other bytes change (x86's nop and jmp differ in byte 0
 * only: the flips a program makes), and the trap
 * handler that sends a thread meeting a breakpoint on; elsewhere one
 * aligned store per site and one synchronisation. strategy_caps
 * (strategy.c) decides which strategies run it. The runs themselves come
 * from runs.c, what a site holds from site.c.
 */
#include "update.h"

#if ARCH_NEEDS_BREAKPOINT /* the trap's lookup; 4-byte ISAs take no trap */
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
#endif

/*
 * The trap side (os_trap_fn): a thread met a breakpoint. The module claims
 * it (returns where the thread resumes) only when the breakpoint is, or
 * was, its own: at a site the running request rewrites, the thread goes
 * on as if the instruction the site is becoming had run (to the jump
 * target, or past the site); at a site whose breakpoint a refused restore
 * left (marked, until repair), as its key's state says. A site of ours
 * whose breakpoint is gone (the request ended while the thread was on its
 * way here) runs again. Any other breakpoint at a site, a debugger's or a
 * uprobe's, is not ours: 0. Reads only; signal-safe.
 *
 * A debugger that took our breakpoint for its own may hand the trap on
 * with the program counter moved back onto the site (`after` but pc is a
 * site). Resuming there runs whatever the site holds now: the breakpoint
 * again (the kernel then reports it as usual), or a whole instruction,
 * old or new, both valid while the request runs or the leftover waits
 * for repair. So we claim it, but only for a site that is ours to trap
 * (in the request, or marked) and only when the byte before it is no
 * breakpoint: an int3 there reports the same pc and belongs to someone
 * else.
 */
static uintptr_t protocol_trap(void *ctx, uintptr_t pc, int after)
{
#if ARCH_NEEDS_BREAKPOINT
	struct module *m = ctx;
	uintptr_t site = after ? pc - ARCH_BREAKPOINT_SIZE : pc, to = 0;
	const struct jump_entry *e;
	struct static_key *k = NULL;
	enum protocol_phase dir;
	unsigned seen;
	int back, sent;

	__atomic_add_fetch(&m->trap_inflight, 1, __ATOMIC_SEQ_CST);
again:
	/*
	 * The phase and the site's bytes are read at different moments. A
	 * thread delayed here (preempted between the trap and this read)
	 * may see no request running, then the breakpoint of the next one:
	 * it would take that breakpoint for someone else's. So the decision
	 * stands only when the phase word did not change meanwhile (each
	 * arm bumps its count); else it is made again.
	 */
	seen = __atomic_load_n(&m->protocol, __ATOMIC_SEQ_CST);
	dir = (enum protocol_phase)(seen & 3u);
	site = after ? pc - ARCH_BREAKPOINT_SIZE : pc;
	back = sent = 0;
	k = NULL;
	e = site_find(m, site, &k);
	if (!e && after && (e = site_find(m, pc, &k)) != NULL) {
		if (site_trapped(site)) /* read only now: pc - 1 is text */
			e = NULL;
		site = pc;
		back = 1;
	}
	if (!e) {
		to = 0;
	} else if (dir != PROTOCOL_OFF && key_moves(k) && site_moves(k, e)) {
		int insn = site_jmp(e, site_state(k, dir == PROTOCOL_BACK));

		to = back ? site
		     : insn ? jump_entry_target(e)
			    : site + ARCH_JUMP_SIZE;
		sent = 1;
	} else if (!jump_entry_marked(e)) {
		/* not ours now: a gone breakpoint runs again, another is not ours */
		to = !back && !site_trapped(site) ? site : 0;
	} else if (back || !site_trapped(site)) {
		to = site;
	} else { /* left by a refused restore: not this request's */
		int insn = site_jmp(e, __atomic_load_n(&k->enabled,
						       __ATOMIC_ACQUIRE));

		to = insn ? jump_entry_target(e) : site + ARCH_JUMP_SIZE;
	}
	if (__atomic_load_n(&m->protocol, __ATOMIC_SEQ_CST) != seen)
		goto again;
	if (sent)
		__atomic_add_fetch(&m->stats.traps, 1, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&m->trap_inflight, 1, __ATOMIC_SEQ_CST);
	return to;
#else
	(void)ctx;
	(void)pc;
	(void)after;
	return 0;
#endif
}

/* The trap handler's entry code, from arch/ (os_thunk_fn). */
static size_t protocol_thunk(uint8_t *out, uintptr_t at, uintptr_t count,
			     uintptr_t slot, uint32_t arg)
{
#if ARCH_NEEDS_BREAKPOINT
	return arch_trap_thunk(out, at, count, slot, arg);
#else
	(void)out;
	(void)at;
	(void)count;
	(void)slot;
	(void)arg;
	return 0;
#endif
}

/*
 * A restore the OS refused: every site of the request that still begins
 * with the breakpoint keeps it until repair. Marked, so that repair and
 * the trap side know it is ours (its key's sites held their old bytes
 * when the request was checked, so no other breakpoint was there).
 */
static void protocol_mark_leftovers(struct module *m)
{
	struct static_key *k;
	uint32_t i;

	KEYS_FOR_EACH(m, k)
	{
		if (!key_moves(k))
			continue;
		for (i = 0; i < k->sites; i++) {
			struct jump_entry *e = &k->entries[i];

			if (site_moves(k, e) && site_trapped(jump_entry_code(e)))
				jump_entry_mark(e, 1);
		}
	}
}

/* Ends the protocol: no handler reads the request once this returns. */
/* The phase word: `dir`, and the arm count kept (arm: one more). */
static void protocol_phase(struct module *m, enum protocol_phase dir, int arm)
{
	unsigned w = __atomic_load_n(&m->protocol, __ATOMIC_RELAXED);

	w = ((w & ~3u) + (arm ? 4u : 0u)) | (unsigned)dir;
	__atomic_store_n(&m->protocol, w, __ATOMIC_SEQ_CST);
}

static void protocol_disarm(struct module *m)
{
	protocol_phase(m, PROTOCOL_OFF, 0);
	while (__atomic_load_n(&m->trap_inflight, __ATOMIC_SEQ_CST))
		os_thread_yield();
}

/* One core synchronisation; on failure *p says what the OS refused. */
static int protocol_sync(struct module *m, struct os_patch *p)
{
	int rc;

	*p = (struct os_patch){0};
	rc = os_sync_core(p);
	m->stats.core_syncs++;
	return rc;
}

/*
 * The pass's next run (the i-th): from the runs the first pass kept when
 * it kept them all (m->runs), else found again by next_run; the first
 * pass (`first`) keeps them. 0 when none is left.
 */
static int protocol_next_run(struct module *m, uint32_t *i, int first,
			     uintptr_t *start, uintptr_t *end)
{
	struct module_runs *r = &m->runs;

	if (r->whole) {
		if (*i >= r->n)
			return 0;
		*start = r->start[*i];
		*end = r->end[*i];
		++*i;
		return 1;
	}
	if (!next_run(m, start, end)) {
		if (first && r->n <= MODULE_RUNS_KEPT)
			r->whole = 1;
		return 0;
	}
	if (first) {
		if (r->n < MODULE_RUNS_KEPT) {
			r->start[r->n] = *start;
			r->end[r->n] = *end;
		}
		if (r->n <= MODULE_RUNS_KEPT)
			r->n++;
	}
	return 1;
}

/*
 * One pass over every run. Forward, stops at the first failure (its run
 * in *fs..*fe); back (invert), goes on up to the run starting at `stop`
 * and returns the worst code. The cursors still move run by run: fill_run
 * starts each key's walk at its cursor.
 */
static int protocol_pass(struct module *m, int pass, int invert, int first,
			 struct os_patch *p, uintptr_t *fs, uintptr_t *fe,
			 uintptr_t stop)
{
	uintptr_t start, end;
	uint32_t i = 0;
	int rc, worst = 0;

	cursors_reset(m);
	while (protocol_next_run(m, &i, first, &start, &end) && start < stop) {
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
 * core synchronisation after each pass but the last on x86 (the trap
 * handler stays installed: see "No synchronisation after the last pass"
 * in docs/concurrency.md), after the one pass elsewhere. On failure the same passes run back to
 * the old bytes (a site half way holds the breakpoint, so the restore is
 * safe from any pass): over every run, or, when the first pass failed,
 * over the runs up to the failed one (those after it were not touched).
 * Sites that hold their old bytes already are left alone (runs.c). Where
 * a site's two instructions share every byte after the breakpoint's
 * (ARCH_TAIL_SHARED, x86), the tail pass would write nothing: it and its
 * synchronisation are skipped both ways, as the kernel's text_poke_bp
 * skips them when only the first byte changes (every core fetches the old
 * instruction, the new one or the breakpoint, since all of them end the
 * same), and the restore has no tail to put back.
 */
int patch_protocol(struct module *m)
{
	struct os_patch p, undo, usync;
	uintptr_t fs = 0, fe = 0, stop = UINTPTR_MAX;
	int first = ARCH_NEEDS_BREAKPOINT ? PASS_TRAP : PASS_ALL;
	int last = ARCH_NEEDS_BREAKPOINT ? PASS_HEAD : PASS_ALL;
	int pass, rc = 0, urc, undo_rc = 0, usync_failed = 0;
	int tail = ARCH_NEEDS_BREAKPOINT && !ARCH_TAIL_SHARED;

	if (ARCH_NEEDS_BREAKPOINT) {
		struct os_patch arm = {0};

		if (os_trap_arm(protocol_trap, m, protocol_thunk, &arm)) {
			struct errbuf eb;

			err_begin(&eb);
			err_str(&eb, "Cannot flip keys: the OS refused the "
				     "breakpoint handler the flip needs: ");
			err_refusal(&eb, &arm);
			err_str(&eb, "; nothing was written");
			return STATIC_KEYS_EPATCH;
		}
	}
	m->runs.n = 0;
	m->runs.whole = 0;
	protocol_phase(m, PROTOCOL_FORWARD, 1);
	for (pass = first; pass <= last && !rc; pass++) {
		if (pass == PASS_TAIL && !tail)
			continue;
		rc = protocol_pass(m, pass, 0, pass == first, &p, &fs, &fe,
				   UINTPTR_MAX);
		if (rc && pass == first)
			stop = fe;
		/*
		 * After the head pass on x86 a core may still fetch the
		 * breakpoint it saw before (never the old instruction: the
		 * syncs before made every core see the breakpoint, then the
		 * new tail). Such a stale breakpoint traps into the handler,
		 * which stays installed and sends the thread back to run the
		 * site again (protocol_trap: "a gone breakpoint runs again");
		 * the trap's return serialises, so the thread then runs the
		 * new instruction. A 4-byte ISA has no trap to fall back on:
		 * its one pass keeps its sync.
		 */
		if (!rc && (!ARCH_NEEDS_BREAKPOINT || pass < last))
			rc = protocol_sync(m, &p);
	}
	if (rc) {
		protocol_phase(m, PROTOCOL_BACK, 0);
		for (pass = first; pass <= last; pass++) {
			if (pass == PASS_TAIL && !tail)
				continue;
			urc = protocol_pass(m, pass, 1, 0, &undo, &fs, &fe, stop);
			if (urc && undo_rc != STATIC_KEYS_EWX)
				undo_rc = urc;
			if (protocol_sync(m, &undo) && !usync_failed++)
				usync = undo;
		}
		if (undo_rc)
			protocol_mark_leftovers(m);
	}
	protocol_disarm(m);
	if (rc)
		patch_error(m, &p, rc, fs, fe, undo_rc,
			    usync_failed ? &usync : NULL);
	return rc ? (undo_rc == STATIC_KEYS_EWX ? STATIC_KEYS_EWX : rc) : 0;
}
