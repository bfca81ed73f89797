/* SPDX-License-Identifier: MIT */
/*
 * tables_test.c - init's table checks and sort (native/tables.c) through
 * tables_init, on tables built in memory and on copies of this module's
 * own tables:
 *
 *   edge     one table per malformation (site or target outside the text,
 *            in writable data, in libc, on an unmapped page; a site listed
 *            twice with another target; overlapping sites; bytes that are
 *            neither instruction; junk key records; a key outside the key
 *            section or misaligned; two keys with one name): EINIT and a
 *            text naming the record and its address
 *   sort     random valid tables in every order, with padding: accepted,
 *            sorted by (key, code), every field pointing where it did
 *   fuzz     100,000 seeded random tables, mostly mutated: never a crash,
 *            never a read outside the image (the arena sits between
 *            inaccessible pages), and whatever is accepted is consistent
 */
#include <inttypes.h>
#include <stdlib.h>

#include "check.h"
#include "site.h"
#include "tables.h"
#include "plat.h"

/*
 * Code of another module: libc's strstr, or on Windows a kernel32
 * function (mingw's &strstr is an import thunk inside this very .exe).
 */
#ifdef _WIN32
#include <windows.h>
static uintptr_t foreign_code(void)
{
	return (uintptr_t)GetProcAddress(GetModuleHandleA("kernel32.dll"),
					 "GetTickCount");
}
#else
static uintptr_t foreign_code(void)
{
	return (uintptr_t)&strstr;
}
#endif

#define FUZZ_TABLES 100000
#define TEXT_LEN 65536
#define SLOT 16 /* bytes between two candidate sites */
#define MAX_ENT 96
#define MAX_KEYS 8
#define NAMES_LEN 512

/* ---- a table in memory -------------------------------------------------- */

static struct {
	uint8_t *base, *text;
	size_t len, guard;
	struct jump_entry *ent;
	struct static_key *keys;
	char *names;
	struct os_image img;
} A;

/* What one entry says, in absolute terms (the expected sort result). */
struct tuple {
	uintptr_t code, target;
	size_t key;
	int branch;
};

static struct tuple want[MAX_ENT];
static size_t nr_want;

static uint64_t rng = 0x5eed5eed12345678ull;

static uint64_t rnd(void) /* xorshift64* */
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

