/* SPDX-License-Identifier: MIT */
/*
 * none.c - freestanding / bare metal: no libc, no syscalls, no MMU calls.
 * The C answer to the Rust crate's no_std. It references no symbol outside
 * the core, so the core plus this file link with -nostdlib.
 *
 * What the embedder provides:
 *
 *   writable text  the code holding the sites must be writable while a key
 *                  flips: run without an MMU, map text rwx, or link with
 *                  `-N` (--omagic: one rwx segment). The only strategy is
 *                  "direct": plain stores into the running code, then the
 *                  arch's icache sync. Unlike os.h's other layers, nothing
 *                  here closes a W^X window: there is none to close.
 *
 *   section bounds __start___static_keys, __stop___static_keys,
 *                  __start___static_keys_tab and __stop___static_keys_tab.
 *                  GNU ld and lld define them by themselves for sections
 *                  whose names are C identifiers unless a linker script
 *                  places the sections; a script that does must keep them
 *                  and define the bounds, for example:
 *
 *     .data : {
 *         ...
 *         . = ALIGN(8);
 *         PROVIDE_HIDDEN(__start___static_keys = .);
 *         KEEP(*(__static_keys))
 *         PROVIDE_HIDDEN(__stop___static_keys = .);
 *         . = ALIGN(8);
 *         PROVIDE_HIDDEN(__start___static_keys_tab = .);
 *         KEEP(*(__static_keys_tab))
 *         PROVIDE_HIDDEN(__stop___static_keys_tab = .);
 *     }
 *
 *                  Both sections are data: init sorts the entries in place
 *                  and the keys change state.
 *
 *   image bounds   __executable_start and _end (weak, hidden), which GNU
 *                  ld's and lld's default layouts define: sites, targets
 *                  and key names must lie in [__executable_start, _end).
 *                  Not etext: an image linked -N is one writable and
 *                  executable segment, and lld then puts etext after the
 *                  first section rather than after .text. A linker script
 *                  that defines neither gets the whole address space, and
 *                  init then checks only what it can: keys, order,
 *                  duplicates and the bytes at each site.
 *
 *   page size      STATIC_KEYS_NONE_PAGE_SIZE (default 4096, a power of
 *                  two): only the unit the core groups sites by, since
 *                  nothing is mapped.
 *
 *   memcpy, memmove, memset, memcmp
 *                  what GCC's and clang's freestanding contract asks of
 *                  the environment, and all the core calls: defined here
 *                  (plain byte loops), so the core plus this file need no
 *                  libc. An embedder with faster ones links the core as an
 *                  archive, whose copies are local to it.
 *
 *   thread id      static_keys_none_thread_id(), weak: the default returns
 *                  1 (one thread). An embedder with threads defines its own,
 *                  returning a token for the current thread: never 0, and
 *                  never given to another thread after this one ends
 *                  (os_thread_id in os/os.h).
 */
#include "os.h"

#ifndef STATIC_KEYS_NONE_PAGE_SIZE
#define STATIC_KEYS_NONE_PAGE_SIZE 4096
#endif

#if STATIC_KEYS_NONE_PAGE_SIZE <= 0 ||                                         \
	(STATIC_KEYS_NONE_PAGE_SIZE & (STATIC_KEYS_NONE_PAGE_SIZE - 1))
#error "STATIC_KEYS_NONE_PAGE_SIZE must be a power of two"
#endif

/* ---- memory --------------------------------------------------------------- */

/*
 * GCC turns a byte loop into a call to the very function it is in
 * (-ftree-loop-distribute-patterns, even with -ffreestanding); clang does
 * not with -ffreestanding.
 */
#if defined(__GNUC__) && !defined(__clang__)
#define NONE_NO_LIBCALL __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define NONE_NO_LIBCALL
#endif

NONE_NO_LIBCALL void *memcpy(void *restrict dst, const void *restrict src,
			     size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	while (n--)
		*d++ = *s++;
	return dst;
}

NONE_NO_LIBCALL void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d < s) {
		while (n--)
			*d++ = *s++;
	} else {
		while (n--)
			d[n] = s[n];
	}
	return dst;
}

NONE_NO_LIBCALL void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;

	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

NONE_NO_LIBCALL int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x < *y ? -1 : 1;
	return 0;
}

/* ---- sections ------------------------------------------------------------ */

/*
 * Hidden: each image resolves these to its own sections. Weak: an image
 * with no site (or no key) has no such section and gets NULL.
 */
#define NONE_BOUND(type, name)                                                 \
	extern type name[] __attribute__((weak, visibility("hidden")))
