/* SPDX-License-Identifier: MIT */
/*
 * linux_trap.c - the SIGTRAP handler of the cross-modification protocol
 * (x86), one per process for every module that links the core
 * (docs/concurrency.md, "One handler per process"):
 *
 *   block     the process's trap block: a memfd named TRAP_NAME mapped
 *             private, never unmapped. Its data pages hold the registry
 *             (the modules, each entry point's previous disposition, a
 *             lock); its last page holds the entry points (thunks whose
 *             bytes come from arch/ through the core), read+execute
 *   finding   each module looks for it in /proc/self/maps by name; the
 *             first to need it creates it, and when two create one at
 *             once the older (by creation time, then address) wins
 *   entries   the disposition in force is one of the block's thunks,
 *             which counts itself in and calls a loaded module's
 *             trap_impl through its slot; when something replaced the
 *             handler, the next flip installs a new entry point over it
 *             (the old one stays valid for whoever saved it), never over
 *             one of its own
 *   unload    the module whose trap_impl the slots call hands them to
 *             another module, or, when it is the last, points them at the
 *             previous handler (or a bare return) and puts back what the
 *             entry point in force replaced
 *
 * Nothing here is async-signal-unsafe on the handler's path.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "linux_private.h"

#if defined(__x86_64__) || defined(__i386__)
#ifdef __x86_64__
#define LINUX_PC REG_RIP
#else
#define LINUX_PC REG_EIP
#endif

/*
 * The block's layout is an ABI between every copy of the core in one
 * process: change it only with a new TRAP_NAME (a core with another name
 * keeps a block, and a handler, of its own).
 */
#define TRAP_NAME "static-keys-trap-1"
#define TRAP_MAGIC "static-keys-trap" /* 16 bytes, no NUL kept */
#define TRAP_ENTRIES 16               /* entry points per process */
#define TRAP_MODULES 64               /* modules registered at once */

enum trap_block_state { BLOCK_CREATING, BLOCK_FINAL, BLOCK_ABANDONED };
enum trap_slot_state { SLOT_FREE, SLOT_ACTIVE, SLOT_LEAVING };

typedef void (*trap_impl_fn)(int sig, siginfo_t *info, void *uc,
			     uintptr_t entry);

struct trap_module {
	os_trap_fn fn;     /* the core's protocol_trap */
	void *ctx;         /* its module */
	trap_impl_fn impl; /* this module's copy of trap_impl */
	int state;         /* enum trap_slot_state, atomic */
	int inflight;      /* atomic: handlers inside fn */
};

struct trap_entry {
	uintptr_t slot;        /* what the thunk calls (atomic) */
	struct sigaction prev; /* the disposition this entry replaced */
};

struct trap_block {
	char magic[16];
	uint32_t size;      /* sizeof(struct trap_block) */
	uint32_t entries;   /* entry points installed so far (atomic) */
	uint64_t stamp;     /* creation time, ns; 0 until the header is written */
	int state;          /* enum trap_block_state, atomic */
	int lock;           /* tid of the thread changing the registry, or 0 */
	int running;        /* atomic: threads inside a slot's call (thunks count) */
	int impl;           /* module whose trap_impl the slots call, or -1 */
	struct trap_entry entry[TRAP_ENTRIES];
	struct trap_module module[TRAP_MODULES];
};

/* This module's view: the process's block and its own registry slot. */
static struct {
	struct trap_block *block;
	uint8_t *code; /* the block's code page: entry i at code + i * OS_THUNK_MAX */
	int index;     /* our slot, or -1 */
} linux_trap = {NULL, NULL, -1};

static size_t trap_data_len(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (sizeof(struct trap_block) + page - 1) & ~(page - 1);
}

static uintptr_t trap_thunk_at(const uint8_t *code, uint32_t i)
{
	return (uintptr_t)code + (uintptr_t)i * OS_THUNK_MAX;
}

