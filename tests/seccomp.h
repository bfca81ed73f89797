/* SPDX-License-Identifier: MIT */
/*
 * seccomp.h - refuse chosen system calls in the calling thread, for the C
 * tests of failure paths (refusal_test, setup_refusal_test): a raw BPF
 * filter answers SECCOMP_RET_ERRNO to each rule whose system call and
 * arguments match, and lets everything else through. A filter cannot be
 * removed, so tests install it in a forked child. Linux only.
 *
 *   struct sc_rule r[] = {{__NR_mprotect, EPERM, {{0, SC_EQ, page},
 *                                               {2, SC_EQ, PROT_READ | PROT_EXEC}}}};
 *   sc_install(r, 1);
 *
 * A rule whose err is SC_NOTIFY asks a supervisor instead: sc_install
 * leaves the listener's descriptor in sc_listener, and tests/
 * transient_test.c answers EAGAIN, then lets the call through.
 */
#ifndef STATIC_KEYS_TEST_SECCOMP_H
#define STATIC_KEYS_TEST_SECCOMP_H

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define SC_ARCH AUDIT_ARCH_X86_64
#elif defined(__i386__)
#define SC_ARCH AUDIT_ARCH_I386
#elif defined(__aarch64__)
#define SC_ARCH AUDIT_ARCH_AARCH64
#elif defined(__riscv) && __riscv_xlen == 64
#define SC_ARCH AUDIT_ARCH_RISCV64
#endif

/* the mmap and ftruncate glibc calls with _FILE_OFFSET_BITS=64 */
#ifdef __NR_mmap2
#define SC_NR_MMAP __NR_mmap2
#else
#define SC_NR_MMAP __NR_mmap
#endif
#ifdef __NR_ftruncate64
#define SC_NR_FTRUNCATE __NR_ftruncate64
#else
#define SC_NR_FTRUNCATE __NR_ftruncate
#endif

enum sc_op { SC_NONE, SC_EQ, SC_NE, SC_GE };

/* Argument `arg` (0-5) compared with `value` as an unsigned 64-bit number. */
struct sc_cond {
	int arg;
	enum sc_op op;
	uint64_t value;
};

#define SC_NOTIFY (-1) /* sc_rule.err: ask the listener (SECCOMP_RET_USER_NOTIF) */

/* System call `nr` whose every condition holds fails with `err`. */
struct sc_rule {
	long nr;
	int err;
	struct sc_cond cond[3];
};

#define SC_MAX 256

struct sc_prog {
	struct sock_filter f[SC_MAX];
	unsigned n, fail[16], nfail;
};

static inline void sc_emit(struct sc_prog *p, uint16_t code, uint8_t jt,
			   uint8_t jf, uint32_t k)
{
	struct sock_filter s = {code, jt, jf, k};

	if (p->n < SC_MAX)
		p->f[p->n] = s;
	p->n++;
}

/* A conditional jump whose false branch goes to the rule's end. */
static inline void sc_jump_fail(struct sc_prog *p, uint16_t code, uint8_t jt,
				uint32_t k)
{
	if (p->nfail < 16)
		p->fail[p->nfail++] = p->n;
	sc_emit(p, code, jt, 0, k);
}

#define SC_ARG_LO(i) ((uint32_t)(offsetof(struct seccomp_data, args) + 8 * (i)))
#define SC_ARG_HI(i) (SC_ARG_LO(i) + 4) /* little-endian targets */
#define SC_LD(off) (BPF_LD | BPF_W | BPF_ABS), 0, 0, (off)

