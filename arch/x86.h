/* SPDX-License-Identifier: MIT */
/*
 * x86.h - x86_64 and i686. A site is 5 bytes: `jmp rel32` (e9 + disp32,
 * disp32 = target - (site + 5)) when on, and when off `test eax, imm32`
 * (a9 + the same four bytes), which falls through like a nop. Both states
 * share bytes 1-4, so a flip rewrites byte 0 only (the kernel's
 * text_poke_bp skips its middle pass for such a change, and the protocol
 * here skips its tail pass: native/protocol.c). The off state writes the
 * flags and reads eax: harmless in an `asm goto` site, since GCC and clang
 * treat every x86 inline asm as clobbering the flags ("cc"), and nothing
 * waits on a result no instruction reads. Both ends of the rel32 fit any
 * module. Instruction fetch snoops stores on x86, and every strategy ends
 * in a syscall that serialises, so the icache hook has nothing to do.
 * A 5-byte instruction cannot change in one store under a core that runs
 * it, so a flip in place under other threads uses the breakpoint protocol
 * (docs/concurrency.md): `int3` (cc) over byte 0 first.
 */
#ifndef STATIC_KEYS_ARCH_X86_H
#define STATIC_KEYS_ARCH_X86_H

#include <stdint.h>

#include "common.h"

#ifdef __x86_64__
#define ARCH_NAME "x86_64"
#define ARCH_X86_PTR ".quad"
#define ARCH_X86_ALIGN "8"
#else
#define ARCH_NAME "x86"
#define ARCH_X86_PTR ".long"
#define ARCH_X86_ALIGN "4"
#endif

/*
 * The key operand is a link-time constant. i386 GCC refuses "i" for a
 * symbol's address under -fPIC/-fPIE (no legitimate PIC operand there), but
 * "X" hands the same constant through and %P prints it bare ("4+key").
 * clang keeps an "X" operand in a register, so clang i686 needs -fno-pic.
 */
#if defined(__i386__) && defined(__PIC__) && !defined(__clang__)
#define ARCH_X86_KEY_CON "X"
#define ARCH_X86_K "%P0"
#else
#define ARCH_X86_KEY_CON "i"
#define ARCH_X86_K "%c0"
#endif

/* Key field: pointer-sized and relative, 32 bits + 4 zero bytes, or an
 * absolute pointer, as the object format allows (os/os_sections.h). */
#if defined(STATIC_KEYS_ENTRY_KEY_ABS)
#define ARCH_X86_KEY ARCH_X86_PTR " " ARCH_X86_K " + %c1"
#elif defined(STATIC_KEYS_ENTRY_KEY_REL32)
#define ARCH_X86_KEY ".long " ARCH_X86_K " + %c1 - .\n\t.long 0"
#else
#define ARCH_X86_KEY ARCH_X86_PTR " " ARCH_X86_K " + %c1 - ."
#endif

#define ARCH_JUMP_SIZE 5

/* The entry: {site - ., target - ., key + branch - .}. */
#define ARCH_X86_ENTRY                                                         \
	STATIC_KEYS_ENTRY_PUSHSECTION "\n\t"                                   \
	".balign " ARCH_X86_ALIGN "\n\t"                                       \
	".long 1b - .\n\t"                                                     \
	".long %l[l_yes] - .\n\t" ARCH_X86_KEY "\n\t"                          \
	STATIC_KEYS_ENTRY_POPSECTION "\n\t"

#define ARCH_X86_BRANCH(key, branch, insn)                                     \
	ARCH_ASM_GOTO_BRANCH("1: " insn "\n\t" ARCH_X86_ENTRY, ARCH_X86_KEY_CON,  \
			     key, branch)

#define ARCH_STATIC_BRANCH(key, branch)                                        \
	ARCH_X86_BRANCH(key, branch, ".byte 0xa9\n\t.long %l[l_yes] - (. + 4)")
#define ARCH_STATIC_BRANCH_JUMP(key, branch)                                   \
	ARCH_X86_BRANCH(key, branch, ".byte 0xe9\n\t.long %l[l_yes] - (. + 4)")


static inline int arch_jump_in_reach(uintptr_t code, uintptr_t target)
{
	int64_t disp = (int64_t)target - (int64_t)(code + ARCH_JUMP_SIZE);

	/* rel32 wraps around a 32-bit address space: all of it is in reach */
	return sizeof(uintptr_t) == 4 || (disp >= INT32_MIN && disp <= INT32_MAX);
}

/* opcode + disp32 = target - (code + 5): the jmp (e9) or the test (a9) */
static inline void arch_x86_rel32(uint8_t *out, uint8_t opcode, uintptr_t code,
				  uintptr_t target)
{
	out[0] = opcode;
	arch_put32le(out + 1, (uint32_t)(target - (code + ARCH_JUMP_SIZE)));
}

