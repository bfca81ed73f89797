/* SPDX-License-Identifier: MIT */
/*
 * init_bench.c - what init's table step costs (native/tables.c: check every
 * key and entry, then sort by (key, code)), on synthetic tables of 10,000
 * and 100,000 entries on two keys, fed to tables_init with explicit bounds
 * (generating 100,000 real asm goto sites would be a build of its own):
 *
 *   sorted       entries already in (key, code) order: key a's sites, then
 *                key b's
 *   interleaved  entries in code order, keys alternating a, b, a, b: what
 *                a linker writes when two keys guard neighbouring code
 *   runs         the interleaved table cut in 4 runs, last run first (as a
 *                linker's order of sections can leave it)
 *   shuffled     entries in random order (seeded): the worst case
 *
 * Every site holds a nop, as a fresh module's do; each round builds the
 * table again (not timed). Prints one line per measurement:
 * `name  entries  value unit  (extra)`, the median of the rounds and the
 * best one. `init_bench N` times N interleaved entries only. Numbers, not
 * verdicts: tests never assert on timing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "site.h"
#include "tables.h"

#include "arch/arch.h"

#define MAX_N 100000
#define SITE_GAP 8 /* bytes from one site to the next */

static struct {
	uint8_t *text;
	struct jump_entry *ent;
	struct static_key keys[2];
	struct os_image img;
} B;

static const char key_names[] = "a\0b";
static uint64_t rng = 0x1b1b1b1b2c2c2c2cull;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

static void entry_put(struct jump_entry *e, uintptr_t code, uintptr_t target,
		      uintptr_t key)
{
	e->code = (int32_t)(uint32_t)(code - (uintptr_t)&e->code);
	e->target = (int32_t)(uint32_t)(target - (uintptr_t)&e->target);
	jump_entry_set_key(e, key);
}

enum layout { SORTED, INTERLEAVED, RUNS, SHUFFLED };

/* Entry i of the table: which site and which key. */
static void table_build(size_t n, enum layout layout)
{
	size_t i;

	for (i = 0; i < 2; i++) {
		memset(&B.keys[i], 0, sizeof B.keys[i]);
		B.keys[i].name = key_names + 2 * i;
	}
	for (i = 0; i < n; i++) {
		size_t q = n / 4, at = i, key;
		uintptr_t code;

		if (layout == RUNS && i < 4 * q) /* quarter 3 first, then 2, 1, 0 */
			at = (3 - i / q) * q + i % q;
		code = (uintptr_t)B.text + at * SITE_GAP;
		key = layout == SORTED ? (i >= n / 2) : (at & 1);
		entry_put(&B.ent[i], code, code + SITE_GAP, (uintptr_t)&B.keys[key]);
	}
	if (layout == SHUFFLED)
		for (i = n; i > 1; i--) {
			size_t j = (size_t)(rnd() % i);
			struct jump_entry *a = &B.ent[i - 1], *b = &B.ent[j];
			uintptr_t ac = jump_entry_code(a), at = jump_entry_target(a);
			uintptr_t ak = jump_entry_key_raw(a);

			entry_put(a, jump_entry_code(b), jump_entry_target(b),
				  jump_entry_key_raw(b));
			entry_put(b, ac, at, ak);
		}
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int measure(size_t n, enum layout layout, int rounds, double *median,
		   double *best)
{
	double r[64];
	int i;

	for (i = 0; i < rounds; i++) {
		struct os_sections sec;
		size_t nr_e, nr_k;
		double t0;
		int rc;

		table_build(n, layout);
		sec.entries_start = B.ent;
		sec.entries_stop = B.ent + n;
		sec.keys_start = B.keys;
		sec.keys_stop = B.keys + 2;
		t0 = now_us();
		rc = tables_init(&sec, &B.img, &nr_e, &nr_k);
		r[i] = now_us() - t0;
		if (rc || nr_e != n || B.keys[0].sites + B.keys[1].sites != n) {
			fprintf(stderr, "init_bench: %s\n", static_keys_last_error());
			return 1;
		}
	}
	qsort(r, (size_t)rounds, sizeof r[0], cmp_double);
	*median = r[rounds / 2];
	*best = r[0];
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const names[] = {"sorted", "interleaved", "runs",
					    "shuffled"};
	static const size_t sizes[] = {10000, MAX_N};
	size_t text_len = (MAX_N + 2) * SITE_GAP, s, i;
	uint8_t *arena;
	int l;

	/* one block: entries must lie within 2 GiB of the sites they describe */
	arena = malloc(text_len + MAX_N * sizeof(struct jump_entry) + 64);
	if (!arena)
		return 1;
	B.text = arena;
	B.ent = (struct jump_entry *)(((uintptr_t)arena + text_len + 63) & ~(uintptr_t)63);
	for (i = 0; i + SITE_GAP <= text_len; i += SITE_GAP)
		arch_jump_nop(B.text + i, (uintptr_t)B.text + i,
			      (uintptr_t)B.text + i + SITE_GAP);
	B.img.text.lo = (uintptr_t)B.text;
	B.img.text.hi = (uintptr_t)B.text + text_len;
	B.img.nr_read = 1;
	B.img.read[0].lo = (uintptr_t)key_names;
	B.img.read[0].hi = (uintptr_t)key_names + sizeof key_names;

	/* `init_bench N`: interleaved, N entries only (N <= 100,000) */
	if (argc > 1) {
		size_t n = (size_t)strtoul(argv[1], NULL, 10);
		double us, best;

		if (n < 2 || n > MAX_N || measure(n, INTERLEAVED, 15, &us, &best))
			return 1;
		printf("init.interleaved %6zu %9.1f us  (best %.1f)\n", n, us, best);
		return 0;
	}
	for (s = 0; s < 2; s++)
		for (l = 0; l < 4; l++) {
			int rounds = sizes[s] > 10000 ? 15 : 41;
			double us, best;

			if (measure(sizes[s], (enum layout)l, rounds, &us, &best))
				return 1;
			printf("init.%-11s %6zu %9.1f us  (2 keys, median of %d, "
			       "best %.1f)\n",
			       names[l], sizes[s], us, rounds, best);
		}
	free(arena);
	return 0;
}
