/* SPDX-License-Identifier: MIT */
/*
 * arch_loongarch64_test.c - arch/loongarch64.h's byte hooks against bytes
 * from the real assembler. Runs on any host (the hooks are plain C) and
 * under qemu-loongarch64.
 *
 * The jmp rows were made once with clang-16 16.0.6 and llvm-objdump-16:
 *
 *   for d in 0 4 -4 8 0x1234 -0x1234 0x3fffc 0x40000 -0x40000 -0x40004 \
 *            0x123458 -0x123458 0x7fffffc -0x8000000; do echo "b $d"; done \
 *       > gen.s && echo nop >> gen.s
 *   clang-16 --target=loongarch64-unknown-linux-gnu -c gen.s -o gen.o
 *   llvm-objdump-16 -d gen.o
 *
 * `b N` jumps N bytes from the b itself (objdump prints `4: b 4 <.text+0x8>`).
 * The same assembler refuses `b 0x8000000`, `b -0x8000004` and `b 2`:
 * "immediate must be a multiple of 4 in the range [-134217728, 134217724]",
 * which is what the reach rows below expect.
 */
#include "arch/loongarch64.h"
#include "check_fs.h"

struct jmp_row {
	int64_t disp;
	uint8_t bytes[4];
};

static const struct jmp_row jmp_rows[] = {
	{0, {0x00, 0x00, 0x00, 0x50}},
	{4, {0x00, 0x04, 0x00, 0x50}},
	{-4, {0xff, 0xff, 0xff, 0x53}},
	{8, {0x00, 0x08, 0x00, 0x50}},
	{0x1234, {0x00, 0x34, 0x12, 0x50}},
	{-0x1234, {0xff, 0xcf, 0xed, 0x53}},
	{0x3fffc, {0x00, 0xfc, 0xff, 0x53}},   /* offs[15:0] all ones */
	{0x40000, {0x01, 0x00, 0x00, 0x50}},   /* first bit of offs[25:16] */
	{-0x40000, {0xff, 0x03, 0x00, 0x50}},
	{-0x40004, {0xfe, 0xff, 0xff, 0x53}},
	{0x123458, {0x04, 0x58, 0x34, 0x52}},
	{-0x123458, {0xfb, 0xab, 0xcb, 0x51}},
	{0x7fffffc, {0xff, 0xfd, 0xff, 0x53}},  /* farthest forward */
	{-0x8000000, {0x00, 0x02, 0x00, 0x50}}, /* farthest back */
};

struct reach_row {
	int64_t disp;
	int in_reach;
};

static const struct reach_row reach_rows[] = {
	{0, 1},          {4, 1},           {-4, 1},
	{0x7fffffc, 1},  {-0x8000000, 1},  {0x8000000, 0},
	{-0x8000004, 0}, {2, 0},           {-2, 0},
	{0x100000000, 0}, {-0x100000000, 0},
};

/* Sites at both ends of a 64-bit address space and in between. */
static const uintptr_t bases[] = {0x120000000u, 0x10000u,
				  (uintptr_t)0x7ffffff0000u,
				  (uintptr_t)0xfffffffff0000000u};

#define ROWS(a) (sizeof(a) / sizeof((a)[0]))

static int bytes_are(const uint8_t *a, const uint8_t *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

int main(void)
{
	static const uint8_t nop[4] = {0x00, 0x00, 0x40, 0x03};
	uint8_t out[ARCH_JUMP_SIZE];
	size_t b, i;

	CHECK("a site is 4 bytes", ARCH_JUMP_SIZE == 4);
	arch_jump_nop(out, bases[0], bases[0]);
	CHECK("nop is andi $zero, $zero, 0", bytes_are(out, nop));

	for (b = 0; b < ROWS(bases); b++) {
		for (i = 0; i < ROWS(jmp_rows); i++) {
			uintptr_t code = bases[b];
			uintptr_t target = code + (uintptr_t)jmp_rows[i].disp;

			arch_jump_jmp(out, code, target);
			CHECK("b offs26 matches the assembler",
			      bytes_are(out, jmp_rows[i].bytes));
			CHECK("assembled offsets are in reach",
			      arch_jump_in_reach(code, target));
		}
		for (i = 0; i < ROWS(reach_rows); i++) {
			uintptr_t code = bases[b];
			uintptr_t target = code + (uintptr_t)reach_rows[i].disp;

			CHECK("reach matches the assembler's limits",
			      arch_jump_in_reach(code, target) ==
				      reach_rows[i].in_reach);
		}
	}
	return check_summary();
}