/* The `ret` after the last entry point: where an orphaned slot may go. */
static uintptr_t trap_ret_at(const uint8_t *code)
{
	return trap_thunk_at(code, TRAP_ENTRIES);
}

/* ---- the handler --------------------------------------------------------- */

/* Which of the block's entry points is the disposition in force, or -1. */
static int trap_entry_in_force(const struct trap_block *b, const uint8_t *code,
			       const struct sigaction *cur)
{
	uint32_t i, n = __atomic_load_n(&b->entries, __ATOMIC_ACQUIRE);

	if (!(cur->sa_flags & SA_SIGINFO))
		return -1;
	for (i = 0; i < n; i++)
		if ((uintptr_t)cur->sa_sigaction == trap_thunk_at(code, i))
			return (int)i;
	return -1;
}

/*
 * The end of a trap nobody claimed, as if entry `i` were not there: the
 * handler it replaced is called as a function, with the same arguments.
 * SIG_IGN ignores. SIG_DFL takes the default action only when entry i is
 * the disposition in force (the kernel called us): then the process ends
 * with the signal, as it would have without us, and the disposition goes
 * back to SIG_DFL only for that. If the signal returns instead (a debugger
 * swallowed it), the disposition that was in force goes back, unless
 * something else was installed meanwhile. When another handler is in
 * force, that handler called us as the one it replaced, and what happens
 * next is its decision (Deno's runs its listeners): we return.
 */
static void trap_pass(struct trap_block *b, uint32_t i, int sig,
		      siginfo_t *info, void *uc)
{
	const struct sigaction *prev = &b->entry[i].prev;
	struct sigaction cur, dfl, now;
	sigset_t set;

	if (prev->sa_handler == SIG_IGN)
		return;
	if (prev->sa_handler != SIG_DFL) {
		if (prev->sa_flags & SA_SIGINFO)
			prev->sa_sigaction(sig, info, uc);
		else
			prev->sa_handler(sig);
		return;
	}
	if (sigaction(sig, NULL, &cur) ||
	    trap_entry_in_force(b, linux_trap.code, &cur) != (int)i)
		return;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL); /* this thread's mask on Linux */
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig); /* ends here */
	/* still running: a debugger swallowed the signal */
	if (!sigaction(sig, NULL, &now) && !(now.sa_flags & SA_SIGINFO) &&
	    now.sa_handler == SIG_DFL)
		sigaction(sig, &cur, NULL);
}

/* Offers a breakpoint trap to every registered module; the first claims it. */
static uintptr_t trap_offer(struct trap_block *b, uintptr_t pc)
{
	uintptr_t to = 0;
	int i;

	for (i = 0; i < TRAP_MODULES && !to; i++) {
		struct trap_module *t = &b->module[i];

		if (__atomic_load_n(&t->state, __ATOMIC_SEQ_CST) != SLOT_ACTIVE)
			continue;
		__atomic_add_fetch(&t->inflight, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&t->state, __ATOMIC_SEQ_CST) == SLOT_ACTIVE)
			to = t->fn(t->ctx, pc, 1);
		__atomic_sub_fetch(&t->inflight, 1, __ATOMIC_SEQ_CST);
	}
	return to;
}

/*
 * What every entry point calls (through its slot), in whichever loaded
 * module the slots name: `entry` says which entry point the kernel (or a
 * handler that saved it) entered.
 */
static void trap_impl(int sig, siginfo_t *info, void *uc, uintptr_t entry)
{
	struct trap_block *b = linux_trap.block;
	ucontext_t *u = uc;
	uintptr_t to = 0;
	int saved = errno;

	/* int3 reports SI_KERNEL (valgrind: TRAP_BRKPT); raise() and kill()
	 * report others, and are never the protocol's */
	if (info && (info->si_code == SI_KERNEL || info->si_code == TRAP_BRKPT))
		to = trap_offer(b, (uintptr_t)u->uc_mcontext.gregs[LINUX_PC]);
	if (to)
		u->uc_mcontext.gregs[LINUX_PC] = (greg_t)to;
	else if (entry < TRAP_ENTRIES)
		trap_pass(b, (uint32_t)entry, sig, info, uc);
	errno = saved;
}

