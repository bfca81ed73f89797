/* SPDX-License-Identifier: MIT */
/*
 * refusal_test.c - every system call a flip makes, refused by the OS in
 * turn (a seccomp filter in a forked child), under every strategy: the
 * calls of remap, mprotect (and the ways it closes its window), procmem,
 * alias (its set-up in a forked child), and the protocol's core
 * synchronisations and breakpoint handler; in a request of one run of four
 * pages and in one of two runs (refused at the second run), and with the
 * restore refused too. Two keys share the pages, TRUE and FALSE, each with
 * a likely and an unlikely site on every page.
 *
 * After each refusal the child checks: no key changed; every byte of the
 * pages outside the sites is as before; every site holds its key's
 * instruction, or (where the error says so, naming how many and which)
 * the other one or the protocol's breakpoint over either, never anything
 * else; the error claims a restore only when every site agrees; no
 * mapping is writable and executable unless the error says so, and then
 * only the pages it names; every guarded function runs and returns what
 * its sites say (its key's state wherever the sites agree or hold the
 * breakpoint). Then static_keys_repair() through a strategy the filter
 * leaves alone puts every site right, and a flip there works.
 *
 * `refusal_test plain` runs the same without the cross-modification
 * protocol (one whole-site write per run, as on a kernel without
 * membarrier SYNC_CORE). A further argument runs only the cases whose
 * name contains it (`refusal_test "second run's head"`). Skipped where seccomp cannot be installed
 * (qemu-user refuses PR_SET_SECCOMP: a guest cannot filter the emulator)
 * or would filter the wrong calls (valgrind makes them itself).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "plat.h"
#include "sites.h"
#include "static_keys.h"

#if defined(__linux__) &&                                                      \
	(defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) ||  \
	 (defined(__riscv) && __riscv_xlen == 64))
#include "seccomp.h"


DEFINE_STATIC_KEY_FALSE(rf);
DEFINE_STATIC_KEY_TRUE(rt);

#define PAGE 4096
#define NPAGES 7 /* a0..a3, a page without sites, b0, b1 */

/* Bit per site: rf unlikely, rf likely, rt unlikely, rt likely. */
#define RUN_FN(name)                                                           \
	__attribute__((noinline, aligned(PAGE), section(".text.sk_refusal")))  \
	int name(void)                                                         \
	{                                                                      \
		int n = 0;                                                     \
		if (static_branch_unlikely(&rf))                               \
			n |= 1;                                                \
		if (static_branch_likely(&rf))                                 \
			n |= 2;                                                \
		if (static_branch_unlikely(&rt))                               \
			n |= 4;                                                \
		if (static_branch_likely(&rt))                                 \
			n |= 8;                                                \
		return n;                                                      \
	}
#define RT_FN(name)                                                            \
	__attribute__((noinline, aligned(PAGE), section(".text.sk_refusal")))  \
	int name(void)                                                         \
	{                                                                      \
		int n = 0;                                                     \
		if (static_branch_unlikely(&rt))                               \
			n |= 4;                                                \
		if (static_branch_likely(&rt))                                 \
			n |= 8;                                                \
		return n;                                                      \
	}
/* in this order, one page each: run A (4 pages), a gap, run B (2 pages) */
RUN_FN(a0)
RUN_FN(a1)
RUN_FN(a2)
RUN_FN(a3)
__attribute__((noinline, aligned(PAGE), section(".text.sk_refusal"))) int gap(int x)
{
	return x * 3 + 1;
}
RT_FN(b0)
RT_FN(b1)

static int (*const fns[6])(void) = {a0, a1, a2, a3, b0, b1};

/* ---- what a request is, where it runs ------------------------------------ */

enum req { REQ_RF, REQ_RT, REQ_BOTH }; /* rf on: run A; rt off: A and B */

static uintptr_t run_a, run_b; /* first pages */
static uint8_t before[NPAGES * PAGE];

/* Symbolic values of rule arguments, resolved in the child. */
enum { V_K, V_A, V_B, V_LA, V_LB, V_LO };

struct arg {
	int arg;
	enum sc_op op;
	int base;
	uint64_t k;
};

struct rule {
	long nr;
	int err;
	struct arg a[3];
};

static uint64_t resolve(int base, uint64_t k)
{
	switch (base) {
	case V_A:
	case V_LO:
		return run_a + k;
	case V_B:
		return run_b + k;
	case V_LA:
		return 4 * PAGE + k;
	case V_LB:
		return 2 * PAGE + k;
	default:
		return k;
	}
}

static size_t to_sc(const struct rule *r, struct sc_rule *out)
{
	size_t n = 0;
	int i;

	for (; r && r->nr; r++, n++) {
		out[n].nr = r->nr;
		out[n].err = r->err;
		for (i = 0; i < 3; i++) {
			out[n].cond[i].arg = r->a[i].arg;
			out[n].cond[i].op = r->a[i].op;
			out[n].cond[i].value = resolve(r->a[i].base, r->a[i].k);
		}
	}
	return n;
}

