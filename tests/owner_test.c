/* SPDX-License-Identifier: MIT */
/*
 * owner_test.c - who owns a module (README, "Threads"). Reading never
 * takes ownership; the first thread to init or flip owns the module while
 * it lives, every other thread is refused meanwhile, and once it has
 * exited the next thread to flip owns the module (also one the OS gives
 * the exited owner's pthread_t). Sixteen threads whose first call is a
 * read, released at once, all see the whole key table (init is run by one,
 * the others wait for it): init (through the core's test hook) holds on
 * until all sixteen have made their call, so the others do arrive while
 * it runs. An init that fails (twice, through the hook) is tried again by
 * the next call, which then sets the module up.
 */
#include <string.h>

#include "check.h"
#include "plat.h"
#include "sites.h"
#include "static_keys.h"

#define THREADS 16
#define ROUNDS 3

#define KEYS(X) X(k0) X(k1) X(k2) X(k3) X(k4) X(k5) X(k6) X(k7) X(k8) X(k9)
#define DEFINE(k) DEFINE_STATIC_KEY_FALSE(k);
KEYS(DEFINE)
#define NKEYS 10

__attribute__((noinline)) static int f(void)
{
	int n = 0;
#define USE(k) n += static_branch_unlikely(&k) ? 1 : 0;
	KEYS(USE)
	return n;
}

static int go, ready, calling;

/* Init runs on one of the readers: it lets the others arrive meanwhile. */
static void slow_setup(void)
{
	while (__atomic_load_n(&calling, __ATOMIC_SEQ_CST) < THREADS)
		plat_yield();
	plat_sleep_ms(20); /* not a timed check: only widens the window */
}

struct seen {
	size_t count;
	int found;
};

