/* SPDX-License-Identifier: MIT */
/*
 * flip_bench.c - what a flip costs from C, on the bench-only module
 * (libstatic_keys_bench, generated sites) that the Deno benchmarks load too.
 *
 *   flip    an enable+disable pair of a key with 1, 100 or 10,000 sites,
 *           per strategy the module offers and for the per-site baseline
 *           (bench_baseline_set: 3 syscalls a site, as the Rust crate),
 *           with the other core idle and with another thread spinning
 *   batch   100 keys in one request against 100 single flips
 *   maps    /proc/self/maps lines one flip of the 10,000-site key adds,
 *           each strategy in a fresh child (fork) of an unpatched process
 *
 * Every figure is a median of rounds; syscalls, runs and pages come from
 * the module's stats after the flip. Prints one line per figure, or one
 * JSON object per line with --json (scripts/bench.ts reads those).
 * Usage: flip_bench [--json] [--quick] [path/to/libstatic_keys_bench.so]
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_clock.h"
#include "static_keys.h"

#define STATS_FIELDS 13
#define BASELINE (-1) /* pseudo strategy id: the per-site baseline */

static struct {
	int32_t (*init)(void);
	int32_t (*find)(const char *name);
	int32_t (*set)(uint32_t index, int32_t enabled);
	int32_t (*set_many)(const uint32_t *indices, const uint8_t *states,
			    uint32_t count);
	int32_t (*set_strategy)(int32_t strategy);
	const char *(*strategy_name)(int32_t strategy);
	const char *(*last_error)(void);
	int32_t (*stats)(uint64_t *out, uint32_t count);
	int32_t (*baseline_set)(uint32_t index, int32_t enabled);
	int32_t (*maps_lines)(void);
} lib;

static int json, quick;
static volatile int spin_stop;
static volatile uint64_t spin_sink;

static double now_us(void)
{
	return bench_now_ns() / 1e3;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
	return v[n / 2];
}

static const char *name_of(int strategy)
{
	return strategy == BASELINE ? "per-site" : lib.strategy_name(strategy);
}

static void die(const char *what)
{
	fprintf(stderr, "flip_bench: %s: %s\n", what, lib.last_error ? lib.last_error() : dlerror());
	exit(1);
}

static void *spin(void *arg)
{
	(void)arg;
	while (!spin_stop)
		spin_sink++;
	return NULL;
}

static int set_key(int strategy, uint32_t index, int enabled)
{
	return strategy == BASELINE ? lib.baseline_set(index, enabled)
				    : lib.set(index, enabled);
}

/* Median us per enable+disable pair, over rounds of `pairs` pairs. */
static double time_pairs(int strategy, uint32_t index, int pairs, int rounds)
{
	double r[15];
	int i, j;

	for (i = 0; i < rounds; i++) {
		double t0 = now_us();

		for (j = 0; j < pairs; j++)
			if (set_key(strategy, index, 1) || set_key(strategy, index, 0))
				die("flip");
		r[i] = (now_us() - t0) / pairs;
	}
	return median(r, rounds);
}

/* Pairs a round takes so it lasts ~10 ms (1 for slow flips), and rounds. */
static void plan(double pair_us, int *pairs, int *rounds)
{
	*pairs = pair_us > 0 ? (int)(10000.0 / pair_us) : 1000;
	if (*pairs < 1)
		*pairs = 1;
	if (*pairs > 2000)
		*pairs = 2000;
	*rounds = pair_us > 50000 ? 3 : pair_us > 5000 ? 5 : quick ? 7 : 11;
}