NONE_BOUND(struct jump_entry, __start___static_keys);
NONE_BOUND(struct jump_entry, __stop___static_keys);
NONE_BOUND(struct static_key, __start___static_keys_tab);
NONE_BOUND(struct static_key, __stop___static_keys_tab);

void os_sections(struct os_sections *out)
{
	out->entries_start = __start___static_keys;
	out->entries_stop = __stop___static_keys;
	out->keys_start = __start___static_keys_tab;
	out->keys_stop = __stop___static_keys_tab;
}

/* No pager to ask: the table is written in place. */
void os_populate_write(void *start, size_t len)
{
	(void)start;
	(void)len;
}

/* ---- image --------------------------------------------------------------- */

NONE_BOUND(char, __executable_start);
NONE_BOUND(char, _end);

int os_image(struct os_image *out)
{
	uintptr_t lo = (uintptr_t)__executable_start;
	uintptr_t end = (uintptr_t)_end;

	/* Launder: weak symbols the compiler might assume non-NULL. */
	__asm__("" : "+r"(lo), "+r"(end));
	out->text.lo = 0;
	out->text.hi = UINTPTR_MAX;
	if (lo && end > lo) {
		out->text.lo = lo;
		out->text.hi = end;
	}
	out->nr_read = 1;
	out->read[0] = out->text;
	return 0;
}

/* ---- init ---------------------------------------------------------------- */

int os_init(struct os_caps *caps)
{
	caps->name = "none";
	caps->page_size = STATIC_KEYS_NONE_PAGE_SIZE;
	caps->strategies = 1u << STATIC_KEYS_STRATEGY_DIRECT;
	caps->default_strategy = STATIC_KEYS_STRATEGY_DIRECT;
	caps->inplace_strategies = 1u << STATIC_KEYS_STRATEGY_DIRECT;
	caps->store_strategies = 1u << STATIC_KEYS_STRATEGY_DIRECT;
	return 0; /* one core, or the embedder keeps others off the sites */
}

int os_sync_core(struct os_patch *diag)
{
	diag->failed = "core synchronisation (none offered)";
	return STATIC_KEYS_EPATCH;
}

int os_trap_arm(os_trap_fn fn, void *ctx, os_thunk_fn thunk,
		struct os_patch *diag)
{
	(void)fn;
	(void)ctx;
	(void)thunk;
	diag->failed = "breakpoint handler (none offered)";
	return STATIC_KEYS_EPATCH;
}

/* ---- threads ------------------------------------------------------------- */

/* The embedder's hook; this default serves a single-threaded image. */
STATIC_KEYS_LOCAL uintptr_t static_keys_none_thread_id(void);

__attribute__((weak)) uintptr_t static_keys_none_thread_id(void)
{
	return 1;
}

uintptr_t os_thread_id(void)
{
	return static_keys_none_thread_id();
}

/* No thread-exit hook here: ownership stays with the first owner. */
int os_thread_watch(uintptr_t *owner)
{
	(void)owner;
	return STATIC_KEYS_ENOTSUP;
}

/* ---- symbols ------------------------------------------------------------- */

/* No loader, no symbol table at run time: addresses stay numbers. */
int os_symbolize(uintptr_t addr, struct os_symbol *out, char *name,
		 size_t name_cap, char *path, size_t path_cap)
{
	(void)addr;
	(void)out;
	(void)name;
	(void)name_cap;
	(void)path;
	(void)path_cap;
	return STATIC_KEYS_ENOTSUP;
}

/* Nothing to yield to that the core could name; the wait is a spin. */
void os_thread_yield(void)
{
}

/* ---- patching ------------------------------------------------------------ */

/* Direct needs nothing set up, and there is nothing to release. */
int os_prepare(int strategy, uintptr_t lo, uintptr_t hi, struct os_patch *diag)
{
	(void)lo;
	(void)hi;
	if (strategy == STATIC_KEYS_STRATEGY_DIRECT)
		return 0;
	diag->failed = "strategy";
	diag->raw_error = strategy;
	return STATIC_KEYS_ENOTSUP;
}

/* Text is writable by contract: the running code is its own view. */
int os_patch(struct os_patch *p)
{
	if (p->strategy != STATIC_KEYS_STRATEGY_DIRECT) {
		p->failed = "strategy";
		p->raw_error = p->strategy;
		return STATIC_KEYS_ENOTSUP;
	}
	p->fill(p->ctx, (uint8_t *)p->start, p->start, p->len, 0);
	return 0;
}

/* Nothing outlives the module here. */
void os_release(void)
{
}
