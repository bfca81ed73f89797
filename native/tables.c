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
#include "core.h"

#include "arch/arch.h"

/* An entry while sorting: independent of the slot it sits in. */
struct sort_rec {
	uint32_t code;   /* code - base, as a 32-bit two's complement */
	uint32_t target; /* target - base, likewise */
	uint32_t tag;    /* key index << 1 | branch; then final index << 1 | branch */
};

#if UINTPTR_MAX > 0xffffffffu
typedef uint64_t slot_word; /* 16-byte entries */
#define SLOT_WORDS 2
#else
typedef uint32_t slot_word; /* 12-byte entries */
#define SLOT_WORDS 3
#endif

union slot {
	struct jump_entry e;
	struct sort_rec r;
	slot_word q[SLOT_WORDS]; /* for whole-slot swaps */
};

_Static_assert(sizeof(union slot) == sizeof(struct jump_entry),
	       "a slot is an entry");

/*
 * A record's tag: key index << TAG_KEY_SHIFT | place << 1 | branch, where
 * `place` is the record's final index within its block while the blocks
 * are distributed (recs_distribute).
 */
#define TABLES_BLOCK_BITS 12
#define TABLES_BLOCK ((size_t)1 << TABLES_BLOCK_BITS)
#define TAG_KEY_SHIFT (TABLES_BLOCK_BITS + 1)
#define TABLES_MAX_KEYS ((size_t)1 << (32 - TAG_KEY_SHIFT))
#define TAG_KEY(tag) ((tag) >> TAG_KEY_SHIFT)
_Static_assert(TABLES_MAX_KEYS == 524288, "the limit init's error names");
#define TAG_PLACE(tag) (((tag) >> 1) & (uint32_t)(TABLES_BLOCK - 1))

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
	uintptr_t kbytes;    /* size of the key section */
	uintptr_t text_span; /* text.hi - text.lo, or 0 if no site fits */
};

/* ---- small helpers ------------------------------------------------------ */

static int in_range(const struct os_range *r, uintptr_t a, size_t len)
{
	return a - r->lo < r->hi - r->lo && len <= r->hi - a;
}

/* 1 when the ARCH_JUMP_SIZE bytes at a and b are equal: words, then bytes. */
typedef uint32_t __attribute__((may_alias, aligned(1))) u32_any;

static int bytes_equal(const uint8_t *a, const uint8_t *b)
{
	uint32_t diff = 0;
	size_t i = 0;

	for (; i + 4 <= ARCH_JUMP_SIZE; i += 4)
		diff |= *(const u32_any *)(a + i) ^ *(const u32_any *)(b + i);
	for (; i < ARCH_JUMP_SIZE; i++)
		diff |= (uint32_t)(a[i] ^ b[i]);
	return !diff;
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

	if (off >= t->kbytes || off % sizeof(struct static_key))
		return t->nr_keys;
	return off / sizeof(struct static_key);
}