static void bench_flip(int strategy, const char *key, int sites, int spinning)
{
	uint64_t st[STATS_FIELDS] = {0};
	int32_t index = lib.find(key);
	pthread_t t;
	double first, us;
	int pairs, rounds;

	if (index < 0)
		die(key);
	if (spinning) {
		spin_stop = 0;
		pthread_create(&t, NULL, spin, NULL);
	}
	first = now_us();
	if (set_key(strategy, (uint32_t)index, 1) || set_key(strategy, (uint32_t)index, 0))
		die("flip");
	plan(now_us() - first, &pairs, &rounds);
	us = time_pairs(strategy, (uint32_t)index, pairs, rounds);
	if (spinning) {
		spin_stop = 1;
		pthread_join(t, NULL);
	}
	if (strategy == BASELINE) { /* by construction: 3 a site, one run each */
		st[10] = 3ull * (uint64_t)sites;
		st[12] = (uint64_t)sites;
		st[9] = (uint64_t)sites;
	} else {
		lib.stats(st, STATS_FIELDS);
	}
	if (json)
		printf("{\"group\":\"flip\",\"strategy\":\"%s\",\"sites\":%d,\"spin\":%s,"
		       "\"us\":%.3f,\"pairs\":%d,\"rounds\":%d,\"syscalls\":%llu,"
		       "\"runs\":%llu,\"pages\":%llu}\n",
		       name_of(strategy), sites, spinning ? "true" : "false", us, pairs, rounds,
		       (unsigned long long)st[10], (unsigned long long)st[12],
		       (unsigned long long)st[9]);
	else
		printf("flip  %-9s %6d sites %-5s %12.2f us a pair  (%llu syscalls, %llu runs, %llu pages a flip)\n",
		       name_of(strategy), sites, spinning ? "spin" : "idle", us,
		       (unsigned long long)st[10], (unsigned long long)st[12],
		       (unsigned long long)st[9]);
	fflush(stdout);
}

static void bench_batch(int strategy)
{
	uint32_t idx[100];
	uint8_t on[100], off[100];
	double batch[15], single[15];
	uint64_t st[STATS_FIELDS] = {0};
	int i, j, k, rounds = quick ? 5 : 9, pairs = 10;
	char name[16];

	for (k = 0; k < 100; k++) {
		int32_t index;

		snprintf(name, sizeof name, "batch_%d", k);
		if ((index = lib.find(name)) < 0)
			die(name);
		idx[k] = (uint32_t)index;
		on[k] = 1;
		off[k] = 0;
	}
	for (i = 0; i < rounds; i++) {
		double t0 = now_us();

		for (j = 0; j < pairs; j++)
			if (lib.set_many(idx, on, 100) || lib.set_many(idx, off, 100))
				die("batch");
		batch[i] = (now_us() - t0) / pairs;
		lib.stats(st, STATS_FIELDS);
		t0 = now_us();
		for (j = 0; j < pairs; j++) {
			for (k = 0; k < 100; k++)
				if (lib.set(idx[k], 1))
					die("single");
			for (k = 0; k < 100; k++)
				if (lib.set(idx[k], 0))
					die("single");
		}
		single[i] = (now_us() - t0) / pairs;
	}
	if (json) {
		printf("{\"group\":\"batch\",\"strategy\":\"%s\",\"keys\":100,\"us\":%.3f,"
		       "\"single_us\":%.3f,\"syscalls\":%llu,\"runs\":%llu,\"pages\":%llu}\n",
		       name_of(strategy), median(batch, rounds), median(single, rounds),
		       (unsigned long long)st[10], (unsigned long long)st[12],
		       (unsigned long long)st[9]);
	} else {
		printf("batch %-9s 100 keys: one request %10.2f us a pair, 100 single flips %10.2f us\n",
		       name_of(strategy), median(batch, rounds), median(single, rounds));
	}
	fflush(stdout);
}