#define RX (PROT_READ | PROT_EXEC)
#define RW (PROT_READ | PROT_WRITE)
#define RWX (PROT_READ | PROT_WRITE | PROT_EXEC)
#define A_EQ(i, b, k) {i, SC_EQ, b, k}
#define A_NE(i, b, k) {i, SC_NE, b, k}
#define A_GE(i, b, k) {i, SC_GE, b, k}
#define MPROTECT(at, prot) {__NR_mprotect, EPERM, {A_EQ(0, at, 0), A_EQ(2, V_K, prot)}}
#define MPROTECT_COPY {__NR_mprotect, EPERM, {A_NE(0, V_A, 0), A_EQ(1, V_LA, 0), A_EQ(2, V_K, RX)}}
#define MMAP_COPY(err) {SC_NR_MMAP, err, {A_EQ(0, V_K, 0), A_EQ(1, V_LA, 0), A_EQ(2, V_K, RW)}}
#define MREMAP_TO(at) {__NR_mremap, EPERM, {A_EQ(4, at, 0)}}
#define PWRITE(err) {__NR_pwrite64, err, {{0, SC_NONE, 0, 0}}}
#define PWRITE_FROM(at) {__NR_pwrite64, EPERM, {A_GE(3, at, 0)}}
#define SYNC_CORE {__NR_membarrier, EPERM, {A_EQ(0, V_K, 1 << 5)}}

/* One refusal: what is refused, in which request, and what the user sees. */
struct tcase {
	const char *what;
	int strategy;
	enum req req;
	int mode;              /* 0: both, 1: with the protocol only, 2: plain only */
	struct rule now[3];    /* refused from before the request on */
	int at;                /* before this os_patch of the request (1: the first) */
	struct rule then[3];   /* refused from there on too */
	int rc;                /* STATIC_KEYS_EPATCH or STATIC_KEYS_EWX */
	const char *says;      /* in the error text */
	int transient;         /* the text calls it a transient refusal */
	int cleanup;           /* a strategy the filter leaves alone */
};

#define S(x) STATIC_KEYS_STRATEGY_##x
#define EP STATIC_KEYS_EPATCH
#define EWX STATIC_KEYS_EWX

