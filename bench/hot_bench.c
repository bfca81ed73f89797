/* SPDX-License-Identifier: MIT */
/*
 * hot_bench.c - where a static key beats a flag: 1,000 features, each
 * tested by a function of its own (hot_features.c, generated), called in a
 * shuffled order, with application work between calls that streams
 * through a buffer larger than the caches. A flag sits on a cache line of
 * its own, so by the time its feature is tested again the line is gone and
 * the test waits for memory; a static key's test is a nop, with no data.
 *
 *   static   if (static_branch_unlikely(&key_N)) ...   (key off)
 *   flag     if (__atomic_load_n(&flag_N, relaxed)) ... (flag off)
 *   empty    the same function without the test: the floor
 *
 * Prints ns per call for each, with and without the eviction work (the
 * work's own cost, measured alone, is subtracted). `--only KIND --calls N`
 * runs one kind N times and nothing else: what callgrind counts
 * (scripts/bench.ts runs it with --toggle-collect=hot_loop).
 * Usage: hot_bench [--json] [--quick] | --only static|flag|empty --calls N
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "static_keys.h"

#define HOT_FEATURES 1000
#define EVICT_BYTES (32u << 20) /* larger than this machine's caches */
#define EVICT_LINES 48          /* cache lines of work between two calls */

extern uint64_t (*const hot_static[HOT_FEATURES])(uint64_t);
extern uint64_t (*const hot_flag[HOT_FEATURES])(uint64_t);
extern uint64_t (*const hot_empty[HOT_FEATURES])(uint64_t);

typedef uint64_t (*hot_fn)(uint64_t);

static uint16_t order[HOT_FEATURES];
static volatile uint8_t *evict;
static size_t evict_at;
static volatile uint64_t sink;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The application's own work: touch the next lines of a big buffer. */
static inline uint64_t work(int lines)
{
	uint64_t acc = 0;
	int i;

	for (i = 0; i < lines; i++) {
		acc += evict[evict_at];
		evict_at = (evict_at + 64) & (EVICT_BYTES - 1);
	}
	return acc;
}

/* `passes` passes over every feature in shuffled order. */
__attribute__((noinline)) uint64_t hot_loop(const hot_fn *fns, int passes,
					    int lines)
{
	uint64_t x = 0;
	int p, i;

	for (p = 0; p < passes; p++)
		for (i = 0; i < HOT_FEATURES; i++) {
			x = fns[order[i]](x);
			if (lines)
				x += work(lines);
		}
	return x;
}

static double per_call_ns(const hot_fn *fns, int passes, int lines, int rounds)
{
	double r[15];
	int i;

	for (i = 0; i < rounds; i++) {
		double t0 = now_ns();

		sink = hot_loop(fns, passes, lines);
		r[i] = (now_ns() - t0) / ((double)passes * HOT_FEATURES);
	}
	qsort(r, (size_t)rounds, sizeof *r, cmp_double);
	return r[rounds / 2];
}

static const hot_fn *kind_fns(const char *kind)
{
	if (!strcmp(kind, "static"))
		return hot_static;
	if (!strcmp(kind, "flag"))
		return hot_flag;
	if (!strcmp(kind, "empty"))
		return hot_empty;
	fprintf(stderr, "hot_bench: --only takes static, flag or empty, got \"%s\"\n", kind);
	exit(2);
}

int main(int argc, char **argv)
{
	static const char *const kinds[3] = {"static", "flag", "empty"};
	const char *only = NULL;
	int json = 0, quick = 0, calls = 100000, i, k, e;
	double work_alone[2] = {0, 0};

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--quick"))
			quick = 1;
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--calls") && i + 1 < argc)
			calls = atoi(argv[++i]);
	}
	if (static_keys_init()) {
		fprintf(stderr, "hot_bench: init: %s\n", static_keys_last_error());
		return 1;
	}
	srand(1);
	for (i = 0; i < HOT_FEATURES; i++)
		order[i] = (uint16_t)i;
	for (i = HOT_FEATURES - 1; i > 0; i--) {
		int j = rand() % (i + 1);
		uint16_t t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	if (only) { /* for callgrind: one kind, no timing, no eviction */
		sink = hot_loop(kind_fns(only), calls / HOT_FEATURES, 0);
		return 0;
	}
	evict = calloc(1, EVICT_BYTES);
	if (!evict)
		return 1;
	/* The work alone (empty functions minus nothing) is the floor's floor. */
	for (e = 0; e < 2; e++) {
		int lines = e ? EVICT_LINES : 0;
		int passes = quick ? (e ? 20 : 200) : (e ? 50 : 500);
		int rounds = quick ? 5 : 9;
		double ns[3];

		per_call_ns(hot_empty, passes, lines, 1); /* warm up */
		for (k = 0; k < 3; k++)
			ns[k] = per_call_ns(kind_fns(kinds[k]), passes, lines, rounds);
		work_alone[e] = ns[2];
		for (k = 0; k < 3; k++) {
			if (json)
				printf("{\"group\":\"hot\",\"kind\":\"%s\",\"evict\":%s,"
				       "\"ns\":%.3f,\"over_empty_ns\":%.3f}\n",
				       kinds[k], e ? "true" : "false", ns[k], ns[k] - work_alone[e]);
			else
				printf("hot   %-6s %s %8.3f ns a call (%+.3f ns over empty)\n",
				       kinds[k], e ? "evicted" : "cached ", ns[k],
				       ns[k] - work_alone[e]);
		}
	}
	return 0;
}
