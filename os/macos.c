/* SPDX-License-Identifier: MIT */
/*
 * macos.c - Mach-O sections, pthread thread ids, and two ways past W^X
 * (written and compile-checked on Linux with clang for x86_64 and arm64
 * Darwin; never run: see tests/macos_compile_check.sh):
 *
 *   remap     like Linux's: mach_vm_allocate a fresh rw- region, copy the
 *             pages into it and patch the copy, make it r-x, then
 *             mach_vm_remap it over the original (VM_FLAGS_OVERWRITE): the
 *             range changes in one step under other threads and is never
 *             writable+executable (4 calls: allocate, protect, remap,
 *             deallocate of the now-unneeded source mapping)
 *   mprotect  mach_vm_protect the range rwx with VM_PROT_COPY (a private
 *             copy-on-write copy: text's maximum protection lacks write),
 *             write, back to r-x (2 calls; a brief rwx window; refused on
 *             arm64, where no page may be rwx without MAP_JIT)
 *
 * Both end in sys_icache_invalidate. Under the hardened runtime the kernel
 * refuses unsigned executable pages: both strategies then fail with the
 * kern_return_t in raw_error and the text unchanged.
 */
#include <stddef.h>
#include <stdint.h>

#include "os.h"

#if __has_include(<mach/mach_vm.h>)
#include <dlfcn.h>
#include <libkern/OSCacheControl.h>
#include <mach-o/loader.h>
#include <mach/mach.h>
#include <mach/mach_vm.h>
#include <pthread.h>
#include <sched.h>
#else
/*
 * No macOS SDK (the compile check on Linux): the few declarations used
 * below, with the types and values of the Darwin ABI.
 */
typedef int kern_return_t;
typedef int boolean_t;
typedef int vm_prot_t;
typedef unsigned int vm_inherit_t;
typedef unsigned int mach_port_t;
typedef mach_port_t vm_map_t;
typedef uint64_t mach_vm_address_t;
typedef uint64_t mach_vm_size_t;
typedef uint64_t mach_vm_offset_t;
typedef uintptr_t vm_size_t;
typedef struct _opaque_pthread_t *pthread_t;
#define KERN_SUCCESS 0
#define VM_PROT_READ 0x01
#define VM_PROT_WRITE 0x02
#define VM_PROT_EXECUTE 0x04
#define VM_PROT_COPY 0x10
#define VM_FLAGS_FIXED 0x0000
#define VM_FLAGS_ANYWHERE 0x0001
#define VM_FLAGS_OVERWRITE 0x4000
#define VM_INHERIT_COPY 1
extern mach_port_t mach_task_self_;
#define mach_task_self() mach_task_self_
extern vm_size_t vm_page_size;
kern_return_t mach_vm_allocate(vm_map_t, mach_vm_address_t *, mach_vm_size_t,
			       int);
kern_return_t mach_vm_deallocate(vm_map_t, mach_vm_address_t, mach_vm_size_t);
kern_return_t mach_vm_protect(vm_map_t, mach_vm_address_t, mach_vm_size_t,
			      boolean_t, vm_prot_t);
kern_return_t mach_vm_remap(vm_map_t, mach_vm_address_t *, mach_vm_size_t,
			    mach_vm_offset_t, int, vm_map_t, mach_vm_address_t,
			    boolean_t, vm_prot_t *, vm_prot_t *, vm_inherit_t);
void sys_icache_invalidate(void *, size_t);
typedef struct {
	const char *dli_fname;
	void *dli_fbase;
	const char *dli_sname;
	void *dli_saddr;
} Dl_info;
int dladdr(const void *, Dl_info *);
struct mach_header_64 {
	uint32_t magic;
	int cputype, cpusubtype;
	uint32_t filetype, ncmds, sizeofcmds, flags, reserved;
};
struct load_command {
	uint32_t cmd, cmdsize;
};
struct segment_command_64 {
	uint32_t cmd, cmdsize;
	char segname[16];
	uint64_t vmaddr, vmsize, fileoff, filesize;
	vm_prot_t maxprot, initprot;
	uint32_t nsects, flags;
};
#define MH_MAGIC_64 0xfeedfacfu
#define LC_SEGMENT_64 0x19u
int pthread_threadid_np(pthread_t, uint64_t *);
int sched_yield(void);
#endif

#define MACOS_RX (VM_PROT_READ | VM_PROT_EXECUTE)
#define MACOS_RWX (VM_PROT_READ | VM_PROT_WRITE | VM_PROT_EXECUTE)

/* ---- sections ------------------------------------------------------------ */

/*
 * ld64 resolves section$start$SEG$SECT / section$end$SEG$SECT to the
 * bounds of that section in the image being linked (an empty section if
 * the image has none), so each image (executable, dylib, bundle) sees its
 * own. Hidden: never bound across images.
 */
#define MACOS_BOUND(type, name, sym)                                           \
	extern type name[] __asm(sym) __attribute__((visibility("hidden")))
MACOS_BOUND(struct jump_entry, macos_entries_start,
	    "section$start$__DATA$__static_keys");
MACOS_BOUND(struct jump_entry, macos_entries_stop,
	    "section$end$__DATA$__static_keys");