static size_t rndn(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

static void entry_put(struct jump_entry *e, uintptr_t code, uintptr_t target,
		      uintptr_t key)
{
	e->code = (int32_t)(uint32_t)(code - (uintptr_t)&e->code);
	e->target = (int32_t)(uint32_t)(target - (uintptr_t)&e->target);
	jump_entry_set_key(e, key);
}

static void arena_init(void)
{
	size_t len = TEXT_LEN + MAX_ENT * sizeof(struct jump_entry) +
		     MAX_KEYS * sizeof(struct static_key) + NAMES_LEN;

	A.base = plat_guarded(len, &A.guard);
	if (!A.base) {
		fprintf(stderr, "cannot map the arena\n");
		exit(1);
	}
	A.len = (len + A.guard - 1) / A.guard * A.guard;
	A.text = A.base;
	A.ent = (struct jump_entry *)(A.base + TEXT_LEN);
	A.keys = (struct static_key *)(A.ent + MAX_ENT);
	A.names = (char *)(A.keys + MAX_KEYS);
	A.img.text.lo = (uintptr_t)A.text;
	A.img.text.hi = (uintptr_t)A.text + TEXT_LEN;
	A.img.nr_read = 1;
	A.img.read[0].lo = (uintptr_t)A.base;
	A.img.read[0].hi = (uintptr_t)A.base + A.len;
}

static void key_make(size_t i, int type)
{
	struct static_key *k = &A.keys[i];
	char *name = A.names + i * 8;

	name[0] = 'k';
	name[1] = (char)('0' + i);
	name[2] = '\0';
	k->name = name;
	k->entries = NULL;
	k->sites = 0;
	k->count = type;
	k->type = (uint8_t)type;
	k->enabled = (uint8_t)type;
	k->pin = 0;
	k->flags = 0;
	k->cursor = 0;
	k->next_count = 0;
	k->reserved = 0;
}

/* The site's bytes as the key's state implies: enabled ^ branch. */
static void site_write(uintptr_t code, uintptr_t target, int jmp)
{
	if (jmp)
		arch_jump_jmp((uint8_t *)code, code, target);
	else
		arch_jump_nop((uint8_t *)code, code, target);
}

enum order { IN_CODE_ORDER, SHUFFLED, IN_KEY_ORDER, REVERSED, IN_RUNS };
#define ORDERS 5

/*
 * IN_RUNS: idx[] lists 0..n-1 in `runs` chunks of address order, the
 * chunks last to first (as a linker's order of sections can make it).
 */
static void runs_fill(size_t *idx, size_t n, size_t runs)
{
	size_t len = (n + runs - 1) / runs, at = 0, c, j;

	for (c = runs; c-- > 0;)
		for (j = c * len; j < (c + 1) * len && j < n; j++)
			idx[at++] = j;
}

/*
 * A valid table of n entries on nk keys in `order`, padding slots
 * included when `pad`: fills A and want[]; returns the number of slots.
 */
static size_t table_make(size_t n, size_t nk, enum order order, int pad)
{
	size_t i, slot = 1, slots = 0;

	memset(A.base, 0xcc, TEXT_LEN);
	for (i = 0; i < nk; i++)
		key_make(i, (int)(rnd() & 1));
	nr_want = nk ? n : 0;
	for (i = 0; i < nr_want; i++) {
		struct tuple *w = &want[i];

		slot += 1 + rndn(3);
		w->code = (uintptr_t)A.text + slot * SLOT;
		w->target = w->code + 8;
		w->key = rndn(nk);
		w->branch = (int)(rnd() & 1);
		site_write(w->code, w->target, A.keys[w->key].type ^ w->branch);
	}
	/* the order of the slots: a permutation of want[] */
	{
		size_t idx[MAX_ENT];

		for (i = 0; i < nr_want; i++)
			idx[i] = i;
		for (i = 0; i < nr_want; i++) {
			size_t j = i, t;

			if (order == SHUFFLED)
				j = i + rndn(nr_want - i);
			else if (order == REVERSED)
				j = nr_want - 1 - i;
			if (order == IN_KEY_ORDER) {
				size_t m;

				for (m = j = i; m < nr_want; m++)
					if (want[idx[m]].key < want[idx[j]].key ||
					    (want[idx[m]].key == want[idx[j]].key &&
					     want[idx[m]].code < want[idx[j]].code))
						j = m;
			}
			if (order == REVERSED) {
				if (i >= nr_want / 2)
					break;
			}
			t = idx[i];
			idx[i] = idx[j];
			idx[j] = t;
		}
		if (order == IN_RUNS && nr_want)
			runs_fill(idx, nr_want, 1 + rndn(6));
		for (i = 0; i < nr_want; i++) {
			const struct tuple *w = &want[idx[i]];

			if (pad && slots + (nr_want - i) < MAX_ENT && !rndn(8))
				memset(&A.ent[slots++], 0, sizeof(struct jump_entry));
			entry_put(&A.ent[slots++], w->code, w->target,
				  (uintptr_t)&A.keys[w->key] | (uintptr_t)w->branch);
		}
	}
	return slots;
}

static int is_padding_entry(const struct jump_entry *e)
{
	return e->code == 0 && e->target == 0 && e->key == 0;
}

static int run(size_t slots, size_t nk, size_t *nr_e)
{
	struct os_sections sec;
	size_t nr_k;

	sec.entries_start = slots ? A.ent : NULL;
	sec.entries_stop = slots ? A.ent + slots : NULL;
	sec.keys_start = nk ? A.keys : NULL;
	sec.keys_stop = nk ? A.keys + nk : NULL;
	return tables_init(&sec, &A.img, nr_e, &nr_k);
}

/*
 * After a 0 from tables_init: each key's entries are its own, in strictly
 * increasing code order, inside the table, their sites at least a jump
 * apart. Init reads no site, so what a site holds is not asked. With
 * `exact`, they are want[] sorted by (key, code), field for field.
 */
static int table_sound(size_t nr_e, size_t nk, int exact)
{
	size_t ki, total = 0, w = 0;

	for (ki = 0; ki < nk; ki++) {
		const struct static_key *k = &A.keys[ki];
		uint32_t i;

		if (k->sites && (k->entries < A.ent || k->entries + k->sites > A.ent + nr_e))
			return 0;
		for (i = 0; i < k->sites; i++) {
			const struct jump_entry *e = &k->entries[i];

			if (jump_entry_key(e) != k)
				return 0;
			if (i && jump_entry_code(e) <
					 jump_entry_code(e - 1) + ARCH_JUMP_SIZE)
				return 0;
		}
		total += k->sites;
	}
	if (total != nr_e)
		return 0;
	if (!exact)
		return 1;
	if (nr_e != nr_want)
		return 0;
	for (ki = 0; ki < nk; ki++) {
		const struct static_key *k = &A.keys[ki];
		uint32_t i;
		uintptr_t last = 0;

		for (i = 0; i < k->sites; i++, w++) {
			const struct jump_entry *e = &k->entries[i];
			size_t m, found = 0;

			if (e != &A.ent[w])
				return 0; /* keys in table order, back to back */
			for (m = 0; m < nr_want; m++)
				if (want[m].key == ki && want[m].code > last &&
				    (!found || want[m].code < want[found - 1].code))
					found = m + 1;
			if (!found || want[found - 1].code != jump_entry_code(e) ||
			    want[found - 1].target != jump_entry_target(e) ||
			    want[found - 1].branch != jump_entry_branch(e))
				return 0;
			last = jump_entry_code(e);
		}
	}
	return 1;
}

/* ---- edge cases --------------------------------------------------------- */

/* rc is EINIT and the text names entry (or key record) i at address at. */
static int refused_at(int rc, const char *what, size_t i, const void *at)
{
	char need[96];
	const char *err = static_keys_last_error();

	snprintf(need, sizeof need, "%s %zu at 0x%" PRIxPTR, what, i, (uintptr_t)at);
	if (rc == STATIC_KEYS_EINIT && strstr(err, need))
		return 1;
	fprintf(stderr, "  rc %d, wanted \"%s\" in: %s\n", rc, need, err);
	return 0;
}

static int writable_data = 42;

static void test_edges(void)
{
	size_t n, nr_e, slots, i;
	char need[160];
	int rc;
	const char *err;

	slots = table_make(8, 3, IN_CODE_ORDER, 0);
	CHECK("a valid table is accepted", run(slots, 3, &nr_e) == 0);
	CHECK("and is sound", table_sound(nr_e, 3, 1));

	/* each case: a fresh valid table, one change, refused with the place */
#define EDGE(name, change, what, idx, at)                                      \
	do {                                                                   \
		slots = table_make(8, 3, IN_CODE_ORDER, 0);                   \
		change;                                                        \
		rc = run(slots, 3, &n);                                        \
		CHECK(name, refused_at(rc, what, idx, at));                    \
	} while (0)

	EDGE("site on an unmapped page",
	     entry_put(&A.ent[2], (uintptr_t)A.base - A.guard, want[2].target,
		       (uintptr_t)&A.keys[want[2].key] | (uintptr_t)want[2].branch),
	     "jump entry", 2, &A.ent[2]);
	CHECK("the text says outside the executable segment",
	      strstr(static_keys_last_error(), "outside this module's executable segment"));
	EDGE("site in writable data",
	     entry_put(&A.ent[2], (uintptr_t)&writable_data, want[2].target,
		       (uintptr_t)&A.keys[want[2].key]),
	     "jump entry", 2, &A.ent[2]);
	EDGE("site in the module's own data (the key table)",
	     entry_put(&A.ent[3], (uintptr_t)&A.keys[0], want[3].target,
		       (uintptr_t)&A.keys[want[3].key]),
	     "jump entry", 3, &A.ent[3]);
	EDGE("site in libc",
	     entry_put(&A.ent[1], foreign_code(), want[1].target,
		       (uintptr_t)&A.keys[want[1].key]),
	     "jump entry", 1, &A.ent[1]);
	EDGE("target in libc",
	     entry_put(&A.ent[1], want[1].code, foreign_code(),
		       (uintptr_t)&A.keys[want[1].key] | (uintptr_t)want[1].branch),
	     "jump entry", 1, &A.ent[1]);
	EDGE("site whose last byte is past the text",
	     entry_put(&A.ent[0], (uintptr_t)A.text + TEXT_LEN - 2, want[0].target,
		       (uintptr_t)&A.keys[want[0].key]),
	     "jump entry", 0, &A.ent[0]);
	EDGE("duplicate of the previous site with another target",
	     entry_put(&A.ent[5], want[4].code, want[4].code + 4,
		       (uintptr_t)&A.keys[want[4].key] | (uintptr_t)want[4].branch),
	     "jump entry", 5, &A.ent[5]);
	err = static_keys_last_error();
	CHECK("the text names the other entry", strstr(err, "also the site of entry 4"));
	/*
	 * out of address order: found after sorting; positions in that order.
	 * Same key and target: the bytes fit (a nop's may depend on the target)
	 */
	slots = table_make(8, 3, IN_CODE_ORDER, 0);
	i = 2;
	entry_put(&A.ent[7], want[i].code, want[i].target,
		  (uintptr_t)&A.keys[want[i].key] | (uintptr_t)want[i].branch);
	rc = run(slots, 3, &n);
	err = static_keys_last_error();
	snprintf(need, sizeof need, "jump entry %zu at 0x%" PRIxPTR ": site 0x%" PRIxPTR
		 " is also the site of entry %zu (indexes in address order)",
		 i + 1, (uintptr_t)&A.ent[i + 1], want[i].code, i);
	CHECK("a far duplicate is refused, named in address order",
	      rc == STATIC_KEYS_EINIT && strstr(err, need));
	CHECK("and the table left behind is still sound (address order)",
	      jump_entry_code(&A.ent[i]) == want[i].code &&
		      jump_entry_code(&A.ent[i + 1]) == want[i].code &&
		      jump_entry_code(&A.ent[i + 2]) == want[i + 1].code &&
		      jump_entry_key(&A.ent[i + 2]) == &A.keys[want[i + 1].key]);
	EDGE("overlapping sites",
	     entry_put(&A.ent[4], want[3].code + 1, want[3].code + 9, /* in reach */
		       (uintptr_t)&A.keys[want[4].key] | (uintptr_t)want[4].branch),
	     "jump entry", 4, &A.ent[4]);
	CHECK("the text says overlaps", strstr(static_keys_last_error(), "overlaps"));
	/*
	 * Init reads no site (a flip checks the sites it moves): a site of
	 * junk, or of the wrong instruction, is accepted and left as it is.
	 */
	slots = table_make(8, 3, IN_CODE_ORDER, 0);
	memset((void *)want[6].code, 0x90, 1);
	rc = run(slots, 3, &nr_e);
	CHECK("site bytes neither nop nor jmp are accepted, not read",
	      rc == 0 && nr_e == 8 && table_sound(nr_e, 3, 1) &&
		      *(const uint8_t *)want[6].code == 0x90);
#if ARCH_NEEDS_BREAKPOINT
	/* a debugger's breakpoint (gdb's `break *f` before init): kept */
	slots = table_make(8, 3, IN_CODE_ORDER, 0);
	arch_breakpoint((uint8_t *)want[6].code);
	rc = run(slots, 3, &nr_e);
	CHECK("a breakpoint over a site's first bytes is accepted",
	      rc == 0 && nr_e == 8);
	CHECK("and left as it is", *(const uint8_t *)want[6].code == 0xcc);
	slots = table_make(8, 3, IN_CODE_ORDER, 0);
	site_write(want[6].code, want[6].target,
		   !(A.keys[want[6].key].type ^ want[6].branch));
	arch_breakpoint((uint8_t *)want[6].code);
	rc = run(slots, 3, &nr_e);
	CHECK("so is one over the other instruction", rc == 0 && nr_e == 8);
#endif
	slots = table_make(8, 3, IN_CODE_ORDER, 0);
	site_write(want[6].code, want[6].target,
		   !(A.keys[want[6].key].type ^ want[6].branch));
	rc = run(slots, 3, &nr_e);
	CHECK("the other instruction than the key's state implies is accepted",
	      rc == 0 && nr_e == 8 && table_sound(nr_e, 3, 1));
	EDGE("key pointer outside the key section",
	     entry_put(&A.ent[3], want[3].code, want[3].target, (uintptr_t)&A.keys[3]),
	     "jump entry", 3, &A.ent[3]);
	CHECK("the text says not a record of the key table",
	      strstr(static_keys_last_error(), "not a record of this module's key table"));
	EDGE("key pointer before the key section",
	     entry_put(&A.ent[3], want[3].code, want[3].target, (uintptr_t)A.keys - 8),
	     "jump entry", 3, &A.ent[3]);
	EDGE("misaligned key pointer",
	     entry_put(&A.ent[3], want[3].code, want[3].target,
		       (uintptr_t)&A.keys[1] + 8),
	     "jump entry", 3, &A.ent[3]);
	EDGE("junk key record (type 7)", A.keys[1].type = 7, "key record", 1, &A.keys[1]);
	EDGE("junk key record (flags)", A.keys[2].flags = 0x80, "key record", 2, &A.keys[2]);
	EDGE("junk key record (pin)", A.keys[2].pin = 2, "key record", 2, &A.keys[2]);
	EDGE("key name NULL", A.keys[0].name = NULL, "key record", 0, &A.keys[0]);
	EDGE("key name on an unmapped page", A.keys[0].name = (const char *)A.base - 1,
	     "key record", 0, &A.keys[0]);
	EDGE("key name in libc's text", A.keys[0].name = (const char *)foreign_code(),
	     "key record", 0, &A.keys[0]);
	EDGE("key name without its NUL in the image",
	     (memset(A.base + A.len - 4, 'x', 4),
	      A.keys[1].name = (const char *)A.base + A.len - 4),
	     "key record", 1, &A.keys[1]);
	A.base[A.len - 1] = 0;
	slots = table_make(8, 3, IN_CODE_ORDER, 0);
	A.keys[2].name = A.keys[0].name;
	rc = run(slots, 3, &n);
	err = static_keys_last_error();
	CHECK("two keys with one name are refused, both named",
	      rc == STATIC_KEYS_EINIT && strstr(err, "keys 0 and 2") && strstr(err, "\"k0\""));
	slots = table_make(8, 3, IN_CODE_ORDER, 0);
	A.names[2 * 8 + 1] = '0';
	rc = run(slots, 3, &n);
	CHECK("equal names in two strings too", rc == STATIC_KEYS_EINIT &&
						       strstr(static_keys_last_error(), "keys 0 and 2"));
	{
		struct os_sections sec;
		size_t nk;

		slots = table_make(8, 3, IN_CODE_ORDER, 0);
		sec.entries_start = A.ent;
		sec.entries_stop = (struct jump_entry *)((uint8_t *)(A.ent + slots) - 4);
		sec.keys_start = A.keys;
		sec.keys_stop = A.keys + 3;
		CHECK("an entry section of part of an entry is refused",
		      tables_init(&sec, &A.img, &n, &nk) == STATIC_KEYS_EINIT);
		sec.entries_stop = A.ent + slots;
		sec.keys_stop = (struct static_key *)((uint8_t *)(A.keys + 3) - 8);
		CHECK("a key section of part of a key is refused",
		      tables_init(&sec, &A.img, &n, &nk) == STATIC_KEYS_EINIT);
		sec.keys_start = (struct static_key *)((uint8_t *)A.keys + 4);
		sec.keys_stop = (struct static_key *)((uint8_t *)(A.keys + 2) + 4);
		CHECK("a misaligned key section is refused",
		      tables_init(&sec, &A.img, &n, &nk) == STATIC_KEYS_EINIT);
	}
	slots = table_make(0, 2, IN_CODE_ORDER, 0);
	A.keys[1].count = 5;
	CHECK("junk in the key section of a table without sites is refused",
	      refused_at(run(0, 2, &n), "key record", 1, &A.keys[1]));
#undef EDGE
}

/* ---- sort --------------------------------------------------------------- */

static void test_sort(void)
{
	static const char *const names[] = {"in code order", "shuffled",
					    "in key order", "reversed", "in runs"};
	int o, round, ok[ORDERS] = {1, 1, 1, 1, 1};

	for (round = 0; round < 2000; round++)
		for (o = 0; o < ORDERS; o++) {
			size_t nk = 1 + rndn(MAX_KEYS), n = rndn(MAX_ENT - 12), nr_e;
			size_t slots = table_make(n, nk, (enum order)o, round & 1);

			if (run(slots, nk, &nr_e) || !table_sound(nr_e, nk, 1)) {
				if (ok[o])
					fprintf(stderr, "  round %d %s: %s\n", round,
						names[o], static_keys_last_error());
				ok[o] = 0;
			}
		}
	for (o = 0; o < ORDERS; o++) {
		char name[80];

		snprintf(name, sizeof name,
			 "2,000 tables %s (half padded) sort by (key, code), "
			 "fields kept", names[o]);
		CHECK(name, ok[o]);
	}
}

/* ---- this module's own tables, mutated ---------------------------------- */

DEFINE_STATIC_KEY_FALSE(own_a);
DEFINE_STATIC_KEY_TRUE(own_b);
DEFINE_STATIC_KEY_FALSE(own_c);

__attribute__((noinline)) static int own_sites(int x)
{
	if (static_branch_unlikely(&own_a))
		x += 1;
	if (static_branch_likely(&own_b))
		x += 2;
	if (static_branch_unlikely(&own_c))
		x += 4;
	if (static_branch_unlikely(&own_a))
		x += 8;
	if (static_branch_likely(&own_c))
		x += 16;
	return x;
}

static struct jump_entry own_ent[64] __attribute__((aligned(16)));
static struct static_key own_keys[8] __attribute__((aligned(16)));

/*
 * Copies the module's entries and keys into own_ent/own_keys (rebased:
 * the copies point where the originals do, keys at the copied keys).
 * Returns the number of entries, or 0 if they do not fit.
 */
static size_t own_copy(const struct os_sections *sec)
{
	size_t n = (size_t)(sec->entries_stop - sec->entries_start);
	size_t nk = (size_t)(sec->keys_stop - sec->keys_start), i;

	if (n > 64 || nk > 8)
		return 0;
	for (i = 0; i < nk; i++) {
		own_keys[i] = sec->keys_start[i];
		own_keys[i].entries = NULL;
		own_keys[i].sites = 0;
	}
	for (i = 0; i < n; i++) {
		const struct jump_entry *e = &sec->entries_start[i];
		size_t ki = (size_t)(jump_entry_key(e) - sec->keys_start);

		entry_put(&own_ent[i], jump_entry_code(e), jump_entry_target(e),
			  (uintptr_t)&own_keys[ki] | (uintptr_t)jump_entry_branch(e));
	}
	return n;
}

static int own_run(const struct os_sections *real, const struct os_image *img,
		   size_t n)
{
	struct os_sections sec;
	size_t nr_e, nr_k;

	sec.entries_start = own_ent;
	sec.entries_stop = own_ent + n;
	sec.keys_start = own_keys;
	sec.keys_stop = own_keys + (real->keys_stop - real->keys_start);
	return tables_init(&sec, img, &nr_e, &nr_k);
}

static void test_own(void)
{
	struct os_sections real;
	struct os_image img;
	size_t n, i;
	uintptr_t kb;
	int rc;

	os_sections(&real);
	CHECK_OK("os_image finds this module", os_image(&img));
	CHECK("its text holds this code",
	      (uintptr_t)own_sites - img.text.lo < img.text.hi - img.text.lo);
	CHECK("and not libc's",
	      foreign_code() - img.text.lo >= img.text.hi - img.text.lo);
	n = own_copy(&real);
	/* 5 sites, more if the compiler duplicated one */
	CHECK("this module's tables are copied", n >= 5);
	if (n < 5)
		return;
	CHECK_OK("a copy of this module's tables is accepted", own_run(&real, &img, n));
	kb = (uintptr_t)&own_keys[0];
#define OWN(name, change, idx)                                                 \
	do {                                                                   \
		own_copy(&real);                                               \
		change;                                                        \
		rc = own_run(&real, &img, n);                                  \
		CHECK(name, refused_at(rc, "jump entry", idx, &own_ent[idx])); \
	} while (0)
	OWN("own: site on an unmapped page",
	    entry_put(&own_ent[1], (uintptr_t)A.base - A.guard,
		      jump_entry_target(&own_ent[1]), kb), 1);
	OWN("own: site in writable data",
	    entry_put(&own_ent[2], (uintptr_t)&writable_data,
		      jump_entry_target(&own_ent[2]), kb), 2);
	OWN("own: site in libc",
	    entry_put(&own_ent[0], foreign_code(),
		      jump_entry_target(&own_ent[0]), kb), 0);
	OWN("own: target in libc",
	    entry_put(&own_ent[3], jump_entry_code(&own_ent[3]),
		      foreign_code(), kb), 3);
	for (i = 1; i < n; i++)
		if (jump_entry_code(&own_ent[i]) > jump_entry_code(&own_ent[0]))
			break;
	OWN("own: a site twice, with another target",
	    entry_put(&own_ent[i], jump_entry_code(&own_ent[0]),
		      jump_entry_target(&own_ent[0]) + 4, kb), i);
	OWN("own: key outside the key section",
	    entry_put(&own_ent[4], jump_entry_code(&own_ent[4]),
		      jump_entry_target(&own_ent[4]), (uintptr_t)&own_b), 4);
#undef OWN

	/* the module's real init still works and uses the same checks */
	CHECK_OK("static_keys_init", static_keys_init());
	CHECK("own sites run", own_sites(0) == 2);
	CHECK_OK("enable own_a", static_branch_enable(&own_a));
	CHECK("and it took", own_sites(0) == 11);
	CHECK_OK("disable own_a", static_branch_disable(&own_a));
}

/* ---- fuzz --------------------------------------------------------------- */

/* A random address: inside the arena, the guards, this module or anywhere. */
static uintptr_t rnd_addr(void)
{
	switch (rndn(6)) {
	case 0:
		return (uintptr_t)A.text + rndn(TEXT_LEN + 64);
	case 1:
		return (uintptr_t)A.base + rndn(A.len);
	case 2:
		return (uintptr_t)A.base - rndn(A.guard);
	case 3:
		return (uintptr_t)A.keys + rndn(MAX_KEYS * sizeof(struct static_key) + 8);
	case 4:
		return foreign_code();
	default:
		return (uintptr_t)rnd();
	}
}

static void mutate(size_t slots, size_t nk)
{
	size_t i = rndn(slots ? slots : 1), k = rndn(nk ? nk : 1);
	uint8_t *eb = (uint8_t *)A.ent;

	switch (rndn(9)) {
	case 0: /* a random byte of the entry table */
		if (slots)
			eb[rndn(slots * sizeof(struct jump_entry))] = (uint8_t)rnd();
		break;
	case 1: /* a random field of an entry */
		if (slots)
			entry_put(&A.ent[i], rndn(3) ? jump_entry_code(&A.ent[i]) : rnd_addr(),
				  rndn(3) ? jump_entry_target(&A.ent[i]) : rnd_addr(),
				  rndn(2) ? jump_entry_key_raw(&A.ent[i]) : rnd_addr());
		break;
	case 2: /* another entry's site, maybe another target */
		if (slots > 1)
			entry_put(&A.ent[i], jump_entry_code(&A.ent[(i + 1) % slots]),
				  jump_entry_target(&A.ent[rndn(slots)]),
				  jump_entry_key_raw(&A.ent[rndn(slots)]));
		break;
	case 3: /* a site moved by a few bytes */
		if (slots)
			entry_put(&A.ent[i], jump_entry_code(&A.ent[i]) + rndn(9) - 4,
				  jump_entry_target(&A.ent[i]),
				  jump_entry_key_raw(&A.ent[i]));
		break;
	case 4: /* a random byte of the key table */
		((uint8_t *)A.keys)[rndn(nk * sizeof(struct static_key) + 1)] = (uint8_t)rnd();
		break;
	case 5: /* a key's name anywhere */
		if (nk)
			A.keys[k].name = (const char *)rnd_addr();
		break;
	case 6: /* a random byte of the text (often a site) */
		A.text[rndn(1024)] = (uint8_t)rnd();
		break;
	case 7: /* two equal names */
		if (nk > 1)
			A.keys[k].name = A.keys[(k + 1) % nk].name;
		break;
	default: /* a whole entry of random bits */
		if (slots) {
			A.ent[i].code = (int32_t)rnd();
			A.ent[i].target = (int32_t)rnd();
			A.ent[i].key = (intptr_t)rnd();
		}
		break;
	}
}

static void test_fuzz(void)
{
	unsigned long accepted = 0, refused = 0, bad_rc = 0, unsound = 0;
	unsigned long t;
	char line[160];

	for (t = 0; t < FUZZ_TABLES; t++) {
		size_t nk = rndn(MAX_KEYS + 1), n = rndn(40), nr_e = 0;
		size_t slots = table_make(n, nk, (enum order)rndn(ORDERS), (int)(t & 1));
		unsigned m, muts = (unsigned)rndn(4);
		int rc;

		for (m = 0; m < muts; m++)
			mutate(slots, nk);
		rc = run(slots, nk, &nr_e);
		if (rc == 0) {
			accepted++;
			if (!table_sound(nr_e, nk, muts == 0))
				unsound++;
		} else if (rc == STATIC_KEYS_EINIT || rc == STATIC_KEYS_ERANGE) {
			refused++;
			if (strncmp(static_keys_last_error(), "Cannot init module: ", 20))
				bad_rc++;
		} else {
			bad_rc++;
		}
		if (muts == 0 && rc)
			unsound++;
	}
	snprintf(line, sizeof line,
		 "fed %lu random tables to init: %lu accepted, %lu refused",
		 (unsigned long)FUZZ_TABLES, accepted, refused);
	printf("%s\n", line);
	CHECK("every refusal is EINIT/ERANGE with a text", bad_rc == 0);
	CHECK("every accepted table is sound, unmutated ones exactly", unsound == 0);
	CHECK("both outcomes were reached", accepted > 1000 && refused > 1000);
	if (!bad_rc && !unsound)
		check_figure("random tables fed to init", t);
}

/* ---- big tables: many blocks (native/tables.c sorts 4,096 at a time) ---- */

#define BIG_N 20000

static struct {
	uint8_t *text;
	struct jump_entry *ent;
	struct static_key *keys;
	char *names;
	struct tuple *want; /* in code order */
	size_t *order;      /* want indexes, sorted by (key, code) */
	struct os_image img;
} G;

/* n sites on nk keys (spread with `spread`), in `order`, one padding slot in
 * fifty when `pad`; returns the slots used. */
static size_t big_make(size_t n, size_t nk, enum order order, int pad)
{
	size_t i, slots = 0, *start;

	for (i = 0; i < nk; i++) {
		struct static_key *k = &G.keys[i];

		snprintf(G.names + 8 * i, 8, "b%hu", (unsigned short)i);
		memset(k, 0, sizeof *k);
		k->name = G.names + 8 * i;
		k->type = (uint8_t)(i % 3 == 0);
		k->enabled = k->type;
		k->count = k->type;
	}
	for (i = 0; i < n; i++) {
		struct tuple *w = &G.want[i];

		w->code = (uintptr_t)G.text + 8 * i;
		w->target = w->code + 16;
		w->key = order == IN_KEY_ORDER ? i * nk / n : rndn(nk);
		w->branch = (int)(rnd() & 1);
		site_write(w->code, w->target, G.keys[w->key].type ^ w->branch);
	}
	/* expected: by key, then code (want[] is in code order) */
	start = calloc(nk + 1, sizeof *start);
	for (i = 0; i < n; i++)
		start[G.want[i].key + 1]++;
	for (i = 0; i < nk; i++)
		start[i + 1] += start[i];
	for (i = 0; i < n; i++)
		G.order[start[G.want[i].key]++] = i;
	free(start);
	if (order == IN_RUNS)
		runs_fill(G.order + n, n, 7); /* the second half is scratch */
	for (i = 0; i < n; i++) {
		size_t w = order == REVERSED  ? n - 1 - i
			   : order == IN_RUNS ? G.order[n + i]
					      : i;

		if (pad && !rndn(50))
			memset(&G.ent[slots++], 0, sizeof(struct jump_entry));
		entry_put(&G.ent[slots++], G.want[w].code, G.want[w].target,
			  (uintptr_t)&G.keys[G.want[w].key] | (uintptr_t)G.want[w].branch);
	}
	if (order == SHUFFLED)
		for (i = slots; i > 1; i--) {
			size_t j = rndn(i);
			struct jump_entry *a = &G.ent[i - 1], *b = &G.ent[j];
			uintptr_t ac = jump_entry_code(a), at = jump_entry_target(a);
			uintptr_t ak = jump_entry_key_raw(a);

			if (is_padding_entry(a) || is_padding_entry(b))
				continue;
			entry_put(a, jump_entry_code(b), jump_entry_target(b),
				  jump_entry_key_raw(b));
			entry_put(b, ac, at, ak);
		}
	return slots;
}

static int big_run(size_t slots, size_t nk, size_t *nr_e)
{
	struct os_sections sec;
	size_t nr_k;

	sec.entries_start = G.ent;
	sec.entries_stop = G.ent + slots;
	sec.keys_start = G.keys;
	sec.keys_stop = G.keys + nk;
	return tables_init(&sec, &G.img, nr_e, &nr_k);
}

/* Entry j is want[order[j]], and each key points at its first. */
static int big_exact(size_t n, size_t nk)
{
	size_t j, ki;

	for (j = 0; j < n; j++) {
		const struct tuple *w = &G.want[G.order[j]];
		const struct jump_entry *e = &G.ent[j];

		if (jump_entry_code(e) != w->code || jump_entry_target(e) != w->target ||
		    jump_entry_key(e) != &G.keys[w->key] ||
		    jump_entry_branch(e) != w->branch)
			return 0;
	}
	for (ki = 0, j = 0; ki < nk; ki++) {
		if (G.keys[ki].sites && G.keys[ki].entries != &G.ent[j])
			return 0;
		j += G.keys[ki].sites;
	}
	return j == n;
}

/* After a refusal: every slot is padding or one of want[], none twice. */
static int big_left_valid(size_t slots, size_t n)
{
	size_t i, seen = 0;
	uint8_t *hit = calloc(n, 1);

	for (i = 0; i < slots; i++) {
		const struct jump_entry *e = &G.ent[i];
		uintptr_t c = jump_entry_code(e);
		size_t w = (c - (uintptr_t)G.text) / 8;

		if (is_padding_entry(e))
			continue;
		if (c < (uintptr_t)G.text || w >= n || hit[w] ||
		    jump_entry_target(e) != G.want[w].target ||
		    jump_entry_key(e) != &G.keys[G.want[w].key])
			break;
		hit[w] = 1;
		seen++;
	}
	free(hit);
	return i == slots && seen + 1 >= n; /* the broken entry may be gone */
}

static void test_big(void)
{
	static const size_t nks[] = {1, 2, 3, 50, 9000};
	size_t n = BIG_N, text_len = 8 * (BIG_N + 4);
	size_t ki, slots, nr_e;
	int o, pad;

	G.text = malloc(text_len + BIG_N * 2 * sizeof(struct jump_entry) + 64);
	G.keys = calloc(9000, sizeof *G.keys);
	G.names = malloc(9000 * 8);
	G.want = malloc(BIG_N * sizeof *G.want);
	G.order = malloc(2 * BIG_N * sizeof *G.order);
	if (!G.text || !G.keys || !G.names || !G.want || !G.order) {
		CHECK("memory for the big tables", 0);
		return;
	}
	G.ent = (struct jump_entry *)(((uintptr_t)G.text + text_len + 63) & ~(uintptr_t)63);
	G.img.text.lo = (uintptr_t)G.text;
	G.img.text.hi = (uintptr_t)G.text + text_len;
	G.img.nr_read = 1;
	G.img.read[0].lo = (uintptr_t)G.names;
	G.img.read[0].hi = (uintptr_t)G.names + 9000 * 8;
	for (ki = 0; ki < sizeof nks / sizeof nks[0]; ki++)
		for (o = 0; o < ORDERS; o++)
			for (pad = 0; pad < 2; pad++) {
				char name[120];
				int rc;

				slots = big_make(n, nks[ki], (enum order)o, pad);
				rc = big_run(slots, nks[ki], &nr_e);
				snprintf(name, sizeof name,
					 "20,000 entries on %zu keys, order %d%s: "
					 "sorted by (key, code), fields kept",
					 nks[ki], o, pad ? ", padded" : "");
				CHECK(name, rc == 0 && nr_e == n && big_exact(n, nks[ki]));
				if (rc)
					fprintf(stderr, "  %s\n", static_keys_last_error());
			}
	/* refused late (in code order: after blocks were sorted): the table
	 * left behind is valid */
	for (o = 0; o < ORDERS; o++) {
		const struct tuple *w;
		int rc;

		struct jump_entry saved;
		size_t i, at = 0;

		slots = big_make(n, 3, (enum order)o, 1);
		w = &G.want[n - 100]; /* late in address order */
		for (i = 0; i < slots; i++)
			if (jump_entry_code(&G.ent[i]) == w->code)
				at = i;
		saved = G.ent[at];
		jump_entry_set_key(&G.ent[at], (uintptr_t)&G.keys[1] + 4);
		rc = big_run(slots, 3, &nr_e);
		CHECK("a bad entry among 20,000 is refused",
		      rc == STATIC_KEYS_EINIT &&
			      strstr(static_keys_last_error(),
				     "not a record of this module's key table"));
		G.ent[at] = saved; /* a refused pass leaves it where it was */
		CHECK("and the table left behind holds valid entries only",
		      big_left_valid(slots, n));
	}
	free(G.text);
	free(G.keys);
	free(G.names);
	free(G.want);
	free(G.order);
}

int main(void)
{
	arena_init();
	test_edges();
	test_sort();
	test_big();
	test_own();
	test_fuzz();
	return check_summary();
}
