/* SPDX-License-Identifier: MIT */
/*
 * tables.c - one module's tables, checked against where the module is
 * mapped, then its jump entries sorted by (key, code) in place, without
 * allocating. Checked, in this order, so that nothing is read through a
 * pointer before that pointer is known to be good:
 *
 *   keys     every record of the key section is what DEFINE_STATIC_KEY_*
 *            writes (type 0 or 1, state and count equal to it, no flags or pin),
 *            its name pointer lies in a readable segment of the module and
 *            the string ends there; then no two names are equal
 *   entries  each names a record of the key section, its site and its
 *            target lie in the module's executable segment, and the jump
 *            reaches; in address order, no two sites overlap (the same
 *            site twice included)
 *
 * No site's bytes are read: as the kernel's jump_label_init, init leaves
 * that to what writes a site. A flip checks every site of each key it
 * moves, and repair every site it may rewrite, before any byte is written
 * (update.c, repair.c, docs/init.md). Reading 100,000 sites out of the
 * text was half of a cold init.
 *
 * Sorting, in the same pass where it can (docs/init.md). The linker
 * appends entries in the order of the code, so the table is usually in
 * address order already, and overlapping sites are neighbours. Once the
 * table is known not to be in (key, code) order, each entry is rewritten
 * as a record that does not depend on its slot (offsets from the table's
 * start, and a tag holding its key's index), so records move without being
 * re-based; blocks of them are sorted by key while in the cache (per-key
 * counters live in the keys' own `cursor` fields), merged pairwise by
 * rotations, and written back relative to their final slots once. A table
 * not in address order is first brought into it: a few runs are merged,
 * anything else goes through introsort.
 */
#include "tables.h"

#include "arch/arch.h"

/* ---- small helpers ------------------------------------------------------ */

static int in_range(const struct os_range *r, uintptr_t a, size_t len)
{
	return a - r->lo < r->hi - r->lo && len <= r->hi - a;
}

static int is_padding(const struct jump_entry *e)
{
	return e->code == 0 && e->target == 0 && e->key == 0;
}

/* Where the string at `s` ends inside a readable segment: 1, or 0. */
static int name_readable(const struct os_image *img, uintptr_t s)
{
	size_t i;

	for (i = 0; i < img->nr_read; i++) {
		const struct os_range *r = &img->read[i];
		const char *p;

		if (!in_range(r, s, 1))
			continue;
		for (p = (const char *)s; (uintptr_t)p < r->hi; p++)
			if (!*p)
				return 1;
		return 0;
	}
	return 0;
}

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

static void entry_fail_begin(struct errbuf *eb, size_t i, uintptr_t at)
{
	err_begin(eb);
	err_str(eb, "Cannot init module: jump entry ");
	err_u64(eb, i);
	err_str(eb, " at ");
	err_hex(eb, at);
}

static int key_fail(size_t i, const struct static_key *k, const char *why)
{
	struct errbuf eb;

	err_begin(&eb);
	err_str(&eb, "Cannot init module: key record ");
	err_u64(&eb, i);
	err_str(&eb, " at ");
	err_hex(&eb, (uintptr_t)k);
	err_str(&eb, why);
	err_str(&eb, ": only DEFINE_STATIC_KEY_* may place data in the key "
		     "section");
	return STATIC_KEYS_EINIT;
}

/* ---- keys --------------------------------------------------------------- */

static int keys_check(struct tables *t)
{
	size_t i;

	for (i = 0; i < t->nr_keys; i++) {
		struct static_key *k = &t->keys[i];

		if (k->type > 1 || k->enabled != k->type ||
		    k->count != (int32_t)k->type || k->flags || k->cursor ||
		    k->pin || k->next_count || k->reserved)
			return key_fail(i, k, " is not a key as defined (type, "
					      "state, count or flags)");
		if (!name_readable(t->img, (uintptr_t)k->name))
			return key_fail(i, k, " has a name that is not a "
					      "string in this module");
	}
	return 0;
}

/*
 * Two keys with one name: Deno finds keys by name and would reach only
 * one. A hash table without allocating: key i's `sites` heads bucket i,
 * its `cursor` links to the next key in its chain (both index + 1).
 */