static const struct tcase cases[] = {
	/* remap: mmap, mprotect(r-x) and mremap of the copy */
	{"remap: mmap of the copy", S(REMAP), REQ_RF, 0, {MMAP_COPY(ENOMEM)}, 0, {{0}}, EP, "mmap", 1, S(MPROTECT)},
	{"remap: mprotect(r-x) of the copy", S(REMAP), REQ_RF, 0, {MPROTECT_COPY}, 0, {{0}}, EP, "mprotect", 0, S(MPROTECT)},
	{"remap: mremap over the run", S(REMAP), REQ_RF, 0, {MREMAP_TO(V_A)}, 0, {{0}}, EP, "mremap", 0, S(MPROTECT)},
	{"remap: the second of two runs", S(REMAP), REQ_RT, 0, {MREMAP_TO(V_B)}, 0, {{0}}, EP, "mremap", 0, S(MPROTECT)},
	{"remap: the second run, then restoring the first (procmem's write restores)", S(REMAP), REQ_RT, 0,
	 {MREMAP_TO(V_B)}, 3, {MREMAP_TO(V_A)}, EP, "mremap", 0, S(MPROTECT)},
	{"remap: the second run, then every way of restoring the first", S(REMAP), REQ_RT, 0,
	 {MREMAP_TO(V_B)}, 3, {MREMAP_TO(V_A), PWRITE(EPERM)}, EP, "mremap", 0, S(MPROTECT)},

	/* mprotect: rwx, r-x, and the r-x copy that closes the window */
	{"mprotect: mprotect(rwx)", S(MPROTECT), REQ_RF, 0, {MPROTECT(V_A, RWX)}, 0, {{0}}, EP, "mprotect(rwx)", 0, S(REMAP)},
	{"mprotect: mprotect(r-x), closed by an r-x copy", S(MPROTECT), REQ_RF, 0, {MPROTECT(V_A, RX)}, 0, {{0}}, EP,
	 "mprotect(r-x)", 0, S(REMAP)},
	{"mprotect: mprotect(r-x) and the copy's mmap", S(MPROTECT), REQ_RF, 0, {MPROTECT(V_A, RX), MMAP_COPY(ENOMEM)}, 0,
	 {{0}}, EWX, "left writable and executable", 0, S(PROCMEM)},
	{"mprotect: mprotect(r-x) and the copy's mprotect(r-x)", S(MPROTECT), REQ_RF, 0, {MPROTECT(V_A, RX), MPROTECT_COPY},
	 0, {{0}}, EWX, "left writable and executable", 0, S(PROCMEM)},
	{"mprotect: mprotect(r-x) and the anonymous copy; a remap of the file closes it", S(MPROTECT), REQ_RF, 0,
	 {MPROTECT(V_A, RX), {SC_NR_MMAP, ENOMEM, {A_EQ(1, V_LA, 0), A_EQ(3, V_K, MAP_PRIVATE | MAP_ANONYMOUS)}}}, 0,
	 {{0}}, EWX, "left writable and executable", 0, S(REMAP)},
	{"mprotect: mprotect(r-x) and the copy's mremap", S(MPROTECT), REQ_RF, 0, {MPROTECT(V_A, RX), MREMAP_TO(V_A)}, 0,
	 {{0}}, EWX, "left writable and executable", 0, S(PROCMEM)},
	{"mprotect: the second of two runs (rwx)", S(MPROTECT), REQ_RT, 0, {MPROTECT(V_B, RWX)}, 0, {{0}}, EP,
	 "mprotect(rwx)", 0, S(REMAP)},
	{"mprotect: the second of two runs (r-x)", S(MPROTECT), REQ_RT, 0, {MPROTECT(V_B, RX)}, 0, {{0}}, EP,
	 "mprotect(r-x)", 0, S(REMAP)},
	{"mprotect: the second run, then every way of restoring the first", S(MPROTECT), REQ_RT, 0,
	 {MPROTECT(V_B, RWX)}, 3, {MPROTECT(V_A, RWX), PWRITE(EPERM)}, EP, "mprotect(rwx)", 0, S(REMAP)},
	/* with the protocol (x86): a flip changes byte 0, so two passes, the
	 * breakpoint and the head, each one os_patch per run */
	{"mprotect: rwx from the head pass on (procmem's write restores)", S(MPROTECT), REQ_RF, 1, {{0}}, 2,
	 {MPROTECT(V_A, RWX)}, EP, "mprotect(rwx)", 0, S(REMAP)},
	{"mprotect: rwx and every restore from the head pass on", S(MPROTECT), REQ_RF, 1, {{0}}, 2,
	 {MPROTECT(V_A, RWX), PWRITE(EPERM)}, EP, "mprotect(rwx)", 0, S(REMAP)},
	{"mprotect: r-x from the head pass on", S(MPROTECT), REQ_BOTH, 1, {{0}}, 3, {MPROTECT(V_A, RX)}, EP,
	 "mprotect(r-x)", 0, S(REMAP)},
	/* two runs: patches 1 and 2 are the breakpoint pass over A and B,
	 * 3 and 4 the head pass; from 4 on the second run's head fails and
	 * the first run's head, already written, comes back */
	{"mprotect: rwx from the second run's head pass on", S(MPROTECT), REQ_RT, 1, {{0}}, 4,
	 {MPROTECT(V_A, RWX), MPROTECT(V_B, RWX)}, EP, "mprotect(rwx)", 0, S(REMAP)},
	{"mprotect: r-x from the second run's head pass on", S(MPROTECT), REQ_RT, 1, {{0}}, 4, {MPROTECT(V_B, RX)},
	 EP, "mprotect(r-x)", 0, S(REMAP)},
	{"mprotect: rwx from the head pass on, and the restore's core syncs", S(MPROTECT), REQ_RF, 1, {{0}}, 2,
	 {MPROTECT(V_A, RWX), SYNC_CORE}, EP, "mprotect(rwx)", 0, S(REMAP)},

	/* procmem: the one pwrite per run */
	{"procmem: pwrite", S(PROCMEM), REQ_RF, 0, {PWRITE(EPERM)}, 0, {{0}}, EP, "pwrite", 0, S(REMAP)},
	{"procmem: pwrite, interrupted every time", S(PROCMEM), REQ_RF, 0, {PWRITE(EINTR)}, 0, {{0}}, EP, "pwrite", 1,
	 S(REMAP)},
	{"procmem: pwrite from the head pass on", S(PROCMEM), REQ_RF, 1, {{0}}, 2, {PWRITE(EPERM)}, EP, "pwrite", 0, S(REMAP)},
	{"procmem: pwrite from the second run's breakpoint pass on", S(PROCMEM), REQ_RT, 1, {{0}}, 2, {PWRITE(EPERM)}, EP,
	 "pwrite", 0, S(REMAP)},
	{"procmem: pwrite from the second run's head pass on", S(PROCMEM), REQ_RT, 1, {{0}}, 4, {PWRITE(EPERM)}, EP,
	 "pwrite", 0, S(REMAP)},
	{"procmem: both keys, pwrite and the restore's core syncs from the second run's head pass on", S(PROCMEM),
	 REQ_BOTH, 1, {{0}}, 4, {PWRITE(EPERM), SYNC_CORE}, EP, "pwrite", 0, S(REMAP)},
	{"procmem: the second of two runs", S(PROCMEM), REQ_RT, 0, {PWRITE_FROM(V_B)}, 0, {{0}}, EP, "pwrite", 0, S(REMAP)},
	{"procmem: the second run, then restoring the first", S(PROCMEM), REQ_RT, 0, {PWRITE_FROM(V_B)}, 3,
	 {PWRITE(EPERM)}, EP, "pwrite", 0, S(REMAP)},

	/* alias: a forked child sets up its own memfd at its first flip */
	{"alias: memfd_create", S(ALIAS), REQ_RF, 0, {{__NR_memfd_create, EMFILE, {{0}}}}, 0, {{0}}, EP, "memfd_create", 1,
	 S(REMAP)},
	{"alias: ftruncate", S(ALIAS), REQ_RF, 0, {{SC_NR_FTRUNCATE, EPERM, {{0}}}}, 0, {{0}}, EP, "ftruncate", 0, S(REMAP)},
	{"alias: mmap of the rw- view", S(ALIAS), REQ_RF, 0,
	 {{SC_NR_MMAP, ENOMEM, {A_EQ(2, V_K, RW), A_EQ(3, V_K, MAP_SHARED)}}}, 0, {{0}}, EP, "mmap(rw)", 1, S(REMAP)},
	{"alias: mmap of the r-x view over the text", S(ALIAS), REQ_RF, 0,
	 {{SC_NR_MMAP, EPERM, {A_EQ(0, V_LO, 0), A_EQ(3, V_K, MAP_SHARED | MAP_FIXED)}}}, 0, {{0}}, EP,
	 "mmap(r-x, fixed)", 0, S(REMAP)},

	/* the protocol: a core synchronisation after each pass but the last
	 * (x86: after the breakpoint pass only, docs/concurrency.md), the
	 * handler */
	{"procmem: core sync after the breakpoint pass", S(PROCMEM), REQ_RF, 1, {SYNC_CORE}, 0, {{0}}, EP,
	 "core synchronisation", 0, S(REMAP)},
	{"procmem: core sync after the breakpoint pass over two runs", S(PROCMEM), REQ_RT, 1, {{0}}, 2, {SYNC_CORE}, EP,
	 "core synchronisation", 0, S(REMAP)},
	{"mprotect: core sync after the breakpoint pass over two runs", S(MPROTECT), REQ_RT, 1, {{0}}, 2, {SYNC_CORE},
	 EP, "core synchronisation", 0, S(REMAP)},
	{"alias: core sync after the breakpoint pass", S(ALIAS), REQ_RF, 1, {SYNC_CORE}, 0, {{0}}, EP,
	 "core synchronisation", 0, S(REMAP)},
	{"procmem: the breakpoint handler", S(PROCMEM), REQ_RF, 1,
	 {{__NR_rt_sigaction, EPERM, {A_EQ(0, V_K, SIGTRAP)}}}, 0, {{0}}, EP, "breakpoint handler", 0, S(REMAP)},
	{"alias: the breakpoint handler", S(ALIAS), REQ_RF, 1, {{__NR_rt_sigaction, EPERM, {A_EQ(0, V_K, SIGTRAP)}}},
	 0, {{0}}, EP, "breakpoint handler", 0, S(REMAP)},
};

