/* SPDX-License-Identifier: MIT */
/*
 * os.h - the operating-system contract. One OS is compiled per build:
 * os/<os>.c and the files it is split into (linux.c and linux_*.c: mremap,
 * /proc/self/mem, mprotect, memfd; none.c: writable text, no libc). It
 * knows the loader and the MMU and nothing about instructions.
 *
 * Rules shared by every hook:
 *  - pointers passed in are non-NULL; addresses and lengths handed to
 *    os_patch are page-aligned (caps.page_size);
 *  - an int return is 0 on success or a negative STATIC_KEYS_E* code; the
 *    raw OS error (errno, GetLastError, kern_return_t) is reported through
 *    the out fields, never printed, never aborts;
 *  - hooks allocate nothing on the C heap.
 */
#ifndef STATIC_KEYS_OS_H
#define STATIC_KEYS_OS_H

#include <stddef.h>
#include <stdint.h>

/*
 * libc's four memory functions: GCC's and clang's freestanding contract
 * lets compiled code call memcpy, memset, memmove and memcmp, so the core
 * and the OS layer do too. A hosted build takes libc's; os/none.c supplies
 * them where there is no libc (and may be no <string.h>). Nothing else of
 * libc is used outside an OS file.
 */
#if __STDC_HOSTED__
#include <string.h>
#else
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
#endif

#include "static_keys.h"

/* What this OS can do, filled once at init. */
struct os_caps {
	const char *name;      /* "linux", "none", ... */
	size_t page_size;      /* unit of every patch */
	uint32_t strategies;   /* bit (1u << STATIC_KEYS_STRATEGY_*) per one available */
	int default_strategy;  /* never writable and executable at once if
				* possible, and safe for threads that run
				* the sites while they change (remap) */
	int fast_strategy;     /* the in-place strategy to prefer, or 0:
				* keeps W^X, no new mapping; the core makes
				* it the default where the protocol makes
				* it safe for such threads (below) */
	/*
	 * Threads that execute sites during a flip (docs/concurrency.md):
	 * swap_strategies change a range in one step (no protocol needed);
	 * inplace_strategies rewrite bytes where the code runs, so the core
	 * runs the cross-modification protocol through them; of those,
	 * store_strategies hand fill() the live code (or an alias of it), so
	 * one aligned store there is one store an executor sees.
	 */
	uint32_t swap_strategies, inplace_strategies, store_strategies;
	int sync_core; /* 1: os_sync_core serialises every thread's core */
	int traps;     /* 1: os_trap_arm routes breakpoint traps to the core */
};

/* The calling module's own tables (hidden bounds: never another module's). */
struct os_sections {
	struct jump_entry *entries_start, *entries_stop;
	struct static_key *keys_start, *keys_stop;
};

/* A range of addresses [lo, hi). */
struct os_range {
	uintptr_t lo, hi;
};

#define OS_IMAGE_MAX 16 /* readable segments kept; more are ignored */

/*
 * Where the calling module (the image holding this copy of the core) is
 * mapped, for init to check its tables before it reads through them:
 * `text` is the executable segment holding the module's code (every site
 * and target must lie in it; it is readable), `read` the module's
 * readable segments (key names must lie in one), `text` among them.
 */
struct os_image {
	struct os_range text;
	size_t nr_read;
	struct os_range read[OS_IMAGE_MAX];
};

/* pre: out non-NULL. Fills out; 0, or STATIC_KEYS_EINIT if not found. */
int os_image(struct os_image *out);

/*
 * Writes the bytes of every site inside [base, base + len) into `view`,
 * which mirrors that range and is writable for the duration of the call.
 * It writes only the sites of the request, nothing between them. `undo`
 * asks for what the range should hold when the strategy gives up on the
 * call after writing (the old bytes, or the protocol's safe half-way
 * bytes); the OS layer then writes the view's bytes back only where it
 * read them from the live code first.
 */
typedef void (*os_fill_fn)(void *ctx, uint8_t *view, uintptr_t base,
			   size_t len, int undo);

