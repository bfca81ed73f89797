/* SPDX-License-Identifier: MIT */
/*
 * arch.h - the architecture contract. One header per architecture knows
 * instruction bytes and nothing else; native/ never names an opcode.
 *
 * Rules shared by every hook:
 *  - a site is ARCH_JUMP_SIZE bytes, naturally placed by the emitter;
 *  - `code` and `target` are run-time addresses of the site and of its jump
 *    target; `out` has room for ARCH_JUMP_SIZE bytes;
 *  - hooks are static inline, allocate nothing and call no libc.
 *
 * Each architecture header provides (arch/common.h gives them the asm goto
 * wrapper ARCH_ASM_GOTO_BRANCH and arch_put32le):
 *
 *   ARCH_NAME                  "x86_64", "aarch64", ...
 *   ARCH_JUMP_SIZE             bytes of one site (the nop and the jmp alike)
 *   ARCH_STATIC_BRANCH(key, branch)
 *   ARCH_STATIC_BRANCH_JUMP(key, branch)
 *       expression emitters: place a NOP (resp. JMP) site with `asm goto`,
 *       record a jump entry {site, target, key | branch} in the entry section
 *       (STATIC_KEYS_ENTRY_PUSHSECTION from os/os_sections.h), and evaluate to
 *       0 on the fall-through path and 1 at the target. `key` must be the
 *       address of a key with static storage; `branch` a constant 0 or 1.
 *   arch_jump_nop(out, code, target)   write the nop bytes for a site (an
 *       instruction that falls through; x86's carries the jmp's disp32, so
 *       the two states differ in byte 0 only; the others ignore target)
 *   arch_jump_jmp(out, code, target)   write the jmp bytes; pre: in reach
 *   arch_jump_in_reach(code, target)   1 when a jmp from code can reach target
 *   arch_sync_icache(start, end)       make new bytes in [start, end) visible
 *                                      to instruction fetch on every core
 *
 *   ARCH_NEEDS_BREAKPOINT      1 when no single store can replace a site
 *                              under a core that runs it (x86: the core
 *                              uses the breakpoint protocol), else 0
 *   ARCH_TAIL_SHARED           with ARCH_NEEDS_BREAKPOINT: 1 when every
 *                              site's two instructions hold the same bytes
 *                              after the breakpoint's (x86), so a flip
 *                              rewrites only those the breakpoint covers;
 *                              0 (the default) when they may differ
 *   ARCH_BREAKPOINT_SIZE / arch_breakpoint(out)
 *       with ARCH_NEEDS_BREAKPOINT: the trap instruction written over the
 *       first bytes of a site while its other bytes change
 *   arch_trap_thunk(out, at, count, slot, arg)
 *       with ARCH_NEEDS_BREAKPOINT: the trap handler's entry code, as
 *       os_thunk_fn in os/os.h describes it; returns its length
 *   arch_site_store(dst, bytes)        writes one site's ARCH_JUMP_SIZE
 *       bytes at dst (naturally aligned); on an ISA without
 *       ARCH_NEEDS_BREAKPOINT as one single-copy atomic store
 *
 * Optional (a generic default is given below when absent):
 *
 *   ARCH_HAS_JUMP_CHECK / arch_jump_check(code, target)
 *       extra validation at init, 0 or a STATIC_KEYS_E* code
 */
#ifndef STATIC_KEYS_ARCH_H
#define STATIC_KEYS_ARCH_H

#if defined(__x86_64__) || defined(__i386__)
#include "x86.h" /* test eax, imm32 / jmp rel32 */
#elif defined(__aarch64__)
#include "aarch64.h" /* nop / b imm26 */
#elif defined(__riscv) && __riscv_xlen == 64
#include "riscv64.h" /* nop / jal x0 */
#elif defined(__loongarch64)
#include "loongarch64.h" /* nop / b offs26 */
#else
#error "static-keys: no arch/ header for this architecture; see arch/arch.h"
#endif

#ifndef ARCH_TAIL_SHARED
#define ARCH_TAIL_SHARED 0
#endif

#ifndef ARCH_HAS_JUMP_CHECK
static inline int arch_jump_check(uintptr_t code, uintptr_t target)
{
	return arch_jump_in_reach(code, target) ? 0 : -5 /* ERANGE */;
}
#endif

#endif /* STATIC_KEYS_ARCH_H */
