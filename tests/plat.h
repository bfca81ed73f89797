/* SPDX-License-Identifier: MIT */
/*
 * plat.h - what the C tests need from the platform, in one place: threads,
 * loading a shared library, and writing a code byte behind the core's back
 * (to corrupt a site on purpose). A port adds its branch here; the tests
 * themselves name no OS.
 */
#ifndef STATIC_KEYS_TEST_PLAT_H
#define STATIC_KEYS_TEST_PLAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "check.h"
#include "static_keys.h"

/*
 * The OS layer's strategies, as the tests expect them:
 *   PLAT_STRATEGY_DEFAULT      what a module starts with
 *   PLAT_STRATEGY_CONCURRENT   one under which other threads may execute
 *                              the sites while they change, or 0 if none
 *   plat_strategy_offered(s)   1 when os/<os>.c offers s
 *   plat_run_syscalls(s)       system calls one os_patch makes for a run of
 *                              pages that share one protection
 *   PLAT_PAGE_ALIGN            an alignment that starts a new page, and
 *                              that the object format accepts
 *   PLAT_EXIT_RELEASES_OWNER   1 when the OS layer sees a thread exit and
 *                              gives its module back (os_thread_watch)
 */

#if defined(_WIN32)
#include <windows.h>

#define PLAT_STRATEGY_DEFAULT STATIC_KEYS_STRATEGY_MPROTECT
#define PLAT_STRATEGY_CONCURRENT 0 /* bytes are written in place */
#define PLAT_PAGE_ALIGN 8192       /* COFF's largest; pages are 4 KiB */
#define PLAT_EXIT_RELEASES_OWNER 0

static inline int plat_strategy_offered(int s)
{
	return s == STATIC_KEYS_STRATEGY_MPROTECT;
}

/* VirtualQuery, VirtualProtect(rwx), FlushInstructionCache, VirtualProtect */
static inline unsigned plat_run_syscalls(int s)
{
	return s == STATIC_KEYS_STRATEGY_MPROTECT ? 4 : 0;
}

typedef HANDLE plat_thread;
typedef struct {
	void *(*fn)(void *);
	void *arg;
	void *ret;
} plat_thread_box;

static DWORD WINAPI plat_thread_tramp(LPVOID p)
{
	plat_thread_box *b = p;

	b->ret = b->fn(b->arg);
	return 0;
}

/* Starts fn(arg) on a new thread; 0 on success. */
static inline int plat_thread_start(plat_thread *t, plat_thread_box *box,
				    void *(*fn)(void *), void *arg)
{
	box->fn = fn;
	box->arg = arg;
	*t = CreateThread(NULL, 0, plat_thread_tramp, box, 0, NULL);
	return *t ? 0 : -1;
}

static inline void *plat_thread_join(plat_thread t, plat_thread_box *box)
{
	WaitForSingleObject(t, INFINITE);
	CloseHandle(t);
	return box->ret;
}

/* The OS's own id of the calling thread (which the OS may reuse). */
static inline uintptr_t plat_thread_raw_id(void)
{
	return (uintptr_t)GetCurrentThreadId();
}

static inline void plat_yield(void)
{
	SwitchToThread();
}

static inline void plat_sleep_ms(unsigned ms)
{
	Sleep(ms);
}

static inline void *plat_lib_open(const char *path)
{
	return (void *)LoadLibraryA(path);
}

static inline void *plat_lib_sym(void *lib, const char *name)
{
	return (void *)(uintptr_t)GetProcAddress((HMODULE)lib, name);
}

static inline void plat_lib_close(void *lib)
{
	FreeLibrary((HMODULE)lib);
}

/* Writes n bytes at addr in code, restoring the protection; 0 on success. */
static inline int plat_poke_code(void *addr, const void *bytes, size_t n)
{
	DWORD old;
	size_t i;

	if (!VirtualProtect(addr, n, PAGE_EXECUTE_READWRITE, &old))
		return -1;
	for (i = 0; i < n; i++)
		((volatile uint8_t *)addr)[i] = ((const uint8_t *)bytes)[i];
	VirtualProtect(addr, n, old, &old);
	FlushInstructionCache(GetCurrentProcess(), addr, n);
	return 0;
}

/* The protection of the page holding addr (opaque, for comparing), or -1. */
static inline long plat_page_prot(const void *addr)
{
	MEMORY_BASIC_INFORMATION mbi;

	if (!VirtualQuery(addr, &mbi, sizeof mbi) || mbi.State != MEM_COMMIT)
		return -1;
	return (long)mbi.Protect;
}

/*
 * len bytes (rounded up to pages) of zeroed read-write memory between two
 * pages that fault on any access, or NULL; *guard_len gets a page's size.
 */
