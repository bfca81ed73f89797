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

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

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
	printf("%d checks passed, %d failed\n", check_passed, check_failed);
	return check_failed > 255 ? 255 : check_failed;
}

#ifdef __linux__
/*
 * 1 when no mapping of this process is writable and executable at once
 * (DESIGN.md: never outside a documented window). Prints offenders.
 */
static inline int check_no_wx_mapping(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int ok = 1;

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
static inline int check_no_wx_mapping(void)
{
	return 1; /* checked where /proc/self/maps or VirtualQuery exists */
}
#endif

#endif /* STATIC_KEYS_CHECK_H */