/* test eax, imm32: falls through; its imm32 is the jmp's disp32 */
static inline void arch_jump_nop(uint8_t *out, uintptr_t code, uintptr_t target)
{
	arch_x86_rel32(out, 0xa9, code, target);
}

static inline void arch_jump_jmp(uint8_t *out, uintptr_t code, uintptr_t target)
{
	arch_x86_rel32(out, 0xe9, code, target);
}

static inline void arch_sync_icache(void *start, void *end)
{
	(void)start;
	(void)end;
}

#define ARCH_NEEDS_BREAKPOINT 1
#define ARCH_BREAKPOINT_SIZE 1
/* a9 or e9, then the same disp32: only byte 0 ever changes */
#define ARCH_TAIL_SHARED 1

/* int3: the byte a site's first byte becomes while the rest changes */
static inline void arch_breakpoint(uint8_t *out)
{
	out[0] = 0xcc;
}

/* No single store holds a site: the protocol never asks for one here. */
static inline void arch_site_store(uint8_t *dst, const uint8_t *bytes)
{
	int i;

	for (i = 0; i < ARCH_JUMP_SIZE; i++)
		dst[i] = bytes[i];
}

/*
 * The SIGTRAP handler's entry code (os_thunk_fn in os/os.h): entered as
 * h(sig, info, uc), it counts itself in at `count`, calls *slot as
 * f(sig, info, uc, arg) with the stack aligned as a handler's, counts
 * itself out and returns. slot == 0: only `ret`. Both begin with endbr,
 * a nop where indirect-branch tracking is off. Returns the bytes written
 * (at most 48).
 */
static inline uint8_t *arch_x86_put(uint8_t *out, const char *bytes, int n)
{
	while (n--)
		*out++ = (uint8_t)*bytes++;
	return out;
}

static inline uint8_t *arch_x86_put32(uint8_t *out, uint32_t v)
{
	arch_put32le(out, v);
	return out + 4;
}

static inline size_t arch_trap_thunk(uint8_t *out, uintptr_t at,
				     uintptr_t count, uintptr_t slot,
				     uint32_t arg)
{
	uint8_t *p = out;

#ifdef __x86_64__
	p = arch_x86_put(p, "\xf3\x0f\x1e\xfa", 4); /* endbr64 */
	if (slot) {
		/* lock incl count(%rip); mov $arg, %ecx; sub $8, %rsp */
		p = arch_x86_put(p, "\xf0\xff\x05", 3);
		p = arch_x86_put32(p, (uint32_t)(count - (at + (p - out) + 4)));
		p = arch_x86_put(p, "\xb9", 1);
		p = arch_x86_put32(p, arg);
		p = arch_x86_put(p, "\x48\x83\xec\x08", 4);
		/* call *slot(%rip); add $8, %rsp; lock decl count(%rip) */
		p = arch_x86_put(p, "\xff\x15", 2);
		p = arch_x86_put32(p, (uint32_t)(slot - (at + (p - out) + 4)));
		p = arch_x86_put(p, "\x48\x83\xc4\x08", 4);
		p = arch_x86_put(p, "\xf0\xff\x0d", 3);
		p = arch_x86_put32(p, (uint32_t)(count - (at + (p - out) + 4)));
	}
#else
	(void)at;
	p = arch_x86_put(p, "\xf3\x0f\x1e\xfb", 4); /* endbr32 */
	if (slot) {
		/* lock incl count; sub $12, %esp (the callee's alignment) */
		p = arch_x86_put(p, "\xf0\xff\x05", 3);
		p = arch_x86_put32(p, (uint32_t)count);
		p = arch_x86_put(p, "\x83\xec\x0c", 3);
		/* push $arg; push 28(%esp) three times: uc, info, sig */
		p = arch_x86_put(p, "\x68", 1);
		p = arch_x86_put32(p, arg);
		p = arch_x86_put(p, "\xff\x74\x24\x1c\xff\x74\x24\x1c"
				    "\xff\x74\x24\x1c", 12);
		/* call *slot; add $28, %esp; lock decl count */
		p = arch_x86_put(p, "\xff\x15", 2);
		p = arch_x86_put32(p, (uint32_t)slot);
		p = arch_x86_put(p, "\x83\xc4\x1c", 3);
		p = arch_x86_put(p, "\xf0\xff\x0d", 3);
		p = arch_x86_put32(p, (uint32_t)count);
	}
#endif
	*p++ = 0xc3; /* ret */
	return (size_t)(p - out);
}

#endif /* STATIC_KEYS_ARCH_X86_H */