/* ---- the block ----------------------------------------------------------- */

/*
 * The registry lock: the tid of the thread holding it. Taken by arm and
 * unload only, never by a handler. A holder that does not exist (the
 * child of a fork() that happened while another thread held it) is
 * taken over.
 */
static void trap_lock(struct trap_block *b)
{
	int self = (int)syscall(SYS_gettid), held = 0;

	while (!__atomic_compare_exchange_n(&b->lock, &held, self, 0,
					    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		if (syscall(SYS_tgkill, getpid(), held, 0) && errno == ESRCH &&
		    __atomic_compare_exchange_n(&b->lock, &held, self, 0,
						__ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return;
		sched_yield();
		held = 0;
	}
}

static void trap_unlock(struct trap_block *b)
{
	__atomic_store_n(&b->lock, 0, __ATOMIC_RELEASE);
}

/*
 * Reads len bytes at `at` without faulting when they are not mapped (a
 * block abandoned meanwhile). Where process_vm_readv is refused (a seccomp
 * filter, an emulator), a plain read: the maps showed the block a moment
 * ago, and only a block that lost a creation race goes away.
 */
static int trap_peek(uintptr_t at, void *out, size_t len)
{
	struct iovec local = {out, len}, remote = {(void *)at, len};

	if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)len)
		return 0;
	if (errno == EFAULT)
		return -1;
	memcpy(out, (const void *)at, len);
	return 0;
}

struct trap_candidates {
	uintptr_t at[8];
	int n;
};

/* Collects the data mappings (offset 0) of every trap block. */
static int trap_maps_step(void *ctx, const struct linux_map *m)
{
	static const char name[] = "/memfd:" TRAP_NAME " ";
	struct trap_candidates *c = ctx;

	if (m->offset == 0 && !strncmp(m->path, name, sizeof name - 1) &&
	    c->n < (int)(sizeof c->at / sizeof c->at[0]))
		c->at[c->n++] = m->lo;
	return 0;
}

struct trap_header {
	char magic[16];
	uint32_t size, entries;
	uint64_t stamp;
	int state;
};

/*
 * The header of the block at `at`, once its creator has written it (a
 * block is visible in the maps from its mmap on). 0, or -1 when it is
 * not a block of this layout (or went away).
 */
static int trap_header(uintptr_t at, struct trap_header *h)
{
	int tries;

	for (tries = 0; tries < 100000; tries++) {
		if (trap_peek(at, h, sizeof *h))
			return -1;
		if (h->stamp)
			return memcmp(h->magic, TRAP_MAGIC, 16) ||
					       h->size != sizeof(struct trap_block)
				       ? -1
				       : 0;
		sched_yield();
	}
	return -1;
}

static uint64_t trap_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + 1;
}

/*
 * The process's final block, if one is in the maps; `mine` (being
 * created) is not counted. Sets *older when a block created before
 * `mine` (by stamp, then address) exists, final or not.
 */
