/* SPDX-License-Identifier: MIT */
/*
 * none_test.c - the core on os/none.c, linked with -nostdlib and -N (text
 * writable, the embedder's side of none.c's contract): init's sort, the key
 * matrix executed through enable/disable/enable, inc/dec counting, the
 * old-bytes check, batches, a rolled-back multi-page request, the thread
 * hook. Runs on the host and under qemu-user.
 */
#include "static_keys.h"

#include "check_fs.h"
#include "../sites.h"

DEFINE_STATIC_KEY_TRUE(true_likely);
DEFINE_STATIC_KEY_TRUE(true_unlikely);
DEFINE_STATIC_KEY_FALSE(false_likely);
DEFINE_STATIC_KEY_FALSE(false_unlikely);
DEFINE_STATIC_KEY_TRUE(true_both);
DEFINE_STATIC_KEY_FALSE(false_both);
DEFINE_STATIC_KEY_FALSE(counted);
DEFINE_STATIC_KEY_FALSE(guarded);  /* two sites; the second gets corrupted */
DEFINE_STATIC_KEY_FALSE(far);      /* sites on three pages */
DEFINE_STATIC_KEY_FALSE(lonely);   /* no site at all */

#define ROWS(a) (sizeof(a) / sizeof((a)[0]))
#define NOINLINE __attribute__((noinline))

/* The thread hook of none.c, overridden: the "current thread" is tid. */
static uintptr_t tid = 7;

uintptr_t static_keys_none_thread_id(void)
{
	return tid;
}

/* A site of `far` before the others: its entries span the whole text. */
static NOINLINE int f_far_first(void)
{
	return static_branch_unlikely(&far) ? 1 : 0;
}

static NOINLINE int f_true_likely(void)
{
	return static_branch_likely(&true_likely);
}
static NOINLINE int f_true_unlikely(void)
{
	return static_branch_unlikely(&true_unlikely);
}
static NOINLINE int f_false_likely(void)
{
	return static_branch_likely(&false_likely);
}
static NOINLINE int f_false_unlikely(void)
{
	return static_branch_unlikely(&false_unlikely);
}

static NOINLINE int f_true_both(void)
{
	int r = 0;

	if (static_branch_likely(&true_both))
		r |= 1;
	if (static_branch_unlikely(&true_both))
		r |= 2;
	return r;
}

static NOINLINE int f_false_both(void)
{
	int r = 0;

	if (static_branch_unlikely(&false_both))
		r |= 1;
	if (static_branch_likely(&false_both))
		r |= 2;
	return r;
}

static NOINLINE int f_counted(void)
{
	return static_branch_unlikely(&counted) ? 1 : 0;
}

static NOINLINE int f_guarded(void)
{
	int r = 0;

	if (static_branch_unlikely(&guarded))
		r |= 1;
	if (static_branch_likely(&guarded))
		r |= 2;
	return r;
}

/*
 * Each holds a site of `far` on a page of its own, 8 KiB apart: the page
 * between them holds none, so `far` patches as two runs.
 */
static NOINLINE __attribute__((aligned(8192))) int f_far_a(void)
{
	return static_branch_unlikely(&far) ? 1 : 0;
}
static NOINLINE __attribute__((aligned(8192))) int f_far_b(void)
{
	return static_branch_likely(&far) ? 1 : 0;
}

/* ---- helpers ------------------------------------------------------------- */

/* Writes a site behind the core's back, as a stray patcher would. */
static void site_poke(uintptr_t code, const uint8_t *bytes)
{
	uint8_t *p = (uint8_t *)code;
	size_t i;

	for (i = 0; i < ARCH_JUMP_SIZE; i++)
		p[i] = bytes[i];
	arch_sync_icache(p, p + ARCH_JUMP_SIZE);
}

/* ---- init sorts the entries ---------------------------------------------- */

struct digest {
	uintptr_t sum, mix; /* order-free sums of (code, target, key) */
};

static int entry_before(const struct jump_entry *a, const struct jump_entry *b)
{
	if (jump_entry_key(a) != jump_entry_key(b))
		return jump_entry_key(a) < jump_entry_key(b);
	return jump_entry_code(a) < jump_entry_code(b);
}

