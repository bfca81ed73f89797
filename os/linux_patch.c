/* SPDX-License-Identifier: MIT */
/*
 * linux_patch.c - how remap, mprotect and procmem write a run of pages
 * (os/linux.c's header and docs/strategies.md say what each does to
 * threads and tracers); os_patch in linux.c picks one, and procmem is
 * also every rollback's last resort.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "linux_private.h"
#include "test_hooks.h"

/* ---- patching ------------------------------------------------------------ */

/*
 * A private rw- copy of [start, start + len): pages of the library file at
 * the same offset when known (the copy stays file-backed), else anonymous.
 */
static void *linux_private_copy(uintptr_t start, size_t len)
{
	if (linux_text.file_fd >= 0 && linux_text_covers(start, len)) {
		/* populated: one fault-in for the run, not two per page */
		void *c = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_POPULATE, linux_text.file_fd,
			       linux_text.offset + (off_t)(start - linux_text.start));

		if (c != MAP_FAILED)
			return c;
	}
	return mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

/* remap; with p->fill NULL it only makes the range private (alias, fork). */
int linux_patch_remap(struct os_patch *p)
{
	const char *call;
	void *copy;
	int err;

	/*
	 * The library file could not be opened for a passing reason (no free
	 * descriptor): an anonymous copy now would hide the library from
	 * perf, gdb and uprobes for good. Refuse (a rollback goes on anyway).
	 */
	if (p->fill && !p->rollback && linux_text.file_fd < 0 &&
	    linux_transient(linux_text.file_err))
		return linux_fail(p, "open(the library file)", linux_text.file_err);
	p->syscalls++;
	copy = linux_private_copy(p->start, p->len);
	if (copy == MAP_FAILED)
		return linux_fail(p, "mmap", errno);
	memcpy(copy, (const void *)p->start, p->len);
	if (p->fill)
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

static int linux_make_rx(void *start, size_t len)
{
	if (TEST_HOOK_SKIP_THEN_FAIL(rx_skip, rx_fail)) { /* tests/wx_test.c */
		errno = EACCES;
		return -1;
	}
	return mprotect(start, len, LINUX_RX);
}

/*
 * The range is rwx and holds its old bytes: make it r-x another way. Once
 * more with mprotect (ENOMEM from splitting a mapping may pass), then as
 * remap does, with an r-x copy swapped in by mremap (the range becomes
 * anonymous memory). Never PROT_NONE or r-- on the way: the code doing
 * this may be on that very page. 1 when the window is closed.
 */
static int linux_close_window(struct os_patch *p)
{
	void *start = (void *)p->start, *copy;

	p->syscalls++;
	if (!linux_make_rx(start, p->len))
		return 1;
	p->syscalls++;
	copy = mmap(NULL, p->len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (copy == MAP_FAILED)
		return 0;
	memcpy(copy, start, p->len);
	p->syscalls += 2;
	if (!linux_make_rx(copy, p->len) &&
	    mremap(copy, p->len, p->len, MREMAP_MAYMOVE | MREMAP_FIXED,
		   start) != MAP_FAILED)
		return 1;
	p->syscalls++;
	munmap(copy, p->len);
	return 0;
}

int linux_patch_mprotect(struct os_patch *p)
{
	void *start = (void *)p->start;
	int err;

	p->syscalls++;
	if (mprotect(start, p->len, LINUX_RWX))
		return linux_fail(p, "mprotect(rwx)", errno);
	p->fill(p->ctx, (uint8_t *)start, p->start, p->len, 0);
	p->syscalls++;
	if (!linux_make_rx(start, p->len))
		return 0;
	/* Cannot close the window: put the old bytes back, close it otherwise. */
	err = errno;
	p->fill(p->ctx, (uint8_t *)start, p->start, p->len, 1);
	if (linux_close_window(p))
		return linux_fail(p, "mprotect(r-x)", err);
	linux_fail(p, "mprotect(r-x)", err);
	return STATIC_KEYS_EWX;
}

/*
 * pwrite through /proc/self/mem; bytes written, or -1. A signal's EINTR
 * is tried again a few times, not forever: a policy may answer EINTR to
 * every call (then reported as a transient refusal).
 */
ssize_t linux_mem_write(struct os_patch *p, const uint8_t *from, size_t len,
			uintptr_t at)
{
	ssize_t n;
	int tries = 8;

	do {
		p->syscalls++;
		n = pwrite(linux_text.mem_fd, from, len, (off_t)at);
	} while (n < 0 && errno == EINTR && --tries);
	return n;
}

/*
 * Where view and live first differ in [0, len), and where their last
 * difference ends (b, after a): 8 bytes at a time, then bytes. A run is
 * pages long and a request changes a few bytes of it, so this scan, a
 * byte at a time, was a quarter of a 1-site flip.
 */
static size_t linux_diff_start(const uint8_t *x, const uint8_t *y, size_t len)
{
	size_t a = 0;
	uint64_t u, v;

	for (; len - a >= 8; a += 8) {
		memcpy(&u, x + a, 8);
		memcpy(&v, y + a, 8);
		if (u != v)
			break;
	}
	while (a < len && x[a] == y[a])
		a++;
	return a;
}

static size_t linux_diff_end(const uint8_t *x, const uint8_t *y, size_t a,
			     size_t len)
{
	size_t b = len;
	uint64_t u, v;

	for (; b - a >= 8; b -= 8) {
		memcpy(&u, x + b - 8, 8);
		memcpy(&v, y + b - 8, 8);
		if (u != v)
			break;
	}
	while (b > a && x[b - 1] == y[b - 1])
		b--;
	return b;
}

/*
 * procmem, and every rollback's last resort: build the run in the scratch
 * (copy, fill), then one pwrite of the bytes that changed. A short write
 * is undone the same way. Needs what linux_text_setup opened, nothing new.
 */
int linux_patch_procmem(struct os_patch *p)
{
	const uint8_t *live = (const uint8_t *)p->start;
	uint8_t *view;
	size_t a, b;
	ssize_t n;
	int err;

	if (linux_text.mem_fd < 0)
		return linux_fail(p, linux_text.mem_err ? linux_text.mem_call
							: "open(\"/proc/self/mem\")",
				  linux_text.mem_err ? linux_text.mem_err : EBADF);
	if (!linux_text.scratch)
		return linux_fail(p, "mmap(scratch)",
				  linux_text.scratch_err ? linux_text.scratch_err : ENOMEM);
	if (!linux_text_covers(p->start, p->len))
		return linux_fail(p, "procmem (range not prepared)", EINVAL);
	view = linux_text.scratch + (p->start - linux_text.start);
	memcpy(view, live, p->len);
	p->fill(p->ctx, view, p->start, p->len, 0);
	a = linux_diff_start(view, live, p->len);
	b = linux_diff_end(view, live, a, p->len);
	if (a == b)
		return 0;
	n = linux_mem_write(p, view + a, b - a, p->start + a);
	if (n == (ssize_t)(b - a))
		return 0;
	err = n < 0 ? errno : EIO;
	if (n > 0) { /* part of the run changed: write its old bytes back */
		p->fill(p->ctx, view, p->start, p->len, 1);
		if (linux_mem_write(p, view + a, (size_t)n, p->start + a) != n)
			return linux_fail(p, "pwrite(/proc/self/mem) (and writing "
					     "the old bytes back failed too)", err);
	}
	return linux_fail(p, "pwrite(/proc/self/mem)", err);
}