struct os_patch {
	int strategy;         /* in: one of caps.strategies */
	uintptr_t start;      /* in: first page */
	size_t len;           /* in: bytes, a multiple of the page size */
	os_fill_fn fill;      /* in: called once with undo = 0, and again with
			       *     undo = 1 if the strategy must roll back */
	void *ctx;            /* in: passed to fill */
	int rollback;         /* in: 1 when restoring runs after a failed
			       *     patch: if the strategy's own calls fail,
			       *     the OS layer must still restore through
			       *     means that need no new resource (no new
			       *     mapping, fd or memory), set up earlier */
	unsigned syscalls;    /* out: system calls made */
	const char *failed;   /* out: the call that failed ("mremap"), or NULL */
	long raw_error;       /* out: its errno / GetLastError / kern_return_t */
	const char *transient; /* out: NULL, or why the refusal may pass
				*      ("no free file descriptor"): the same
				*      call can work later, nothing is kept */
};

/* pre: caps non-NULL. Fills caps; 0 or STATIC_KEYS_EINIT. */
int os_init(struct os_caps *caps);

/* pre: out non-NULL. Bounds of this module's sections; NULLs when empty. */
void os_sections(struct os_sections *out);

/*
 * A hint before init's sort writes every page of [start, start + len) (this
 * module's entry table): the whole pages inside the range are made present
 * and writable in one call where the OS can (Linux >= 5.14:
 * MADV_POPULATE_WRITE), so the sort does not take a read fault and then a
 * copy-on-write fault on each page of a table the loader mapped from the
 * file. Changes no byte and never touches a page the range covers only in
 * part. Where the OS cannot, or refuses, it does nothing: the writes then
 * fault as before.
 */
void os_populate_write(void *start, size_t len);

/*
 * A token for the calling thread: never 0, the same on every call from it,
 * and never handed to another thread of this process, even after this one
 * exits. A pthread_t, a Linux tid or a Windows thread id does not qualify:
 * the OS gives them to new threads. The core owns a module by this token.
 * May be called from a signal handler on a thread that called it before.
 */
uintptr_t os_thread_id(void);

/* Lets another thread run (a thread waiting for init calls it); may do nothing. */
void os_thread_yield(void);

/*
 * pre: *owner == os_thread_id() of the calling thread. Watches the calling
 * thread for the core: when it exits, the OS layer sets *owner back to 0
 * (only if it still holds that thread's token), so that the next thread
 * to flip may own the module. 0, or STATIC_KEYS_ENOTSUP where thread exit
 * cannot be seen (*owner then keeps the token for good). os_release stops
 * watching every thread. Not from a signal handler.
 */
int os_thread_watch(uintptr_t *owner);

/*
 * pre: lo < hi, both page-aligned: the pages holding every site of the
 * module. Makes `strategy` ready for os_patch on ranges inside [lo, hi)
 * and releases what another strategy set up before. The core calls it
 * whenever the module's strategy changes, and for the default strategy
 * before the first flip. 0, STATIC_KEYS_ENOTSUP (the OS or the kernel's
 * policy refuses the strategy here; diag->failed says why when known), or
 * STATIC_KEYS_EPATCH with diag->failed/raw_error filled; on failure the
 * previous strategy stays usable. For caps.default_strategy it never
 * fails: what it cannot set up, the strategy does without.
 */
int os_prepare(int strategy, uintptr_t lo, uintptr_t hi, struct os_patch *diag);

/*
 * The module is being unloaded (its destructor runs): releases every
 * view, descriptor and buffer the strategies set up. No flip follows.
 */
void os_release(void);

/*
 * pre: p->start/p->len page-aligned and inside one module's text.
 * Rewrites the range through p->strategy: on return 0 the new bytes are in
 * place with the range's protection as before (read + execute). On failure
 * (STATIC_KEYS_EPATCH, or STATIC_KEYS_ENOTSUP for an unknown strategy) the
 * range holds its old bytes (or what fill gave with undo = 1, written only
 * where the call wrote) and old protection, and p->failed/raw_error (and
 * p->transient) say why. A call with p->rollback = 0 may first retry what
 * an earlier set-up could not have for a passing reason; a rollback never
 * asks for a new resource. No page is left writable and executable after return, with one
 * exception that must be reported as such: STATIC_KEYS_EWX when the OS
 * refused every way to take write access away again; the range then holds
 * its old bytes but stays writable and executable.
 */