static struct digest entries_digest(const struct os_sections *s, int *sorted)
{
	struct digest d; /* no initialiser: clang -O0 makes that a memset */
	const struct jump_entry *e;

	d.sum = 0;
	d.mix = 0;
	*sorted = 1;
	for (e = s->entries_start; e < s->entries_stop; e++) {
		uintptr_t c = jump_entry_code(e), t = jump_entry_target(e);
		uintptr_t k = jump_entry_key_raw(e);

		d.sum += c + 3 * t + 5 * k;
		d.mix ^= (c * 31 + t) * 17 + k;
		if (e > s->entries_start && entry_before(e, e - 1))
			*sorted = 0;
	}
	return d;
}

/*
 * Reverses the table in place before init, so init has real work whatever
 * order the compiler laid the sites out in. A moved entry's relative fields
 * shrink by the distance moved (the kernel's jump_label_swap).
 */
static void entry_move_to(struct jump_entry *to, const struct jump_entry *from,
			  struct jump_entry *tmp)
{
	uintptr_t d = (uintptr_t)to - (uintptr_t)from;

	tmp->code = (int32_t)((uint32_t)from->code - (uint32_t)d);
	tmp->target = (int32_t)((uint32_t)from->target - (uint32_t)d);
	tmp->key = (intptr_t)((uintptr_t)from->key - d);
}

static void entries_reverse(const struct os_sections *s)
{
	struct jump_entry *a = s->entries_start, *b = s->entries_stop - 1;

	for (; a < b; a++, b--) {
		struct jump_entry na, nb;

		entry_move_to(a, b, &na);
		entry_move_to(b, a, &nb);
		a->code = na.code;
		a->target = na.target;
		a->key = na.key;
		b->code = nb.code;
		b->target = nb.target;
		b->key = nb.key;
	}
}

static void test_init(void)
{
	struct static_keys_stats st;
	struct os_sections s;
	struct digest before, after;
	int sorted;

	os_sections(&s);
	CHECK("the linker gives the entry bounds",
	      s.entries_start && s.entries_stop > s.entries_start);
	CHECK("the linker gives the key bounds",
	      s.keys_start && s.keys_stop > s.keys_start);
	before = entries_digest(&s, &sorted);
	if (sorted)
		entries_reverse(&s);
	before = entries_digest(&s, &sorted);
	CHECK("entries start out of order", !sorted);

	CHECK_OK("init", static_keys_init());
	CHECK_OK("init is idempotent", static_keys_init());
	after = entries_digest(&s, &sorted);
	CHECK("init sorts entries by (key, code)", sorted);
	CHECK("sorting keeps every (code, target, key)",
	      before.sum == after.sum && before.mix == after.mix);
	CHECK("ten keys listed", static_keys_count() == 10);

	CHECK_OK("stats", static_keys_get_stats(&st));
	CHECK("none offers direct only",
	      st.strategies == 1u << STATIC_KEYS_STRATEGY_DIRECT);
	CHECK("direct is the default",
	      st.strategy == STATIC_KEYS_STRATEGY_DIRECT);
	CHECK("page size is the none.c constant", st.page_size == 4096);
	CHECK("remap is refused",
	      static_keys_set_strategy(STATIC_KEYS_STRATEGY_REMAP) ==
		      STATIC_KEYS_ENOTSUP);
	CHECK_OK("default strategy",
		 static_keys_set_strategy(STATIC_KEYS_STRATEGY_DEFAULT));
}

/* ---- the key matrix ------------------------------------------------------ */

struct row {
	const char *name;
	struct static_key *key;
	int initial;
	int (*branch)(void);
	int when_on; /* what branch() returns while the key is enabled */
	uint32_t sites;
};

static const struct row rows[] = {
	{"true key, likely", &true_likely.key, 1, f_true_likely, 1, 1},
	{"true key, unlikely", &true_unlikely.key, 1, f_true_unlikely, 1, 1},
	{"false key, likely", &false_likely.key, 0, f_false_likely, 1, 1},
	{"false key, unlikely", &false_unlikely.key, 0, f_false_unlikely, 1, 1},
	{"true key, both branches", &true_both.key, 1, f_true_both, 3, 2},
	{"false key, both branches", &false_both.key, 0, f_false_both, 3, 2},
};