/* ---- the child's checks --------------------------------------------------- */

static const struct tcase *cur;
static int hook_calls;
static struct sc_rule then_rules[3];
static size_t then_count;

/* Before each os_patch: the refusals that start part way in go in. */
static void hook(void)
{
	if (++hook_calls == cur->at && then_count && sc_install(then_rules, then_count)) {
		perror("seccomp (then)");
		_exit(99);
	}
}

static int is_site_byte(uintptr_t a)
{
	const struct static_key *keys[2] = {&rf.key, &rt.key};
	uint32_t i;
	int k;

	for (k = 0; k < 2; k++)
		for (i = 0; i < keys[k]->sites; i++) {
			uintptr_t c = jump_entry_code(&keys[k]->entries[i]);

			if (c <= a && a < c + ARCH_JUMP_SIZE)
				return 1;
		}
	return 0;
}

/* What a site makes its code do: 1 like its key on, 0 off, -1 neither. */
static int site_effect(const struct static_key *k, const struct jump_entry *e)
{
	const uint8_t *at = (const uint8_t *)jump_entry_code(e);
	uint8_t b[ARCH_JUMP_SIZE];
	int state;

	(void)k; /* the breakpoint's answer, where there is one */
	for (state = 0; state < 2; state++) {
		site_bytes(e, state, b);
		if (bytes_equal(at, b, ARCH_JUMP_SIZE))
			return state;
	}
#if ARCH_NEEDS_BREAKPOINT
	/* the breakpoint over either instruction: the handler runs the key's state */
	arch_breakpoint(b);
	if (bytes_equal(at, b, ARCH_BREAKPOINT_SIZE))
		for (state = 0; state < 2; state++) {
			uint8_t w[ARCH_JUMP_SIZE];

			site_bytes(e, state, w);
			if (bytes_equal(at + ARCH_BREAKPOINT_SIZE, w + ARCH_BREAKPOINT_SIZE,
					ARCH_JUMP_SIZE - ARCH_BREAKPOINT_SIZE))
				return k->enabled;
		}
#endif
	return -1;
}

