/* SPDX-License-Identifier: MIT */
/*
 * linux.c - ELF sections, pthread ids, and two ways past W^X:
 *
 *   remap     copy the pages into a fresh anonymous mapping, patch the copy,
 *             make it r-x, mremap it over the original: the range changes in
 *             one step under other threads and is never writable+executable
 *             (3 syscalls: mmap, mprotect, mremap)
 *   mprotect  make the range rwx, write, make it r-x again (2 syscalls; a
 *             brief rwx window)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "os.h"

#define LINUX_RX (PROT_READ | PROT_EXEC)
#define LINUX_RWX (PROT_READ | PROT_WRITE | PROT_EXEC)

/* ---- sections ------------------------------------------------------------ */

/*
 * Hidden: each module resolves these to its own sections. Weak: a module
 * with no site (or no key) has no such section and gets NULL.
 */
#define LINUX_BOUND(type, name)                                                \
	extern type name[] __attribute__((weak, visibility("hidden")))
LINUX_BOUND(struct jump_entry, __start___static_keys);
LINUX_BOUND(struct jump_entry, __stop___static_keys);
LINUX_BOUND(struct static_key, __start___static_keys_tab);
LINUX_BOUND(struct static_key, __stop___static_keys_tab);

void os_sections(struct os_sections *out)
{
	out->entries_start = __start___static_keys;
	out->entries_stop = __stop___static_keys;
	out->keys_start = __start___static_keys_tab;
	out->keys_stop = __stop___static_keys_tab;
}

/* ---- init ---------------------------------------------------------------- */

int os_init(struct os_caps *caps)
{
	long page = sysconf(_SC_PAGESIZE);

	if (page <= 0 || (page & (page - 1)))
		return STATIC_KEYS_EINIT;
	caps->name = "linux";
	caps->page_size = (size_t)page;
	caps->strategies = (1u << STATIC_KEYS_STRATEGY_REMAP) |
			   (1u << STATIC_KEYS_STRATEGY_MPROTECT);
	caps->default_strategy = STATIC_KEYS_STRATEGY_REMAP;
	return 0;
}

/* ---- threads ------------------------------------------------------------- */

uintptr_t os_thread_id(void)
{
	return (uintptr_t)pthread_self();
}

/* ---- patching ------------------------------------------------------------ */

static int linux_fail(struct os_patch *p, const char *call, int err)
{
	p->failed = call;
	p->raw_error = err;
	return STATIC_KEYS_EPATCH;
}

static int linux_patch_remap(struct os_patch *p)
{
	const char *call;
	void *copy;
	int err;

	p->syscalls++;
	copy = mmap(NULL, p->len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (copy == MAP_FAILED)
		return linux_fail(p, "mmap", errno);
	memcpy(copy, (const void *)p->start, p->len);
	p->fill(p->ctx, copy, p->start, p->len, 0);

	p->syscalls++;
	if (mprotect(copy, p->len, LINUX_RX)) {
		err = errno;
		call = "mprotect";
		goto out_unmap;
	}
	p->syscalls++;
	if (mremap(copy, p->len, p->len, MREMAP_MAYMOVE | MREMAP_FIXED,
		   (void *)p->start) == MAP_FAILED) {
		err = errno;
		call = "mremap";
		goto out_unmap;
	}
	return 0;

out_unmap: /* the original was never touched */
	p->syscalls++;
	munmap(copy, p->len);
	return linux_fail(p, call, err);
}

static int linux_patch_mprotect(struct os_patch *p)
{
	void *start = (void *)p->start;
	int err;

	p->syscalls++;
	if (mprotect(start, p->len, LINUX_RWX))
		return linux_fail(p, "mprotect(rwx)", errno);
	p->fill(p->ctx, (uint8_t *)start, p->start, p->len, 0);
	p->syscalls++;
	if (!mprotect(start, p->len, LINUX_RX))
		return 0;
	/* Cannot close the window: put the old bytes back, try once more. */
	err = errno;
	p->fill(p->ctx, (uint8_t *)start, p->start, p->len, 1);
	p->syscalls++;
	mprotect(start, p->len, LINUX_RX);
	return linux_fail(p, "mprotect(r-x)", err);
}

int os_patch(struct os_patch *p)
{
	switch (p->strategy) {
	case STATIC_KEYS_STRATEGY_REMAP:
		return linux_patch_remap(p);
	case STATIC_KEYS_STRATEGY_MPROTECT:
		return linux_patch_mprotect(p);
	default:
		p->failed = "strategy";
		p->raw_error = p->strategy;
		return STATIC_KEYS_ENOTSUP;
	}
}