static void verify(const struct row *r, int state)
{
	CHECK(r->name, r->key->enabled == state);
	CHECK(r->name, r->branch() == (state ? r->when_on : 0));
	CHECK(r->name, sites_hold(r->key, state));
}

static void test_matrix(void)
{
	size_t i;

	for (i = 0; i < ROWS(rows); i++) {
		const struct row *r = &rows[i];

		CHECK(r->name, r->key->sites >= r->sites);
		CHECK(r->name, r->key->type == r->initial);
		verify(r, r->initial);
		CHECK_OK(r->name, static_key_enable(r->key));
		verify(r, 1);
		CHECK_OK(r->name, static_key_disable(r->key));
		verify(r, 0);
		CHECK_OK(r->name, static_key_enable(r->key));
		verify(r, 1);
		CHECK_OK(r->name, static_key_set(r->key, r->initial));
		verify(r, r->initial);
	}
	CHECK_OK("a key without sites flips", static_branch_enable(&lonely));
	CHECK("lonely on", static_key_enabled(&lonely) == 1);
	CHECK_OK("lonely off", static_branch_disable(&lonely));
}

/* ---- inc / dec ----------------------------------------------------------- */

static void test_count(void)
{
	CHECK("count starts at 0", static_key_count(&counted) == 0);
	CHECK_OK("inc", static_branch_inc(&counted));
	CHECK("inc enables", f_counted() == 1 && static_key_count(&counted) == 1);
	CHECK_OK("inc again", static_branch_inc(&counted));
	CHECK("second inc counts", static_key_count(&counted) == 2);
	CHECK_OK("dec", static_branch_dec(&counted));
	CHECK("one dec keeps it on",
	      f_counted() == 1 && static_key_count(&counted) == 1);
	CHECK_OK("dec to zero", static_branch_dec(&counted));
	CHECK("dec to zero disables",
	      f_counted() == 0 && static_key_count(&counted) == 0);
	CHECK("dec below zero is refused",
	      static_branch_dec(&counted) == STATIC_KEYS_ECOUNT);
	CHECK("and changes nothing", f_counted() == 0 &&
					     static_key_count(&counted) == 0 &&
					     sites_hold(&counted.key, 0));
	CHECK("a true key counts 1",
	      static_key_count(&true_likely) == 1);
}

/* ---- the old-bytes check ------------------------------------------------- */

static void test_bad_site(void)
{
	struct static_key *k = &guarded.key;
	uint8_t bad[ARCH_JUMP_SIZE], good[ARCH_JUMP_SIZE], first[ARCH_JUMP_SIZE];
	uintptr_t c0, c1;
	const char *msg;

	CHECK("guarded has two sites", k->sites == 2);
	if (k->sites != 2)
		return;
	c0 = jump_entry_code(&k->entries[0]);
	c1 = jump_entry_code(&k->entries[1]);
	/* The later site holds the other instruction: "someone" patched it. */
	site_bytes(&k->entries[1], 0, good);
	site_bytes(&k->entries[1], 1, bad);
	site_bytes(&k->entries[0], 0, first);
	site_poke(c1, bad);

	CHECK("a corrupted site is refused",
	      static_branch_enable(&guarded) == STATIC_KEYS_EBADSITE);
	msg = static_keys_last_error();
	CHECK("the error names the site", msg[0] != '\0');
	CHECK("the key keeps its state", static_key_enabled(&guarded) == 0);
	CHECK("the first site was not written",
	      bytes_equal((const uint8_t *)c0, first, ARCH_JUMP_SIZE));
	CHECK("the bad site was not written",
	      bytes_equal((const uint8_t *)c1, bad, ARCH_JUMP_SIZE));

	{
		static const struct static_key_change both[2] = {
			{&false_likely.key, 1}, {&guarded.key, 1}};

		CHECK("a batch with a bad site is refused whole",
		      static_keys_update(both, 2) == STATIC_KEYS_EBADSITE);
		CHECK("its other key did not move",
		      static_key_enabled(&false_likely) == 0 &&
			      f_false_likely() == 0 &&
			      sites_hold(&false_likely.key, 0));
	}

	site_poke(c1, good);
	CHECK_OK("a repaired site flips", static_branch_enable(&guarded));
	CHECK("both branches follow", f_guarded() == 3);
	CHECK_OK("and back", static_branch_disable(&guarded));
	CHECK("back off", f_guarded() == 0);
}

