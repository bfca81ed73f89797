/* SPDX-License-Identifier: MIT */
/*
 * sort.c - moving one module's entries into (key, code) order in place,
 * without allocating, as records that do not depend on their slot (see
 * tables.h): introsort, sorting blocks by key within the cache, and
 * merging sorted stretches by rotations. tables.c decides what runs when.
 */
#include "tables.h"

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

/* ---- sort (introsort: quicksort, heapsort past a depth) ---------------- */

/*
 * Records are compared by address, or by (key, address) when `by_key`;
 * in a table sorted by address no two are equal.
 */
struct rec_val {
	uint32_t key;
	uintptr_t code;
};

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
/*
 * Sorts block [lo, hi) by key, stably, given each key's count of records
 * in the block in its `cursor` (keys kmin..kmax): the counts become first
 * places, each record's place goes into its tag, and the records are
 * swapped along the permutation's cycles. Leaves every cursor at 0.
 */
void tables_block_finish(struct tables *t, size_t lo, size_t hi, uint32_t kmin,
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
void tables_block_distribute(struct tables *t, size_t lo, size_t hi)
{
	uint32_t kmin = UINT32_MAX, kmax = 0, k;
	size_t i;

	for (i = lo; i < hi; i++) {
		k = rec_key(t, i);
		t->keys[k].cursor++;
		kmin = k < kmin ? k : kmin;
		kmax = k > kmax ? k : kmax;
	}
	tables_block_finish(t, lo, hi, kmin, kmax);
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
			cut2 = rec_bound(t, mid, hi, rec_mval(t, cut1, c), 0,
					 c);
		} else {
			cut2 = mid + (hi - mid) / 2;
			cut1 = rec_bound(t, lo, mid, rec_mval(t, cut2, c), 1,
					 c);
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
void tables_recs_finish(struct tables *t, size_t n)
{
	size_t i, w;

	for (w = TABLES_BLOCK; w < n; w *= 2)
		for (i = 0; i + w < n; i += 2 * w)
			rec_merge(t, i, i + w, i + 2 * w < n ? i + 2 * w : n,
				  0);
	for (i = 0; i < n; i++)
		rec_decode(t, i, TAG_KEY(REC(t, i)->tag));
}

static unsigned log2_floor(size_t n)
{
	unsigned l = 0;

	while (n >>= 1)
		l++;
	return l;
}

/*
 * Records [0, n) (not in address order) into address order: a table in
 * nr_runs <= TABLES_RUNS runs (run r >= 1 starts at run[r - 1]) is merged
 * pairwise by rotations, anything else goes through introsort.
 */
void tables_sort_code(struct tables *t, size_t n, const size_t *run,
		    size_t nr_runs)
{
	size_t r, w;

	if (nr_runs > TABLES_RUNS) {
		rec_sort(t, 0, n, 2 * log2_floor(n) + 2, 0);
		return;
	}
	for (w = 1; w < nr_runs; w *= 2)
		for (r = 0; r + w < nr_runs; r += 2 * w) {
			size_t lo = r ? run[r - 1] : 0, mid = run[r + w - 1];
			size_t hi = r + 2 * w < nr_runs ? run[r + 2 * w - 1]
							  : n;

			rec_merge(t, lo, mid, hi, 1);
		}
}