int os_patch(struct os_patch *p);

/* ---- cross-modification (docs/concurrency.md) --------------------------- */

/*
 * pre: caps.sync_core. Returns once every thread of the process has
 * executed a core-serialising instruction since the call began (Linux:
 * membarrier SYNC_CORE), so none runs bytes it fetched before. 0 or
 * STATIC_KEYS_EPATCH with diag->failed, raw_error (and transient) filled.
 */
int os_sync_core(struct os_patch *diag);

/*
 * Asks the core what a thread that hit a breakpoint at a site should do.
 * `pc` is the program counter the OS reports for the trap, `after` is 1
 * when that is past the trapping instruction (Linux), 0 when it is the
 * instruction itself. Returns where the thread resumes, or 0: not ours.
 * Runs in a signal / exception handler on any thread: reads only, no
 * allocation, no lock.
 */
typedef uintptr_t (*os_trap_fn)(void *ctx, uintptr_t pc, int after);

/*
 * Writes machine code into `out` (room for OS_THUNK_MAX bytes) that will
 * run at address `at`; the core has it from arch/. With slot != 0, a
 * forwarding thunk entered as a signal handler h(sig, info, uc): it adds 1
 * to the int at `count` (atomically), calls the function whose address is
 * stored at `slot` as f(sig, info, uc, arg), subtracts 1 and returns. With
 * slot == 0, code that only returns. Returns the bytes written, or 0 when
 * the architecture has no such code (no breakpoint protocol).
 */
typedef size_t (*os_thunk_fn)(uint8_t *out, uintptr_t at, uintptr_t count,
			      uintptr_t slot, uint32_t arg);
#define OS_THUNK_MAX 64

/*
 * pre: caps.traps. Makes sure breakpoint traps reach `fn` (with `ctx`)
 * before any other handler while this module is loaded: registers the
 * module once, and installs the process's handler when it is not the one
 * in force (again if something replaced it since; never over itself). A
 * trap no module claims goes where it would have gone without us: the
 * handler that was there before, a debugger's, the default action. The
 * handler's entry points come from `thunk` and stay valid after every
 * module is unloaded. os_release unregisters the module. 0, or
 * STATIC_KEYS_EPATCH with diag->failed/raw_error (and diag->transient:
 * nothing is kept from the refusal, the next call sets up again) saying
 * why.
 */
int os_trap_arm(os_trap_fn fn, void *ctx, os_thunk_fn thunk,
		struct os_patch *diag);

/* What the loader knows about one code address (os_symbolize). */
struct os_symbol {
	uintptr_t base;  /* load address of the image holding the address */
	uintptr_t start; /* start of the symbol found, 0 when none */
	int exact;       /* 1: the address lies inside that symbol's extent;
			  * 0: it is the nearest symbol below, extent unknown */
	size_t name_len; /* full length of the symbol's name (0: none) */
	size_t path_len; /* full length of the image's path */
};

/*
 * pre: out non-NULL; name/path hold name_cap/path_cap bytes (either cap
 * may be 0). Asks the loader which image and which exported symbol hold
 * `addr`; copies at most the caps of the names, without a NUL, and puts
 * their full lengths in out. 0, STATIC_KEYS_ENOKEY (no loaded image holds
 * addr), or STATIC_KEYS_ENOTSUP (no loader to ask). Reads only.
 */
int os_symbolize(uintptr_t addr, struct os_symbol *out, char *name,
		 size_t name_cap, char *path, size_t path_cap);

/*
 * For the layers' os_symbolize: copies at most cap bytes of src (no NUL;
 * src may be NULL) and returns its full length.
 */
static inline size_t os_symbol_copy(char *dst, size_t cap, const char *src)
{
	size_t n;

	for (n = 0; src && src[n]; n++)
		if (n < cap)
			dst[n] = src[n];
	return n;
}

#endif /* STATIC_KEYS_OS_H */