static int site_agrees(const struct static_key *k, const struct jump_entry *e)
{
	uint8_t b[ARCH_JUMP_SIZE];

	site_bytes(e, k->enabled, b);
	return bytes_equal((const uint8_t *)jump_entry_code(e), b, ARCH_JUMP_SIZE);
}

static int site_mask(const struct static_key *k, const struct jump_entry *e)
{
	int m = jump_entry_branch(e) ? 2 : 1;

	return k == &rt.key ? m << 2 : m;
}

/*
 * Checks every site; fills what each function must return (from its
 * sites), and returns how many sites disagree with their key, -1 when a
 * site holds bytes that are neither of its instructions.
 */
static int read_sites(int want[6], int *all_key_state)
{
	const struct static_key *keys[2] = {&rf.key, &rt.key};
	int bad = 0, k, f;
	uint32_t i;

	for (f = 0; f < 6; f++)
		want[f] = 0;
	*all_key_state = 1;
	for (k = 0; k < 2; k++)
		for (i = 0; i < keys[k]->sites; i++) {
			const struct jump_entry *e = &keys[k]->entries[i];
			int eff = site_effect(keys[k], e);
			uintptr_t page = jump_entry_code(e) & ~(uintptr_t)(PAGE - 1);

			if (eff < 0) {
				const uint8_t *b = (const uint8_t *)jump_entry_code(e);

				fprintf(stderr, "  site %p holds %02x %02x: neither instruction\n",
					(void *)jump_entry_code(e), b[0], b[1]);
				return -1;
			}
			if (!site_agrees(keys[k], e))
				bad++;
			if (eff != keys[k]->enabled)
				*all_key_state = 0;
			for (f = 0; f < 6; f++)
				if (page == (uintptr_t)fns[f] && eff)
					want[f] |= site_mask(keys[k], e);
		}
	return bad;
}

/* Every rwx mapping lies in [lo, hi); *any says whether there is one. */
static int wx_within(uintptr_t lo, uintptr_t hi, int *any)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int ok = 1;

	*any = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		uintptr_t a, b;
		char perms[8] = "";

		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s", &a, &b, perms) != 3 ||
		    perms[1] != 'w' || perms[2] != 'x')
			continue;
		*any = 1;
		if (a < lo || b > hi) {
			fprintf(stderr, "  writable+executable: %s", line);
			ok = 0;
		}
	}
	fclose(f);
	return ok;
}

static int request(enum req r, int forward)
{
	struct static_key_change c[2] = {{&rf.key, forward}, {&rt.key, !forward}};

	switch (r) {
	case REQ_RF:
		return static_keys_update(&c[0], 1);
	case REQ_RT:
		return static_keys_update(&c[1], 1);
	default:
		return static_keys_update(c, 2);
	}
}

/* The functions return what their sites say; 1 when all do. */
static int functions_agree(const int want[6])
{
	int f, ok = 1;

	for (f = 0; f < 6; f++)
		if (fns[f]() != want[f]) {
			fprintf(stderr, "  function %d returns %d, its sites say %d\n", f,
				fns[f](), want[f]);
			ok = 0;
		}
	return ok;
}

static int tally[2] = {-1, -1}; /* the children's counts of checks passed */

/* Ends a child: its passed checks to the parent, its failures as status. */
static void child_done(void)
{
	int n = check_passed;

	if (write(tally[1], &n, sizeof n) != (ssize_t)sizeof n)
		check_failed++;
	fflush(stdout);
	fflush(stderr);
	_exit(check_failed > 255 ? 255 : check_failed);
}