static int keys_unique(struct tables *t)
{
	struct errbuf eb;
	size_t i;
	int rc = 0;

	for (i = 0; i < t->nr_keys; i++)
		t->keys[i].sites = 0; /* cursor is 0: keys_check saw to it */
	for (i = 0; i < t->nr_keys && !rc; i++) {
		struct static_key *k = &t->keys[i];
		size_t b = name_hash(k->name) % t->nr_keys;
		uint32_t j;

		for (j = t->keys[b].sites; j; j = t->keys[j - 1].cursor) {
			if (!str_equal(t->keys[j - 1].name, k->name))
				continue;
			err_begin(&eb);
			err_str(&eb, "Cannot init module: keys ");
			err_u64(&eb, j - 1);
			err_str(&eb, " and ");
			err_u64(&eb, i);
			err_str(&eb, " are both named \"");
			err_str(&eb, k->name);
			err_str(&eb, "\": give one of them another name "
				     "(DEFINE_STATIC_KEY_*_NAMED)");
			rc = STATIC_KEYS_EINIT;
			break;
		}
		k->cursor = t->keys[b].sites;
		t->keys[b].sites = (uint32_t)(i + 1);
	}
	for (i = 0; i < t->nr_keys; i++) {
		t->keys[i].sites = 0;
		t->keys[i].cursor = 0;
	}
	return rc;
}

/* ---- entries ------------------------------------------------------------ */

/*
 * The checks an entry passes take the table's fields as values: the check
 * pass keeps them in locals, where they stay in registers (read through
 * the table, each was loaded again for every entry).
 */

/* Index of the key entry e names, or nr_keys when it names none. */
static inline size_t key_index(const struct static_key *keys, uintptr_t kbytes,
			       size_t nr_keys, const struct jump_entry *e)
{
	uintptr_t off = (uintptr_t)jump_entry_key(e) - (uintptr_t)keys;

	if (off >= kbytes || off % sizeof(struct static_key))
		return nr_keys;
	return off / sizeof(struct static_key);
}

static size_t entry_key_index(const struct tables *t,
			      const struct jump_entry *e)
{
	return key_index(t->keys, t->kbytes, t->nr_keys, e);
}

/* Relative to the table's start, code and target fit the 32-bit records. */
static inline int entry_fits_records(uintptr_t base, uintptr_t code,
				     uintptr_t target)
{
#if UINTPTR_MAX > 0xffffffffu
	return (uint64_t)(code - base) + 0x80000000u <= 0xffffffffu &&
	       (uint64_t)(target - base) + 0x80000000u <= 0xffffffffu;
#else
	(void)base;
	(void)code;
	(void)target;
	return 1; /* the whole address space is 32 bits */
#endif
}

/* The site and the target lie in the text, and the jump reaches. */
static inline int entry_place_ok(uintptr_t lo, uintptr_t span, uintptr_t base,
				 uintptr_t code, uintptr_t target)
{
	/* spans shorter than a site are 0 */
	return code - lo <= span - ARCH_JUMP_SIZE && target - lo < span &&
	       entry_fits_records(base, code, target) &&
	       !arch_jump_check(code, target);
}

/* Says which place check entry i fails (entry_place_ok said one does). */
static __attribute__((cold, noinline)) int
entry_place_fail(const struct tables *t, size_t i, const struct jump_entry *e,
		 size_t ki)
{
	const struct os_range *text = &t->img->text;
	uintptr_t code = jump_entry_code(e), target = jump_entry_target(e);
	const struct static_key *k = &t->keys[ki];
	struct errbuf eb;
	int rc;

	if (!in_range(text, code, ARCH_JUMP_SIZE) || !in_range(text, target, 1)) {
		int site_ok = in_range(text, code, ARCH_JUMP_SIZE);

		entry_fail_begin(&eb, i, (uintptr_t)e);
		err_str(&eb, site_ok ? ": target " : ": site ");
		err_hex(&eb, site_ok ? target : code);
		err_str(&eb, " is outside this module's executable segment ");
		err_hex(&eb, text->lo);
		err_str(&eb, "-");
		err_hex(&eb, text->hi);
		err_str(&eb, ": the entry table is corrupt");
		return STATIC_KEYS_EINIT;
	}
	if (!entry_fits_records(t->base, code, target)) {
		entry_fail_begin(&eb, i, (uintptr_t)e);
		err_str(&eb, ": site ");
		err_hex(&eb, code);
		err_str(&eb, " is 2 GiB or more away from the entry table");
		return STATIC_KEYS_EINIT;
	}
	rc = arch_jump_check(code, target);
	if (rc) {
		err_begin(&eb);
		err_str(&eb, "Cannot init module: the site at ");
		err_hex(&eb, code);
		err_str(&eb, " of key \"");
		err_str(&eb, k->name);
		err_str(&eb, "\" cannot reach its target ");
		err_hex(&eb, target);
		err_str(&eb, " with one " ARCH_NAME " jump: keep the "
			     "module's text smaller than the jump's reach");
		return rc;
	}
	return STATIC_KEYS_EINIT; /* not reached: entry_place_ok said no */
}

