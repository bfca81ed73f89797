/* SPDX-License-Identifier: MIT */
/*
 * tables.c - one module's tables, checked against where the module is
 * mapped, then its jump entries sorted by (key, code) in place, without
 * allocating. Checked, in this order, so that nothing is read through a
 * pointer before that pointer is known to be good:
 *
 *   keys     every record of the key section is what DEFINE_STATIC_KEY_*
 *            writes (type 0 or 1, state and count equal to it, no flags),
 *            its name pointer lies in a readable segment of the module and
 *            the string ends there; then no two names are equal
 *   entries  each names a record of the key section, its site and its
 *            target lie in the module's executable segment, the jump
 *            reaches, and the site holds the instruction the key's state
 *            implies (the arch builds the bytes); in address order, no
 *            two sites overlap (the same site twice included)
 *
 * Sorting. The linker appends entries in the order of the code, so the
 * table is usually in address order already and the overlap check is a
 * comparison with the previous entry. Each entry is then rewritten as a
 * record that does not depend on where it sits (offsets from the table's
 * start, and a tag: its key's index), moved to its final index by
 * following permutation cycles, and written back relative to its new slot
 * once: nothing is re-based per move. The final index comes from per-key
 * counters kept in the keys' own `sites` and `cursor` fields, so keys keep
 * their entries in table order (a stable distribution). A table not in
 * address order is first sorted by address (introsort on the records).
 */
#include "core.h"

#include "arch/arch.h"

/* An entry while sorting: independent of the slot it sits in. */
struct sort_rec {
	uint32_t code;   /* code - base, as a 32-bit two's complement */
	uint32_t target; /* target - base, likewise */
	uint32_t tag;    /* key index << 1 | branch; then final index << 1 | branch */
};

union slot {
	struct jump_entry e;
	struct sort_rec r;
};

_Static_assert(sizeof(struct sort_rec) <= sizeof(struct jump_entry),
	       "a sort record fits in the slot of an entry");

struct tables {
	union slot *slot;
	size_t n; /* slots (entries and padding) */
	struct static_key *keys;
	size_t nr_keys;
	const struct os_image *img;
	uintptr_t base; /* address of slot 0 */
	uintptr_t bias; /* base - text.lo: code - text.lo = offset + bias */
};

/* ---- small helpers ------------------------------------------------------ */

