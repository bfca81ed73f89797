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
 *             mprotect and alias too), for which this file gives the core
 *             synchronisation (membarrier) and the SIGTRAP handler
 *   mprotect  make the range rwx, write, make it r-x again (2 syscalls; a
 *             brief rwx window)
 *   alias     (opt-in) once, move the pages holding sites into a memfd
 *             mapped twice: r-x where the code runs, rw- elsewhere; a flip
 *             is a plain store through the rw- view (0 syscalls). No single
 *             mapping is writable and executable, but a writable alias of
 *             the code exists until another strategy is chosen. fork()
 *             gives the child private pages (pthread_atfork below).
 *
 * A rollback that meets an OS refusal (ENOMEM near vm.max_map_count) goes
 * through /proc/self/mem and a scratch buffer opened before the first
 * flip, so restoring needs no new mapping.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <ucontext.h>
#include <unistd.h>

#include "os.h"

#define LINUX_RX (PROT_READ | PROT_EXEC)
#define LINUX_RWX (PROT_READ | PROT_WRITE | PROT_EXEC)

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

/* ---- state --------------------------------------------------------------- */

/*
 * What the strategies set up for this module, found once before the first
 * page changes, so that neither a flip's rollback nor a fork needs a new
 * resource: the file mapping that holds the sites, /proc/self/mem, and a
 * scratch buffer as large as the text to build a run in.
 */
static struct {
	int ready;            /* linux_text_setup ran */
	uintptr_t start, end; /* span the scratch mirrors (the text mapping) */
	off_t offset;         /* file offset of start, when file_fd >= 0 */
	int file_fd;          /* the library file, O_RDONLY, or -1 */
	int mem_fd;           /* /proc/self/mem, O_RDWR, or -1 */
	int mem_err;          /* errno of the failed open, when mem_fd < 0 */
	uint8_t *scratch;     /* end - start bytes, rw-, or NULL */
} linux_text = {0, 0, 0, 0, -1, -1, 0, NULL};

/* The alias, if any: [lo, hi) runs from memfd `fd`, rw is its rw- view. */
static struct {
	uintptr_t lo, hi;
	uint8_t *rw;
	int fd;
	int stale;   /* forked child: the next patch sets up its own memfd */
	int forking; /* 1 while fork() runs with the text made private */
	pthread_mutex_t lock;
} linux_alias = {0, 0, NULL, -1, 0, 0, PTHREAD_MUTEX_INITIALIZER};

static int linux_sync_core_offered(void);
static void linux_sync_core_register(void);
static int linux_traps_available(void);
static void linux_fork_prepare(void);
static void linux_fork_parent(void);
static void linux_fork_child(void);

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
	 * no protocol. procmem is the fastest that keeps W^X; the core makes
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
	caps->sync_core = linux_sync_core_offered();
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

/* ---- cross-modification -------------------------------------------------- */

/* From <linux/membarrier.h>, which a libc-only sysroot may lack. */
#define LINUX_MEMBARRIER_QUERY 0
#define LINUX_MEMBARRIER_SYNC_CORE (1 << 5)
#define LINUX_MEMBARRIER_REGISTER_SYNC_CORE (1 << 6)

/*
 * Tests only: no_sync_core = 1 makes init see no membarrier SYNC_CORE (an
 * old kernel); sync_fail = n > 0 makes the n-th os_sync_core fail (EPERM).
 */
STATIC_KEYS_LOCAL int static_keys_linux_no_sync_core, static_keys_linux_sync_fail;

static long linux_membarrier(int cmd)
{
#ifdef SYS_membarrier
	return syscall(SYS_membarrier, cmd, 0, 0);
#else
	(void)cmd;
	errno = ENOSYS;
	return -1;
#endif
}

/*
 * 1 when membarrier(PRIVATE_EXPEDITED_SYNC_CORE) is offered (x86 and
 * arm64 since Linux 4.16, riscv since 6.9). One cheap query at init.
 */