MACOS_BOUND(struct static_key, macos_keys_start,
	    "section$start$__DATA$__static_keys_t");
MACOS_BOUND(struct static_key, macos_keys_stop,
	    "section$end$__DATA$__static_keys_t");

void os_sections(struct os_sections *out)
{
	struct jump_entry *es = macos_entries_start, *ee = macos_entries_stop;
	struct static_key *ks = macos_keys_start, *ke = macos_keys_stop;

	/* Launder the bounds: to the compiler they are distinct arrays. */
	__asm__("" : "+r"(es), "+r"(ee), "+r"(ks), "+r"(ke));
	out->entries_start = ee > es ? es : NULL;
	out->entries_stop = ee > es ? ee : NULL;
	out->keys_start = ke > ks ? ks : NULL;
	out->keys_stop = ke > ks ? ke : NULL;
}

/* No call makes copy-on-write pages private ahead of the writes: they
 * fault as the sort reaches them. */
void os_populate_write(void *start, size_t len)
{
	(void)start;
	(void)len;
}

/* ---- image --------------------------------------------------------------- */

/*
 * The Mach-O image holding this code (dladdr gives its header): readable
 * segments from its LC_SEGMENT_64 commands, moved by the image's slide
 * (header address - __TEXT's vmaddr); `text` is the executable one holding
 * this code, __TEXT (which also carries the header and __cstring).
 */
int os_image(struct os_image *out)
{
	uintptr_t self = (uintptr_t)os_image, slide = 0;
	const struct mach_header_64 *mh;
	const struct load_command *lc;
	Dl_info info;
	uint32_t i;
	int found = 0, pass;

	out->text.lo = out->text.hi = 0;
	out->nr_read = 0;
	if (!dladdr((const void *)self, &info) || !info.dli_fbase)
		return STATIC_KEYS_EINIT;
	mh = (const struct mach_header_64 *)info.dli_fbase;
	if (mh->magic != MH_MAGIC_64)
		return STATIC_KEYS_EINIT;
	/* pass 0: the segment mapping the header (__TEXT) gives the slide */
	for (pass = 0; pass < 2; pass++) {
		lc = (const struct load_command *)(mh + 1);
		for (i = 0; i < mh->ncmds; i++) {
			const struct segment_command_64 *sc =
				(const struct segment_command_64 *)lc;
			struct os_range r;

			lc = (const struct load_command *)((const char *)lc +
							   lc->cmdsize);
			if (sc->cmd != LC_SEGMENT_64 || !sc->vmsize)
				continue;
			if (pass == 0) {
				if (sc->fileoff == 0 && sc->filesize) {
					slide = (uintptr_t)mh - (uintptr_t)sc->vmaddr;
					break;
				}
				continue;
			}
			if (!(sc->initprot & VM_PROT_READ))
				continue;
			r.lo = (uintptr_t)sc->vmaddr + slide;
			r.hi = r.lo + (uintptr_t)sc->vmsize;
			if ((sc->initprot & VM_PROT_EXECUTE) &&
			    self - r.lo < r.hi - r.lo) {
				out->text = r;
				found = 1;
			}
			if (out->nr_read < OS_IMAGE_MAX)
				out->read[out->nr_read++] = r;
		}
	}
	return found ? 0 : STATIC_KEYS_EINIT;
}

/* ---- init ---------------------------------------------------------------- */

int os_init(struct os_caps *caps)
{
	size_t page = vm_page_size; /* 4 KiB on x86_64, 16 KiB on arm64 */

	if (!page || (page & (page - 1)))
		return STATIC_KEYS_EINIT;
	caps->name = "macos";
	caps->page_size = page;
	caps->strategies = (1u << STATIC_KEYS_STRATEGY_REMAP) |
			   (1u << STATIC_KEYS_STRATEGY_MPROTECT);
	caps->default_strategy = STATIC_KEYS_STRATEGY_REMAP;
	/*
	 * macOS offers no core synchronisation to user code (no membarrier
	 * SYNC_CORE, no FlushProcessWriteBuffers): mprotect stays unsafe for
	 * threads running the sites; remap swaps the range in one step.
	 */
	caps->swap_strategies = 1u << STATIC_KEYS_STRATEGY_REMAP;
	caps->inplace_strategies = 1u << STATIC_KEYS_STRATEGY_MPROTECT;
	caps->store_strategies = 1u << STATIC_KEYS_STRATEGY_MPROTECT;
	return 0;
}

