/* SPDX-License-Identifier: MIT */
/*
 * populate_test.c - os_populate_write, and init's use of it (Linux). A
 * table the loader mapped from the file costs a fault per page when the
 * sort first writes it; after os_populate_write the writes take none.
 * Counted with getrusage's minor faults, on pages of a private file
 * mapping never touched before:
 *
 *   hook    the whole pages inside the range are populated writable, the
 *           pages it covers only in part are left alone (read-only
 *           neighbours make a range rounded outward fail), no byte
 *           changes (in memory and in the file), errno stays as it was
 *   init    tables_init on an interleaved table (it must sort) in such a
 *           mapping asks for the table's whole pages once, before it has
 *           read them (the kernel counts the populated pages as faults
 *           too, so the call is seen through this executable's own
 *           madvise, which the core's call binds to), and sorts as before
 *
 * Skipped (77) where the kernel (or an emulator) does not honour
 * MADV_POPULATE_WRITE: a direct madvise on a probe mapping says so.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "check.h"
#include "site.h"
#include "tables.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define PAGES 256 /* whole pages the range covers; the table's pages */

static size_t page;

/* Every MADV_POPULATE_WRITE while `watching`: the last range, and the
 * minor faults taken since `watching` was set when it came. */
static struct {
	int watching, calls;
	uintptr_t addr;
	size_t len;
	long faults_before, start;
} seen;

static long minor_faults(void);

int madvise(void *addr, size_t len, int advice)
{
	if (seen.watching && advice == MADV_POPULATE_WRITE) {
		seen.calls++;
		seen.addr = (uintptr_t)addr;
		seen.len = len;
		seen.faults_before = minor_faults() - seen.start;
	}
	return (int)syscall(SYS_madvise, addr, len, advice);
}

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* Writes one byte per page of [p, p + n pages); the faults it took. */
static long write_faults(uint8_t *p, size_t n)
{
	long before = minor_faults();
	size_t i;

	for (i = 0; i < n; i++)
		((volatile uint8_t *)p)[i * page] ^= 0;
	return minor_faults() - before;
}

/* A private mapping of a new file of `len` bytes, its byte i = i * 7. */
static uint8_t *file_map(size_t len, int *fd_out)
{
	char path[] = "/tmp/sk_populate_XXXXXX";
	uint8_t *buf, *p;
	size_t i;
	int fd = mkstemp(path);

	if (fd < 0)
		return NULL;
	unlink(path);
	buf = malloc(len);
	if (!buf)
		return NULL;
	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7);
	if (write(fd, buf, len) != (ssize_t)len) {
		free(buf);
		return NULL;
	}
	free(buf);
	/* out of the page cache's mapping: nothing of it is mapped yet */
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	*fd_out = fd;
	return p == MAP_FAILED ? NULL : p;
}

/* 1 when the kernel here makes populated pages take no write fault. */
static int kernel_populates(void)
{
	int fd;
	uint8_t *p = file_map(16 * page, &fd);
	int ok;

	if (!p)
		return 0;
	ok = madvise(p, 16 * page, MADV_POPULATE_WRITE) == 0 &&
	     write_faults(p, 16) < 8;
	munmap(p, 16 * page);
	close(fd);
	return ok;
}

static void test_hook(void)
{
	size_t len = (PAGES + 2) * page, i, bad = 0;
	int fd, saved;
	uint8_t *p = file_map(len, &fd), byte;

	CHECK("file mapped", p != NULL);
	if (!p)
		return;
	/* the first and last pages read-only: a range rounded outward fails */
	CHECK("first page read-only", mprotect(p, page, PROT_READ) == 0);
	CHECK("last page read-only",
	      mprotect(p + (PAGES + 1) * page, page, PROT_READ) == 0);
	errno = EDOM;
	os_populate_write(p + page / 2, (PAGES + 1) * page); /* mid to mid */
	saved = errno;
	CHECK("errno left as it was", saved == EDOM);
	CHECK("the whole pages inside take no write fault",
	      write_faults(p + page, PAGES) < PAGES / 4);
	for (i = 0; i < len; i++)
		bad += p[i] != (uint8_t)(i * 7);
	CHECK("no byte changed in memory", bad == 0);
	for (i = 0, bad = 0; i < len; i += page / 2)
		bad += pread(fd, &byte, 1, (off_t)i) != 1 || byte != (uint8_t)(i * 7);
	CHECK("no byte changed in the file", bad == 0);

	/* a range with no whole page, and one the OS refuses: nothing */
	errno = EDOM;
	os_populate_write(p + 1, page);
	os_populate_write(p, 0);
	CHECK("a part-page range: errno kept", errno == EDOM);
	CHECK("read-only pages stay read-only",
	      mprotect(p, page, PROT_READ) == 0 && p[1] == 7);
	munmap(p, len);
	close(fd);
}