static int linux_sync_core_offered(void)
{
	long cmds;

	if (static_keys_linux_no_sync_core)
		return 0;
	cmds = linux_membarrier(LINUX_MEMBARRIER_QUERY);
	return cmds >= 0 && (cmds & LINUX_MEMBARRIER_SYNC_CORE);
}

/*
 * Registers the process for it, once, when a strategy that writes in place
 * is prepared (before its first flip), not at init: with several threads
 * running the kernel waits for an RCU grace period here (about 15 ms on
 * the development machine), which open() should not pay. Per process and
 * idempotent: every module may ask; os_sync_core asks again if needed.
 */
static void linux_sync_core_register(void)
{
	static int done;

	if (!done && !static_keys_linux_no_sync_core &&
	    !linux_membarrier(LINUX_MEMBARRIER_REGISTER_SYNC_CORE))
		done = 1;
}

int os_sync_core(void)
{
	if (static_keys_linux_sync_fail > 0 && --static_keys_linux_sync_fail == 0)
		return STATIC_KEYS_EPATCH;
	if (!linux_membarrier(LINUX_MEMBARRIER_SYNC_CORE))
		return 0;
	/* a kernel that does not carry the registration across fork() */
	if (errno == EPERM &&
	    !linux_membarrier(LINUX_MEMBARRIER_REGISTER_SYNC_CORE) &&
	    !linux_membarrier(LINUX_MEMBARRIER_SYNC_CORE))
		return 0;
	return STATIC_KEYS_EPATCH;
}

/*
 * The breakpoint trap. One handler per module, installed at the first
 * flip in place and kept (a handler installed per flip could be gone when
 * a thread that trapped late runs it); what was installed before is
 * called for every trap the core does not claim, so a debugger's, the
 * runtime's or the user's own SIGTRAP handler keeps working, and with no
 * handler before the default action (a core dump) still happens.
 */
#if defined(__x86_64__) || defined(__i386__)
#ifdef __x86_64__
#define LINUX_PC REG_RIP
#else
#define LINUX_PC REG_EIP
#endif

static struct {
	os_trap_fn fn;
	void *ctx;
	int installed;
	struct sigaction prev;
} linux_trap;

static void linux_trap_chain(int sig, siginfo_t *info, void *uc)
{
	const struct sigaction *prev = &linux_trap.prev;

	if (prev->sa_flags & SA_SIGINFO) {
		prev->sa_sigaction(sig, info, uc);
	} else if (prev->sa_handler == SIG_IGN) {
		return;
	} else if (prev->sa_handler == SIG_DFL) {
		/* the default action, as if we were never here */
		signal(sig, SIG_DFL);
		raise(sig); /* delivered when this handler returns */
	} else {
		prev->sa_handler(sig);
	}
}

static void linux_trap_handler(int sig, siginfo_t *info, void *uc)
{
	ucontext_t *u = uc;
	os_trap_fn fn = __atomic_load_n(&linux_trap.fn, __ATOMIC_ACQUIRE);
	uintptr_t to = 0;
	int saved = errno;

	/* int3 reports SI_KERNEL (valgrind: TRAP_BRKPT); raise() and kill()
	 * report others, and are never ours */
	if (fn && (info->si_code == SI_KERNEL || info->si_code == TRAP_BRKPT))
		to = fn(linux_trap.ctx, (uintptr_t)u->uc_mcontext.gregs[LINUX_PC], 1);
	if (to)
		u->uc_mcontext.gregs[LINUX_PC] = (greg_t)to;
	else
		linux_trap_chain(sig, info, uc);
	errno = saved;
}

static int linux_traps_available(void)
{
	return 1;
}