static void *first_read(void *arg)
{
	struct seen *s = arg;

	__atomic_fetch_add(&ready, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
		plat_yield();
	__atomic_fetch_add(&calling, 1, __ATOMIC_SEQ_CST);
	s->count = static_keys_count();
	s->found = static_keys_find("k9") == &k9.key && static_keys_at(NKEYS - 1) != NULL;
	return NULL;
}

/*
 * Forgets init and owner: the next call sets the module up again, as in a
 * fresh process (keys as defined: what flips noted is gone).
 */
static void module_forget(void)
{
	struct static_key *k;

	for (k = this_module.sec.keys_start; k && k < this_module.sec.keys_stop; k++)
		k->reserved = 0;
	this_module.init = MODULE_NEW;
	this_module.setup_thread = 0;
	this_module.owner = 0;
}

/* 1 when every reader of a round saw the whole table. */
static int race_round(void)
{
	plat_thread t[THREADS];
	plat_thread_box box[THREADS];
	struct seen seen[THREADS];
	int i, all = 1;

	module_forget();
	go = ready = calling = 0;
	test_hooks.after_setup = slow_setup;
	for (i = 0; i < THREADS; i++)
		if (plat_thread_start(&t[i], &box[i], first_read, &seen[i]))
			return 0;
	while (__atomic_load_n(&ready, __ATOMIC_SEQ_CST) < THREADS)
		plat_yield();
	__atomic_store_n(&go, 1, __ATOMIC_RELEASE);
	for (i = 0; i < THREADS; i++) {
		plat_thread_join(t[i], &box[i]);
		test_hooks.after_setup = NULL;
		if (seen[i].count != NKEYS || !seen[i].found) {
			fprintf(stderr, "  thread %d saw %zu keys\n", i, seen[i].count);
			all = 0;
		}
	}
	return all;
}

struct attempt {
	uintptr_t raw;
	int init, enable;
	int hold; /* 1: stay alive, owning, until `release` */
};

static int held, release;

static void *try_own(void *arg)
{
	struct attempt *a = arg;

	a->raw = plat_thread_raw_id();
	a->init = static_keys_init();
	a->enable = static_branch_enable(&k0);
	if (!a->enable)
		a->enable = static_branch_disable(&k0);
	if (a->hold) {
		__atomic_store_n(&held, 1, __ATOMIC_RELEASE);
		while (!__atomic_load_n(&release, __ATOMIC_ACQUIRE))
			plat_yield();
	}
	return NULL;
}

static void attempt(struct attempt *a)
{
	plat_thread t;
	plat_thread_box box;

	CHECK("thread starts", plat_thread_start(&t, &box, try_own, a) == 0);
	plat_thread_join(t, &box);
}

int main(void)
{
	struct attempt first = {0}, second = {0}, third = {0};
	plat_thread t;
	plat_thread_box box;
	int round, failed = 0;

	for (round = 0; round < ROUNDS && !failed; round++)
		failed = !race_round();
	CHECK("16 first calls at once all see every key", !failed);

	/* The readers took no ownership: the next thread to init gets it. */
	first.hold = 1;
	CHECK("owner starts", plat_thread_start(&t, &box, try_own, &first) == 0);
	while (!__atomic_load_n(&held, __ATOMIC_ACQUIRE))
		plat_yield();
	CHECK("a thread after readers owns the module", first.init == 0 && first.enable == 0);
	CHECK("a reader's read does not own", static_keys_count() == NKEYS);

	/* While the owner lives, every other thread is refused. */
	CHECK("the main thread is refused while the owner lives",
	      static_branch_enable(&k0) == STATIC_KEYS_ETHREAD);
	attempt(&second);
	CHECK("so is a new thread", second.init == STATIC_KEYS_ETHREAD &&
					    second.enable == STATIC_KEYS_ETHREAD);
	CHECK("nothing changed", !static_key_enabled(&k0) && f() == 0 && sites_match(&k0.key));
	__atomic_store_n(&release, 1, __ATOMIC_RELEASE);
	plat_thread_join(t, &box);

	/*
	 * The owner exited: an owner that is gone cannot flip, so the module
	 * is free again, and the next thread to flip owns it, even one the
	 * OS gave the exited owner's pthread_t.
	 */
#if PLAT_EXIT_RELEASES_OWNER
	{
		attempt(&third);
		if (third.raw == first.raw)
			printf("note: the OS gave the new thread the exited owner's id\n");
		CHECK("after the owner exits, the next thread owns the module",
		      third.init == 0 && third.enable == 0);
		CHECK_OK("and after that one exits, the main thread flips",
			 static_branch_enable(&k0));
		CHECK("flipped", f() == 1 && sites_match(&k0.key));
		CHECK_OK("back", static_branch_disable(&k0));
		third.init = third.enable = 0;
		attempt(&third);
		CHECK("then others are refused while the main thread lives",
		      third.init == STATIC_KEYS_ETHREAD && third.enable == STATIC_KEYS_ETHREAD);
	}
#else
	/* no thread-exit hook: the exited owner keeps the module */
	attempt(&third);
	if (third.raw == first.raw)
		printf("note: the OS gave the new thread the exited owner's id\n");
	CHECK("a new thread, even with the exited owner's id, is refused",
	      third.init == STATIC_KEYS_ETHREAD && third.enable == STATIC_KEYS_ETHREAD);
	CHECK("ownership stays with the exited owner",
	      static_branch_enable(&k0) == STATIC_KEYS_ETHREAD);
	module_forget();
#endif

	/* A fresh module whose first call is the main thread's flip. */
	module_forget();
	CHECK("a read first", static_keys_count() == NKEYS);
	CHECK_OK("then the main thread flips", static_branch_enable(&k0));
	CHECK("flipped", f() == 1);
	attempt(&second);
	CHECK("others are refused", second.init == STATIC_KEYS_ETHREAD);

	/* A failed init is not kept: the next call sets the module up again. */
	CHECK_OK("back", static_branch_disable(&k0));
	module_forget();
	test_hooks.setup_fail = 1;
	CHECK("init fails (the image lookup, through the hook)",
	      static_keys_init() == STATIC_KEYS_EINIT &&
		      strstr(static_keys_last_error(), "Cannot init module") != NULL);
	test_hooks.setup_fail = 1;
	CHECK("so does a flip that tries it again, changing nothing",
	      static_branch_enable(&k0) == STATIC_KEYS_EINIT && !static_key_enabled(&k0) &&
		      f() == 0);
	CHECK_OK("the next init succeeds", static_keys_init());
	CHECK_OK("and a flip works", static_branch_enable(&k0));
	CHECK("flipped", f() == 1 && static_key_enabled(&k0) && sites_match(&k0.key));
	CHECK_OK("back", static_branch_disable(&k0));
	return check_summary();
}