static void child(const struct tcase *t)
{
	struct sc_rule now[3];
	size_t n_now = to_sc(t->now, now);
	const char *err;
	int rc, bad, all_key, any_wx, want[6];
	size_t i;
	char need[32];

	cur = t;
	check_passed = check_failed = 0; /* the parent's count is not ours */
	then_count = to_sc(t->then, then_rules);
	memcpy(before, (const void *)run_a, sizeof before);
	test_hooks.before_patch = hook;
	if (n_now && sc_install(now, n_now)) {
		perror("seccomp");
		_exit(99);
	}
	rc = request(t->req, 1);
	test_hooks.before_patch = NULL;
	err = static_keys_last_error();
	CHECK("the refusal is met", rc == t->rc);
	if (rc != t->rc)
		fprintf(stderr, "  -> %d: %s\n", rc, err);
	CHECK("the text names what failed", strstr(err, t->says) != NULL);
	CHECK("a transient refusal says so, and only then",
	      !strstr(err, "transient refusal") == !t->transient);
	CHECK("no key changed", !static_key_enabled(&rf) && static_key_enabled(&rt) &&
					static_key_count(&rf) == 0 && static_key_count(&rt) == 1);
	for (i = 0; i < sizeof before; i++)
		if (!is_site_byte(run_a + i) && ((const uint8_t *)run_a)[i] != before[i])
			break;
	CHECK("no byte outside the sites changed", i == sizeof before);
	if (i != sizeof before)
		fprintf(stderr, "  byte at %p\n", (void *)(run_a + i));
	CHECK("the sites of a key outside the request are untouched",
	      t->req == REQ_BOTH || sites_match(t->req == REQ_RF ? &rt.key : &rf.key));
	bad = read_sites(want, &all_key);
	CHECK("every site holds one of its instructions (or the breakpoint)", bad >= 0);
	if (bad == 0) {
		CHECK("restored: the text says so",
		      strstr(err, "every page was restored") || strstr(err, "every other page was restored") ||
			      strstr(err, "every site holds its key's state") ||
			      strstr(err, "nothing was written"));
		CHECK("restored: no site is said to disagree", !strstr(err, "disagree"));
	} else if (bad > 0) {
		snprintf(need, sizeof need, "%d site%s disagree", bad, bad == 1 ? "" : "s");
		CHECK("not restored: the text says how many sites disagree", strstr(err, need) != NULL);
		CHECK("not restored: the text names repair", strstr(err, "static_keys_repair()") != NULL);
		CHECK("not restored: never claims it was", !strstr(err, "restored"));
	}
	CHECK("the guarded code runs as its sites say", bad < 0 || functions_agree(want));
	if (bad == 0 || all_key)
		CHECK("and as the keys say", !static_key_enabled(&rf) && a0() == 12 && b0() == 12);
	if (t->rc == STATIC_KEYS_EWX) {
		CHECK("EWX: only the run's pages are writable and executable",
		      check_under_valgrind() || (wx_within(run_a, run_a + 4 * PAGE, &any_wx) && any_wx));
	} else {
		CHECK("no mapping is writable and executable", check_no_wx_mapping());
	}
	if (check_failed || getenv("REFUSAL_TEST_SHOW")) /* the texts, for docs/reliability.md */
		fprintf(stderr, "  the text: %s\n", err);

	/* What the user does next: repair, through a strategy left alone. */
	CHECK_OK("the clean-up strategy", static_keys_set_strategy(t->cleanup));
	CHECK_OK("repair", static_keys_repair(NULL, NULL, 0));
	CHECK("repaired: every site agrees", sites_match(&rf.key) && sites_match(&rt.key));
	CHECK("repaired: the code runs as the keys say", a0() == 12 && a3() == 12 && b1() == 12);
	CHECK_OK("then the request works", request(t->req, 1));
	CHECK("flipped", sites_match(&rf.key) && sites_match(&rt.key) &&
				 a0() == (t->req == REQ_RT ? 0 : t->req == REQ_RF ? 15 : 3));
	CHECK_OK("and back", request(t->req, 0));
	CHECK("back", a0() == 12 && b0() == 12 && sites_match(&rf.key) && sites_match(&rt.key));
	if (t->rc != STATIC_KEYS_EWX || t->cleanup == STATIC_KEYS_STRATEGY_REMAP)
		CHECK("no mapping is writable and executable in the end", check_no_wx_mapping());
	child_done();
}

/* ---- the breakpoint handler's set-up, refused at the first flip ---------- */

/*
 * The process's SIGTRAP handler (its trap block, os/linux_trap.c) is set
 * up at the first flip in place: the maps are read for a block another
 * module made, then memfd_create, ftruncate, an rw- mmap of the block,
 * pwrite of the entry code, an r-x fixed mmap of the code page and
 * sigaction(SIGTRAP). (process_vm_readv reads the header of a block found
 * in the maps: a fresh process has none, so it is not refused here.) Each
 * runs in a child forked before any flip, on a thread of its own: a
 * seccomp filter binds only the thread that installs it, so once that
 * thread has flipped and exited (giving the module back), the child's
 * main thread flips without the refusal.
 */
struct setup_case {
	const char *what;
	struct rule r[2];
	int fails; /* 0: the set-up goes on without the call */
	int keeps; /* the block is made before the call: it stays, for reuse */
};

static const struct setup_case setups[] = {
	{"memfd_create", {{__NR_memfd_create, EMFILE, {{0}}}}, 1, 0},
	{"ftruncate", {{SC_NR_FTRUNCATE, EPERM, {{0}}}}, 1, 0},
	{"mmap(rw-) of the block", {{SC_NR_MMAP, ENOMEM, {A_EQ(2, V_K, RW), A_EQ(3, V_K, MAP_PRIVATE)}}}, 1, 0},
	{"pwrite of the entry code", {PWRITE(EPERM)}, 1, 0},
	{"mmap(r-x, fixed) of the code page", {{SC_NR_MMAP, EPERM, {A_EQ(2, V_K, RX), A_EQ(3, V_K, MAP_PRIVATE | MAP_FIXED)}}},
	 1, 0},
	{"sigaction(SIGTRAP)", {{__NR_rt_sigaction, EPERM, {A_EQ(0, V_K, SIGTRAP)}}}, 1, 1},
	/* without the maps the block is looked for through the disposition */
	{"open(\"/proc/self/maps\")", {{__NR_openat, EACCES, {{0}}}}, 0, 0},
};