static struct trap_block *trap_scan(const struct trap_block *mine,
				    int *older)
{
	struct trap_candidates c;
	struct trap_header h;
	struct trap_block *found = NULL;
	int i;

	c.n = 0;
	*older = 0;
	if (linux_maps_each(trap_maps_step, &c) < 0 && !mine) {
		/* no /proc: only the disposition in force can lead to it */
		struct sigaction cur;
		size_t page = (size_t)sysconf(_SC_PAGESIZE);

		if (!sigaction(SIGTRAP, NULL, &cur) &&
		    (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction)
			c.at[c.n++] = ((uintptr_t)cur.sa_sigaction & ~(page - 1)) -
				      trap_data_len();
	}
	for (i = 0; i < c.n; i++) {
		if ((uintptr_t)mine == c.at[i] || trap_header(c.at[i], &h))
			continue;
		if (h.state == BLOCK_FINAL)
			found = (struct trap_block *)c.at[i];
		if (mine && h.state != BLOCK_ABANDONED &&
		    (h.stamp < mine->stamp ||
		     (h.stamp == mine->stamp && c.at[i] < (uintptr_t)mine)))
			*older = 1;
	}
	return found;
}

/*
 * A new block: data pages private rw-, then the code page from the same
 * memfd, written with pwrite before it is mapped read+execute, so no
 * writable view of it ever exists. NULL when the OS refuses (diag says
 * which call, with its errno).
 */
static struct trap_block *trap_create(os_thunk_fn thunk, struct os_patch *diag)
{
	size_t data = trap_data_len(), page = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t buf[OS_THUNK_MAX];
	struct trap_block *b;
	uint8_t *code;
	uint32_t i;
	int fd = (int)syscall(SYS_memfd_create, TRAP_NAME, 1u /* CLOEXEC */);
	void *map;

	const char *call = "memfd_create(SIGTRAP handler)";
	int err;

	if (fd < 0) {
		linux_fail(diag, call, errno);
		return NULL;
	}
	call = "ftruncate(SIGTRAP handler)";
	if (ftruncate(fd, (off_t)(data + page)))
		goto out_close;
	call = "mmap(SIGTRAP handler)";
	map = mmap(NULL, data + page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		goto out_close;
	b = map;
	code = (uint8_t *)map + data;
	for (i = 0; i <= TRAP_ENTRIES; i++) {
		size_t n = thunk(buf, trap_thunk_at(code, i),
				 (uintptr_t)&b->running,
				 i < TRAP_ENTRIES ? (uintptr_t)&b->entry[i].slot : 0,
				 i);

		call = "pwrite(SIGTRAP handler)";
		if (!n) {
			errno = ENOSYS; /* no thunk for this architecture */
			goto out_unmap;
		}
		errno = 0;
		if (pwrite(fd, buf, n, (off_t)(data + i * OS_THUNK_MAX)) !=
		    (ssize_t)n) {
			if (errno == 0)
				errno = ENOSPC; /* a short write */
			goto out_unmap;
		}
	}
	call = "mmap(SIGTRAP handler, r-x)";
	if (mmap(code, page, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, fd,
		 (off_t)data) == MAP_FAILED)
		goto out_unmap;
	close(fd);
	memcpy(b->magic, TRAP_MAGIC, 16);
	b->size = sizeof(struct trap_block);
	b->impl = -1;
	__atomic_store_n(&b->stamp, trap_now(), __ATOMIC_RELEASE);
	return b;

out_unmap:
	err = errno;
	munmap(map, data + page);
	errno = err;
out_close:
	err = errno;
	close(fd);
	linux_fail(diag, call, err);
	return NULL;
}

/*
 * Finds the process's block, or creates it. Two modules that create one
 * at the same moment both see each other's (each scans after its own is
 * visible): the older one wins, the other is abandoned and unmapped.
 */
static struct trap_block *trap_find(os_thunk_fn thunk, struct os_patch *diag)
{
	size_t len = trap_data_len() + (size_t)sysconf(_SC_PAGESIZE);
	struct trap_block *b, *mine;
	int older, tries;

	for (tries = 0; tries < 1000; tries++) {
		b = trap_scan(NULL, &older);
		if (b)
			return b;
		mine = trap_create(thunk, diag);
		if (!mine)
			return NULL;
		b = trap_scan(mine, &older);
		if (!older) {
			__atomic_store_n(&mine->state, BLOCK_FINAL,
					 __ATOMIC_RELEASE);
			return mine;
		}
		__atomic_store_n(&mine->state, BLOCK_ABANDONED, __ATOMIC_RELEASE);
		munmap(mine, len);
		if (b)
			return b;
		sched_yield(); /* the older one is not final yet */
	}
	linux_fail(diag, "finding the SIGTRAP handler of another copy of the "
			 "core (it never became final)", EAGAIN);
	return NULL;
}

/* ---- arm and release ----------------------------------------------------- */

/*
 * Every entry point calls `impl` from now on or, with none, what it
 * replaced. All of them, also those given back for reuse: a handler may
 * have saved any of them.
 */
static void trap_slots_set(struct trap_block *b, uintptr_t impl)
{
	uint32_t i;

	for (i = 0; i < TRAP_ENTRIES; i++) {
		const struct sigaction *prev = &b->entry[i].prev;
		uintptr_t to = impl;

		/* no module left: straight to what the entry replaced */
		if (!to && (prev->sa_handler == SIG_DFL ||
			    prev->sa_handler == SIG_IGN))
			to = trap_ret_at(linux_trap.code);
		else if (!to)
			to = (prev->sa_flags & SA_SIGINFO)
				     ? (uintptr_t)prev->sa_sigaction
				     : (uintptr_t)prev->sa_handler;
		__atomic_store_n(&b->entry[i].slot, to, __ATOMIC_SEQ_CST);
	}
}

/* Joins the block: a registry slot for this module. Caller holds the lock. */
static int trap_join(struct trap_block *b, os_trap_fn fn, void *ctx,
		     struct os_patch *diag)
{
	int i;

	for (i = 0; i < TRAP_MODULES; i++) {
		struct trap_module *t = &b->module[i];

		if (__atomic_load_n(&t->state, __ATOMIC_ACQUIRE) != SLOT_FREE)
			continue;
		t->fn = fn;
		t->ctx = ctx;
		t->impl = trap_impl;
		__atomic_store_n(&t->state, SLOT_ACTIVE, __ATOMIC_SEQ_CST);
		linux_trap.index = i;
		if (b->impl < 0) {
			b->impl = i;
			trap_slots_set(b, (uintptr_t)trap_impl);
		}
		return 0;
	}
	return linux_fail(diag, "joining the SIGTRAP handler (64 copies of the "
				"core hold it: unload one)", ENOSPC);
}

/*
 * Installs entry point n over the disposition in force. The slot and the
 * previous disposition are in place before the kernel can enter it.
 * Caller holds the lock. Entry points are never taken back while a
 * handler may hold one (it saved it as the one it replaced), so another
 * signal layer that replaces the handler again and again uses them up:
 * the flips are refused from then on, and say why.
 */
static int trap_install(struct trap_block *b, const struct sigaction *cur,
			struct os_patch *diag)
{
	uint32_t n = b->entries;
	struct sigaction sa, old;

	if (n == TRAP_ENTRIES)
		return linux_fail(diag,
				  "installing the SIGTRAP handler again (another "
				  "signal layer replaced it 16 times or more, and "
				  "each time took one of its 16 entry points: none "
				  "is left; install that layer's handler before the "
				  "first flip, or stop replacing SIGTRAP's)",
				  ENOSPC);
	b->entry[n].prev = *cur;
	__atomic_store_n(&b->entry[n].slot,
			 (uintptr_t)b->module[b->impl].impl, __ATOMIC_SEQ_CST);
	__atomic_store_n(&b->entries, n + 1, __ATOMIC_RELEASE);
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = (void (*)(int, siginfo_t *, void *))trap_thunk_at(
		linux_trap.code, n);
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTRAP, &sa, &old)) {
		__atomic_store_n(&b->entries, n, __ATOMIC_RELEASE);
		return linux_fail(diag, "sigaction(SIGTRAP)", errno);
	}
	b->entry[n].prev = old; /* what was really replaced, if it changed */
	return 0;
}

