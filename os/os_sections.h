/* SPDX-License-Identifier: MIT */
/*
 * os_sections.h - how the object format names the two sections, for the
 * public header and the arch emitters. The loader side (finding the bounds
 * at run time) is in os/os.h.
 *
 *   STATIC_KEYS_ENTRY_PUSHSECTION  assembler line that enters the entry
 *                                  section (writable, kept by linker GC),
 *                                  right after a site
 *   STATIC_KEYS_ENTRY_POPSECTION   assembler lines that go back to the code
 *   STATIC_KEYS_KEY_SECTION        attribute placing a key in the key table
 *   STATIC_KEYS_ENTRY_KEY_REL32    defined when the format has no 64-bit
 *                                  PC-relative relocation: the entry's key
 *                                  field is then 32 bits + 4 bytes of zeros
 *                                  (struct jump_entry stays 16 bytes)
 *   STATIC_KEYS_ENTRY_KEY_ABS      defined when the assembler cannot write
 *                                  `key - .` for a key defined in another
 *                                  unit: the key field is then an absolute
 *                                  pointer (the loader rebases it)
 */
#ifndef STATIC_KEYS_OS_SECTIONS_H
#define STATIC_KEYS_OS_SECTIONS_H

#if defined(__APPLE__)
/* Mach-O: section$start$/section$end$ give the bounds; live_support keeps it */
#define STATIC_KEYS_ENTRY_PUSHSECTION                                          \
	".pushsection __DATA,__static_keys,regular,live_support"
#define STATIC_KEYS_ENTRY_POPSECTION ".popsection"
#define STATIC_KEYS_KEY_SECTION                                                \
	__attribute__((used, section("__DATA,__static_keys_t")))
#ifdef __x86_64__
/* LLVM's x86_64 Mach-O writer refuses a subtraction whose symbol is
 * undefined ("can not be undefined in a subtraction expression"), which
 * every DECLARE_STATIC_KEY_* user hits; arm64 Mach-O has no such limit. */
#define STATIC_KEYS_ENTRY_KEY_ABS 1
#endif
#elif defined(_WIN32) || defined(__CYGWIN__)
/*
 * PE/COFF: grouped sections sort $a < $b < $c; $a and $c (os/windows.c)
 * bracket the data. The name is quoted: LLVM's Intel-syntax parser drops a
 * bare `$` (rust-lang/rust#128177, llvm/llvm-project#101776), leaving
 * `.stksb`, which the linker would not group. COFF has REL32 but no REL64.
 *
 * Neither GNU as (2.40) nor LLVM 16 accepts .pushsection/.popsection for
 * COFF, so we return to `.text` by name. That is right only while the
 * function is in `.text`: mingw GCC needs -fno-reorder-functions (else main
 * goes to .text.startup, cold code to .text.unlikely; the CMake target adds
 * it), and -ffunction-sections or COMDAT (C++ inline) functions are out.
 * With GCC the end of the site (3:) must then be where `.text` resumes (4:):
 * if the site was in another section, gas stops at this line ("non-constant
 * expression in .if statement", and its own ".seh_endproc used in segment
 * '.text'") instead of splitting the function silently.
 * COFF has no "retain" flag and nothing refers to the entries, so GNU ld's
 * --gc-sections drops them: modules link with --no-gc-sections (the CMake
 * target adds it).
 */
#define STATIC_KEYS_ENTRY_PUSHSECTION "3:\n\t.section \".stks$b\", \"dw\""
#ifdef __clang__ /* LLVM cannot test label distances in .if */
#define STATIC_KEYS_ENTRY_POPSECTION ".text"
#else
#define STATIC_KEYS_ENTRY_POPSECTION                                           \
	".text\n4:\n\t.ifne 4b - 3b\n\t"                                       \
	".error \"static keys: a site must be in .text on PE/COFF (build "     \
	"with -fno-reorder-functions, without -ffunction-sections)\"\n\t"     \
	".endif"
#endif
#define STATIC_KEYS_KEY_SECTION __attribute__((used, section(".stkt$b")))
#if defined(__x86_64__) || defined(__aarch64__)
#define STATIC_KEYS_ENTRY_KEY_REL32 1
#endif
#else
/* ELF: __start_/__stop_ give the bounds; "R" (SHF_GNU_RETAIN) survives GC;
 * "?" joins the function's COMDAT group, if any (a C++ inline function), so
 * the linker drops a duplicate copy's entries along with its code. */
#define STATIC_KEYS_ENTRY_PUSHSECTION ".pushsection __static_keys, \"awR?\""
#define STATIC_KEYS_ENTRY_POPSECTION ".popsection"
#define STATIC_KEYS_KEY_SECTION                                                \
	__attribute__((used, retain, section("__static_keys_tab")))
#endif

#endif /* STATIC_KEYS_OS_SECTIONS_H */
