/* SPDX-License-Identifier: MIT */
/*
 * tables.h - init's table step (tables_init, for init.c, the tests and
 * init_bench), and what tables.c (the checks and the check pass) shares
 * with sort.c (moving entries into (key, code) order): an entry while it
 * is being sorted, and the tables of one module. Not installed.
 */
#ifndef STATIC_KEYS_TABLES_H
#define STATIC_KEYS_TABLES_H

#include "core.h"

/*
 * Checks one module's sections against where it is mapped (os_image) and
 * sorts its entries by (key, code) in place; on 0 each key points at its
 * first entry, *nr_entries counts the entries kept (padding squeezed out)
 * and *nr_keys the keys. Otherwise STATIC_KEYS_EINIT (or ERANGE for a jump
 * out of reach) with the last-error text naming the record and its
 * address. Allocates nothing; callable on any tables (tests, benchmarks).
 */
int tables_init(struct os_sections *sec, const struct os_image *img,
		size_t *nr_entries, size_t *nr_keys);

/* An entry while sorting: independent of the slot it sits in. */
struct sort_rec {
	uint32_t code;   /* code - base, as a 32-bit two's complement */
	uint32_t target; /* target - base, likewise */
	uint32_t tag;    /* key index, place in block, branch: see TAG_* */
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

#define REC(t, i) (&(t)->slot[(i)].r)

/* A table in at most this many runs of address order is merged, not sorted. */
#define TABLES_RUNS 32

static inline uintptr_t rec_code(const struct tables *t,
				 const struct sort_rec *r)
{
	/* code - text.lo: address order for every site in the text */
	return (uintptr_t)(intptr_t)(int32_t)r->code + t->bias;
}

/* Record j: the entry's fields, independent of the slot. */
static inline void rec_put(struct tables *t, size_t j, uintptr_t code,
		    uintptr_t target, size_t ki, int branch)
{
	struct sort_rec *r = &t->slot[j].r;

	r->code = (uint32_t)(code - t->base);
	r->target = (uint32_t)(target - t->base);
	r->tag = (uint32_t)ki << TAG_KEY_SHIFT | (uint32_t)branch;
}

/* Record j back into an entry of key ki, relative to its slot. */
static inline void rec_decode(struct tables *t, size_t j, size_t ki)
{
	struct jump_entry *e = &t->slot[j].e;
	uint32_t code = t->slot[j].r.code, target = t->slot[j].r.target;
	uintptr_t key = (uintptr_t)&t->keys[ki] | (t->slot[j].r.tag & 1);
	uint32_t at = (uint32_t)(j * sizeof(union slot)); /* slot - base */

	e->code = (int32_t)(code - at - offsetof(struct jump_entry, code));
	e->target = (int32_t)(target - at - offsetof(struct jump_entry, target));
	jump_entry_set_key(e, key);
}

static inline uint32_t rec_key(const struct tables *t, size_t i)
{
	return TAG_KEY(t->slot[i].r.tag);
}

/* ---- sort.c ------------------------------------------------------------- */

/*
 * Sorts block [lo, hi) (at most TABLES_BLOCK records in address order) by
 * key, stably, given each key's count of records in the block in its
 * `cursor` (keys kmin..kmax); leaves every cursor at 0.
 */
void tables_block_finish(struct tables *t, size_t lo, size_t hi, uint32_t kmin,
		  uint32_t kmax);

/* The same, counting first. */
void tables_block_distribute(struct tables *t, size_t lo, size_t hi);

/* Merges the sorted blocks of [0, n), then writes every record back. */
void tables_recs_finish(struct tables *t, size_t n);

/* Records [0, n) into address order (runs: see sort.c). */
void tables_sort_code(struct tables *t, size_t n, const size_t *run,
		    size_t nr_runs);

#endif /* STATIC_KEYS_TABLES_H */
