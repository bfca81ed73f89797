/* SPDX-License-Identifier: MIT */
/*
 * linux_text.c - the text state of the Linux layer: what the strategies
 * set up for this module before the first page changes (the file mapping
 * that holds the sites, /proc/self/mem, a scratch buffer as large as the
 * text), so that neither a rollback nor a fork needs a new resource; the
 * /proc/self/maps reader; and the errno words every file of the layer
 * reports refusals with. The strategy files (linux.c, linux_patch.c,
 * linux_alias.c) and the trap handler call down into it; it calls none of
 * them.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "linux_private.h"

/* ---- errors --------------------------------------------------------------- */

/*
 * Why a refusal with this errno may pass, or NULL: the process ran short
 * of something it can get back, or a signal came in. Nothing the layer
 * sets up is kept failed for such an error; the next request tries again.
 */
const char *linux_transient(int err)
{
	switch (err) {
	case ENOMEM:
		return "out of memory or address space (RLIMIT_AS, "
		       "vm.max_map_count)";
	case EMFILE:
		return "no free file descriptor (RLIMIT_NOFILE)";
	case ENFILE:
		return "the system's file table is full";
	case EAGAIN:
		return "a resource was temporarily unavailable";
	case EINTR:
		return "interrupted by a signal";
	default:
		return NULL;
	}
}

int linux_fail(struct os_patch *p, const char *call, int err)
{
	p->failed = call;
	p->raw_error = err;
	p->transient = linux_transient(err);
	return STATIC_KEYS_EPATCH;
}

/* ---- state ------------------------------------------------------------------ */

/* What each field holds: os/linux_private.h. */
STATIC_KEYS_LOCAL struct linux_text linux_text = {0, 0, 0, 0, -1, 0, -1, 0, NULL, NULL, 0};

/* ---- /proc/self/maps ----------------------------------------------------- */

int linux_maps_each(int (*fn)(void *ctx, const struct linux_map *m), void *ctx)
{
	char buf[4096], line[1024];
	size_t n = 0;
	ssize_t got;
	int rc = 0, fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while (!rc && (got = read(fd, buf, sizeof buf)) > 0) {
		ssize_t i;

		for (i = 0; i < got && !rc; i++) {
			struct linux_map m;
			unsigned long a, b;
			int at = 0;

			if (buf[i] != '\n') {
				if (n + 1 < sizeof line)
					line[n++] = buf[i];
				continue;
			}
			line[n] = '\0';
			n = 0;
			if (sscanf(line, "%lx-%lx %4s %llx %x:%x %lu %n", &a, &b,
				   m.perms, &m.offset, &m.major, &m.minor,
				   &m.inode, &at) < 7)
				continue;
			m.lo = a;
			m.hi = b;
			m.path = at ? line + at : "";
			rc = fn(ctx, &m);
		}
	}
	close(fd);
	return rc;
}

struct linux_span_walk {
	uintptr_t lo, hi, covered;
};

/* Follows r-x mappings from lo; stops at a hole or another protection. */
static int linux_span_step(void *ctx, const struct linux_map *m)
{
	struct linux_span_walk *w = ctx;

	if (m->hi <= w->covered || m->lo > w->covered || w->covered >= w->hi)
		return 0;
	if (strncmp(m->perms, "r-x", 3))
		return 1;
	w->covered = m->hi;
	return 0;
}

/*
 * 1 when every page of [lo, hi) is mapped r-x (private or shared): the
 * alias replaces that whole span, so a hole or a data page inside it
 * would be lost. -1 with errno when /proc/self/maps cannot be read.
 */
int linux_span_is_text(uintptr_t lo, uintptr_t hi)
{
	struct linux_span_walk w = {lo, hi, lo};

	if (linux_maps_each(linux_span_step, &w) < 0)
		return -1;
	return w.covered >= hi;
}

struct linux_file_walk {
	uintptr_t addr;           /* in: a page of the text */
	struct linux_map group;   /* out: the file-backed r-x span around it */
	char path[1024];
	int found;
};

/*
 * Groups consecutive private r-x mappings of one file whose offsets follow
 * their addresses (earlier remaps split the text; they stay one span).
 */
static int linux_file_step(void *ctx, const struct linux_map *m)
{
	struct linux_file_walk *w = ctx;
	struct linux_map *g = &w->group;
	int usable = m->inode && !strcmp(m->perms, "r-xp") && m->path[0] == '/';

	if (g->hi && usable && m->lo == g->hi && m->inode == g->inode &&
	    m->major == g->major && m->minor == g->minor &&
	    m->offset == g->offset + (g->hi - g->lo)) {
		g->hi = m->hi;
		return 0;
	}
	if (g->hi && g->lo <= w->addr && w->addr < g->hi)
		return w->found = 1;
	g->hi = 0;
	if (!usable)
		return 0;
	*g = *m;
	snprintf(w->path, sizeof w->path, "%s", m->path);
	g->path = w->path;
	return 0;
}

