/* SPDX-License-Identifier: MIT */
/*
 * linux.c - ELF sections, thread tokens, and four ways past W^X
 * (docs/strategies.md says what each does to threads and tracers):
 *
 *   remap     copy the run into a private mapping of the library's own file
 *             (same file, same offset; anonymous memory when the file cannot
 *             be found), patch the copy, make it r-x, mremap it over the
 *             original: the range changes in one step under other threads,
 *             is never writable+executable, and stays file-backed, so
 *             uprobes, perf and gdb keep seeing the library (3 syscalls)
 *   procmem   one pwrite of the run's changed bytes through /proc/self/mem,
 *             the kernel's forced write: pages stay r-x and file-backed, no
 *             mapping is added (1 syscall); bytes change in place, so the
 *             core runs the cross-modification protocol through it (with
 *             mprotect and alias too), for which linux_sync.c gives the
 *             core synchronisation (membarrier) and linux_trap.c the
 *             SIGTRAP handler
 *   mprotect  make the range rwx, write, make it r-x again (2 syscalls; a
 *             brief rwx window)
 *   alias     (opt-in) once, move the pages holding sites into a memfd
 *             mapped twice: r-x where the code runs, rw- elsewhere; a flip
 *             is a plain store through the rw- view (0 syscalls). No single
 *             mapping is writable and executable, but a writable alias of
 *             the code exists until another strategy is chosen. fork()
 *             gives the child private pages (pthread_atfork handlers).
 *
 * A rollback that meets an OS refusal (ENOMEM near vm.max_map_count) goes
 * through /proc/self/mem and a scratch buffer opened before the first
 * flip, so restoring needs no new mapping. What could not be opened or
 * mapped for a passing reason (EMFILE, ENOMEM: linux_transient) is tried
 * again before the next flip; the refusal is reported as transient and is
 * never a reason to give up a strategy for good.
 *
 * The layer is six files sharing os/linux_private.h; each calls only the
 * files below it in this list (scripts/file_graph.ts checks it):
 *   linux.c        the os_* hooks: sections, image, init, threads,
 *                  symbols, os_prepare, os_patch (which picks the
 *                  strategy), the rollback's last resort, unload
 *   linux_alias.c  the alias's memfd views and the fork handlers
 *   linux_patch.c  the writes of remap, mprotect and procmem
 *   linux_sync.c   membarrier core synchronisation
 *   linux_trap.c   the process's SIGTRAP handler, shared by every module
 *   linux_text.c   the text state (the library's file mapping,
 *                  /proc/self/mem, the scratch), /proc/self/maps, errno words
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "linux_private.h"
#include "test_hooks.h"

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

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older headers lack it */
#endif

/*
 * One madvise over the whole pages inside the range: each is copied out of
 * the page cache (or allocated) and mapped writable in the kernel's loop,
 * without an exception per page. EINVAL (a kernel before 5.14), EFAULT or
 * ENOMEM leave the rest to ordinary faults; errno is left as it was.
 */
