/* SPDX-License-Identifier: MIT */
/*
 * os_sections.h - how the object format names the two sections, for the
 * public header and the arch emitters. The loader side (finding the bounds
 * at run time) is in os/os.h.
 *
 *   STATIC_KEYS_ENTRY_PUSHSECTION  assembler line that enters the entry
 *                                  section (writable, kept by linker GC)
 *   STATIC_KEYS_KEY_SECTION        attribute placing a key in the key table
 */
#ifndef STATIC_KEYS_OS_SECTIONS_H
#define STATIC_KEYS_OS_SECTIONS_H

#if defined(__APPLE__)
/* Mach-O: section$start$/section$end$ give the bounds; live_support keeps it */
#define STATIC_KEYS_ENTRY_PUSHSECTION                                          \
	".pushsection __DATA,__static_keys,regular,live_support"
#define STATIC_KEYS_KEY_SECTION                                                \
	__attribute__((used, section("__DATA,__static_keys_t")))
#elif defined(_WIN32) || defined(__CYGWIN__)
/* PE/COFF: grouped sections sort $a < $b < $c; $a and $c bracket the data */
#define STATIC_KEYS_ENTRY_PUSHSECTION ".pushsection .stks$b, \"dw\""
#define STATIC_KEYS_KEY_SECTION __attribute__((used, section(".stkt$b")))
#else
/* ELF: __start_/__stop_ give the bounds; "R" (SHF_GNU_RETAIN) survives GC */
#define STATIC_KEYS_ENTRY_PUSHSECTION ".pushsection __static_keys, \"awR\""
#define STATIC_KEYS_KEY_SECTION                                                \
	__attribute__((used, retain, section("__static_keys_tab")))
#endif

#endif /* STATIC_KEYS_OS_SECTIONS_H */