static int overlap_fail(size_t i, uintptr_t at, size_t j, uintptr_t prev,
			uintptr_t code, const char *order)
{
	struct errbuf eb;

	entry_fail_begin(&eb, i, at);
	err_str(&eb, ": site ");
	err_hex(&eb, code);
	err_str(&eb, code == prev ? " is also the site of entry "
				  : " overlaps the site of entry ");
	err_u64(&eb, j);
	err_str(&eb, order);
	err_str(&eb, ": each site has one entry");
	return STATIC_KEYS_EINIT;
}

/* In address order now: a site listed twice, or two that overlap. */
static int recs_overlap(struct tables *t, size_t n)
{
	size_t j;

	for (j = 1; j < n; j++) {
		uintptr_t prev = rec_code(t, REC(t, j - 1));
		uintptr_t code = rec_code(t, REC(t, j));
		size_t i;

		if (code - prev >= ARCH_JUMP_SIZE)
			continue;
		/* leave a valid table behind (in address order), then say so */
		for (i = 0; i < n; i++)
			rec_decode(t, i, TAG_KEY(REC(t, i)->tag));
		return overlap_fail(j, t->base + j * sizeof(union slot),
				    j - 1, prev + t->img->text.lo,
				    code + t->img->text.lo,
				    " (indexes in address order)");
	}
	return 0;
}

/* ---- the check pass ----------------------------------------------------- */


/*
 * What the check pass found out about the table, and how far it got with
 * sorting it. Once the table is known not to be in (key, code) order, the
 * pass turns entries into records as it goes (slots [0, kept)); while it
 * is also in address order, it sorts each block by key as soon as the
 * block is full, while it is still in the cache.
 */
struct scan {
	size_t kept;        /* entries that are not padding */
	int code_sorted;    /* strictly increasing sites, none overlapping */
	int key_sorted;     /* sorted by (key, code), without padding */
	int encoded;        /* slots [0, kept) hold records */
	int blocked;        /* full blocks of them are sorted by key */
	uint32_t kmin, kmax; /* keys counted in the block being filled */
	size_t nr_runs;      /* runs in address order (TABLES_RUNS + 1: more) */
	size_t run[TABLES_RUNS]; /* where runs 1.. start */
};

/* Counts record j in its block; sorts the block by key once it is full. */
static void scan_block_add(struct tables *t, struct scan *s, size_t j)
{
	uint32_t k = rec_key(t, j);

	t->keys[k].cursor++;
	s->kmin = k < s->kmin ? k : s->kmin;
	s->kmax = k > s->kmax ? k : s->kmax;
	if ((j + 1) % TABLES_BLOCK == 0) {
		tables_block_finish(t, j + 1 - TABLES_BLOCK, j + 1, s->kmin,
				    s->kmax);
		s->kmin = UINT32_MAX;
		s->kmax = 0;
	}
}

/*
 * The entries so far (dense, in slots [0, kept)) become records. From here
 * on the sort writes every page of the table: they are made writable in
 * one call first (os_populate_write), before the check pass reads the
 * rest of them. A page read first and written later costs two faults, and
 * the second copies the page.
 */