/*
 * 0 when /proc/self/mem shows, at lo, the bytes this code reads at lo. A
 * user-mode emulator (qemu-user) passes the file offset through untranslated:
 * a write there would land in the emulator's memory, not ours (EFAULT).
 * A read that fails gives its errno: a transient one (EINTR, ENOMEM,
 * EAGAIN) is tried again at the next request, not taken for an emulator.
 */
static int linux_mem_check(uintptr_t lo)
{
	uint8_t seen[32];
	ssize_t n = pread(linux_text.mem_fd, seen, sizeof seen, (off_t)lo);

	if (n < 0)
		return errno ? errno : EIO;
	return n == (ssize_t)sizeof seen && !memcmp(seen, (const void *)lo, sizeof seen)
		       ? 0
		       : EFAULT;
}

/* 1 when the last try of a part failed with an errno that may pass. */
static int linux_retry(int fd_or_ok, int err)
{
	return fd_or_ok < 0 && (!err || linux_transient(err));
}

/*
 * Finds the file mapping around [lo, hi) and opens its file (checked to
 * be the same inode: a library replaced on disk is not the one mapped);
 * the span the scratch mirrors becomes that mapping, or [lo, hi) without
 * one. Drops the scratch built for the span before.
 */
static void linux_text_find(uintptr_t lo, uintptr_t hi)
{
	struct linux_file_walk w;
	struct stat st;

	int walked, err;

	memset(&w, 0, sizeof w);
	w.addr = lo;
	walked = linux_maps_each(linux_file_step, &w);
	err = walked < 0 ? errno : 0; /* EMFILE: the file is looked for again */
	if (walked == 0 && w.group.hi && w.group.lo <= lo && lo < w.group.hi)
		w.found = 1;
	if (w.found && w.group.hi < hi)
		w.found = 0; /* the sites run past the file's text */
	if (linux_text.file_fd >= 0)
		close(linux_text.file_fd);
	if (linux_text.scratch)
		munmap(linux_text.scratch, linux_text.end - linux_text.start);
	linux_text.scratch = NULL;
	linux_text.scratch_err = 0;
	linux_text.file_fd = -1;
	linux_text.file_err = err;
	linux_text.start = lo;
	linux_text.end = hi;
	linux_text.ready = 1;
	if (w.found) {
		int fd = open(w.path, O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			linux_text.file_err = errno;
		if (fd >= 0 && !fstat(fd, &st) && st.st_ino == w.group.inode &&
		    major(st.st_dev) == w.group.major &&
		    minor(st.st_dev) == w.group.minor) {
			linux_text.file_fd = fd;
			linux_text.start = w.group.lo;
			linux_text.end = w.group.hi;
			linux_text.offset = (off_t)w.group.offset;
		} else if (fd >= 0) {
			close(fd);
		}
	}
}

void linux_text_retry(int refind)
{
	void *s;

	if (!linux_text.ready)
		return;
	if (refind && linux_text.file_fd < 0 && linux_transient(linux_text.file_err))
		linux_text_find(linux_text.start, linux_text.end);
	if (linux_retry(linux_text.mem_fd, linux_text.mem_err)) {
		int err;

		linux_text.mem_fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
		linux_text.mem_err = linux_text.mem_fd < 0 ? errno : 0;
		linux_text.mem_call = "open(\"/proc/self/mem\")";
		if (linux_text.mem_fd >= 0 &&
		    (err = linux_mem_check(linux_text.start)) != 0) {
			close(linux_text.mem_fd);
			linux_text.mem_fd = -1;
			linux_text.mem_err = err;
			linux_text.mem_call = "pread(\"/proc/self/mem\")";
		}
	}
	if (!linux_text.scratch &&
	    (!linux_text.scratch_err || linux_transient(linux_text.scratch_err))) {
		s = mmap(NULL, linux_text.end - linux_text.start,
			 PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		linux_text.scratch = s == MAP_FAILED ? NULL : s;
		linux_text.scratch_err = s == MAP_FAILED ? errno : 0;
	}
}

void linux_text_setup(uintptr_t lo, uintptr_t hi)
{
	if (!linux_text.ready || lo < linux_text.start || linux_text.end < hi)
		linux_text_find(lo, hi);
	linux_text_retry(1);
}

int linux_text_covers(uintptr_t start, size_t len)
{
	return linux_text.ready && linux_text.start <= start &&
	       start + len <= linux_text.end;
}

void linux_text_forked(void)
{
	if (linux_text.mem_fd >= 0) {
		close(linux_text.mem_fd);
		linux_text.mem_fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
		linux_text.mem_err = linux_text.mem_fd < 0 ? errno : 0;
		linux_text.mem_call = "open(\"/proc/self/mem\")";
	}
}

void linux_text_release(void)
{
	if (linux_text.scratch)
		munmap(linux_text.scratch, linux_text.end - linux_text.start);
	if (linux_text.file_fd >= 0)
		close(linux_text.file_fd);
	if (linux_text.mem_fd >= 0)
		close(linux_text.mem_fd);
	linux_text.scratch = NULL;
	linux_text.file_fd = linux_text.mem_fd = -1;
	linux_text.file_err = linux_text.mem_err = linux_text.scratch_err = 0;
	linux_text.ready = 0;
}