struct setup_run {
	const struct setup_case *t;
	int filtered, init_rc, strategy_rc, rc, back_rc, flipped;
	char err[512];
};

/* Mappings of the trap block's memfd. */
static int trap_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		n += strstr(line, "/memfd:static-keys-trap") != NULL;
	fclose(f);
	return n;
}

/* The refused thread: it owns the module while it lives. */
static void *setup_thread(void *arg)
{
	struct setup_run *s = arg;
	struct sc_rule r[2];
	size_t n = to_sc(s->t->r, r);

	s->init_rc = static_keys_init();
	s->strategy_rc = static_keys_set_strategy(STATIC_KEYS_STRATEGY_MPROTECT);
	s->filtered = !sc_install(r, n);
	if (!s->filtered)
		return NULL;
	s->rc = static_key_enable(&rf.key);
	snprintf(s->err, sizeof s->err, "%s", static_keys_last_error());
	s->flipped = sites_match(&rf.key) && sites_match(&rt.key) && a0() == 15 && b0() == 12;
	s->back_rc = s->rc ? 0 : static_key_disable(&rf.key);
	return NULL;
}

static void setup_child(const struct setup_case *t)
{
	struct setup_run s = {t, 0, -1, -1, -1, -1, 0, ""};
	pthread_t th;
	int want[6], all_key, f, blocks;

	check_passed = check_failed = 0;
	CHECK("no trap block before the first flip", trap_mappings() == 0);
	CHECK("a thread for the refusal", !pthread_create(&th, NULL, setup_thread, &s) &&
						  !pthread_join(th, NULL));
	CHECK_OK("init on the refused thread", s.init_rc);
	CHECK_OK("the mprotect strategy", s.strategy_rc);
	CHECK("the filter is installed", s.filtered);
	if (t->fails) {
		CHECK("the flip fails with the patch error", s.rc == STATIC_KEYS_EPATCH);
		CHECK("with a message", s.err[0] != '\0');
		if (s.rc != STATIC_KEYS_EPATCH || getenv("REFUSAL_TEST_SHOW"))
			fprintf(stderr, "  -> %d: %s\n", s.rc, s.err);
		CHECK("no key changed", !static_key_enabled(&rf) && static_key_enabled(&rt) &&
						static_key_count(&rf) == 0 && static_key_count(&rt) == 1);
		CHECK("every site holds its key's instruction", sites_match(&rf.key) && sites_match(&rt.key) &&
									read_sites(want, &all_key) == 0);
		for (f = 0; f < 6; f++)
			CHECK("every guarded function runs as its key says", fns[f]() == 12);
		CHECK("no block is left behind, or (made whole before the call) one",
		      t->keeps ? trap_mappings() > 0 : trap_mappings() == 0);
	} else {
		CHECK_OK("the set-up goes on without it: the flip", s.rc);
		CHECK("flipped", s.flipped);
		CHECK_OK("and back", s.back_rc);
		CHECK("back", sites_match(&rf.key) && sites_match(&rt.key) && a0() == 12 && b0() == 12);
		CHECK("one block", trap_mappings() > 0);
	}
	CHECK("no mapping is writable and executable", check_no_wx_mapping());
	/* The refused thread is gone: this one owns the module, unfiltered. */
	blocks = trap_mappings();
	CHECK_OK("a later flip without the refusal", static_key_enable(&rf.key));
	CHECK("it reuses a block left whole, or makes one", blocks ? trap_mappings() == blocks : trap_mappings() > 0);
	CHECK("flipped", sites_match(&rf.key) && sites_match(&rt.key) && a0() == 15 && a3() == 15 && b1() == 12);
	CHECK_OK("and back", static_key_disable(&rf.key));
	CHECK("back", sites_match(&rf.key) && sites_match(&rt.key) && a0() == 12 && b0() == 12);
	CHECK("no mapping is writable and executable in the end", check_no_wx_mapping());
	child_done();
}

