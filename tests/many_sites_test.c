/* SPDX-License-Identifier: MIT */
/*
 * many_sites_test.c - a module with 10,000 generated sites over ten keys,
 * interleaved in address order. Init must sort them by (key, code) in
 * place; then every key is flipped alone and all together, and every site
 * is executed and read back after each flip.
 */
#include "check.h"
#include "plat.h"
#include "sites.h"
#include "static_keys.h"

DEFINE_STATIC_KEY_FALSE(k0);
DEFINE_STATIC_KEY_TRUE(k1);
DEFINE_STATIC_KEY_FALSE(k2);
DEFINE_STATIC_KEY_TRUE(k3);
DEFINE_STATIC_KEY_FALSE(k4);
DEFINE_STATIC_KEY_TRUE(k5);
DEFINE_STATIC_KEY_FALSE(k6);
DEFINE_STATIC_KEY_TRUE(k7);
DEFINE_STATIC_KEY_FALSE(k8);
DEFINE_STATIC_KEY_TRUE(k9);

#define NKEYS 10
#define NSITES 10000

/* X(n, key, kind) for n = 1000..10999; key k<last digit of n>. */
#define D10(X, p)                                                              \
	X(p##0, k0, unlikely) X(p##1, k1, likely) X(p##2, k2, likely)          \
	X(p##3, k3, unlikely) X(p##4, k4, unlikely) X(p##5, k5, likely)        \
	X(p##6, k6, likely) X(p##7, k7, unlikely) X(p##8, k8, unlikely)        \
	X(p##9, k9, likely)
#define D100(X, p)                                                             \
	D10(X, p##0) D10(X, p##1) D10(X, p##2) D10(X, p##3) D10(X, p##4)       \
	D10(X, p##5) D10(X, p##6) D10(X, p##7) D10(X, p##8) D10(X, p##9)
#define D1000(X, p)                                                            \
	D100(X, p##0) D100(X, p##1) D100(X, p##2) D100(X, p##3)                \
	D100(X, p##4) D100(X, p##5) D100(X, p##6) D100(X, p##7)                \
	D100(X, p##8) D100(X, p##9)
#define ALL(X)                                                                 \
	D1000(X, 1) D1000(X, 2) D1000(X, 3) D1000(X, 4) D1000(X, 5)            \
	D1000(X, 6) D1000(X, 7) D1000(X, 8) D1000(X, 9) D1000(X, 10)

#define FN(n, k, kind)                                                       \
	__attribute__((noinline)) static int f##n(void)                        \
	{                                                                      \
		return static_branch_##kind(&k) ? 1 : 0;                       \
	}
#define ROW(n, k, kind) {f##n, &k.key},

ALL(FN)

static const struct {
	int (*fn)(void);
	struct static_key *key;
} sites[NSITES] = {ALL(ROW)};

static struct static_key *const keys[NKEYS] = {
	&k0.key, &k1.key, &k2.key, &k3.key, &k4.key,
	&k5.key, &k6.key, &k7.key, &k8.key, &k9.key};

static int entries_sorted(const struct jump_entry *e, size_t n)
{
	size_t i;

	for (i = 1; i < n; i++) {
		uintptr_t ka = (uintptr_t)jump_entry_key(&e[i - 1]);
		uintptr_t kb = (uintptr_t)jump_entry_key(&e[i]);

		if (ka > kb || (ka == kb && jump_entry_code(&e[i - 1]) >= jump_entry_code(&e[i])))
			return 0;
	}
	return 1;
}

/* Executes all 10,000 sites; 1 when each returns its key's state. */
static int all_sites_follow(void)
{
	int i;

	for (i = 0; i < NSITES; i++)
		if (sites[i].fn() != sites[i].key->enabled)
			return 0;
	for (i = 0; i < NKEYS; i++)
		if (!sites_match(keys[i]))
			return 0;
	return 1;
}

/* Pages holding a byte of some site: what one request over all keys patches. */
static uint64_t pages_with_sites(const struct jump_entry *e, size_t n, uint64_t ps)
{
	uintptr_t lo = UINTPTR_MAX, hi = 0, p;
	uint64_t pages = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		uintptr_t c = jump_entry_code(&e[i]);

		lo = c < lo ? c : lo;
		hi = c > hi ? c : hi;
	}
	for (p = lo & ~(uintptr_t)(ps - 1); p <= hi + ARCH_JUMP_SIZE; p += ps) {
		for (i = 0; i < n; i++) {
			uintptr_t c = jump_entry_code(&e[i]);

			if (c < p + ps && c + ARCH_JUMP_SIZE > p) {
				pages++;
				break;
			}
		}
	}
	return pages;
}

int main(void)
{
	struct static_key_change all[NKEYS];
	struct os_sections sec;
	struct static_keys_stats st;
	size_t n;
	int i;

	/* Before init the linker's order interleaves the keys. */
	os_sections(&sec);
	n = (size_t)(sec.entries_stop - sec.entries_start);
	CHECK("10,000 entries", n == NSITES);
	CHECK("unsorted before init", !entries_sorted(sec.entries_start, n));

	CHECK_OK("init", static_keys_init());
	CHECK("sorted by (key, code) after init", entries_sorted(sec.entries_start, n));
	for (i = 0; i < NKEYS; i++) {
		uint32_t j;
		int own = 1;

		for (j = 0; j < keys[i]->sites; j++)
			own &= jump_entry_key(&keys[i]->entries[j]) == keys[i];
		CHECK("1,000 sites per key", keys[i]->sites == 1000);
		CHECK("each key points at its own entries", own);
	}
	CHECK("initial states", all_sites_follow());

	for (i = 0; i < NKEYS; i++) {
		CHECK_OK("flip one key", static_key_set(keys[i], !keys[i]->enabled));
		CHECK("every site follows one flip", all_sites_follow());
	}
	for (i = 0; i < NKEYS; i++) {
		all[i].key = keys[i];
		all[i].enabled = !keys[i]->enabled;
	}
	CHECK_OK("flip all ten in one request", static_keys_update(all, NKEYS));
	CHECK("every site follows the batch", all_sites_follow());
	static_keys_get_stats(&st);
	CHECK("the batch patched each page with a site once",
	      st.last_pages == pages_with_sites(sec.entries_start, n, st.page_size));
	/* the default strategy's cost per run of pages (a run is one page,
	 * or two when a site straddles them) */
	CHECK("default: its syscalls a run",
	      st.last_syscalls % plat_run_syscalls(PLAT_STRATEGY_DEFAULT) == 0 &&
		      st.last_syscalls <= plat_run_syscalls(PLAT_STRATEGY_DEFAULT) *
						 plat_passes(PLAT_STRATEGY_DEFAULT) * st.last_pages &&
		      st.last_syscalls > 0);
	for (i = 0; i < NKEYS; i++)
		all[i].enabled = 0;
	CHECK_OK("all off", static_keys_update(all, NKEYS));
	CHECK("every site off", all_sites_follow());
	CHECK("no wx", check_no_wx_mapping());
	return check_summary();
}