/* Mappings one flip of `tenk` adds, in a child: the parent stays unpatched. */
static void bench_maps(int strategy)
{
	int fds[2], status;
	int32_t got[3] = {-1, -1, -1};
	pid_t pid;

	if (pipe(fds))
		return;
	pid = fork();
	if (pid == 0) {
		int32_t index = lib.find("tenk"), out[3];

		close(fds[0]);
		if (strategy != BASELINE && lib.set_strategy(strategy))
			_exit(1);
		out[0] = lib.maps_lines();
		if (set_key(strategy, (uint32_t)index, 1))
			_exit(1);
		out[1] = lib.maps_lines();
		if (set_key(strategy, (uint32_t)index, 0))
			_exit(1);
		out[2] = lib.maps_lines();
		if (write(fds[1], out, sizeof out) != (ssize_t)sizeof out)
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	if (pid > 0 && read(fds[0], got, sizeof got) != (ssize_t)sizeof got)
		got[0] = -1;
	close(fds[0]);
	if (pid > 0)
		waitpid(pid, &status, 0);
	if (got[0] < 0)
		return;
	if (json)
		printf("{\"group\":\"maps\",\"strategy\":\"%s\",\"sites\":10000,"
		       "\"after_enable\":%d,\"after_pair\":%d}\n",
		       name_of(strategy), got[1] - got[0], got[2] - got[0]);
	else
		printf("maps  %-9s 10000 sites: %+d lines after a flip, %+d after a pair\n",
		       name_of(strategy), got[1] - got[0], got[2] - got[0]);
	fflush(stdout);
}

/* 1 when `strategy` can be chosen: tried in a child, this one unchanged. */
static int usable(int strategy)
{
	int status = 0;
	pid_t pid = fork();

	if (pid == 0)
		_exit(lib.set_strategy(strategy) ? 1 : 0);
	return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}

#define SYM(field, name)                                                       \
	do {                                                                   \
		*(void **)&lib.field = dlsym(h, name);                         \
		if (!lib.field)                                                \
			die(name);                                             \
	} while (0)

int main(int argc, char **argv)
{
	const char *path = STATIC_KEYS_BENCH_LIB;
	static const char *const keys[3] = {"one", "hundred", "tenk"};
	static const int sizes[3] = {1, 100, 10000};
	int strategies[33], n = 0;
	uint64_t st[STATS_FIELDS] = {0};
	int i, s, spinning;
	void *h;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--quick"))
			quick = 1;
		else
			path = argv[i];
	}
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		die(path);
	SYM(init, "static_keys_ffi_init");
	SYM(find, "static_keys_ffi_find");
	SYM(set, "static_keys_ffi_set");
	SYM(set_many, "static_keys_ffi_set_many");
	SYM(set_strategy, "static_keys_ffi_set_strategy");
	SYM(strategy_name, "static_keys_ffi_strategy_name");
	SYM(last_error, "static_keys_ffi_last_error");
	SYM(stats, "static_keys_ffi_stats");
	SYM(baseline_set, "bench_baseline_set");
	SYM(maps_lines, "bench_maps_lines");
	if (lib.init())
		die("init");
	lib.stats(st, STATS_FIELDS);
	/* Every strategy the module offers, by id: a new one is picked up. */
	for (s = 1; s < 32; s++)
		if (st[1] & (1ull << s) && s != STATIC_KEYS_STRATEGY_DIRECT)
			strategies[n++] = s;
	strategies[n++] = BASELINE;

	/* First, while this process is unpatched (alias moves the text). */
	for (i = 0; i < n; i++)
		bench_maps(strategies[i]);
	/* Offered is not usable: a probe at prepare may refuse (procmem). */
	for (i = 0, s = 0; i < n; i++) {
		if (strategies[i] != BASELINE && !usable(strategies[i])) {
			if (json)
				printf("{\"group\":\"refused\",\"strategy\":\"%s\"}\n",
				       name_of(strategies[i]));
			else
				printf("skip  %-9s refused here\n", name_of(strategies[i]));
			continue;
		}
		strategies[s++] = strategies[i];
	}
	n = s;
	for (i = 0; i < n; i++) {
		if (strategies[i] != BASELINE && lib.set_strategy(strategies[i]))
			die(name_of(strategies[i]));
		for (spinning = 0; spinning < 2; spinning++)
			for (s = 0; s < 3; s++)
				bench_flip(strategies[i], keys[s], sizes[s], spinning);
		if (strategies[i] != BASELINE)
			bench_batch(strategies[i]);
	}
	lib.set_strategy(STATIC_KEYS_STRATEGY_DEFAULT);
	return 0;
}