static inline void sc_cond(struct sc_prog *p, const struct sc_cond *c)
{
	uint32_t lo = (uint32_t)c->value, hi = (uint32_t)(c->value >> 32);

	switch (c->op) {
	case SC_EQ:
		sc_emit(p, SC_LD(SC_ARG_LO(c->arg)));
		sc_jump_fail(p, BPF_JMP | BPF_JEQ | BPF_K, 0, lo);
		sc_emit(p, SC_LD(SC_ARG_HI(c->arg)));
		sc_jump_fail(p, BPF_JMP | BPF_JEQ | BPF_K, 0, hi);
		break;
	case SC_NE: /* low words differ: holds; else the high words decide */
		sc_emit(p, SC_LD(SC_ARG_LO(c->arg)));
		sc_emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 2, lo);
		sc_emit(p, SC_LD(SC_ARG_HI(c->arg)));
		sc_emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 0, hi);
		/* equal high words: fail (patched like the others) */
		p->f[p->n - 1].jf = 0;
		if (p->nfail < 16)
			p->fail[p->nfail++] = (p->n - 1) | 0x8000u;
		break;
	case SC_GE:
		sc_emit(p, SC_LD(SC_ARG_HI(c->arg)));
		sc_emit(p, BPF_JMP | BPF_JGT | BPF_K, 3, 0, hi);
		sc_jump_fail(p, BPF_JMP | BPF_JEQ | BPF_K, 0, hi);
		sc_emit(p, SC_LD(SC_ARG_LO(c->arg)));
		sc_jump_fail(p, BPF_JMP | BPF_JGE | BPF_K, 0, lo);
		break;
	case SC_NONE:
		break;
	}
}

/*
 * Builds the filter for `rules`; 0, or -1 when it does not fit. The
 * jumps that leave a rule point at the next rule (BPF only jumps forward).
 */
static inline int sc_build(struct sc_prog *p, const struct sc_rule *rules,
			   size_t count)
{
	size_t r;
	unsigned i;

	p->n = 0;
	sc_emit(p, SC_LD((uint32_t)offsetof(struct seccomp_data, arch)));
	sc_emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, SC_ARCH);
	sc_emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
	for (r = 0; r < count; r++) {
		p->nfail = 0;
		sc_emit(p, SC_LD((uint32_t)offsetof(struct seccomp_data, nr)));
		sc_jump_fail(p, BPF_JMP | BPF_JEQ | BPF_K, 0, (uint32_t)rules[r].nr);
		for (i = 0; i < 3; i++)
			sc_cond(p, &rules[r].cond[i]);
		sc_emit(p, BPF_RET | BPF_K, 0, 0,
			rules[r].err == SC_NOTIFY
				? SECCOMP_RET_USER_NOTIF
				: SECCOMP_RET_ERRNO |
					  ((uint32_t)rules[r].err & SECCOMP_RET_DATA));
		for (i = 0; i < p->nfail && i < 16; i++) {
			unsigned at = p->fail[i] & 0x7fffu, off = p->n - at - 1;

			if (off > 255 || at >= SC_MAX)
				return -1;
			if (p->fail[i] & 0x8000u)
				p->f[at].jt = (uint8_t)off; /* SC_NE: equal = fail */
			else
				p->f[at].jf = (uint8_t)off;
		}
	}
	sc_emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
	return p->n <= SC_MAX ? 0 : -1;
}

/*
 * Installs a filter refusing `rules` in the calling thread (and the
 * threads it starts later), for good. 0, or -1 with errno (EINVAL from
 * qemu-user, which refuses PR_SET_SECCOMP so a guest cannot filter the
 * emulator's own calls).
 */
static int sc_listener = -1; /* the SC_NOTIFY rules' listener, or -1 */

static inline int sc_install(const struct sc_rule *rules, size_t count)
{
	static struct sc_prog p;
	struct sock_fprog prog;
	size_t i;
	long fd;

	if (sc_build(&p, rules, count)) {
		errno = E2BIG;
		return -1;
	}
	prog.len = (unsigned short)p.n;
	prog.filter = p.f;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	for (i = 0; i < count; i++)
		if (rules[i].err == SC_NOTIFY)
			break;
	if (i == count)
		return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
	fd = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER,
		     SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	if (fd < 0)
		return -1;
	sc_listener = (int)fd;
	return 0;
}

#endif