static int in_range(const struct os_range *r, uintptr_t a, size_t len)
{
	return a >= r->lo && a < r->hi && len <= r->hi - a;
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

static int str_equal(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
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
		    k->count != (int32_t)k->type || k->flags || k->cursor)
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

/* Index of the key entry e names, or nr_keys when it names none. */
static size_t entry_key_index(const struct tables *t, const struct jump_entry *e)
{
	uintptr_t off = (uintptr_t)jump_entry_key(e) - (uintptr_t)t->keys;

	if (!t->keys || off % sizeof(struct static_key))
		return t->nr_keys;
	off /= sizeof(struct static_key);
	return off < t->nr_keys ? off : t->nr_keys;
}

/* The site and the target lie in the text, and the jump reaches. */
static int entry_place_check(const struct tables *t, size_t i,
			     const struct jump_entry *e, size_t ki)
{
	const struct os_range *text = &t->img->text;
	uintptr_t code = jump_entry_code(e), target = jump_entry_target(e);
	const struct static_key *k = &t->keys[ki];
	struct errbuf eb;
	int rc;

	if (!in_range(text, code, ARCH_JUMP_SIZE) || !in_range(text, target, 1)) {
		entry_fail_begin(&eb, i, (uintptr_t)e);
		err_str(&eb, in_range(text, code, ARCH_JUMP_SIZE) ? ": target "
								 : ": site ");
		err_hex(&eb, in_range(text, code, ARCH_JUMP_SIZE) ? target : code);
		err_str(&eb, " is outside this module's executable segment ");
		err_hex(&eb, text->lo);
		err_str(&eb, "-");
		err_hex(&eb, text->hi);
		err_str(&eb, ": the entry table is corrupt");
		return STATIC_KEYS_EINIT;
	}
	/* relative to the table's start, both must fit the 32-bit records */
	if ((uintptr_t)((intptr_t)(int32_t)(code - t->base)) != code - t->base ||
	    (uintptr_t)((intptr_t)(int32_t)(target - t->base)) != target - t->base) {
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
	return 0;
}

/* The site holds the instruction its key's state implies. */
static int entry_bytes_check(const struct tables *t, size_t i,
			     const struct jump_entry *e, size_t ki)
{
	uintptr_t code = jump_entry_code(e), target = jump_entry_target(e);
	const struct static_key *k = &t->keys[ki];
	uint8_t want[ARCH_JUMP_SIZE];
	const uint8_t *site;
	struct errbuf eb;
	int jmp, b;

	/* instruction = enabled ^ branch (truth table in static_keys.h) */
	jmp = k->enabled ^ jump_entry_branch(e);
	if (jmp)
		arch_jump_jmp(want, code, target);
	else
		arch_jump_nop(want, code);
	site = (const uint8_t *)code;
	for (b = 0; b < ARCH_JUMP_SIZE; b++)
		if (site[b] != want[b])
			break;
	if (b == ARCH_JUMP_SIZE)
		return 0;
	entry_fail_begin(&eb, i, (uintptr_t)e);
	err_str(&eb, ": site ");
	err_hex(&eb, code);
	err_str(&eb, " of key \"");
	err_str(&eb, k->name);
	err_str(&eb, "\" holds ");
	err_bytes(&eb, site, ARCH_JUMP_SIZE);
	err_str(&eb, jmp ? ", not the jmp " : ", not the nop ");
	err_bytes(&eb, want, ARCH_JUMP_SIZE);
	err_str(&eb, ": the entry does not describe a site");
	return STATIC_KEYS_EINIT;
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

/* What the check pass found out about the table's order. */
struct scan {
	size_t kept;     /* entries that are not padding */
	int code_sorted; /* strictly increasing sites, none overlapping */
	int key_sorted;  /* sorted by (key, code) and without padding */
};

/*
 * One pass: checks every entry, counts each key's sites (in `sites`), and
 * finds out whether the table is in address order and in (key, code)
 * order. In address order, two sites that overlap are neighbours.
 */
static int entries_scan(struct tables *t, struct scan *s)
{
	uintptr_t prev_code = 0;
	size_t prev_key = 0, prev_i = 0, i;
	int rc;

	s->kept = 0;
	s->code_sorted = 1;
	s->key_sorted = 1;
	for (i = 0; i < t->n; i++) {
		const struct jump_entry *e = &t->slot[i].e;
		uintptr_t code;
		size_t ki;

		if (is_padding(e)) {
			s->key_sorted = 0;
			continue;
		}
		ki = entry_key_index(t, e);
		if (ki == t->nr_keys) {
			struct errbuf eb;

			entry_fail_begin(&eb, i, (uintptr_t)e);
			err_str(&eb, ": key ");
			err_hex(&eb, (uintptr_t)jump_entry_key(e));
			err_str(&eb, " is not a record of this module's key "
				     "table: keys must be defined with "
				     "DEFINE_STATIC_KEY_* in the module that "
				     "uses them");
			return STATIC_KEYS_EINIT;
		}
		rc = entry_place_check(t, i, e, ki);
		if (rc)
			return rc;
		code = jump_entry_code(e);
		if (s->kept && s->code_sorted) {
			if (code - t->img->text.lo < prev_code - t->img->text.lo)
				s->code_sorted = 0;
			else if (code - prev_code < ARCH_JUMP_SIZE)
				return overlap_fail(i, (uintptr_t)e, prev_i,
						    prev_code, code, "");
		}
		rc = entry_bytes_check(t, i, e, ki);
		if (rc)
			return rc;
		if (s->kept && (ki < prev_key ||
				(ki == prev_key && code - t->img->text.lo <
							   prev_code - t->img->text.lo)))
			s->key_sorted = 0;
		t->keys[ki].sites++;
		prev_code = code;
		prev_key = ki;
		prev_i = i;
		s->kept++;
	}
	return 0;
}

/* ---- records ------------------------------------------------------------ */

static uintptr_t rec_code(const struct tables *t, const struct sort_rec *r)
{
	/* code - text.lo: address order for every site in the text */
	return (uintptr_t)(intptr_t)(int32_t)r->code + t->bias;
}

static void rec_swap(struct sort_rec *a, struct sort_rec *b)
{
	uint32_t c = a->code, g = a->target, tag = a->tag;

	a->code = b->code;
	a->target = b->target;
	a->tag = b->tag;
	b->code = c;
	b->target = g;
	b->tag = tag;
}

/* Entries into records, squeezing out padding (some linkers pad). */
static void entries_encode(struct tables *t)
{
	size_t i, kept = 0;

	for (i = 0; i < t->n; i++) {
		const struct jump_entry *e = &t->slot[i].e;
		uint32_t code, target, tag;

		if (is_padding(e))
			continue;
		code = (uint32_t)(jump_entry_code(e) - t->base);
		target = (uint32_t)(jump_entry_target(e) - t->base);
		tag = (uint32_t)(entry_key_index(t, e) << 1) |
		      (uint32_t)jump_entry_branch(e);
		t->slot[kept].r.code = code;
		t->slot[kept].r.target = target;
		t->slot[kept].r.tag = tag;
		kept++;
	}
}

/* Record j back into an entry of key ki, relative to its slot. */
static void rec_decode(struct tables *t, size_t j, size_t ki)
{
	struct jump_entry *e = &t->slot[j].e;
	uint32_t code = t->slot[j].r.code, target = t->slot[j].r.target;
	uintptr_t key = (uintptr_t)&t->keys[ki] | (t->slot[j].r.tag & 1);
	uintptr_t at = t->base + j * sizeof(union slot);

	e->code = (int32_t)(code - (uint32_t)(at + offsetof(struct jump_entry, code) - t->base));
	e->target = (int32_t)(target - (uint32_t)(at + offsetof(struct jump_entry, target) - t->base));
#if defined(STATIC_KEYS_ENTRY_KEY_ABS)
	e->key = (intptr_t)key;
#elif defined(STATIC_KEYS_ENTRY_KEY_REL32)
	e->key = (int32_t)(uint32_t)(key - (uintptr_t)&e->key);
	e->key_pad = 0;
#else
	e->key = (intptr_t)(key - (uintptr_t)&e->key);
#endif
}

/* ---- sort by address (introsort: quicksort, heapsort past a depth) ------ */

#define REC(t, i) (&(t)->slot[(i)].r)
#define REC_LESS(t, i, j) (rec_code(t, REC(t, i)) < rec_code(t, REC(t, j)))

static void rec_sift(struct tables *t, size_t lo, size_t root, size_t n)
{
	for (;;) {
		size_t c = 2 * root + 1;

		if (c >= n)
			return;
		if (c + 1 < n && REC_LESS(t, lo + c, lo + c + 1))
			c++;
		if (!REC_LESS(t, lo + root, lo + c))
			return;
		rec_swap(REC(t, lo + root), REC(t, lo + c));
		root = c;
	}
}

static void rec_heapsort(struct tables *t, size_t lo, size_t n)
{
	size_t i;

	for (i = n / 2; i-- > 0;)
		rec_sift(t, lo, i, n);
	for (i = n; i-- > 1;) {
		rec_swap(REC(t, lo), REC(t, lo + i));
		rec_sift(t, lo, 0, i);
	}
}

static void rec_insertion(struct tables *t, size_t lo, size_t hi)
{
	size_t i, j;

	for (i = lo + 1; i < hi; i++)
		for (j = i; j > lo && REC_LESS(t, j, j - 1); j--)
			rec_swap(REC(t, j), REC(t, j - 1));
}

/*
 * Quicksort on [lo, hi) with the median of three as pivot; recursion on
 * the smaller part only (depth <= log2 n), heapsort when `depth` runs out.
 */
static void rec_sort(struct tables *t, size_t lo, size_t hi, unsigned depth)
{
	while (hi - lo > 16) {
		size_t mid = lo + (hi - lo) / 2, i, j;
		uintptr_t pivot;

		if (!depth--) {
			rec_heapsort(t, lo, hi - lo);
			return;
		}
		if (REC_LESS(t, mid, lo))
			rec_swap(REC(t, mid), REC(t, lo));
		if (REC_LESS(t, hi - 1, mid)) {
			rec_swap(REC(t, hi - 1), REC(t, mid));
			if (REC_LESS(t, mid, lo))
				rec_swap(REC(t, mid), REC(t, lo));
		}
		pivot = rec_code(t, REC(t, mid));
		i = lo;
		j = hi - 1;
		for (;;) { /* Hoare: [lo, i) <= pivot <= (j, hi) */
			while (rec_code(t, REC(t, i)) < pivot)
				i++;
			while (pivot < rec_code(t, REC(t, j)))
				j--;
			if (i >= j)
				break;
			rec_swap(REC(t, i), REC(t, j));
			i++;
			j--;
		}
		/* [lo, j] and [j + 1, hi) */
		if (j + 1 - lo < hi - (j + 1)) {
			rec_sort(t, lo, j + 1, depth);
			lo = j + 1;
		} else {
			rec_sort(t, j + 1, hi, depth);
			hi = j + 1;
		}
	}
	rec_insertion(t, lo, hi);
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
			rec_decode(t, i, REC(t, i)->tag >> 1);
		return overlap_fail(j, t->base + j * sizeof(union slot),
				    j - 1, prev + t->img->text.lo,
				    code + t->img->text.lo,
				    " (indexes in address order)");
	}
	return 0;
}

/* ---- distribute by key -------------------------------------------------- */

/*
 * Records in address order go to their key's range, in that order: key
 * k's range starts where the keys before it end (`cursor` counts up from
 * there), then each record is swapped into place along its cycle.
 */
static void recs_distribute(struct tables *t, size_t n)
{
	uint32_t start = 0;
	size_t i, ki;

	for (ki = 0; ki < t->nr_keys; ki++) {
		t->keys[ki].cursor = start;
		start += t->keys[ki].sites;
	}
	for (i = 0; i < n; i++) {
		struct sort_rec *r = REC(t, i);
		struct static_key *k = &t->keys[r->tag >> 1];

		r->tag = (k->cursor++ << 1) | (r->tag & 1);
	}
	for (i = 0; i < n; i++)
		while ((REC(t, i)->tag >> 1) != i)
			rec_swap(REC(t, i), REC(t, REC(t, i)->tag >> 1));
	for (ki = 0, i = 0; ki < t->nr_keys; ki++) {
		size_t end = i + t->keys[ki].sites;

		for (; i < end; i++)
			rec_decode(t, i, ki);
		t->keys[ki].cursor = 0;
	}
}

/* ---- the whole step ----------------------------------------------------- */

static unsigned log2_floor(size_t n)
{
	unsigned l = 0;

	while (n >>= 1)
		l++;
	return l;
}

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
		ebytes = (uintptr_t)sec->entries_stop - (uintptr_t)sec->entries_start;
	if (sec->keys_start && sec->keys_stop)
		kbytes = (uintptr_t)sec->keys_stop - (uintptr_t)sec->keys_start;
	if (ebytes > ((uintptr_t)1 << 31) || kbytes > ((uintptr_t)1 << 31) ||
	    ebytes % sizeof(struct jump_entry) || kbytes % sizeof(struct static_key) ||
	    (uintptr_t)sec->entries_start % _Alignof(struct jump_entry) ||
	    (uintptr_t)sec->keys_start % _Alignof(struct static_key))
		return err_set(STATIC_KEYS_EINIT,
			       "Cannot init module: its entry or key section "
			       "is not a whole number of aligned records (or "
			       "is 2 GiB or more): the sections are corrupt");
	t.slot = (union slot *)sec->entries_start;
	t.n = ebytes / sizeof(struct jump_entry);
	t.keys = sec->keys_start;
	t.nr_keys = kbytes / sizeof(struct static_key);
	t.img = img;
	t.base = (uintptr_t)t.slot;
	t.bias = t.base - img->text.lo;

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
		entries_encode(&t);
		if (!s.code_sorted) {
			rec_sort(&t, 0, s.kept, 2 * log2_floor(s.kept) + 2);
			rc = recs_overlap(&t, s.kept);
			if (rc) {
				for (ki = 0; ki < t.nr_keys; ki++)
					t.keys[ki].sites = 0;
				return rc;
			}
		}
		recs_distribute(&t, s.kept);
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
