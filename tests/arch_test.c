/* SPDX-License-Identifier: MIT */
/*
 * arch_test.c - the arch/ encoders of the target this is compiled for,
 * against the bytes the real assembler and linker produce. Two tables per
 * architecture (the jmp at each offset, the nop for a target at each
 * offset); arch.h picks the header, this file picks the tables.
 *
 * The tables were generated once with tests/arch_vectors.sh (Debian 12
 * cross binutils 2.40) and pasted here: `off` is target - site, `reach`
 * says whether the assembler (x86, aarch64) or the linker (riscv64, whose
 * gas leaves R_RISCV_JAL to ld) accepted the jump. Each table includes the
 * largest and smallest reachable offsets and the first unreachable ones.
 * x86's nop is `test eax, imm32` whose imm32 is the jmp's disp32 (arch/x86.h):
 * its table gives the `test` line for each offset, and every reachable jmp
 * must equal its nop but for byte 0. The other nops ignore the target.
 */
#include "check.h"
#include "static_keys.h"

#include "arch/arch.h"

struct vector {
	const char *src; /* the assembler line; `.` is the site */
	int64_t off;     /* target - site */
	int reach;       /* accepted by the toolchain */
	uint8_t bytes[ARCH_JUMP_SIZE];
};

#if defined(__x86_64__) || defined(__i386__)
static const struct vector nops[] = {
	{"test $0xfffffffb, %eax", 0, 1, {0xa9, 0xfb, 0xff, 0xff, 0xff}},
	{"test $0x0, %eax", 5, 1, {0xa9, 0x00, 0x00, 0x00, 0x00}},
	{"test $0x40, %eax", 0x45, 1, {0xa9, 0x40, 0x00, 0x00, 0x00}},
	{"test $0xffffeffb, %eax", -0x1000, 1, {0xa9, 0xfb, 0xef, 0xff, 0xff}},
	{"test $0x7fffffff, %eax", 0x80000004, 1, {0xa9, 0xff, 0xff, 0xff, 0x7f}},
	{"test $0x80000000, %eax", -0x7ffffffb, 1, {0xa9, 0x00, 0x00, 0x00, 0x80}},
};
#define ONE_BYTE_FLIP 1 /* nop and jmp differ in byte 0 only */
static const struct vector vectors[] = {
	{"jmp .+0", 0, 1, {0xe9, 0xfb, 0xff, 0xff, 0xff}},
	{"jmp .+5", 5, 1, {0xe9, 0x00, 0x00, 0x00, 0x00}},
	{"jmp .+0x45", 0x45, 1, {0xe9, 0x40, 0x00, 0x00, 0x00}},
	{"jmp .-0x1000", -0x1000, 1, {0xe9, 0xfb, 0xef, 0xff, 0xff}},
	{"jmp .+0x123459", 0x123459, 1, {0xe9, 0x54, 0x34, 0x12, 0x00}},
	{"jmp .+0x80000004", 0x80000004, 1, {0xe9, 0xff, 0xff, 0xff, 0x7f}},
	{"jmp .-0x7ffffffb", -0x7ffffffb, 1, {0xe9, 0x00, 0x00, 0x00, 0x80}},
	{"jmp .+0x80000005", 0x80000005, 0, {0}},
	{"jmp .-0x7ffffffc", -0x7ffffffc, 0, {0}},
};
/* rel32 wraps around a 32-bit address space: every target is in reach */
#define WRAPS (sizeof(uintptr_t) == 4)
#elif defined(__aarch64__)
static const struct vector nops[] = {
	{"nop", 0, 1, {0x1f, 0x20, 0x03, 0xd5}},
	{"nop", 0x40, 1, {0x1f, 0x20, 0x03, 0xd5}},
	{"nop", -0x1000, 1, {0x1f, 0x20, 0x03, 0xd5}},
};
#define ONE_BYTE_FLIP 0
static const struct vector vectors[] = {
	{"b .+0", 0, 1, {0x00, 0x00, 0x00, 0x14}},
	{"b .+4", 4, 1, {0x01, 0x00, 0x00, 0x14}},
	{"b .+0x40", 0x40, 1, {0x10, 0x00, 0x00, 0x14}},
	{"b .-4", -4, 1, {0xff, 0xff, 0xff, 0x17}},
	{"b .-0x1000", -0x1000, 1, {0x00, 0xfc, 0xff, 0x17}},
	{"b .+0x123454", 0x123454, 1, {0x15, 0x8d, 0x04, 0x14}},
	{"b .+0x7fffffc", 0x7fffffc, 1, {0xff, 0xff, 0xff, 0x15}},
	{"b .-0x8000000", -0x8000000, 1, {0x00, 0x00, 0x00, 0x16}},
	{"b .+0x8000000", 0x8000000, 0, {0}},  /* branch out of range */
	{"b .-0x8000004", -0x8000004, 0, {0}}, /* branch out of range */
	{"b .+2", 2, 0, {0}},                   /* not word aligned */
};
#define WRAPS 0
#elif defined(__riscv) && __riscv_xlen == 64
static const struct vector nops[] = {
	{"nop", 0, 1, {0x13, 0x00, 0x00, 0x00}},
	{"nop", 0x40, 1, {0x13, 0x00, 0x00, 0x00}},
	{"nop", -0x1000, 1, {0x13, 0x00, 0x00, 0x00}},
};
#define ONE_BYTE_FLIP 0
static const struct vector vectors[] = {
	{"jal x0, .+0", 0, 1, {0x6f, 0x00, 0x00, 0x00}},
	{"jal x0, .+2", 2, 1, {0x6f, 0x00, 0x20, 0x00}},
	{"jal x0, .+4", 4, 1, {0x6f, 0x00, 0x40, 0x00}},
	{"jal x0, .+64", 64, 1, {0x6f, 0x00, 0x00, 0x04}},
	{"jal x0, .-4", -4, 1, {0x6f, 0xf0, 0xdf, 0xff}},
	{"jal x0, .-4096", -4096, 1, {0x6f, 0xf0, 0x0f, 0x80}},
	{"jal x0, .+2048", 2048, 1, {0x6f, 0x00, 0x10, 0x00}},
	{"jal x0, .+74566", 74566, 1, {0x6f, 0x20, 0x61, 0x34}},
	{"jal x0, .+1048574", 1048574, 1, {0x6f, 0xf0, 0xff, 0x7f}},
	{"jal x0, .-1048576", -1048576, 1, {0x6f, 0x00, 0x00, 0x80}},
	{"jal x0, .+1048576", 1048576, 0, {0}},   /* truncated to fit */
	{"jal x0, .-1048578", -1048578, 0, {0}},  /* truncated to fit */
	{"jal x0, .+1", 1, 0, {0}},               /* odd */
};
#define WRAPS 0
#else
#define NO_TABLE 1 /* loongarch64: tests/freestanding/arch_loongarch64_test.c */
#endif

