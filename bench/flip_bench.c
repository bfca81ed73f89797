/* SPDX-License-Identifier: MIT */
/*
 * flip_bench.c - what a static key costs and what a flip costs, natively.
 *
 *   branch   ns per call of a function whose test is a static branch (key
 *            off), against the same function testing a volatile flag
 *   flip     us per flip of one key (one page) under each strategy
 *   batch    us to flip three keys whose sites share a page in one request
 *            (one page patch), against three single flips (three)
 *
 * Prints one line per measurement: `name  value unit  (extra)`, medians of
 * several rounds. Numbers, not verdicts: tests never assert on timing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "static_keys.h"

DEFINE_STATIC_KEY_FALSE(bench_key);
DEFINE_STATIC_KEY_FALSE(batch_a);
DEFINE_STATIC_KEY_FALSE(batch_b);
DEFINE_STATIC_KEY_FALSE(batch_c);

static volatile int bench_flag;
static volatile uint64_t sink;

__attribute__((noinline)) static uint64_t with_static(uint64_t x)
{
	if (static_branch_unlikely(&bench_key))
		x = x * 3 + 1;
	return x + 1;
}

__attribute__((noinline)) static uint64_t with_flag(uint64_t x)
{
	if (bench_flag)
		x = x * 3 + 1;
	return x + 1;
}

/* The three keys of the batch share one page. */
__attribute__((noinline, aligned(4096))) static int batch_page(void)
{
	int n = 0;

	if (static_branch_unlikely(&batch_a))
		n |= 1;
	if (static_branch_unlikely(&batch_b))
		n |= 2;
	if (static_branch_unlikely(&batch_c))
		n |= 4;
	return n;
}

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

#define ROUNDS 9

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return v[n / 2];
}

static double per_call_ns(uint64_t (*fn)(uint64_t), int iterations)
{
	double r[ROUNDS];
	int i, j;

	for (i = 0; i < ROUNDS; i++) {
		uint64_t x = 0;
		double t0 = now_ns();

		for (j = 0; j < iterations; j++)
			x = fn(x);
		sink = x;
		r[i] = (now_ns() - t0) / iterations;
	}
	return median(r, ROUNDS);
}

static void bench_flip(int strategy, int flips)
{
	double r[ROUNDS];
	struct static_keys_stats st;
	int i, j, rc;

	if (static_keys_set_strategy(strategy)) {
		printf("flip.%-9s unavailable (%s)\n", static_keys_strategy_name(strategy),
		       static_keys_last_error());
		return;
	}
	for (i = 0; i < ROUNDS; i++) {
		double t0 = now_ns();

		for (j = 0; j < flips; j++)
			if ((rc = static_key_set(&bench_key.key, !(j & 1))))
				goto out_fail;
		r[i] = (now_ns() - t0) / flips / 1e3;
	}
	static_keys_get_stats(&st);
	printf("flip.%-9s %8.2f us  (%llu syscalls, %llu pages a flip)\n",
	       static_keys_strategy_name(strategy), median(r, ROUNDS),
	       (unsigned long long)st.last_syscalls, (unsigned long long)st.last_pages);
	return;
out_fail:
	printf("flip.%-9s failed: %s\n", static_keys_strategy_name(strategy),
	       static_keys_last_error());
}

static void bench_batch(int flips)
{
	struct static_key_change three[3] = {
		{&batch_a.key, 1}, {&batch_b.key, 1}, {&batch_c.key, 1}};
	double batch[ROUNDS], single[ROUNDS];
	int i, j, k;

	static_keys_set_strategy(STATIC_KEYS_STRATEGY_REMAP);
	for (i = 0; i < ROUNDS; i++) {
		double t0 = now_ns();

		for (j = 0; j < flips; j++) {
			for (k = 0; k < 3; k++)
				three[k].enabled = !(j & 1);
			static_keys_update(three, 3);
		}
		batch[i] = (now_ns() - t0) / flips / 1e3;
		t0 = now_ns();
		for (j = 0; j < flips; j++)
			for (k = 0; k < 3; k++)
				static_key_set(three[k].key, !(j & 1));
		single[i] = (now_ns() - t0) / flips / 1e3;
	}
	printf("batch.3keys     %8.2f us  (one request, one page patch)\n", median(batch, ROUNDS));
	printf("single.3keys    %8.2f us  (three requests, three page patches)\n",
	       median(single, ROUNDS));
	sink = (uint64_t)batch_page();
}

int main(int argc, char **argv)
{
	int scale = argc > 1 ? atoi(argv[1]) : 1;

	if (scale < 1)
		scale = 1;
	if (static_keys_init()) {
		fprintf(stderr, "init: %s\n", static_keys_last_error());
		return 1;
	}
	printf("branch.static   %8.3f ns  (key off)\n", per_call_ns(with_static, 2000000 * scale));
	printf("branch.flag     %8.3f ns  (volatile flag off)\n", per_call_ns(with_flag, 2000000 * scale));
	bench_flip(STATIC_KEYS_STRATEGY_REMAP, 200 * scale);
	bench_flip(STATIC_KEYS_STRATEGY_MPROTECT, 200 * scale);
	bench_flip(STATIC_KEYS_STRATEGY_ALIAS, 200 * scale);
	bench_batch(100 * scale);
	return 0;
}