int os_trap_arm(os_trap_fn fn, void *ctx)
{
	struct sigaction sa, cur;

	if (sigaction(SIGTRAP, NULL, &cur))
		return STATIC_KEYS_EPATCH;
	if (linux_trap.installed && (cur.sa_flags & SA_SIGINFO) &&
	    cur.sa_sigaction == linux_trap_handler)
		return 0;
	/* first time, or something replaced us: it becomes the one we chain */
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = linux_trap_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	linux_trap.ctx = ctx;
	__atomic_store_n(&linux_trap.fn, fn, __ATOMIC_RELEASE);
	linux_trap.prev = cur;
	if (sigaction(SIGTRAP, &sa, NULL))
		return STATIC_KEYS_EPATCH;
	linux_trap.installed = 1;
	return 0;
}

/* Unload: hand SIGTRAP back if we are still the one installed. */
static void linux_trap_release(void)
{
	struct sigaction cur;

	if (!linux_trap.installed)
		return;
	if (!sigaction(SIGTRAP, NULL, &cur) && (cur.sa_flags & SA_SIGINFO) &&
	    cur.sa_sigaction == linux_trap_handler)
		sigaction(SIGTRAP, &linux_trap.prev, NULL);
	__atomic_store_n(&linux_trap.fn, NULL, __ATOMIC_RELEASE);
	linux_trap.installed = 0;
}
#else /* sites change with one store: no breakpoint to catch */
static int linux_traps_available(void)
{
	return 0;
}

int os_trap_arm(os_trap_fn fn, void *ctx)
{
	(void)fn;
	(void)ctx;
	return STATIC_KEYS_EPATCH;
}

static void linux_trap_release(void)
{
}
#endif

/* ---- symbols ------------------------------------------------------------- */

/* Copies at most cap bytes of src (no NUL) and returns its full length. */
static size_t linux_copy(char *dst, size_t cap, const char *src)
{
	size_t n;

	for (n = 0; src && src[n]; n++)
		if (n < cap)
			dst[n] = src[n];
	return n;
}

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
	out->name_len = linux_copy(name, name_cap, info.dli_sname);
	out->path_len = linux_copy(path, path_cap, info.dli_fname);
	return 0;
}

/* ---- /proc/self/maps ----------------------------------------------------- */

struct linux_map {
	uintptr_t lo, hi;
	char perms[5];
	unsigned long long offset;
	unsigned major, minor;
	unsigned long inode;
	const char *path;
};

/*
 * Calls fn for each line of /proc/self/maps until it returns nonzero;
 * returns that value, or -1 if the file cannot be read. Stack buffers only.
 */
static int linux_maps_each(int (*fn)(void *ctx, const struct linux_map *m),
			   void *ctx)
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
 * would be lost.
 */