/* Relative to the table's start, code and target fit the 32-bit records. */
static int entry_fits_records(const struct tables *t, uintptr_t code,
			      uintptr_t target)
{
#if UINTPTR_MAX > 0xffffffffu
	return (uint64_t)(code - t->base) + 0x80000000u <= 0xffffffffu &&
	       (uint64_t)(target - t->base) + 0x80000000u <= 0xffffffffu;
#else
	(void)t;
	(void)code;
	(void)target;
	return 1; /* the whole address space is 32 bits */
#endif
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

	/* the common case in a few instructions: everything fits */
	if (code - text->lo <= t->text_span - ARCH_JUMP_SIZE &&
	    target - text->lo < t->text_span && entry_fits_records(t, code, target)) {
		rc = arch_jump_check(code, target);
		if (!rc)
			return 0;
	}
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
	if (!entry_fits_records(t, code, target)) {
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
	int jmp;

	/* instruction = enabled ^ branch (truth table in static_keys.h) */
	jmp = k->enabled ^ jump_entry_branch(e);
	if (jmp)
		arch_jump_jmp(want, code, target);
	else
		arch_jump_nop(want, code);
	site = (const uint8_t *)code;
	if (bytes_equal(site, want))
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

/* ---- records ------------------------------------------------------------ */

static uintptr_t rec_code(const struct tables *t, const struct sort_rec *r)
{
	/* code - text.lo: address order for every site in the text */
	return (uintptr_t)(intptr_t)(int32_t)r->code + t->bias;
}

static void rec_swap(struct sort_rec *a, struct sort_rec *b)
{
	union slot *x = (union slot *)a, *y = (union slot *)b;
	slot_word q0 = x->q[0], q1 = x->q[1];

	x->q[0] = y->q[0];
	x->q[1] = y->q[1];
	y->q[0] = q0;
	y->q[1] = q1;
#if SLOT_WORDS == 3
	q0 = x->q[2];
	x->q[2] = y->q[2];
	y->q[2] = q0;
#endif
}

/* Record j: the entry's fields, independent of the slot. */
static void rec_put(struct tables *t, size_t j, uintptr_t code,
		    uintptr_t target, size_t ki, int branch)
{
	struct sort_rec *r = &t->slot[j].r;

	r->code = (uint32_t)(code - t->base);
	r->target = (uint32_t)(target - t->base);
	r->tag = (uint32_t)ki << TAG_KEY_SHIFT | (uint32_t)branch;
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

/* ---- sort (introsort: quicksort, heapsort past a depth) ---------------- */

/*
 * Records are compared by address, or by (key, address) when `by_key`;
 * in a table sorted by address no two are equal.
 */
struct rec_val {
	uint32_t key;
	uintptr_t code;
};

#define REC(t, i) (&(t)->slot[(i)].r)

static struct rec_val rec_val(const struct tables *t, size_t i, int by_key)
{
	struct rec_val v;

	v.key = by_key ? TAG_KEY(t->slot[i].r.tag) : 0;
	v.code = rec_code(t, &t->slot[i].r);
	return v;
}

static int val_less(struct rec_val a, struct rec_val b)
{
	return a.key < b.key || (a.key == b.key && a.code < b.code);
}

#define REC_LESS(t, i, j, k) val_less(rec_val(t, i, k), rec_val(t, j, k))

static void rec_sift(struct tables *t, size_t lo, size_t root, size_t n, int k)
{
	for (;;) {
		size_t c = 2 * root + 1;

		if (c >= n)
			return;
		if (c + 1 < n && REC_LESS(t, lo + c, lo + c + 1, k))
			c++;
		if (!REC_LESS(t, lo + root, lo + c, k))
			return;
		rec_swap(REC(t, lo + root), REC(t, lo + c));
		root = c;
	}
}

static void rec_heapsort(struct tables *t, size_t lo, size_t n, int k)
{
	size_t i;

	for (i = n / 2; i-- > 0;)
		rec_sift(t, lo, i, n, k);
	for (i = n; i-- > 1;) {
		rec_swap(REC(t, lo), REC(t, lo + i));
		rec_sift(t, lo, 0, i, k);
	}
}

static void rec_insertion(struct tables *t, size_t lo, size_t hi, int k)
{
	size_t i, j;

	for (i = lo + 1; i < hi; i++)
		for (j = i; j > lo && REC_LESS(t, j, j - 1, k); j--)
			rec_swap(REC(t, j), REC(t, j - 1));
}

/*
 * Quicksort on [lo, hi) with the median of three as pivot; recursion on
 * the smaller part only (depth <= log2 n), heapsort when `depth` runs out.
 */
static void rec_sort(struct tables *t, size_t lo, size_t hi, unsigned depth,
		     int k)
{
	while (hi - lo > 16) {
		size_t mid = lo + (hi - lo) / 2, i, j;
		struct rec_val pivot;

		if (!depth--) {
			rec_heapsort(t, lo, hi - lo, k);
			return;
		}
		if (REC_LESS(t, mid, lo, k))
			rec_swap(REC(t, mid), REC(t, lo));
		if (REC_LESS(t, hi - 1, mid, k)) {
			rec_swap(REC(t, hi - 1), REC(t, mid));
			if (REC_LESS(t, mid, lo, k))
				rec_swap(REC(t, mid), REC(t, lo));
		}
		pivot = rec_val(t, mid, k);
		i = lo;
		j = hi - 1;
		for (;;) { /* Hoare: [lo, i) <= pivot <= (j, hi) */
			while (val_less(rec_val(t, i, k), pivot))
				i++;
			while (val_less(pivot, rec_val(t, j, k)))
				j--;
			if (i >= j)
				break;
			rec_swap(REC(t, i), REC(t, j));
			i++;
			j--;
		}
		/* [lo, j] and [j + 1, hi) */
		if (j + 1 - lo < hi - (j + 1)) {
			rec_sort(t, lo, j + 1, depth, k);
			lo = j + 1;
		} else {
			rec_sort(t, j + 1, hi, depth, k);
			hi = j + 1;
		}
	}
	rec_insertion(t, lo, hi, k);
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

/* ---- distribute by key -------------------------------------------------- */

/*
 * A stable sort by key of records in address order. Moving each record
 * straight to its final index (a permutation followed cycle by cycle)
 * touches the table at random, which is slow once it outgrows the cache;
 * so that is done within blocks of TABLES_BLOCK records (their final
 * places in the tags), and the sorted blocks are then merged pairwise in
 * place by rotations, which read and write in sequence. A block whose keys
 * span a range much wider than the block is sorted by (key, address)
 * instead: codes are unique, so that order is the stable one.
 */
static uint32_t rec_key(const struct tables *t, size_t i)
{
	return TAG_KEY(t->slot[i].r.tag);
}

/*
 * Sorts block [lo, hi) by key, stably, given each key's count of records
 * in the block in its `cursor` (keys kmin..kmax): the counts become first
 * places, each record's place goes into its tag, and the records are
 * swapped along the permutation's cycles. Leaves every cursor at 0.
 */
static void block_finish(struct tables *t, size_t lo, size_t hi, uint32_t kmin,
			 uint32_t kmax)
{
	uint32_t start = 0, k;
	size_t i;

	if (kmax - kmin > 4 * (hi - lo)) {
		for (i = lo; i < hi; i++)
			t->keys[rec_key(t, i)].cursor = 0;
		rec_sort(t, lo, hi, 2 * TABLES_BLOCK_BITS + 2, 1);
		return;
	}
	for (k = kmin; k <= kmax; k++) {
		uint32_t c = t->keys[k].cursor;

		t->keys[k].cursor = start;
		start += c;
	}
	for (i = lo; i < hi; i++) {
		struct sort_rec *r = REC(t, i);

		k = TAG_KEY(r->tag);
		r->tag = k << TAG_KEY_SHIFT | t->keys[k].cursor++ << 1 |
			 (r->tag & 1);
	}
	for (i = lo; i < hi; i++)
		for (;;) {
			size_t d = lo + TAG_PLACE(REC(t, i)->tag);

			if (d == i)
				break;
			rec_swap(REC(t, i), REC(t, d));
		}
	for (k = kmin; k <= kmax; k++)
		t->keys[k].cursor = 0;
}

/* The same, counting first. */
static void block_distribute(struct tables *t, size_t lo, size_t hi)
{
	uint32_t kmin = UINT32_MAX, kmax = 0, k;
	size_t i;

	for (i = lo; i < hi; i++) {
		k = rec_key(t, i);
		t->keys[k].cursor++;
		kmin = k < kmin ? k : kmin;
		kmax = k > kmax ? k : kmax;
	}
	block_finish(t, lo, hi, kmin, kmax);
}

/* Swaps records [a, a + n) with [b, b + n); the ranges do not overlap. */
static void rec_swap_ranges(struct tables *t, size_t a, size_t b, size_t n)
{
	while (n--)
		rec_swap(REC(t, a++), REC(t, b++));
}

/*
 * [lo, mid) [mid, hi) -> [mid, hi) [lo, mid), by swapping equal-length
 * ranges (Gries and Mills): every swap puts one record in its place, and
 * both ranges are read in sequence.
 */
static void rec_rotate(struct tables *t, size_t lo, size_t mid, size_t hi)
{
	size_t a = mid - lo, b = hi - mid;

	while (a && b) {
		if (a <= b) {
			rec_swap_ranges(t, lo, hi - a, a);
			hi -= a;
			b -= a;
		} else {
			rec_swap_ranges(t, lo, lo + a, b);
			lo += b;
			a -= b;
		}
	}
}

/* What merges compare: the key, or the address when `by_code`. */
static uintptr_t rec_mval(const struct tables *t, size_t i, int by_code)
{
	return by_code ? rec_code(t, REC(t, i)) : rec_key(t, i);
}

/* First index in [lo, hi) whose value is > v (upper) or >= v (lower). */
static size_t rec_bound(const struct tables *t, size_t lo, size_t hi,
			uintptr_t v, int upper, int by_code)
{
	while (lo < hi) {
		size_t m = lo + (hi - lo) / 2;
		uintptr_t vm = rec_mval(t, m, by_code);

		if (vm < v || (upper && vm == v))
			lo = m + 1;
		else
			hi = m;
	}
	return lo;
}

/*
 * Merges [lo, mid) and [mid, hi), each sorted by key (or by address),
 * stably and in place: cut the longer side in half, find where its middle
 * value falls in the other, rotate, and go on with both halves (recursing
 * on the smaller). Depth <= log2 of the length. Cheap when the two sides
 * interleave in few long stretches, as keys' blocks and sections' runs do.
 */
static void rec_merge(struct tables *t, size_t lo, size_t mid, size_t hi,
		      int c)
{
	while (lo < mid && mid < hi &&
	       rec_mval(t, mid - 1, c) > rec_mval(t, mid, c)) {
		size_t cut1, cut2, nmid;

		/* what is in place already stays out of the rotation */
		lo = rec_bound(t, lo, mid, rec_mval(t, mid, c), 1, c);
		hi = rec_bound(t, mid, hi, rec_mval(t, mid - 1, c), 0, c);
		if (rec_mval(t, lo, c) == rec_mval(t, mid - 1, c) ||
		    rec_mval(t, mid, c) == rec_mval(t, hi - 1, c)) {
			rec_rotate(t, lo, mid, hi); /* one side has one value */
			return;
		}
		if (mid - lo >= hi - mid) {
			cut1 = lo + (mid - lo) / 2;
			cut2 = rec_bound(t, mid, hi, rec_mval(t, cut1, c), 0, c);
		} else {
			cut2 = mid + (hi - mid) / 2;
			cut1 = rec_bound(t, lo, mid, rec_mval(t, cut2, c), 1, c);
		}
		rec_rotate(t, cut1, mid, cut2);
		nmid = cut1 + (cut2 - mid);
		if (nmid - lo < hi - nmid) {
			rec_merge(t, lo, cut1, nmid, c);
			lo = nmid;
			mid = cut2;
		} else {
			rec_merge(t, nmid, cut2, hi, c);
			hi = nmid;
			mid = cut1;
		}
	}
}

/* Merges the sorted blocks, then writes every record back as an entry. */
static void recs_finish(struct tables *t, size_t n)
{
	size_t i, w;

	for (w = TABLES_BLOCK; w < n; w *= 2)
		for (i = 0; i + w < n; i += 2 * w)
			rec_merge(t, i, i + w, i + 2 * w < n ? i + 2 * w : n, 0);
	for (i = 0; i < n; i++)
		rec_decode(t, i, TAG_KEY(REC(t, i)->tag));
}

/* ---- the check pass ----------------------------------------------------- */

/* A table in at most this many runs of address order is merged, not sorted. */
#define TABLES_RUNS 32

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
		block_finish(t, j + 1 - TABLES_BLOCK, j + 1, s->kmin, s->kmax);
		s->kmin = UINT32_MAX;
		s->kmax = 0;
	}
}

/* The entries so far (dense, in slots [0, kept)) become records. */
static void scan_encode(struct tables *t, struct scan *s)
{
	size_t j;

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
	uintptr_t prev_code = 0, lo = t->img->text.lo;
	size_t prev_key = 0, prev_i = 0, kept = 0, i;
	int rc = 0, code_sorted = 1, key_sorted = 1;

	/* the flags live in locals: stores to keys' counters may alias them */
	s->encoded = 0;
	s->blocked = 0;
	s->nr_runs = 1;
	for (i = 0; i < t->n; i++) {
		const struct jump_entry *e = &t->slot[i].e;
		uintptr_t code, target;
		size_t ki;

		if (is_padding(e)) {
			key_sorted = 0;
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
			rc = STATIC_KEYS_EINIT;
			goto out_undo;
		}
		rc = entry_place_check(t, i, e, ki);
		if (rc)
			goto out_undo;
		code = jump_entry_code(e);
		target = jump_entry_target(e);
		if (kept && code - lo < prev_code - lo) { /* a new run */
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
			if (code - prev_code < ARCH_JUMP_SIZE) {
				rc = overlap_fail(i, (uintptr_t)e, prev_i,
						  prev_code, code, "");
				goto out_undo;
			}
		}
		rc = entry_bytes_check(t, i, e, ki);
		if (rc)
			goto out_undo;
		if (kept && key_sorted &&
		    (ki < prev_key || (ki == prev_key && code - lo < prev_code - lo)))
			key_sorted = 0;
		if (!key_sorted) {
			if (!s->encoded) {
				s->kept = kept;
				s->code_sorted = code_sorted;
				scan_encode(t, s);
			}
			rec_put(t, kept, code, target, ki, jump_entry_branch(e));
			if (s->blocked)
				scan_block_add(t, s, kept);
		}
		t->keys[ki].sites++;
		prev_code = code;
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

static unsigned log2_floor(size_t n)
{
	unsigned l = 0;

	while (n >>= 1)
		l++;
	return l;
}

/*
 * Records (not in address order) into address order: few runs are merged
 * pairwise by rotations, anything else goes through introsort.
 */
static void recs_sort_code(struct tables *t, struct scan *s)
{
	size_t r, w;

	if (s->nr_runs > TABLES_RUNS) {
		rec_sort(t, 0, s->kept, 2 * log2_floor(s->kept) + 2, 0);
		return;
	}
	/* run r is [start(r), start(r + 1)); merge neighbours, then pairs of pairs */
	for (w = 1; w < s->nr_runs; w *= 2)
		for (r = 0; r + w < s->nr_runs; r += 2 * w) {
			size_t lo = r ? s->run[r - 1] : 0, mid = s->run[r + w - 1];
			size_t hi = r + 2 * w < s->nr_runs ? s->run[r + 2 * w - 1]
							   : s->kept;

			rec_merge(t, lo, mid, hi, 1);
		}
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
		t.text_span = 0; /* no site fits: every entry takes the slow path */

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
				block_finish(&t, s.kept - s.kept % TABLES_BLOCK,
					     s.kept, s.kmin, s.kmax);
		} else {
			recs_sort_code(&t, &s);
			rc = recs_overlap(&t, s.kept);
			if (rc) {
				for (ki = 0; ki < t.nr_keys; ki++)
					t.keys[ki].sites = 0;
				return rc;
			}
			for (at = 0; at < s.kept; at += TABLES_BLOCK)
				block_distribute(&t, at,
						 at + TABLES_BLOCK < s.kept
							 ? at + TABLES_BLOCK
							 : s.kept);
		}
		recs_finish(&t, s.kept);
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
