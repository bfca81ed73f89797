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
 *   alias     (opt-in) once, move the pages holding sites into a memfd
 *             mapped twice: r-x where the code runs, rw- elsewhere; a flip
 *             is a plain store through the rw- view (0 syscalls). No single
 *             mapping is writable and executable, but a writable alias of
 *             the code exists until another strategy is chosen, and after
 *             fork() parent and child share those pages.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
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

/* ---- image --------------------------------------------------------------- */

struct linux_find {
	uintptr_t self; /* an address in this module's code */
	struct os_image *out;
	int found;
};

/* Picks, among the loaded objects, the one whose PT_LOAD holds f->self. */
static int linux_phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct linux_find *f = data;
	struct os_image *out = f->out;
	ElfW(Half) i;
	int mine = 0;

	(void)size;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = (uintptr_t)info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && f->self - lo < ph->p_memsz)
			mine = 1;
	}
	if (!mine)
		return 0;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		struct os_range r;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_R))
			continue;
		r.lo = (uintptr_t)info->dlpi_addr + ph->p_vaddr;
		r.hi = r.lo + ph->p_memsz;
		if ((ph->p_flags & PF_X) && f->self - r.lo < ph->p_memsz) {
			out->text = r;
			f->found = 1;
		}
		if (out->nr_read < OS_IMAGE_MAX)
			out->read[out->nr_read++] = r;
	}
	return 1;
}

/* The loader's program headers: they do not change when a strategy remaps. */
int os_image(struct os_image *out)
{
	struct linux_find f;

	out->text.lo = out->text.hi = 0;
	out->nr_read = 0;
	f.self = (uintptr_t)linux_phdr_cb;
	f.out = out;
	f.found = 0;
	dl_iterate_phdr(linux_phdr_cb, &f);
	return f.found ? 0 : STATIC_KEYS_EINIT;
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
			   (1u << STATIC_KEYS_STRATEGY_MPROTECT) |
			   (1u << STATIC_KEYS_STRATEGY_ALIAS);
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

/* ---- alias ---------------------------------------------------------------- */

/* This module's alias, if any: [lo, hi) runs from a memfd, rw is its view. */
static struct {
	uintptr_t lo, hi;
	uint8_t *rw;
} linux_alias;

/*
 * 1 when every page of [lo, hi) is mapped r-x (private or shared): the
 * alias replaces that whole span, so a hole or a data page inside it
 * would be lost. Reads /proc/self/maps with a stack buffer.
 */
static int linux_span_is_text(uintptr_t lo, uintptr_t hi)
{
	char buf[4096], line[512];
	size_t n = 0;
	uintptr_t covered = lo;
	ssize_t got;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	while ((got = read(fd, buf, sizeof buf)) > 0) {
		ssize_t i;

		for (i = 0; i < got; i++) {
			unsigned long a, b;
			char perms[5];

			if (buf[i] != '\n') {
				if (n + 1 < sizeof line)
					line[n++] = buf[i];
				continue;
			}
			line[n] = '\0';
			n = 0;
			if (sscanf(line, "%lx-%lx %4s", &a, &b, perms) != 3)
				continue;
			if (b <= covered || a > covered || covered >= hi)
				continue;
			if (perms[0] != 'r' || perms[1] != '-' || perms[2] != 'x')
				break;
			covered = b;
		}
	}
	close(fd);
	return covered >= hi;
}

static void linux_alias_drop(void)
{
	if (linux_alias.rw)
		munmap(linux_alias.rw, linux_alias.hi - linux_alias.lo);
	linux_alias.rw = NULL;
	linux_alias.lo = linux_alias.hi = 0;
}

static int linux_alias_setup(uintptr_t lo, uintptr_t hi, struct os_patch *d)
{
	size_t len = hi - lo;
	const char *call;
	void *rw;
	int fd, err;

	if (linux_alias.rw && linux_alias.lo <= lo && hi <= linux_alias.hi)
		return 0;
	if (!linux_span_is_text(lo, hi))
		return linux_fail(d, "alias (the sites' pages are not one r-x span)", EINVAL);
	d->syscalls++;
	fd = memfd_create("static-keys-text", MFD_CLOEXEC);
	if (fd < 0)
		return linux_fail(d, "memfd_create", errno);
	d->syscalls += 2;
	call = "ftruncate";
	rw = MAP_FAILED;
	if (ftruncate(fd, (off_t)len) == 0) {
		call = "mmap(rw)";
		rw = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	}
	if (rw == MAP_FAILED)
		goto out_close;
	memcpy(rw, (const void *)lo, len);
	/* One step: the r-x view replaces the original pages, same bytes. */
	d->syscalls++;
	call = "mmap(r-x, fixed)";
	if (mmap((void *)lo, len, LINUX_RX, MAP_SHARED | MAP_FIXED, fd, 0) ==
	    MAP_FAILED) {
		err = errno;
		munmap(rw, len);
		errno = err;
		goto out_close;
	}
	d->syscalls++;
	close(fd);
	linux_alias_drop();
	linux_alias.lo = lo;
	linux_alias.hi = hi;
	linux_alias.rw = rw;
	return 0;

out_close:
	err = errno;
	close(fd);
	return linux_fail(d, call, err);
}

int os_prepare(int strategy, uintptr_t lo, uintptr_t hi, struct os_patch *diag)
{
	switch (strategy) {
	case STATIC_KEYS_STRATEGY_ALIAS:
		return lo < hi ? linux_alias_setup(lo, hi, diag) : 0;
	case STATIC_KEYS_STRATEGY_REMAP:
	case STATIC_KEYS_STRATEGY_MPROTECT:
		/* The r-x pages stay memfd-backed; both strategies work on them. */
		linux_alias_drop();
		return 0;
	default:
		return STATIC_KEYS_ENOTSUP;
	}
}

static int linux_patch_alias(struct os_patch *p)
{
	if (!linux_alias.rw || p->start < linux_alias.lo ||
	    p->start + p->len > linux_alias.hi)
		return linux_fail(p, "alias (range not prepared)", EINVAL);
	p->fill(p->ctx, linux_alias.rw + (p->start - linux_alias.lo), p->start,
		p->len, 0);
	return 0;
}

int os_patch(struct os_patch *p)
{
	switch (p->strategy) {
	case STATIC_KEYS_STRATEGY_REMAP:
		return linux_patch_remap(p);
	case STATIC_KEYS_STRATEGY_MPROTECT:
		return linux_patch_mprotect(p);
	case STATIC_KEYS_STRATEGY_ALIAS:
		return linux_patch_alias(p);
	default:
		p->failed = "strategy";
		p->raw_error = p->strategy;
		return STATIC_KEYS_ENOTSUP;
	}
}