static void run_setup_case(const struct setup_case *t)
{
	char what[160];
	pid_t pid;
	int st, n = 0;

	snprintf(what, sizeof what, "the handler's set-up: %s refused", t->what);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0)
		setup_child(t);
	CHECK(what, pid > 0 && waitpid(pid, &st, 0) == pid);
	if (pid <= 0)
		return;
	if (read(tally[0], &n, sizeof n) == (ssize_t)sizeof n)
		check_passed += n;
	if (WIFSIGNALED(st))
		fprintf(stderr, "  %s: the child died of signal %d\n", what, WTERMSIG(st));
	else if (WEXITSTATUS(st))
		fprintf(stderr, "  %s: %d checks failed in the child\n", what, WEXITSTATUS(st));
	CHECK(what, WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---- the parent ------------------------------------------------------------ */

/* 0 when a filter can be installed here; else prints why not. */
static int seccomp_usable(void)
{
	struct sc_rule none = {__NR_getppid, EPERM, {{0}}};
	pid_t pid = fork();
	int st;

	if (pid == 0)
		_exit(sc_install(&none, 1) ? errno : syscall(__NR_getppid) == -1 && errno == EPERM ? 0 : 98);
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	if (WEXITSTATUS(st) == EINVAL || WEXITSTATUS(st) == ENOSYS) {
		printf("skipped: a seccomp filter cannot be installed here (error %d): "
		       "qemu-user refuses PR_SET_SECCOMP and seccomp(2), since a guest's "
		       "filter would apply to the emulator's own system calls\n",
		       WEXITSTATUS(st));
		return 1;
	}
	return WEXITSTATUS(st) ? -1 : 0;
}

static void run_case(const struct tcase *t, int protocol)
{
	char what[160];
	pid_t pid;
	int st;

	if ((t->mode == 1 && !protocol) || (t->mode == 2 && protocol))
		return;
	snprintf(what, sizeof what, "%s (%s)", t->what, protocol ? "protocol" : "plain");
	if (plat_strategy_set(t->strategy)) {
		printf("NOTE: %s: strategy not usable here\n", what);
		return;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0)
		child(t);
	CHECK(what, pid > 0 && waitpid(pid, &st, 0) == pid);
	if (pid <= 0)
		return;
	{
		int n = 0;

		if (read(tally[0], &n, sizeof n) == (ssize_t)sizeof n)
			check_passed += n;
	}
	if (WIFSIGNALED(st))
		fprintf(stderr, "  %s: the child died of signal %d\n", what, WTERMSIG(st));
	else if (WEXITSTATUS(st))
		fprintf(stderr, "  %s: %d checks failed in the child\n", what, WEXITSTATUS(st));
	CHECK(what, WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(int argc, char **argv)
{
	struct static_keys_stats st;
	int plain = argc > 1 && !strcmp(argv[1], "plain");
	const char *only = argc > 1 + plain ? argv[1 + plain] : NULL; /* cases named so */
	int protocol, usable, f;
	size_t i;

	if (check_under_valgrind()) {
		printf("skipped: under valgrind a seccomp filter applies to "
		       "valgrind's own system calls (it makes the program's mmap "
		       "and mremap itself, at addresses of its own), so the "
		       "refusals would not be the ones meant; the native run "
		       "covers them\n");
		return 77;
	}
	usable = seccomp_usable();
	if (usable > 0)
		return 77;
	CHECK("seccomp works in a child", usable == 0);
	if (sysconf(_SC_PAGESIZE) != PAGE) {
		printf("skipped: the layout needs %d-byte pages\n", PAGE);
		return 77;
	}
	CHECK("a pipe for the children's counts", pipe2(tally, O_NONBLOCK) == 0);
	test_hooks.no_sync_core = plain;
	/* set up, not owned: the set-up cases' threads own it in their children */
	CHECK_OK("set-up", static_keys_get_stats(&st));
	protocol = st.protocol != 0;
	run_a = (uintptr_t)a0;
	run_b = (uintptr_t)b0;
	for (f = 1; f < 4; f++)
		CHECK("run A is four pages in a row", (uintptr_t)fns[f] == run_a + (uintptr_t)f * PAGE);
	CHECK("a page without sites, then run B", (uintptr_t)gap == run_a + 4 * PAGE &&
							   run_b == run_a + 5 * PAGE &&
							   (uintptr_t)b1 == run_b + PAGE);
	CHECK("sites", rf.key.sites == 8 && rt.key.sites == 12);
	CHECK("initial", a0() == 12 && b0() == 12 && gap(1) == 4);
	if (check_failed)
		return check_summary();
	for (i = 0; protocol && i < sizeof setups / sizeof setups[0]; i++)
		if (!only || strstr(setups[i].what, only) || strstr("the handler's set-up", only))
			run_setup_case(&setups[i]);
	CHECK_OK("init", static_keys_init());
	/*
	 * The process's SIGTRAP handler (its trap block: a memfd, mmap and
	 * pwrite) is set up once, at the first flip in place; the children
	 * inherit it, so each child's filter meets the refusal it is about.
	 */
	if (protocol) {
		CHECK_OK("a first flip sets up the trap handler", static_key_enable(&rf.key));
		CHECK_OK("and back", static_key_disable(&rf.key));
	}
	if (check_failed)
		return check_summary();
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (!only || strstr(cases[i].what, only))
			run_case(&cases[i], protocol);
	return check_summary();
}
#else
int main(void)
{
	printf("skipped: seccomp refusals are tested on Linux (x86, arm64, riscv64)\n");
	return 77;
}
#endif