int linux_traps_available(void)
{
	return 1;
}

int os_trap_arm(os_trap_fn fn, void *ctx, os_thunk_fn thunk,
		struct os_patch *diag)
{
	struct trap_block *b = linux_trap.block;
	struct sigaction cur;
	int rc = 0;

	if (!b) {
		b = trap_find(thunk, diag);
		if (!b)
			return STATIC_KEYS_EPATCH;
		linux_trap.code = (uint8_t *)b + trap_data_len();
		linux_trap.block = b;
	}
	if (sigaction(SIGTRAP, NULL, &cur))
		return linux_fail(diag, "sigaction(SIGTRAP)", errno);
	if (linux_trap.index >= 0 && trap_entry_in_force(b, linux_trap.code, &cur) >= 0)
		return 0;
	trap_lock(b);
	if (linux_trap.index < 0)
		rc = trap_join(b, fn, ctx, diag);
	if (!rc && !sigaction(SIGTRAP, NULL, &cur) &&
	    trap_entry_in_force(b, linux_trap.code, &cur) < 0)
		rc = trap_install(b, &cur, diag);
	trap_unlock(b);
	return rc;
}

/* Waits until *counter is 0; gives up after a long while (see below). */
static void trap_drain(int *counter)
{
	long i;

	for (i = 0; i < 1000000L; i++) {
		if (!__atomic_load_n(counter, __ATOMIC_SEQ_CST))
			return;
		sched_yield();
	}
}