int os_sync_core(struct os_patch *diag)
{
	diag->failed = "core synchronisation (none offered)";
	return STATIC_KEYS_EPATCH;
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

/* ---- threads ------------------------------------------------------------- */

/* The kernel's 64-bit thread id: unique for the life of the system. */
uintptr_t os_thread_id(void)
{
	uint64_t tid = 0;

	if (pthread_threadid_np(NULL, &tid) || !tid)
		return 1; /* cannot happen for the calling thread */
	return (uintptr_t)tid;
}

/* ---- symbols ------------------------------------------------------------- */

/*
 * dyld's dladdr names the nearest exported symbol at or below addr and
 * knows no sizes: a site in a hidden function after it gets its name.
 */
int os_symbolize(uintptr_t addr, struct os_symbol *out, char *name,
		 size_t name_cap, char *path, size_t path_cap)
{
	Dl_info info;
	const char *sym;

	if (!dladdr((const void *)addr, &info) || !info.dli_fbase)
		return STATIC_KEYS_ENOKEY;
	sym = info.dli_sname;
	out->base = (uintptr_t)info.dli_fbase;
	out->start = sym ? (uintptr_t)info.dli_saddr : 0;
	out->exact = sym && out->start == addr;
	out->name_len = os_symbol_copy(name, name_cap, sym);
	out->path_len = os_symbol_copy(path, path_cap, info.dli_fname);
	return 0;
}

void os_thread_yield(void)
{
	sched_yield();
}

/* No thread-exit hook here: ownership stays with the first owner. */
int os_thread_watch(uintptr_t *owner)
{
	(void)owner;
	return STATIC_KEYS_ENOTSUP;
}

/* ---- patching ------------------------------------------------------------ */

static int macos_fail(struct os_patch *p, const char *call, kern_return_t kr)
{
	p->failed = call;
	p->raw_error = kr;
	return STATIC_KEYS_EPATCH;
}

static int macos_patch_remap(struct os_patch *p)
{
	mach_vm_address_t copy = 0, target = p->start;
	vm_prot_t cur, max;
	const char *call;
	kern_return_t kr;

	p->syscalls++;
	kr = mach_vm_allocate(mach_task_self(), &copy, p->len,
			      VM_FLAGS_ANYWHERE);
	if (kr != KERN_SUCCESS)
		return macos_fail(p, "mach_vm_allocate", kr);
	__builtin_memcpy((void *)(uintptr_t)copy, (const void *)p->start,
			 p->len);
	p->fill(p->ctx, (uint8_t *)(uintptr_t)copy, p->start, p->len, 0);

	p->syscalls++;
	kr = mach_vm_protect(mach_task_self(), copy, p->len, 0, MACOS_RX);
	if (kr != KERN_SUCCESS) {
		call = "mach_vm_protect";
		goto out_deallocate;
	}
	/* Share the copy's pages at the original address, replacing it. */
	p->syscalls++;
	kr = mach_vm_remap(mach_task_self(), &target, p->len, 0,
			   VM_FLAGS_FIXED | VM_FLAGS_OVERWRITE,
			   mach_task_self(), copy, 0, &cur, &max,
			   VM_INHERIT_COPY);
	if (kr != KERN_SUCCESS || target != p->start) {
		call = "mach_vm_remap";
		goto out_deallocate;
	}
	p->syscalls++;
	mach_vm_deallocate(mach_task_self(), copy, p->len);
	sys_icache_invalidate((void *)p->start, p->len);
	return 0;

out_deallocate: /* the original was never touched */
	p->syscalls++;
	mach_vm_deallocate(mach_task_self(), copy, p->len);
	return macos_fail(p, call, kr);
}

static int macos_patch_mprotect(struct os_patch *p)
{
	kern_return_t kr;

	p->syscalls++;
	kr = mach_vm_protect(mach_task_self(), p->start, p->len, 0,
			     MACOS_RWX | VM_PROT_COPY);
	if (kr != KERN_SUCCESS)
		return macos_fail(p, "mach_vm_protect(rwx)", kr);
	p->fill(p->ctx, (uint8_t *)p->start, p->start, p->len, 0);
	sys_icache_invalidate((void *)p->start, p->len);
	p->syscalls++;
	kr = mach_vm_protect(mach_task_self(), p->start, p->len, 0, MACOS_RX);
	if (kr == KERN_SUCCESS)
		return 0;
	/* Cannot close the window: put the old bytes back, try once more. */
	p->fill(p->ctx, (uint8_t *)p->start, p->start, p->len, 1);
	sys_icache_invalidate((void *)p->start, p->len);
	p->syscalls++;
	mach_vm_protect(mach_task_self(), p->start, p->len, 0, MACOS_RX);
	return macos_fail(p, "mach_vm_protect(r-x)", kr);
}

/* Neither strategy needs anything set up beforehand. */
int os_prepare(int strategy, uintptr_t lo, uintptr_t hi, struct os_patch *diag)
{
	(void)lo;
	(void)hi;
	if (strategy == STATIC_KEYS_STRATEGY_REMAP ||
	    strategy == STATIC_KEYS_STRATEGY_MPROTECT)
		return 0;
	diag->failed = "strategy";
	diag->raw_error = strategy;
	return STATIC_KEYS_ENOTSUP;
}

int os_patch(struct os_patch *p)
{
	switch (p->strategy) {
	case STATIC_KEYS_STRATEGY_REMAP:
		return macos_patch_remap(p);
	case STATIC_KEYS_STRATEGY_MPROTECT:
		return macos_patch_mprotect(p);
	default:
		p->failed = "strategy";
		p->raw_error = p->strategy;
		return STATIC_KEYS_ENOTSUP;
	}
}

/* Nothing outlives the module here. */
void os_release(void)
{
}