/* ---- init: tables_init on a cold interleaved table ---------------------- */

static struct static_key keys[2] __attribute__((aligned(16)));
static const char names[] = "a\0b";

static void entry_put(struct jump_entry *e, uintptr_t code, uintptr_t target,
		      uintptr_t key)
{
	e->code = (int32_t)(uint32_t)(code - (uintptr_t)&e->code);
	e->target = (int32_t)(uint32_t)(target - (uintptr_t)&e->target);
	jump_entry_set_key(e, key);
}

static void test_init(void)
{
	size_t n = PAGES * page / sizeof(struct jump_entry), gap = 8, i;
	size_t text_len = (n + 2) * gap, nr_e = 0, nr_k = 0, bad = 0;
	struct os_sections sec;
	struct os_image img;
	struct jump_entry *ent;
	uint8_t *text;
	int fd, rc;
	long faults;

	text = mmap(NULL, text_len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ent = (struct jump_entry *)file_map(n * sizeof *ent, &fd);
	CHECK("arenas mapped", text != MAP_FAILED && ent != NULL);
	if (text == MAP_FAILED || !ent)
		return;
	for (i = 0; i + gap <= text_len; i += gap)
		arch_jump_nop(text + i, (uintptr_t)text + i,
			      (uintptr_t)text + i + gap);
	for (i = 0; i < 2; i++) {
		memset(&keys[i], 0, sizeof keys[i]);
		keys[i].name = names + 2 * i;
	}
	/* the entries written through the file, so the mapping stays cold */
	{
		struct jump_entry *buf = malloc(n * sizeof *buf);

		CHECK("buffer", buf != NULL);
		if (!buf)
			return;
		for (i = 0; i < n; i++) {
			/* relative fields: shifted by where the entry will be */
			uintptr_t d = (uintptr_t)&ent[i] - (uintptr_t)&buf[i];
			uintptr_t code = (uintptr_t)text + i * gap;

			entry_put(&buf[i], code - d, code + gap - d,
				  (uintptr_t)&keys[i & 1] - d);
		}
		CHECK("table written",
		      pwrite(fd, buf, n * sizeof *buf, 0) == (ssize_t)(n * sizeof *buf));
		free(buf);
	}
	sec.entries_start = ent;
	sec.entries_stop = ent + n;
	sec.keys_start = keys;
	sec.keys_stop = keys + 2;
	img.text.lo = (uintptr_t)text;
	img.text.hi = (uintptr_t)text + text_len;
	img.nr_read = 1;
	img.read[0].lo = (uintptr_t)names;
	img.read[0].hi = (uintptr_t)names + sizeof names;
	seen.start = faults = minor_faults();
	seen.watching = 1;
	rc = tables_init(&sec, &img, &nr_e, &nr_k);
	seen.watching = 0;
	faults = minor_faults() - faults;
	CHECK("init accepts the table", rc == 0 && nr_e == n && nr_k == 2);
	printf("init of %zu entries (%d pages): %ld minor faults, %ld before "
	       "the table was populated\n", n, PAGES, faults, seen.faults_before);
	CHECK("init populated the table once, its whole pages",
	      seen.calls == 1 && seen.addr == (uintptr_t)ent &&
		      seen.len == PAGES * page);
	/*
	 * valgrind's own memory takes faults of its own as it goes; a
	 * sanitizer's shadow takes one per page of it (an eighth of the
	 * table's). Populating without making the pages writable would take
	 * a second fault on every page.
	 */
	if (!check_under_valgrind()) {
		CHECK("before reading past its first page",
		      seen.faults_before < PAGES / 16);
		CHECK("then no second fault per page",
		      faults < PAGES + PAGES / 4 + seen.faults_before);
	}
	for (i = 0; i < n; i++) {
		size_t k = i >= n / 2, j = i - k * (n / 2);
		uintptr_t want = (uintptr_t)text + (2 * j + k) * gap;

		bad += jump_entry_code(&ent[i]) != want ||
		       jump_entry_target(&ent[i]) != want + gap ||
		       jump_entry_key(&ent[i]) != &keys[k];
	}
	CHECK("sorted by (key, code), every field where it pointed", bad == 0);
	CHECK("each key points at its first entry",
	      keys[0].entries == &ent[0] && keys[1].entries == &ent[n / 2] &&
		      keys[0].sites == n / 2 && keys[1].sites == n / 2);
	munmap(ent, n * sizeof *ent);
	munmap(text, text_len);
	close(fd);
}

int main(void)
{
	page = (size_t)sysconf(_SC_PAGESIZE);
	if (!kernel_populates()) {
		printf("skipped: MADV_POPULATE_WRITE is not honoured here\n");
		return 77;
	}
	test_hook();
	test_init();
	return check_summary();
}
