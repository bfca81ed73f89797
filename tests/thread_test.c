/* SPDX-License-Identifier: MIT */
/*
 * thread_test.c - the thread rules. Only the thread that initialised the
 * module may flip: another gets STATIC_KEYS_ETHREAD and changes nothing.
 * Other threads may execute sites while a flip runs under `remap` (the
 * page is swapped in one step): readers call the patched code in a loop
 * while the owner flips. The in-place strategies under the
 * cross-modification protocol are stressed by conc_test.c.
 */
#include "check.h"
#include "plat.h"
#include "sites.h"
#include "static_keys.h"

DEFINE_STATIC_KEY_FALSE(busy);
DEFINE_STATIC_KEY_TRUE(other);

static volatile int stop, started;
static volatile long bad_results;

__attribute__((noinline)) static int f_busy(void)
{
	int n = 0;

	if (static_branch_unlikely(&busy))
		n += 1;
	if (static_branch_likely(&other))
		n += 2;
	return n;
}

static void *foreign_flip(void *arg)
{
	intptr_t out = 0;

	(void)arg;
	out |= static_branch_enable(&busy) == STATIC_KEYS_ETHREAD ? 1 : 0;
	out |= static_keys_init() == STATIC_KEYS_ETHREAD ? 2 : 0;
	out |= static_branch_inc(&busy) == STATIC_KEYS_ETHREAD ? 4 : 0;
	out |= static_keys_set_strategy(STATIC_KEYS_STRATEGY_MPROTECT) == STATIC_KEYS_ETHREAD ? 8 : 0;
	return (void *)out;
}

static void *reader(void *arg)
{
	long *iterations = arg;

	__atomic_fetch_add(&started, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		int r = f_busy();

		if (r != 0 && r != 1 && r != 2 && r != 3)
			__atomic_fetch_add(&bad_results, 1, __ATOMIC_RELAXED);
		(*iterations)++;
	}
	return NULL;
}

/* Flips made while two threads ran the sites; 0 when a check failed. */
static int flip_under_load(int strategy, int flips)
{
	int failed = check_failed, done;
	plat_thread t[2];
	plat_thread_box box[2];
	long iterations[2] = {0, 0};
	int i, rc = 0;

	CHECK_OK("strategy", static_keys_set_strategy(strategy));
	stop = 0;
	started = 0;
	for (i = 0; i < 2; i++)
		CHECK("reader starts", plat_thread_start(&t[i], &box[i], reader, &iterations[i]) == 0);
	while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < 2)
		;
	for (done = 0; done < flips && !rc; done++)
		rc = static_key_set(&busy.key, done & 1 ? 0 : 1);
	CHECK_OK("every flip under load", rc);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 2; i++)
		plat_thread_join(t[i], &box[i]);
	CHECK("readers ran", iterations[0] > 0 && iterations[1] > 0);
	CHECK("readers saw only valid results", bad_results == 0);
	CHECK("sites consistent after load", sites_match(&busy.key) && sites_match(&other.key));
	CHECK("no wx after load", check_no_wx_mapping());
	return check_failed == failed ? done : 0;
}

int main(void)
{
	plat_thread t;
	plat_thread_box box;
	intptr_t got;

	CHECK_OK("init on main", static_keys_init());
	CHECK("starts off", f_busy() == 2);

	CHECK("thread starts", plat_thread_start(&t, &box, foreign_flip, NULL) == 0);
	got = (intptr_t)plat_thread_join(t, &box);
	CHECK("foreign enable refused", got & 1);
	CHECK("foreign init refused", got & 2);
	CHECK("foreign inc refused", got & 4);
	CHECK("foreign strategy refused", got & 8);
	CHECK("nothing changed", !static_key_enabled(&busy) && f_busy() == 2 &&
					 static_key_count(&busy) == 0 && sites_match(&busy.key));

	/* fewer where every flip is 20-50x slower */
	if (PLAT_STRATEGY_CONCURRENT)
		check_figure("flips survived under threads",
			     flip_under_load(PLAT_STRATEGY_CONCURRENT,
					     check_under_valgrind() || !check_prot_visible()
						     ? 2000
						     : 100000));
	else
		printf("skipped: no strategy here lets threads run sites while they change\n");
	return check_summary();
}
