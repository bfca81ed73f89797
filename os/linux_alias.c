/* SPDX-License-Identifier: MIT */
/*
 * linux_alias.c - the alias strategy: the pages holding sites move into a
 * memfd mapped twice, r-x where the code runs and rw- where flips store
 * (os/linux.c's header, docs/strategies.md), and the pthread_atfork
 * handlers that keep parent and child from sharing those pages.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "linux_private.h"

/* ---- alias ---------------------------------------------------------------- */

STATIC_KEYS_LOCAL struct linux_alias linux_alias = {
    0, 0, NULL, -1, 0, 0, PTHREAD_MUTEX_INITIALIZER};

/* Unmaps the rw- view and closes the memfd; the text is left as it is. */
void linux_alias_forget(void)
{
	if (linux_alias.rw)
		munmap(linux_alias.rw, linux_alias.hi - linux_alias.lo);
	if (linux_alias.fd >= 0)
		close(linux_alias.fd);
	linux_alias.rw = NULL;
	linux_alias.fd = -1;
	linux_alias.stale = 0;
	linux_alias.lo = linux_alias.hi = 0;
}

/* Moves [lo, hi) to private pages holding the same bytes (remap, no fill). */
static int linux_make_private(uintptr_t lo, uintptr_t hi, struct os_patch *d)
{
	struct os_patch p = *d;
	int rc;

	p.start = lo;
	p.len = hi - lo;
	p.fill = NULL;
	p.syscalls = 0;
	rc = linux_patch_remap(&p);
	d->syscalls += p.syscalls;
	d->failed = p.failed;
	d->raw_error = p.raw_error;
	return rc;
}

/*
 * Leaving alias: the text goes back to private pages (file-backed), so no
 * shared page is left for a later fork() to share, then the view goes.
 */
int linux_alias_drop(struct os_patch *d)
{
	int rc = 0;

	pthread_mutex_lock(&linux_alias.lock);
	if (linux_alias.lo < linux_alias.hi && !linux_alias.stale)
		rc = linux_make_private(linux_alias.lo, linux_alias.hi, d);
	if (!rc)
		linux_alias_forget();
	pthread_mutex_unlock(&linux_alias.lock);
	return rc;
}

/* Caller holds linux_alias.lock. */
static int linux_alias_setup_locked(uintptr_t lo, uintptr_t hi,
				    struct os_patch *d)
{
	size_t len = hi - lo;
	const char *call;
	void *rw;
	int fd, err;

	if (linux_alias.rw && linux_alias.lo <= lo && hi <= linux_alias.hi)
		return 0;
	switch (linux_span_is_text(lo, hi)) {
	case -1:
		return linux_fail(d, "open(\"/proc/self/maps\")", errno);
	case 0:
		return linux_fail(d, "alias (the sites' pages are not one r-x span)", EINVAL);
	}
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
	/* A child of fork() must not inherit a writable view of our code. */
	d->syscalls++;
	madvise(rw, len, MADV_DONTFORK);
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
	linux_alias_forget();
	linux_alias.lo = lo;
	linux_alias.hi = hi;
	linux_alias.rw = rw;
	linux_alias.fd = fd;
	return 0;

out_close:
	err = errno;
	close(fd);
	return linux_fail(d, call, err);
}

int linux_alias_setup(uintptr_t lo, uintptr_t hi, struct os_patch *d)
{
	int rc;

	pthread_mutex_lock(&linux_alias.lock);
	rc = linux_alias_setup_locked(lo, hi, d);
	pthread_mutex_unlock(&linux_alias.lock);
	return rc;
}

int linux_patch_alias(struct os_patch *p)
{
	int rc = 0;

	pthread_mutex_lock(&linux_alias.lock);
	if (linux_alias.stale) /* a forked child: its own memfd first */
		rc = linux_alias_setup_locked(linux_alias.lo, linux_alias.hi, p);
	if (!rc && (!linux_alias.rw || p->start < linux_alias.lo ||
		    p->start + p->len > linux_alias.hi))
		rc = linux_fail(p, "alias (range not prepared)", EINVAL);
	if (!rc)
		p->fill(p->ctx, linux_alias.rw + (p->start - linux_alias.lo),
			p->start, p->len, 0);
	pthread_mutex_unlock(&linux_alias.lock);
	return rc;
}

/* ---- fork ------------------------------------------------------------------ */

/*
 * The alias's r-x view is MAP_SHARED: across fork() parent and child would
 * run the same pages, and a flip in one would change the other. Before the
 * fork the parent's text moves to private copies (which fork copies on
 * write); afterwards the parent maps its memfd back and the child, which
 * never inherits the rw- view (MADV_DONTFORK), sets up its own memfd at its
 * next flip. The lock keeps alias flips out of that window. A child also
 * reopens /proc/self/mem: the inherited descriptor writes the parent.
 */
void linux_fork_prepare(void)
{
	struct os_patch d;

	pthread_mutex_lock(&linux_alias.lock);
	linux_alias.forking = 0;
	if (!linux_alias.rw || linux_alias.stale)
		return;
	memset(&d, 0, sizeof d);
	linux_alias.forking =
		linux_make_private(linux_alias.lo, linux_alias.hi, &d) ? -1 : 1;
}

void linux_fork_parent(void)
{
	if (linux_alias.forking == 1 &&
	    mmap((void *)linux_alias.lo, linux_alias.hi - linux_alias.lo,
		 LINUX_RX, MAP_SHARED | MAP_FIXED, linux_alias.fd, 0) == MAP_FAILED) {
		/* stores through rw would miss the code: set up anew */
		linux_alias_forget();
		linux_alias.stale = 1;
	}
	linux_alias.forking = 0;
	pthread_mutex_unlock(&linux_alias.lock);
}

void linux_fork_child(void)
{
	struct os_patch d;

	if (linux_alias.forking) {
		uintptr_t lo = linux_alias.lo, hi = linux_alias.hi;

		if (linux_alias.forking < 0) { /* still shared: last try */
			memset(&d, 0, sizeof d);
			linux_make_private(lo, hi, &d);
		}
		linux_alias.rw = NULL; /* not inherited */
		linux_alias_forget();
		linux_alias.lo = lo;
		linux_alias.hi = hi;
		linux_alias.stale = 1;
	}
	linux_alias.forking = 0;
	linux_text_forked(); /* the inherited /proc/self/mem writes the parent */
	pthread_mutex_unlock(&linux_alias.lock);
}