/*
 * Unload (os_release): no handler runs this module's code once this
 * returns. The drains end as soon as the handlers in flight return; they
 * give up only when a handler never does, which means the unload itself
 * runs inside one (exit() from a SIGTRAP handler), where nothing is
 * unmapped.
 */
void linux_trap_release(void)
{
	struct trap_block *b = linux_trap.block;
	struct trap_module *me;
	struct sigaction cur;
	int i, next = -1, in_force;

	if (!b || linux_trap.index < 0)
		return;
	/*
	 * A flip ends without a core synchronisation after its last pass: a
	 * core may still hold one of this module's breakpoints, which only
	 * this module's trap side sends on. One synchronisation before it
	 * leaves, so none outlives it (refused: the window is as short as
	 * ever, see docs/concurrency.md).
	 */
	{
		struct os_patch diag = {0};

		(void)os_sync_core(&diag);
	}
	me = &b->module[linux_trap.index];
	trap_lock(b);
	__atomic_store_n(&me->state, SLOT_LEAVING, __ATOMIC_SEQ_CST);
	trap_drain(&me->inflight);
	if (b->impl == linux_trap.index) {
		for (i = 0; i < TRAP_MODULES && next < 0; i++)
			if (__atomic_load_n(&b->module[i].state,
					    __ATOMIC_ACQUIRE) == SLOT_ACTIVE)
				next = i;
		/*
		 * The last module: first put back what the entry point in
		 * force replaced (it is the newest: reuse its place), then
		 * the slots of those a saved pointer may still reach
		 * go straight to what each replaced.
		 */
		if (next < 0 && !sigaction(SIGTRAP, NULL, &cur) &&
		    (in_force = trap_entry_in_force(b, linux_trap.code, &cur)) >= 0 &&
		    !sigaction(SIGTRAP, &b->entry[in_force].prev, NULL) &&
		    (uint32_t)in_force + 1 == b->entries)
			__atomic_store_n(&b->entries, (uint32_t)in_force,
					 __ATOMIC_RELEASE);
		b->impl = next;
		trap_slots_set(b, next < 0 ? 0 : (uintptr_t)b->module[next].impl);
		trap_drain(&b->running);
	}
	me->fn = NULL;
	me->ctx = NULL;
	me->impl = NULL;
	__atomic_store_n(&me->state, SLOT_FREE, __ATOMIC_RELEASE);
	trap_unlock(b);
	linux_trap.index = -1;
}
#else /* sites change with one store: no breakpoint to catch */
int linux_traps_available(void)
{
	return 0;
}

int os_trap_arm(os_trap_fn fn, void *ctx, os_thunk_fn thunk,
		struct os_patch *diag)
{
	(void)fn;
	(void)ctx;
	(void)thunk;
	diag->failed = "breakpoint handler (none offered)";
	return STATIC_KEYS_EPATCH;
}

void linux_trap_release(void)
{
}
#endif