static inline uint8_t *plat_guarded(size_t len, size_t *guard_len)
{
	SYSTEM_INFO si;
	size_t ps;
	uint8_t *p;

	GetSystemInfo(&si);
	ps = si.dwPageSize;
	len = (len + ps - 1) / ps * ps;
	p = VirtualAlloc(NULL, len + 2 * ps, MEM_RESERVE, PAGE_NOACCESS);
	if (!p || !VirtualAlloc(p + ps, len, MEM_COMMIT, PAGE_READWRITE))
		return NULL;
	*guard_len = ps;
	return p + ps;
}

#else
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#define PLAT_STRATEGY_DEFAULT ((uint32_t)plat_default_strategy())
#define PLAT_STRATEGY_CONCURRENT STATIC_KEYS_STRATEGY_REMAP
#define PLAT_PAGE_ALIGN 65536 /* the largest page size Linux runs with */
#define PLAT_EXIT_RELEASES_OWNER 1

/*
 * procmem where the cross-modification protocol makes it safe for threads
 * running the sites (membarrier SYNC_CORE, and the breakpoint handler on
 * x86) and /proc/self/mem writes this process; remap otherwise (valgrind,
 * whose translations miss such writes; qemu-user; old kernels).
 */
static inline int plat_default_strategy(void)
{
	struct static_keys_stats st;

	static_keys_get_stats(&st);
	return (st.concurrent >> STATIC_KEYS_STRATEGY_PROCMEM) & 1u &&
			       check_prot_visible() && !check_under_valgrind()
		       ? STATIC_KEYS_STRATEGY_PROCMEM
		       : STATIC_KEYS_STRATEGY_REMAP;
}

/* procmem too, unless the kernel refuses it (plat_strategy_set says so) */
static inline int plat_strategy_offered(int s)
{
	return s == STATIC_KEYS_STRATEGY_REMAP ||
	       s == STATIC_KEYS_STRATEGY_MPROTECT ||
	       s == STATIC_KEYS_STRATEGY_PROCMEM;
}

/* remap: mmap, mprotect, mremap; mprotect: rwx, then r-x; procmem: pwrite */
static inline unsigned plat_run_syscalls(int s)
{
	return s == STATIC_KEYS_STRATEGY_REMAP	  ? 3
	       : s == STATIC_KEYS_STRATEGY_MPROTECT ? 2
	       : s == STATIC_KEYS_STRATEGY_PROCMEM  ? 1
						    : 0;
}

typedef pthread_t plat_thread;
typedef struct {
	int unused;
} plat_thread_box;

static inline int plat_thread_start(plat_thread *t, plat_thread_box *box,
				    void *(*fn)(void *), void *arg)
{
	(void)box;
	return pthread_create(t, NULL, fn, arg);
}

static inline void *plat_thread_join(plat_thread t, plat_thread_box *box)
{
	void *ret = NULL;

	(void)box;
	pthread_join(t, &ret);
	return ret;
}

/* The OS's own id of the calling thread (which the OS may reuse). */
static inline uintptr_t plat_thread_raw_id(void)
{
	return (uintptr_t)pthread_self();
}

static inline void plat_yield(void)
{
	sched_yield();
}

static inline void plat_sleep_ms(unsigned ms)
{
	usleep(ms * 1000u);
}

static inline void *plat_lib_open(const char *path)
{
	return dlopen(path, RTLD_NOW | RTLD_LOCAL);
}

static inline void *plat_lib_sym(void *lib, const char *name)
{
	return dlsym(lib, name);
}

static inline void plat_lib_close(void *lib)
{
	dlclose(lib);
}

static inline int plat_poke_code(void *addr, const void *bytes, size_t n)
{
	uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo = (uintptr_t)addr & ~(ps - 1);
	uintptr_t hi = ((uintptr_t)addr + n + ps - 1) & ~(ps - 1);
	size_t i;

	if (mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE | PROT_EXEC))
		return -1;
	for (i = 0; i < n; i++)
		((volatile uint8_t *)addr)[i] = ((const uint8_t *)bytes)[i];
	mprotect((void *)lo, hi - lo, PROT_READ | PROT_EXEC);
	__builtin___clear_cache((char *)addr, (char *)addr + n);
	return 0;
}

/* The protection of the mapping holding addr (opaque, for comparing), or -1. */
static inline long plat_page_prot(const void *addr)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long lo, hi, a = (unsigned long)(uintptr_t)addr;
	char line[512], perms[8];
	long prot = -1;

	if (!f)
		return -1;
	while (prot < 0 && fgets(line, sizeof line, f))
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && a >= lo &&
		    a < hi)
			prot = (perms[0] == 'r') | (perms[1] == 'w') << 1 |
			       (perms[2] == 'x') << 2 | (perms[3] == 's') << 3;
	fclose(f);
	return prot;
}

/*
 * len bytes (rounded up to pages) of zeroed read-write memory between two
 * pages that fault on any access, or NULL; *guard_len gets a page's size.
 */
