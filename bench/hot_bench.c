/* SPDX-License-Identifier: MIT */
/*
 * hot_bench.c - where a static key beats a flag: 1,000 features, each
 * tested at a call site of its own (hot_features.c, generated), all off.
 *
 *   static   if (static_branch_unlikely(&key_N)) ...   a nop, no data
 *   flag     if (__atomic_load_n(&flag_N, relaxed)) ... one cache line each
 *   empty    the same code without the test: the floor
 *
 * A pass runs the 1,000 tests once and is timed alone. "cached": passes
 * back to back, every flag stays in cache. "evicted": before each pass the
 * application's own work streams through a buffer larger than the last
 * cache level, so each flag's line is gone when it is tested again (the
 * code is evicted too, for all three alike). Kinds alternate pass by pass;
 * each figure is a median, in ns per test.
 * `--only KIND --calls N` runs one kind for N tests and nothing else: what
 * callgrind counts (scripts/bench.ts, with --toggle-collect=hot_pass_*).
 * Usage: hot_bench [--json] [--quick] | --only static|flag|empty --calls N
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_clock.h"
#include "static_keys.h"

#define HOT_FEATURES 1000

uint64_t hot_pass_static(uint64_t x);
uint64_t hot_pass_flag(uint64_t x);
uint64_t hot_pass_empty(uint64_t x);

typedef uint64_t (*hot_pass)(uint64_t);

static const char *const kinds[3] = {"static", "flag", "empty"};
static const hot_pass passes[3] = {hot_pass_static, hot_pass_flag, hot_pass_empty};
static volatile uint64_t sink;

/* Last-level cache size from sysfs, or 32 MiB when it cannot be read. */
static size_t llc_bytes(void)
{
	size_t best = 0;
	int i;

	for (i = 0; i < 8; i++) {
		char path[96], unit = 0;
		unsigned long v = 0;
		FILE *f;

		snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%lu%c", &v, &unit) >= 1) {
			size_t b = unit == 'K' ? v << 10 : unit == 'M' ? v << 20 : v;

			if (b > best)
				best = b;
		}
		fclose(f);
	}
	return best ? best : (size_t)32 << 20;
}

/* The application's work between passes: stream through `buf`. */
static void evict(volatile uint8_t *buf, size_t len)
{
	uint64_t acc = 0;
	size_t i;

	for (i = 0; i < len; i += 64)
		acc += buf[i];
	sink = acc;
}

int main(int argc, char **argv)
{
	const char *only = NULL;
	int json = 0, quick = 0, calls = 100000, i, k, e;
	double *r[3];
	size_t len;
	uint8_t *buf;

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
	if (only) { /* for callgrind: one kind, no timing, no eviction */
		for (k = 0; k < 3 && strcmp(only, kinds[k]); k++)
			;
		if (k == 3) {
			fprintf(stderr, "hot_bench: --only takes static, flag or empty, got \"%s\"\n", only);
			return 2;
		}
		for (i = 0; i < calls / HOT_FEATURES; i++)
			sink = passes[k](sink);
		return 0;
	}
	len = 2 * llc_bytes();
	buf = calloc(1, len);
	for (k = 0; k < 3; k++)
		r[k] = calloc(2000, sizeof(double));
	if (!buf || !r[0] || !r[1] || !r[2])
		return 1;
	for (e = 0; e < 2; e++) {
		int rounds = e ? (quick ? 41 : 101) : (quick ? 401 : 1001);
		double ns[3];

		for (i = 0; i < rounds; i++) {
			for (k = 0; k < 3; k++) {
				int kk = (k + i) % 3; /* rotate who goes first */
				double t0;

				if (e)
					evict(buf, len);
				t0 = bench_now_ns();
				sink = passes[kk](sink);
				r[kk][i] = (bench_now_ns() - t0) / HOT_FEATURES;
			}
		}
		for (k = 0; k < 3; k++) {
			qsort(r[k], (size_t)rounds, sizeof(double), bench_cmp_double);
			ns[k] = r[k][rounds / 2];
		}
		for (k = 0; k < 3; k++) {
			if (json)
				printf("{\"group\":\"hot\",\"kind\":\"%s\",\"evicted\":%s,"
				       "\"ns\":%.3f,\"over_empty_ns\":%.3f,\"evict_bytes\":%zu}\n",
				       kinds[k], e ? "true" : "false", ns[k], ns[k] - ns[2],
				       e ? len : (size_t)0);
			else
				printf("hot   %-6s %s %8.3f ns a test (%+.3f ns over empty)\n",
				       kinds[k], e ? "evicted" : "cached ", ns[k], ns[k] - ns[2]);
		}
	}
	return 0;
}
