/* SPDX-License-Identifier: MIT */
/*
 * check.h - the C tests' whole framework: named checks, a summary, and an
 * exit code equal to the number of failures (after mimalloc's testhelper.h).
 *
 *   CHECK("enable flips the site", f() == 1);
 *   return check_summary();
 */
#ifndef STATIC_KEYS_CHECK_H
#define STATIC_KEYS_CHECK_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;
static int check_unproven; /* CHECKs that passed without evidence (a NOTE says why) */

#define CHECK(name, cond)                                                      \
	do {                                                                   \
		if (cond) {                                                    \
			check_passed++;                                        \
		} else {                                                       \
			check_failed++;                                        \
			fprintf(stderr, "FAIL %s:%d: %s (%s)\n", __FILE__,    \
				__LINE__, name, #cond);                        \
		}                                                              \
	} while (0)

/* A call that must return 0; prints the core's detail when it does not. */
#define CHECK_OK(name, call)                                                   \
	do {                                                                   \
		int rc_ = (call);                                              \
		CHECK(name, rc_ == 0);                                         \
		if (rc_)                                                       \
			fprintf(stderr, "  -> %d: %s\n", rc_,                  \
				static_keys_last_error());                     \
	} while (0)

static inline int check_summary(void)
{
	/* a check that could not be decided here is not a pass */
	printf("%d checks passed, %d failed", check_passed - check_unproven,
	       check_failed);
	if (check_unproven)
		printf(", %d could not be decided here (see NOTE)", check_unproven);
	printf("\n");
	return check_failed > 255 ? 255 : check_failed;
}

/*
 * One of the figures the suite reports (README, "What the suite proves"):
 * `figure: <name>: <n>` on stdout, n counted by the test as it ran, never
 * a constant. deno task test sums them by name over the tests that passed.
 */
static inline void check_figure(const char *name, uint64_t n)
{
	printf("figure: %s: %" PRIu64 "\n", name, n);
}

/*
 * Lines of /proc/self/maps holding both `a` and `b` (NULL: any line), or
 * -1 when it cannot be read (no /proc: Windows, macOS, freestanding).
 */
static inline int check_maps_lines(const char *a, const char *b)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[1024];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if ((!a || strstr(line, a)) && (!b || strstr(line, b)))
			n++;
	fclose(f);
	return n;
}

#ifdef __linux__
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * 1 when /proc/self/maps shows each page's own protection: a page made r-x
 * between two r-- pages must come back as a line of its own, and the code
 * running this must show as executable. qemu-user
 * fails this: it builds the file from its host mappings, which carry no
 * exec bit (so neighbours merge), and prints each merged range with the
 * flags of its first page. Tests that read protections back skip there.
 */
static inline int check_prot_visible(void)
{
	static int known = -1;
	long ps = sysconf(_SC_PAGESIZE);
	uintptr_t mid, lo, hi, code = (uintptr_t)check_prot_visible;
	char line[512], perms[8];
	int fresh = 0, running = 0;
	uint8_t *p;
	FILE *f;

	if (known >= 0)
		return known;
	known = 0;
	p = mmap(NULL, 3 * (size_t)ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return known;
	mid = (uintptr_t)p + (uintptr_t)ps;
	f = fopen("/proc/self/maps", "r");
	if (f && !mprotect((void *)mid, (size_t)ps, PROT_READ | PROT_EXEC)) {
		while (fgets(line, sizeof line, f)) {
			if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s", &lo, &hi, perms) != 3)
				continue;
			if (lo == mid && hi == mid + (uintptr_t)ps && !strncmp(perms, "r-x", 3))
				fresh = 1;
			if (lo <= code && code < hi && perms[2] == 'x')
				running = 1;
		}
		known = fresh && running;
	}
	if (f)
		fclose(f);
	munmap(p, 3 * (size_t)ps);
	if (!known)
		fprintf(stderr, "NOTE: /proc/self/maps here does not show a page's own "
				"protection (qemu-user?): checks that read it prove nothing\n");
	return known;
}

/*
 * 1 under valgrind, whose own translation cache is mapped writable and
 * executable in the process: a W^X check of every mapping proves nothing
 * there (the native run of the same test proves it).
 */
static inline int check_under_valgrind(void)
{
	const char *preload = getenv("LD_PRELOAD");

	return preload && strstr(preload, "vgpreload") != NULL;
}

/*
 * 1 when no mapping of this process is writable and executable at once
 * (docs/design.md, "Strategies": never outside a documented window).
 * Prints offenders. Where /proc/self/maps cannot show exec permission
 * (check_prot_visible), the answer is 1 but the check is counted as
 * undecided, not as passed.
 */
static inline int check_no_wx_mapping(void)
{
	FILE *f;
	char line[512];
	int ok = 1;

	if (!check_prot_visible() || check_under_valgrind()) {
		check_unproven++;
		return 1;
	}
	f = fopen("/proc/self/maps", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		char perms[8] = "";

		if (sscanf(line, "%*[0-9a-f]-%*[0-9a-f] %7s", perms) == 1 &&
		    perms[1] == 'w' && perms[2] == 'x') {
			fprintf(stderr, "  writable+executable: %s", line);
			ok = 0;
		}
	}
	fclose(f);
	return ok;
}
#elif defined(_WIN32)
#include <windows.h>

/* VirtualQuery reports the protection Windows keeps for each region. */
static inline int check_prot_visible(void)
{
	return 1;
}

/*
 * 1 when no page of the module holding this code (the test's EXE or DLL)
 * is writable and executable at once. Prints offenders.
 */
static inline int check_no_wx_mapping(void)
{
	DWORD flags = GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
		      GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT;
	MEMORY_BASIC_INFORMATION mbi;
	HMODULE mod;
	uintptr_t at;
	int ok = 1;

	if (!GetModuleHandleExA(flags, (LPCSTR)(uintptr_t)check_no_wx_mapping,
				&mod))
		return 0;
	for (at = (uintptr_t)mod;
	     VirtualQuery((const void *)at, &mbi, sizeof mbi) &&
	     mbi.AllocationBase == (void *)mod;
	     at = (uintptr_t)mbi.BaseAddress + mbi.RegionSize) {
		DWORD prot = mbi.Protect & 0xff;

		if (mbi.State == MEM_COMMIT &&
		    (prot == PAGE_EXECUTE_READWRITE ||
		     prot == PAGE_EXECUTE_WRITECOPY)) {
			fprintf(stderr, "  writable+executable: %p +%zu (0x%lx)\n",
				mbi.BaseAddress, (size_t)mbi.RegionSize,
				(unsigned long)mbi.Protect);
			ok = 0;
		}
	}
	return ok;
}
#else
static inline int check_prot_visible(void)
{
	return 1; /* the OS's own query (mach_vm_region) */
}

static inline int check_no_wx_mapping(void)
{
	return 1; /* checked where /proc/self/maps or VirtualQuery exists */
}
#endif

#ifndef __linux__
static inline int check_under_valgrind(void)
{
	return 0; /* valgrind runs the suite on Linux only */
}
#endif

#endif /* STATIC_KEYS_CHECK_H */
