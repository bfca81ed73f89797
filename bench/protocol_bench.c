/* SPDX-License-Identifier: MIT */
/*
 * protocol_bench.c - what the cross-modification protocol costs
 * (docs/concurrency.md): per flip of a one-site key, and per request of a
 * key with 10,000 sites, under each in-place strategy with the protocol
 * and without it (a child process whose module sees no membarrier, as on
 * an old kernel). Prints one line per figure, medians of ROUNDS rounds:
 *   protocol <strategy> <what>  <with> us  <without> us  (+<diff> us)
 * Linux only (the switch that turns the protocol off is the Linux layer's).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "static_keys.h"

#include "os/test_hooks.h"


DEFINE_STATIC_KEY_FALSE(one);
DEFINE_STATIC_KEY_FALSE(wide);

#define ROUNDS 9
#define FLIPS 200
#define WIDE_FLIPS 10

__attribute__((noinline)) int bench_one(void)
{
	return static_branch_unlikely(&one) ? 1 : 0;
}

#define W1 if (static_branch_unlikely(&wide)) r++;
#define W10 W1 W1 W1 W1 W1 W1 W1 W1 W1 W1
#define W100 W10 W10 W10 W10 W10 W10 W10 W10 W10 W10
#define W1000 W100 W100 W100 W100 W100 W100 W100 W100 W100 W100

__attribute__((noinline)) int bench_wide(void)
{
	int r = 0;

	W1000 W1000 W1000 W1000 W1000 W1000 W1000 W1000 W1000 W1000
	return r;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median µs per flip of `key`, flipped `flips` times per round. */
static double per_flip(struct static_key *key, int flips)
{
	double r[ROUNDS];
	int i, j;

	for (i = 0; i < ROUNDS; i++) {
		double t0 = now_us();

		for (j = 0; j < flips; j++)
			if (static_key_set(key, !(j & 1)))
				return -1;
		r[i] = (now_us() - t0) / flips;
	}
	qsort(r, ROUNDS, sizeof r[0], cmp);
	return r[ROUNDS / 2];
}

/* In a child: the two figures for `strategy`, written to fd. */
static void measure(int strategy, int protocol, int fd)
{
	double v[2] = {-1, -1};

	test_hooks.no_sync_core = !protocol; /* before init */
	if (!static_keys_set_strategy(strategy)) {
		v[0] = per_flip(&one.key, FLIPS);
		v[1] = per_flip(&wide.key, WIDE_FLIPS);
	}
	if (write(fd, v, sizeof v) != (ssize_t)sizeof v)
		_exit(1);
	_exit(0);
}

static int run(int strategy, int protocol, double v[2])
{
	int p[2], status;
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		measure(strategy, protocol, p[1]);
	}
	close(p[1]);
	if (pid < 0 || read(p[0], v, 2 * sizeof v[0]) != 2 * sizeof v[0])
		v[0] = v[1] = -1;
	close(p[0]);
	if (pid > 0)
		waitpid(pid, &status, 0);
	return v[0] < 0 ? -1 : 0;
}

int main(void)
{
	static const int strategies[] = {STATIC_KEYS_STRATEGY_REMAP,
					 STATIC_KEYS_STRATEGY_PROCMEM,
					 STATIC_KEYS_STRATEGY_MPROTECT,
					 STATIC_KEYS_STRATEGY_ALIAS};
	static const char *const what[] = {"flip_1_site", "request_10000_sites"};
	size_t s;
	int w;

	/* no init here: each child's module decides on its own protocol */
	for (s = 0; s < sizeof strategies / sizeof strategies[0]; s++) {
		double with[2], without[2];

		if (run(strategies[s], 1, with) || run(strategies[s], 0, without)) {
			printf("protocol %s  skipped: refused here\n",
			       static_keys_strategy_name(strategies[s]));
			continue;
		}
		for (w = 0; w < 2; w++)
			printf("protocol %-8s %-20s %9.1f us  %9.1f us  (+%.1f us)\n",
			       static_keys_strategy_name(strategies[s]), what[w],
			       with[w], without[w], with[w] - without[w]);
	}
	return bench_one() + bench_wide() < 0;
}