/* ---- batches ------------------------------------------------------------- */

static void test_batch(void)
{
	struct static_keys_stats a, b;
	static struct static_key_change req[4] = {
		{&false_unlikely.key, 1},
		{&true_likely.key, 0},
		{&false_both.key, 0}, /* already off: a no-op */
		{&false_unlikely.key, 1}, /* twice, same state: fine */
	};
	static const struct static_key_change clash[2] = {{&counted.key, 1},
							   {&counted.key, 0}};
	static const struct static_key_change stray[1] = {
		{(struct static_key *)&tid, 1}};

	static_keys_get_stats(&a);
	CHECK_OK("batch", static_keys_update(req, 4));
	static_keys_get_stats(&b);
	CHECK("batch flipped both keys",
	      f_false_unlikely() == 1 && f_true_likely() == 0 &&
		      f_false_both() == 0);
	CHECK("batch sites match", sites_hold(&false_unlikely.key, 1) &&
					   sites_hold(&true_likely.key, 0));
	CHECK("one request, two flips",
	      b.requests == a.requests + 1 && b.flips == a.flips + 2);
	CHECK("direct makes no syscalls", b.syscalls == 0);

	CHECK("a key asked both ways is refused",
	      static_keys_update(clash, 2) == STATIC_KEYS_EINVAL);
	CHECK("and stays off", f_counted() == 0);
	CHECK("a pointer that is not a key is refused",
	      static_keys_update(stray, 1) == STATIC_KEYS_EINVAL);

	req[0].enabled = 0;
	req[1].enabled = 1;
	req[3].enabled = 0;
	CHECK_OK("batch back", static_keys_update(req, 4));
	CHECK("batch back restores", f_false_unlikely() == 0 &&
					     f_true_likely() == 1);
}

/* ---- a multi-page request that fails half way --------------------------- */

static void test_rollback(void)
{
	struct static_keys_stats st;

	CHECK("far has sites on several pages", far.key.sites >= 3 &&
		      (jump_entry_code(&far.key.entries[0]) >> 12) !=
			      (jump_entry_code(&far.key.entries[2]) >> 12));
	test_hooks.fault_at = 2; /* the second run's patch fails */
	CHECK("a failing page fails the request",
	      static_branch_enable(&far) == STATIC_KEYS_EPATCH);
	CHECK("pages before it are restored",
	      sites_hold(&far.key, 0) && f_far_a() == 0 && f_far_b() == 0 &&
		      f_far_first() == 0);
	CHECK("the key did not move", static_key_enabled(&far) == 0);
	test_hooks.fault_at = 0;
	CHECK_OK("then it flips", static_branch_enable(&far));
	CHECK("on every page",
	      f_far_a() == 1 && f_far_b() == 1 && f_far_first() == 1);
	static_keys_get_stats(&st);
	CHECK("several pages in one request", st.last_pages >= 2);
	CHECK_OK("far off", static_branch_disable(&far));
}

/* ---- threads ------------------------------------------------------------- */

static void test_thread_hook(void)
{
	tid = 8;
	CHECK("another thread id cannot flip",
	      static_branch_enable(&counted) == STATIC_KEYS_ETHREAD);
	tid = 7;
	CHECK_OK("the owner can", static_branch_enable(&counted));
	CHECK_OK("owner off", static_branch_disable(&counted));
}

int main(void)
{
	test_init();
	test_matrix();
	test_count();
	test_bad_site();
	test_batch();
	test_rollback();
	test_thread_hook();
	return check_summary();
}