static inline uint8_t *plat_guarded(size_t len, size_t *guard_len)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *p;

	len = (len + ps - 1) / ps * ps;
	p = mmap(NULL, len + 2 * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p + ps, len, PROT_READ | PROT_WRITE))
		return NULL;
	*guard_len = ps;
	return p + ps;
}

#if defined(__linux__) && (defined(__x86_64__) || defined(__i386__)) &&      \
	defined(_GNU_SOURCE) /* REG_RIP, REG_EIP */
#include <signal.h>
#include <string.h>
#include <ucontext.h>

/*
 * A breakpoint trap at `pc` (the address after the int3) handed to the
 * SIGTRAP disposition in force, as the kernel would for a core that ran a
 * stale int3 there: a forged siginfo (SI_KERNEL) and context, the handler
 * called as a function. Returns the pc it resumes at, or 0 when the
 * disposition is no SA_SIGINFO handler.
 */
#define PLAT_TRAP_CALL 1
static inline uintptr_t plat_trap_call(uintptr_t pc)
{
	struct sigaction cur;
	siginfo_t info;
	ucontext_t uc;

	if (sigaction(SIGTRAP, NULL, &cur) || !(cur.sa_flags & SA_SIGINFO) ||
	    !cur.sa_sigaction)
		return 0;
	memset(&info, 0, sizeof info);
	memset(&uc, 0, sizeof uc);
	info.si_signo = SIGTRAP;
	info.si_code = SI_KERNEL;
#ifdef __x86_64__
	uc.uc_mcontext.gregs[REG_RIP] = (greg_t)pc;
	cur.sa_sigaction(SIGTRAP, &info, &uc);
	return (uintptr_t)uc.uc_mcontext.gregs[REG_RIP];
#else
	uc.uc_mcontext.gregs[REG_EIP] = (greg_t)pc;
	cur.sa_sigaction(SIGTRAP, &info, &uc);
	return (uintptr_t)uc.uc_mcontext.gregs[REG_EIP];
#endif
}
#endif
#endif

/*
 * Chooses strategy s: 0, or 1 when the kernel's policy refuses one that
 * depends on it (procmem: proc_mem.force_override, seccomp), which the
 * caller skips with the reason printed. Anything else is a failed check.
 */
static inline int plat_strategy_set(int s)
{
	int rc;

	/* qemu-user keeps running its translation of code the kernel rewrote */
	if (s == STATIC_KEYS_STRATEGY_PROCMEM && !check_prot_visible()) {
		printf("skipped procmem: not testable under an emulator\n");
		return 1;
	}
	rc = static_keys_set_strategy(s);

	if (rc == STATIC_KEYS_ENOTSUP && s == STATIC_KEYS_STRATEGY_PROCMEM) {
		printf("skipped %s: %s\n", static_keys_strategy_name(s),
		       static_keys_last_error());
		return 1;
	}
	if (rc)
		fprintf(stderr, "FAIL choosing %s: %s\n",
			static_keys_strategy_name(s), static_keys_last_error());
	return rc ? -1 : 0;
}

/*
 * os_patch calls per run of one request under strategy s: three where the
 * breakpoint protocol runs (x86), else one.
 */
/* 1 when strategy s runs the cross-modification protocol here. */
static inline int plat_protocol(int s)
{
	struct static_keys_stats st;

	static_keys_get_stats(&st);
	return (st.protocol >> s) & 1u;
}

/*
 * 1 when a flip changes a site's bytes after the breakpoint's, so the
 * protocol needs its tail pass: never where the arch's nop and jmp share
 * them (x86: a9/e9 + the same disp32), always where there is no
 * breakpoint protocol to skip a pass of. Asked of the arch for one site.
 */
static inline int plat_tail_moves(void)
{
#if ARCH_NEEDS_BREAKPOINT
	uint8_t nop[ARCH_JUMP_SIZE], jmp[ARCH_JUMP_SIZE];
	int i;

	arch_jump_nop(nop, 0x10000, 0x10400);
	arch_jump_jmp(jmp, 0x10000, 0x10400);
	for (i = ARCH_BREAKPOINT_SIZE; i < ARCH_JUMP_SIZE; i++)
		if (nop[i] != jmp[i])
			return 1;
#endif
	return 0;
}

/*
 * Core synchronisations per request under s: x86's protocol has none
 * after its last pass, and none after the tail pass it skips when a flip
 * changes byte 0 only (docs/concurrency.md).
 */
static inline unsigned plat_core_syncs(int s)
{
	if (!plat_protocol(s))
		return 0;
	return ARCH_NEEDS_BREAKPOINT && plat_tail_moves() ? 2 : 1;
}

/* os_patch calls per run of a request under s: one per protocol pass. */
static inline unsigned plat_passes(int s)
{
	if (!ARCH_NEEDS_BREAKPOINT || !plat_protocol(s))
		return 1;
	return plat_tail_moves() ? 3 : 2;
}

#endif /* STATIC_KEYS_TEST_PLAT_H */