static void scan_encode(struct tables *t, struct scan *s)
{
	size_t j;

	os_populate_write(t->slot, t->n * sizeof(union slot));
	s->encoded = 1;
	s->blocked = s->code_sorted;
	s->kmin = UINT32_MAX;
	s->kmax = 0;
	for (j = 0; j < s->kept; j++) {
		const struct jump_entry *e = &t->slot[j].e;

		rec_put(t, j, jump_entry_code(e), jump_entry_target(e),
			entry_key_index(t, e), jump_entry_branch(e));
		if (s->blocked)
			scan_block_add(t, s, j);
	}
}

/* Address order is lost: the block being filled is left unsorted. */
static void scan_unblock(struct tables *t, struct scan *s)
{
	size_t j;

	for (j = s->kept - s->kept % TABLES_BLOCK; j < s->kept; j++)
		t->keys[rec_key(t, j)].cursor = 0;
	s->blocked = 0;
}

/*
 * A check failed at slot i: put back a table of valid entries (records
 * [0, kept) as entries, slots [kept, i) already copied down as padding).
 */
static void scan_undo(struct tables *t, struct scan *s, size_t i)
{
	size_t j, w;

	if (!s->encoded)
		return;
	if (s->blocked)
		scan_unblock(t, s);
	for (j = 0; j < s->kept; j++)
		rec_decode(t, j, TAG_KEY(REC(t, j)->tag));
	for (j = s->kept; j < i; j++)
		for (w = 0; w < SLOT_WORDS; w++)
			t->slot[j].q[w] = 0;
}

/*
 * One pass: checks every entry, counts each key's sites (in `sites`), and
 * finds out whether the table is in address order and in (key, code)
 * order. In address order, two sites that overlap are neighbours.
 */
static int entries_scan(struct tables *t, struct scan *s)
{
	union slot *const slot = t->slot;
	struct static_key *const keys = t->keys;
	const size_t n = t->n, nr_keys = t->nr_keys;
	const uintptr_t kbytes = t->kbytes, span = t->text_span, base = t->base;
	uintptr_t prev_off = 0, lo = t->img->text.lo; /* offsets from lo */
	size_t prev_key = 0, prev_i = 0, kept = 0, i;
	int rc = 0, code_sorted = 1, key_sorted = 1;

	/* the flags live in locals: stores to keys' counters may alias them */
	s->encoded = 0;
	s->blocked = 0;
	s->nr_runs = 1;
	for (i = 0; i < n; i++) {
		const struct jump_entry *e = &slot[i].e;
		uintptr_t code, target, off;
		size_t ki;

		if (is_padding(e)) {
			key_sorted = 0;
			continue;
		}
		ki = key_index(keys, kbytes, nr_keys, e);
		if (ki == nr_keys) {
			struct errbuf eb;

			entry_fail_begin(&eb, i, (uintptr_t)e);
			err_str(&eb, ": key ");
			err_hex(&eb, (uintptr_t)jump_entry_key(e));
			err_str(&eb, " is not a record of this module's key "
				     "table: keys must be defined with "
				     "DEFINE_STATIC_KEY_* in the module that "
				     "uses them");
			rc = STATIC_KEYS_EINIT;
			goto out_undo;
		}
		code = jump_entry_code(e);
		target = jump_entry_target(e);
		off = code - lo;
		if (!entry_place_ok(lo, span, base, code, target)) {
			rc = entry_place_fail(t, i, e, ki);
			goto out_undo;
		}
		if (kept && off < prev_off) { /* a new run */
			if (s->nr_runs <= TABLES_RUNS)
				s->run[s->nr_runs - 1] = kept;
			if (s->nr_runs <= TABLES_RUNS)
				s->nr_runs++;
			if (code_sorted) {
				code_sorted = 0;
				s->code_sorted = 0;
				s->kept = kept;
				if (s->blocked)
					scan_unblock(t, s);
			}
		} else if (kept && code_sorted) {
			if (off - prev_off < ARCH_JUMP_SIZE) {
				rc = overlap_fail(i, (uintptr_t)e, prev_i,
						  prev_off + lo, code, "");
				goto out_undo;
			}
		}
		if (kept && key_sorted &&
		    (ki < prev_key || (ki == prev_key && off < prev_off)))
			key_sorted = 0;
		if (!key_sorted) {
			if (!s->encoded) {
				s->kept = kept;
				s->code_sorted = code_sorted;
				scan_encode(t, s);
			}
			rec_put(t, kept, code, target, ki,
				jump_entry_branch(e));
			if (s->blocked)
				scan_block_add(t, s, kept);
		}
		keys[ki].sites++;
		prev_off = off;
		prev_key = ki;
		prev_i = i;
		kept++;
	}
	s->kept = kept;
	s->code_sorted = code_sorted;
	s->key_sorted = key_sorted;
	return 0;

out_undo:
	s->kept = kept;
	scan_undo(t, s, i);
	return rc;
}