#ifdef NO_TABLE
int main(void)
{
	printf("arch %s: no encoder table in arch_test.c: skipped\n", ARCH_NAME);
	return 77; /* SKIP_RETURN_CODE */
}
#else

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Sites at a page start and at the last slot of a page. */
static const uintptr_t bases[] = {
	(uintptr_t)(sizeof(uintptr_t) == 8 ? 0x7f1234560000ull : 0x40000000u),
	(uintptr_t)(sizeof(uintptr_t) == 8 ? 0x7f1234560ffcull : 0x40000ffcu),
};

static void check_vector(const struct vector *v, uintptr_t code)
{
	uintptr_t target = code + (uintptr_t)v->off;
	int reach = v->reach || WRAPS;
	uint8_t out[ARCH_JUMP_SIZE];
	char name[96];

	snprintf(name, sizeof name, "%s: in reach is %d", v->src, reach);
	CHECK(name, arch_jump_in_reach(code, target) == reach);
	snprintf(name, sizeof name, "%s: init check says %s", v->src,
		 reach ? "ok" : "ERANGE");
	CHECK(name, arch_jump_check(code, target) ==
			    (reach ? 0 : STATIC_KEYS_ERANGE));
	if (!v->reach)
		return;
	memset(out, 0xaa, sizeof out);
	arch_jump_jmp(out, code, target);
	snprintf(name, sizeof name, "%s: bytes match the assembler's", v->src);
	CHECK(name, memcmp(out, v->bytes, ARCH_JUMP_SIZE) == 0);
	if (!ONE_BYTE_FLIP)
		return;
	memset(out, 0xaa, sizeof out);
	arch_jump_nop(out, code, target);
	snprintf(name, sizeof name, "%s: the nop differs in byte 0 only", v->src);
	CHECK(name, out[0] != v->bytes[0] &&
			    memcmp(out + 1, v->bytes + 1, ARCH_JUMP_SIZE - 1) == 0);
}

static void check_nop(const struct vector *v, uintptr_t code)
{
	uint8_t out[ARCH_JUMP_SIZE];
	char name[96];

	memset(out, 0xaa, sizeof out);
	arch_jump_nop(out, code, code + (uintptr_t)v->off);
	snprintf(name, sizeof name, "%s (target at %+lld): nop bytes match the "
		 "assembler's", v->src, (long long)v->off);
	CHECK(name, memcmp(out, v->bytes, ARCH_JUMP_SIZE) == 0);
}

int main(void)
{
	size_t b, i;

	printf("arch %s, %d-byte sites, %zu jmp and %zu nop vectors\n",
	       ARCH_NAME, ARCH_JUMP_SIZE, COUNT(vectors), COUNT(nops));
	for (b = 0; b < COUNT(bases); b++) {
		for (i = 0; i < COUNT(nops); i++)
			check_nop(&nops[i], bases[b]);
		for (i = 0; i < COUNT(vectors); i++)
			check_vector(&vectors[i], bases[b]);
	}
	return check_summary();
}
#endif