void os_populate_write(void *start, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t lo = (uintptr_t)start, hi = lo + len;
	int saved = errno;

	if (page <= 0 || hi < lo)
		return;
	lo = (lo + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
	hi &= ~((uintptr_t)page - 1);
	if (hi > lo)
		(void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
	errno = saved;
}

/* os_init's caps.sync_core: the protocol runs through in-place strategies */
static int linux_sync_offered;

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

/*
 * valgrind runs its own translation of the code and sees an mprotect or a
 * mremap, but not a write through /proc/self/mem: procmem stays opt-in
 * there (without --smc-check=all its flips would not take effect).
 */
static int linux_under_valgrind(void)
{
	const char *preload = getenv("LD_PRELOAD");

	return preload && strstr(preload, "/vgpreload") != NULL;
}

int os_init(struct os_caps *caps)
{
	long page = sysconf(_SC_PAGESIZE);

	if (page <= 0 || (page & (page - 1)))
		return STATIC_KEYS_EINIT;
	caps->name = "linux";
	caps->page_size = (size_t)page;
	caps->strategies = (1u << STATIC_KEYS_STRATEGY_REMAP) |
			   (1u << STATIC_KEYS_STRATEGY_MPROTECT) |
			   (1u << STATIC_KEYS_STRATEGY_ALIAS) |
			   (1u << STATIC_KEYS_STRATEGY_PROCMEM);
	/*
	 * remap swaps whole pages: safe for threads running the sites with
	 * no protocol. procmem keeps W^X and adds no mapping; the core makes
	 * it the default where the cross-modification protocol can run
	 * (docs/concurrency.md).
	 */
	caps->default_strategy = STATIC_KEYS_STRATEGY_REMAP;
	caps->fast_strategy = linux_under_valgrind() ? 0 : STATIC_KEYS_STRATEGY_PROCMEM;
	caps->swap_strategies = 1u << STATIC_KEYS_STRATEGY_REMAP;
	caps->inplace_strategies = (1u << STATIC_KEYS_STRATEGY_MPROTECT) |
				   (1u << STATIC_KEYS_STRATEGY_ALIAS) |
				   (1u << STATIC_KEYS_STRATEGY_PROCMEM);
	caps->store_strategies = (1u << STATIC_KEYS_STRATEGY_MPROTECT) |
				 (1u << STATIC_KEYS_STRATEGY_ALIAS);
	caps->sync_core = linux_sync_offered = linux_sync_core_offered();
	caps->traps = linux_traps_available();
	/* glibc drops a dlopen'ed module's handlers at dlclose */
	pthread_atfork(linux_fork_prepare, linux_fork_parent, linux_fork_child);
	return 0;
}

/* ---- threads ------------------------------------------------------------- */

/* A per-module counter: pthread_self() and gettid() are reused. */
uintptr_t os_thread_id(void)
{
	static uintptr_t last;
	static _Thread_local uintptr_t self;

	if (!self)
		self = __atomic_add_fetch(&last, 1, __ATOMIC_RELAXED);
	return self;
}

void os_thread_yield(void)
{
	sched_yield();
}

/*
 * Thread exit, for ownership: one pthread key per module, whose value on
 * the owner thread is the core's owner word; the key's destructor runs
 * when that thread exits and gives the module back. The key is deleted at
 * unload, before the destructor's code goes.
 */
static struct {
	pthread_once_t once;
	pthread_key_t key;
	int ok;
} linux_watch = {PTHREAD_ONCE_INIT, 0, 0};

static void linux_watch_exit(void *owner)
{
	uintptr_t self = os_thread_id();

	__atomic_compare_exchange_n((uintptr_t *)owner, &self, 0, 0,
				    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

static void linux_watch_init(void)
{
	linux_watch.ok = !pthread_key_create(&linux_watch.key, linux_watch_exit);
}

int os_thread_watch(uintptr_t *owner)
{
	pthread_once(&linux_watch.once, linux_watch_init);
	if (!linux_watch.ok || pthread_setspecific(linux_watch.key, owner))
		return STATIC_KEYS_ENOTSUP;
	return 0;
}

/* ---- symbols ------------------------------------------------------------- */

/*
 * dladdr sees the dynamic symbol table only: a hidden or static function
 * has no name here. glibc names a symbol only when addr lies inside its
 * st_size (dl-addr.c); other libcs may name the nearest one below.
 */
int os_symbolize(uintptr_t addr, struct os_symbol *out, char *name,
		 size_t name_cap, char *path, size_t path_cap)
{
	Dl_info info;

	if (!dladdr((void *)addr, &info) || !info.dli_fbase)
		return STATIC_KEYS_ENOKEY;
	out->base = (uintptr_t)info.dli_fbase;
	out->start = info.dli_sname ? (uintptr_t)info.dli_saddr : 0;
#ifdef __GLIBC__
	out->exact = info.dli_sname != NULL;
#else
	out->exact = 0;
#endif
	out->name_len = os_symbol_copy(name, name_cap, info.dli_sname);
	out->path_len = os_symbol_copy(path, path_cap, info.dli_fname);
	return 0;
}

/* ---- strategies ------------------------------------------------------------ */

/*
 * procmem is refused where the kernel does not allow it: /proc/self/mem
 * cannot be opened, or a write-back of a byte already in place fails
 * (proc_mem.force_override=never, a seccomp filter, an LSM). A refusal
 * that may pass (no free descriptor, no memory for the scratch) is
 * EPATCH, not ENOTSUP: the default strategy does not give up on it.
 */
static int linux_procmem_probe(uintptr_t lo, uintptr_t hi, struct os_patch *d)
{
	if (linux_text.mem_fd < 0 && linux_transient(linux_text.mem_err))
		return linux_fail(d, linux_text.mem_call, linux_text.mem_err);
	if (linux_text.mem_fd < 0) {
		d->failed = "/proc/self/mem cannot be opened for writing "
			    "(no /proc, a security policy) or does not show "
			    "this process's memory (an emulator); use \"remap\"";
		d->raw_error = linux_text.mem_err;
		return STATIC_KEYS_ENOTSUP;
	}
	if (linux_mem_write(d, (const uint8_t *)lo, 1, lo) != 1) {
		if (linux_transient(errno))
			return linux_fail(d, "pwrite(\"/proc/self/mem\")", errno);
		d->failed = "the kernel refuses writes to code through "
			    "/proc/self/mem (proc_mem.force_override, a seccomp "
			    "filter or a security module); use \"remap\"";
		d->raw_error = errno;
		return STATIC_KEYS_ENOTSUP;
	}
	if (!linux_text.scratch)
		return linux_fail(d, "mmap(scratch)", linux_text.scratch_err);
	if (!linux_text_covers(lo, hi - lo)) { /* qemu-user's merged maps */
		d->failed = "the sites' pages are not one file mapping that "
			    "/proc/self/maps shows; use \"remap\"";
		d->raw_error = 0;
		return STATIC_KEYS_ENOTSUP;
	}
	return 0;
}

/* 1 for a strategy through which the core runs the protocol (os_init). */
static int linux_sync_needed(int strategy)
{
	return linux_sync_offered && strategy != STATIC_KEYS_STRATEGY_REMAP;
}

/*
 * The protocol's membarrier registration, before a strategy in place is
 * used: a refusal that may pass is EPATCH (tried again next time), any
 * other means the protocol cannot run here (ENOTSUP).
 */
static int linux_sync_ready(int strategy, struct os_patch *d)
{
	int err = linux_sync_needed(strategy) ? linux_sync_core_register() : 0;

	if (!err)
		return 0;
	if (linux_fail(d, "membarrier(REGISTER_PRIVATE_EXPEDITED_SYNC_CORE)",
		       err) && d->transient)
		return STATIC_KEYS_EPATCH;
	d->failed = "membarrier(REGISTER_PRIVATE_EXPEDITED_SYNC_CORE) is "
		    "refused (a seccomp filter, a security module), so the "
		    "cross-modification protocol cannot run; use \"remap\"";
	return STATIC_KEYS_ENOTSUP;
}

int os_prepare(int strategy, uintptr_t lo, uintptr_t hi, struct os_patch *diag)
{
	int prev_alias = linux_alias.rw != NULL;
	int rc;

	if (lo < hi && !linux_alias.rw)
		linux_text_setup(lo, hi); /* before alias moves the text */
	if (strategy < 0 || strategy >= STATIC_KEYS_STRATEGY_COUNT)
		return STATIC_KEYS_ENOTSUP;
	rc = linux_sync_ready(strategy, diag); /* the protocol's, before a flip */
	if (rc)
		return rc;
	switch (strategy) {
	case STATIC_KEYS_STRATEGY_ALIAS:
		return lo < hi ? linux_alias_setup(lo, hi, diag) : 0;
	case STATIC_KEYS_STRATEGY_PROCMEM:
		/* a forced write cannot go through the alias's shared pages */
		rc = linux_alias_drop(diag);
		if (!rc && lo < hi && (rc = linux_procmem_probe(lo, hi, diag)) &&
		    prev_alias) {
			struct os_patch again = *diag;

			linux_alias_setup(lo, hi, &again); /* back to alias */
			diag->syscalls = again.syscalls;
		}
		return rc;
	case STATIC_KEYS_STRATEGY_REMAP:
	case STATIC_KEYS_STRATEGY_MPROTECT:
		return linux_alias_drop(diag);
	default:
		return STATIC_KEYS_ENOTSUP;
	}
}

/*
 * A rollback whose strategy failed (say, mmap at vm.max_map_count): write
 * the old bytes through /proc/self/mem with what was opened before the
 * flip. Bytes change in place, so a thread executing a site at that
 * moment is not protected; this runs only when nothing else can restore.
 */
static int linux_rollback(struct os_patch *p)
{
	const char *failed = p->failed, *transient = p->transient;
	long raw = p->raw_error;

	if (linux_text.mem_fd < 0 || !linux_text.scratch ||
	    !linux_text_covers(p->start, p->len))
		return STATIC_KEYS_EPATCH;
	if (linux_patch_procmem(p)) {
		p->failed = failed;
		p->raw_error = raw;
		p->transient = transient;
		return STATIC_KEYS_EPATCH;
	}
	p->failed = NULL;
	p->raw_error = 0;
	p->transient = NULL;
	return 0;
}

int os_patch(struct os_patch *p)
{
	int rc = 0;

	if (!p->rollback) { /* what failed to set up may be had now */
		linux_text_retry(!linux_alias.rw);
		rc = linux_sync_ready(p->strategy, p);
	}
	if (rc) {
		/* nothing written: the protocol cannot run without it */
	} else if (p->rollback &&
		   TEST_HOOK(fault_rollback) == ROLLBACK_FAULT_STRATEGY &&
		   p->strategy != STATIC_KEYS_STRATEGY_ALIAS) {
		rc = linux_fail(p, "mmap (injected)", ENOMEM);
	} else {
		switch (p->strategy) {
		case STATIC_KEYS_STRATEGY_REMAP:
			rc = linux_patch_remap(p);
			break;
		case STATIC_KEYS_STRATEGY_MPROTECT:
			rc = linux_patch_mprotect(p);
			break;
		case STATIC_KEYS_STRATEGY_ALIAS:
			rc = linux_patch_alias(p);
			break;
		case STATIC_KEYS_STRATEGY_PROCMEM:
			rc = linux_patch_procmem(p);
			break;
		default:
			p->failed = "strategy";
			p->raw_error = p->strategy;
			return STATIC_KEYS_ENOTSUP;
		}
	}
	if (rc == STATIC_KEYS_EPATCH && p->rollback)
		rc = linux_rollback(p);
	return rc;
}

/* ---- unload ---------------------------------------------------------------- */

void os_release(void)
{
	linux_trap_release();
	if (linux_watch.ok)
		pthread_key_delete(linux_watch.key);
	linux_watch.ok = 0;
	pthread_mutex_lock(&linux_alias.lock);
	linux_alias_forget(); /* the text itself goes with the module */
	pthread_mutex_unlock(&linux_alias.lock);
	linux_text_release();
}