/* ---- the whole step ----------------------------------------------------- */

int tables_init(struct os_sections *sec, const struct os_image *img,
		size_t *nr_entries, size_t *nr_keys)
{
	uintptr_t ebytes = 0, kbytes = 0;
	struct tables t;
	struct scan s;
	size_t ki, at;
	int rc;

	*nr_entries = 0;
	*nr_keys = 0;
	if (sec->entries_start && sec->entries_stop)
		ebytes = (uintptr_t)sec->entries_stop -
			 (uintptr_t)sec->entries_start;
	if (sec->keys_start && sec->keys_stop)
		kbytes = (uintptr_t)sec->keys_stop - (uintptr_t)sec->keys_start;
	if (ebytes > ((uintptr_t)1 << 31) || kbytes > ((uintptr_t)1 << 31) ||
	    ebytes % sizeof(struct jump_entry) ||
	    kbytes % sizeof(struct static_key) ||
	    (uintptr_t)sec->entries_start % _Alignof(struct jump_entry) ||
	    (uintptr_t)sec->keys_start % _Alignof(struct static_key))
		return err_set(STATIC_KEYS_EINIT,
			       "Cannot init module: its entry or key section "
			       "is not a whole number of aligned records (or "
			       "is 2 GiB or more): the sections are corrupt");
	if (kbytes / sizeof(struct static_key) > TABLES_MAX_KEYS)
		return err_set(STATIC_KEYS_EINIT,
			       "Cannot init module: it has more than 524,288 "
			       "keys, the most one module can have: split it");
	t.slot = (union slot *)sec->entries_start;
	t.n = ebytes / sizeof(struct jump_entry);
	t.keys = sec->keys_start;
	t.nr_keys = kbytes / sizeof(struct static_key);
	t.img = img;
	t.base = (uintptr_t)t.slot;
	t.bias = t.base - img->text.lo;
	t.kbytes = t.keys ? kbytes : 0;
	t.text_span = img->text.hi - img->text.lo;
	if (img->text.hi < img->text.lo + ARCH_JUMP_SIZE)
		t.text_span = 0; /* no site fits: every entry goes slow */

	rc = keys_check(&t);
	if (!rc)
		rc = keys_unique(&t);
	if (!rc)
		rc = entries_scan(&t, &s);
	if (rc) {
		for (ki = 0; ki < t.nr_keys; ki++)
			t.keys[ki].sites = 0;
		return rc;
	}
	if (!s.code_sorted || !s.key_sorted) {
		if (!s.encoded)
			scan_encode(&t, &s);
		if (s.blocked) {
			if (s.kept % TABLES_BLOCK)
				tables_block_finish(
					&t, s.kept - s.kept % TABLES_BLOCK,
					s.kept, s.kmin, s.kmax);
		} else {
			tables_sort_code(&t, s.kept, s.run, s.nr_runs);
			rc = recs_overlap(&t, s.kept);
			if (rc) {
				for (ki = 0; ki < t.nr_keys; ki++)
					t.keys[ki].sites = 0;
				return rc;
			}
			for (at = 0; at < s.kept; at += TABLES_BLOCK)
				tables_block_distribute(&t, at,
						 at + TABLES_BLOCK < s.kept
							 ? at + TABLES_BLOCK
							 : s.kept);
		}
		tables_recs_finish(&t, s.kept);
	}
	for (ki = 0, at = 0; ki < t.nr_keys; ki++) {
		struct static_key *k = &t.keys[ki];

		k->entries = k->sites ? &t.slot[at].e : NULL;
		at += k->sites;
	}
	*nr_entries = s.kept;
	*nr_keys = t.nr_keys;
	return 0;
}