static int linux_span_is_text(uintptr_t lo, uintptr_t hi)
{
	struct linux_span_walk w = {lo, hi, lo};

	return linux_maps_each(linux_span_step, &w) >= 0 && w.covered >= hi;
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
 * 1 when /proc/self/mem shows, at lo, the bytes this code reads at lo. A
 * user-mode emulator (qemu-user) passes the file offset through untranslated:
 * a write there would land in the emulator's memory, not ours.
 */
static int linux_mem_is_ours(uintptr_t lo)
{
	uint8_t seen[32];

	return pread(linux_text.mem_fd, seen, sizeof seen, (off_t)lo) ==
		       (ssize_t)sizeof seen &&
	       !memcmp(seen, (const void *)lo, sizeof seen);
}

/*
 * Finds the file mapping around [lo, hi) and opens its file (checked to
 * be the same inode: a library replaced on disk is not the one mapped).
 * Then /proc/self/mem and the scratch. Each part that fails is left out;
 * the strategies that need it refuse or do without.
 */
static void linux_text_setup(uintptr_t lo, uintptr_t hi)
{
	struct linux_file_walk w;
	struct stat st;
	void *s;

	if (linux_text.ready && linux_text.start <= lo && hi <= linux_text.end)
		return;
	memset(&w, 0, sizeof w);
	w.addr = lo;
	if (linux_maps_each(linux_file_step, &w) == 0 && w.group.hi &&
	    w.group.lo <= lo && lo < w.group.hi)
		w.found = 1;
	if (w.found && w.group.hi < hi)
		w.found = 0; /* the sites run past the file's text */
	if (linux_text.file_fd >= 0)
		close(linux_text.file_fd);
	if (linux_text.scratch)
		munmap(linux_text.scratch, linux_text.end - linux_text.start);
	linux_text.file_fd = -1;
	linux_text.start = lo;
	linux_text.end = hi;
	if (w.found) {
		int fd = open(w.path, O_RDONLY | O_CLOEXEC);

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
	if (linux_text.mem_fd < 0) {
		linux_text.mem_fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
		linux_text.mem_err = linux_text.mem_fd < 0 ? errno : 0;
	}
	if (linux_text.mem_fd >= 0 && !linux_mem_is_ours(lo)) {
		close(linux_text.mem_fd);
		linux_text.mem_fd = -1;
		linux_text.mem_err = EFAULT;
	}
	s = mmap(NULL, linux_text.end - linux_text.start, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	linux_text.scratch = s == MAP_FAILED ? NULL : s;
	linux_text.ready = 1;
}

/* 1 when [start, start + len) lies inside the span the scratch mirrors. */
static int linux_text_covers(uintptr_t start, size_t len)
{
	return linux_text.ready && linux_text.start <= start &&
	       start + len <= linux_text.end;
}

/* ---- patching ------------------------------------------------------------ */

static int linux_fail(struct os_patch *p, const char *call, int err)
{
	p->failed = call;
	p->raw_error = err;
	return STATIC_KEYS_EPATCH;
}

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
static int linux_patch_remap(struct os_patch *p)
{
	const char *call;
	void *copy;
	int err;

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

/*
 * Tests only (tests/wx_test.c): after `skip` calls that make pages r-x
 * again, the next `fail` such calls fail with EACCES.
 */
STATIC_KEYS_LOCAL int static_keys_linux_rx_skip, static_keys_linux_rx_fail;

static int linux_make_rx(void *start, size_t len)
{
	if (static_keys_linux_rx_skip > 0) {
		static_keys_linux_rx_skip--;
	} else if (static_keys_linux_rx_fail > 0) {
		static_keys_linux_rx_fail--;
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

static int linux_patch_mprotect(struct os_patch *p)
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

/* pwrite through /proc/self/mem until done; bytes written, or -1. */
static ssize_t linux_mem_write(struct os_patch *p, const uint8_t *from,
			       size_t len, uintptr_t at)
{
	ssize_t n;

	do {
		p->syscalls++;
		n = pwrite(linux_text.mem_fd, from, len, (off_t)at);
	} while (n < 0 && errno == EINTR);
	return n;
}

/*
 * procmem, and every rollback's last resort: build the run in the scratch
 * (copy, fill), then one pwrite of the bytes that changed. A short write
 * is undone the same way. Needs what linux_text_setup opened, nothing new.
 */
static int linux_patch_procmem(struct os_patch *p)
{
	const uint8_t *live = (const uint8_t *)p->start;
	uint8_t *view;
	size_t a, b;
	ssize_t n;
	int err;

	if (linux_text.mem_fd < 0 || !linux_text.scratch ||
	    !linux_text_covers(p->start, p->len))
		return linux_fail(p, "procmem (range not prepared)", EINVAL);
	view = linux_text.scratch + (p->start - linux_text.start);
	memcpy(view, live, p->len);
	p->fill(p->ctx, view, p->start, p->len, 0);
	for (a = 0; a < p->len && view[a] == live[a]; a++)
		;
	for (b = p->len; b > a && view[b - 1] == live[b - 1]; b--)
		;
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

/* ---- alias ---------------------------------------------------------------- */

/* Unmaps the rw- view and closes the memfd; the text is left as it is. */
static void linux_alias_forget(void)
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
static int linux_alias_drop(struct os_patch *d)
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
	if (!linux_span_is_text(lo, hi))
		return linux_fail(d, "alias (the sites' pages are not one r-x span)", EINVAL);
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

static int linux_alias_setup(uintptr_t lo, uintptr_t hi, struct os_patch *d)
{
	int rc;

	pthread_mutex_lock(&linux_alias.lock);
	rc = linux_alias_setup_locked(lo, hi, d);
	pthread_mutex_unlock(&linux_alias.lock);
	return rc;
}

static int linux_patch_alias(struct os_patch *p)
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
static void linux_fork_prepare(void)
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

static void linux_fork_parent(void)
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

static void linux_fork_child(void)
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
	if (linux_text.mem_fd >= 0) {
		close(linux_text.mem_fd);
		linux_text.mem_fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
		linux_text.mem_err = linux_text.mem_fd < 0 ? errno : 0;
	}
	pthread_mutex_unlock(&linux_alias.lock);
}

/* ---- strategies ------------------------------------------------------------ */

/*
 * procmem is refused where the kernel does not allow it: /proc/self/mem
 * cannot be opened, or a write-back of a byte already in place fails
 * (proc_mem.force_override=never, a seccomp filter, an LSM).
 */
static int linux_procmem_probe(uintptr_t lo, uintptr_t hi, struct os_patch *d)
{
	if (linux_text.mem_fd < 0) {
		d->failed = "/proc/self/mem cannot be opened for writing "
			    "(no /proc, a security policy) or does not show "
			    "this process's memory (an emulator); use \"remap\"";
		d->raw_error = linux_text.mem_err;
		return STATIC_KEYS_ENOTSUP;
	}
	if (linux_mem_write(d, (const uint8_t *)lo, 1, lo) != 1) {
		d->failed = "the kernel refuses writes to code through "
			    "/proc/self/mem (proc_mem.force_override, a seccomp "
			    "filter or a security module); use \"remap\"";
		d->raw_error = errno;
		return STATIC_KEYS_ENOTSUP;
	}
	if (!linux_text.scratch)
		return linux_fail(d, "mmap(scratch)", ENOMEM);
	if (!linux_text_covers(lo, hi - lo)) { /* qemu-user's merged maps */
		d->failed = "the sites' pages are not one file mapping that "
			    "/proc/self/maps shows; use \"remap\"";
		d->raw_error = 0;
		return STATIC_KEYS_ENOTSUP;
	}
	return 0;
}

int os_prepare(int strategy, uintptr_t lo, uintptr_t hi, struct os_patch *diag)
{
	int prev_alias = linux_alias.rw != NULL;
	int rc;

	if (lo < hi && !linux_alias.rw)
		linux_text_setup(lo, hi); /* before alias moves the text */
	if (strategy != STATIC_KEYS_STRATEGY_REMAP)
		linux_sync_core_register(); /* the protocol's, before a flip */
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
	const char *failed = p->failed;
	long raw = p->raw_error;

	if (linux_text.mem_fd < 0 || !linux_text.scratch ||
	    !linux_text_covers(p->start, p->len))
		return STATIC_KEYS_EPATCH;
	if (linux_patch_procmem(p)) {
		p->failed = failed;
		p->raw_error = raw;
		return STATIC_KEYS_EPATCH;
	}
	p->failed = NULL;
	p->raw_error = 0;
	return 0;
}

int os_patch(struct os_patch *p)
{
	int rc;

	if (p->fault && p->strategy != STATIC_KEYS_STRATEGY_ALIAS) {
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
	pthread_mutex_lock(&linux_alias.lock);
	linux_alias_forget(); /* the text itself goes with the module */
	pthread_mutex_unlock(&linux_alias.lock);
	if (linux_text.scratch)
		munmap(linux_text.scratch, linux_text.end - linux_text.start);
	if (linux_text.file_fd >= 0)
		close(linux_text.file_fd);
	if (linux_text.mem_fd >= 0)
		close(linux_text.mem_fd);
	linux_text.scratch = NULL;
	linux_text.file_fd = linux_text.mem_fd = -1;
	linux_text.ready = 0;
}
