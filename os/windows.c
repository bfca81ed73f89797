/* SPDX-License-Identifier: MIT */
/*
 * windows.c - PE/COFF grouped sections, Win32 thread ids, and one way past
 * DEP/W^X:
 *
 *   mprotect  VirtualProtect the range to PAGE_EXECUTE_READWRITE, write,
 *             FlushInstructionCache, VirtualProtect back to exactly the
 *             protection each part of the range had (a brief rwx window;
 *             1 VirtualQuery + 2 VirtualProtect per protection region of
 *             the range, + 1 FlushInstructionCache)
 *
 * Windows has no mremap: a view of the image's pages cannot be swapped in
 * atomically, so there is no `remap` strategy here, and as with Linux's
 * mprotect the bytes change in place. Threads that execute a site while
 * its key flips are kept safe by the core's cross-modification protocol
 * (docs/concurrency.md): FlushProcessWriteBuffers interrupts every core
 * running a thread of the process (an interrupt serialises the core), and
 * on x86 a vectored exception handler sends a thread that meets the
 * protocol's breakpoint on. Compile-checked with mingw-w64, run under wine.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include "os.h"

/* Protection regions one patch may span; a run of text pages has one. */
#define WIN_MAX_REGIONS 8

/* ---- sections ------------------------------------------------------------ */

/*
 * The linker concatenates `.stks$a`, every object's `.stks$b`, then
 * `.stks$c` into one `.stks` output section, sorted by the text after `$`
 * (likewise `.stkt` for keys). The markers are empty and have the alignment
 * of the data (8, as the emitters and STATIC_KEYS_KEY_ATTRS ask), so the
 * end of `$a` is the first entry and the start of `$c` is one past the last.
 * They are static: each module (EXE or DLL) links its own copy of this file
 * and sees only its own sections. `used`, and referenced from os_sections,
 * keeps them through --gc-sections; the flags ("dw", writable data) match
 * the data's so the four contributions land in one output section.
 */
#define WIN_MARKER(type, name, sec)                                            \
	static type name[0]                                                    \
		__attribute__((used, aligned(8), section(sec)))
WIN_MARKER(struct jump_entry, win_entries_start, ".stks$a");
WIN_MARKER(struct jump_entry, win_entries_stop, ".stks$c");
WIN_MARKER(struct static_key, win_keys_start, ".stkt$a");
WIN_MARKER(struct static_key, win_keys_stop, ".stkt$c");

void os_sections(struct os_sections *out)
{
	struct jump_entry *es = win_entries_start, *ee = win_entries_stop;
	struct static_key *ks = win_keys_start, *ke = win_keys_stop;

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

/*
 * The key table must be dense: code holds keys by address, so unlike
 * entries they cannot be squeezed together. A linker that padded between
 * contributions would show up here as a length that is not a whole number
 * of keys, or as a key without a name (DEFINE_STATIC_KEY_* always sets one).
 */
static int win_keys_dense(void)
{
	struct os_sections s;
	struct static_key *k;
	uintptr_t bytes;

	os_sections(&s);
	if (!s.keys_start)
		return 1;
	bytes = (uintptr_t)s.keys_stop - (uintptr_t)s.keys_start;
	if (bytes % sizeof(struct static_key))
		return 0;
	for (k = s.keys_start; k < s.keys_stop; k++)
		if (!k->name)
			return 0;
	return 1;
}

/* ---- image --------------------------------------------------------------- */

/*
 * The PE image holding this code (its HMODULE is its base address): one
 * range per section of the section table, readable ones kept; `text` is
 * the executable section holding this code (.text).
 */
int os_image(struct os_image *out)
{
	DWORD flags = GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
		      GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT;
	uintptr_t self = (uintptr_t)os_image, base;
	const IMAGE_DOS_HEADER *dos;
	const IMAGE_NT_HEADERS *nt;
	const IMAGE_SECTION_HEADER *sh;
	HMODULE mod;
	WORD i;
	int found = 0;

	out->text.lo = out->text.hi = 0;
	out->nr_read = 0;
	if (!GetModuleHandleExA(flags, (LPCSTR)self, &mod))
		return STATIC_KEYS_EINIT;
	base = (uintptr_t)mod;
	dos = (const IMAGE_DOS_HEADER *)base;
	if (dos->e_magic != IMAGE_DOS_SIGNATURE)
		return STATIC_KEYS_EINIT;
	nt = (const IMAGE_NT_HEADERS *)(base + (uintptr_t)dos->e_lfanew);
	if (nt->Signature != IMAGE_NT_SIGNATURE)
		return STATIC_KEYS_EINIT;
	sh = IMAGE_FIRST_SECTION(nt);
	for (i = 0; i < nt->FileHeader.NumberOfSections; i++, sh++) {
		struct os_range r;

		if (!(sh->Characteristics & IMAGE_SCN_MEM_READ) ||
		    !sh->Misc.VirtualSize)
			continue;
		r.lo = base + sh->VirtualAddress;
		r.hi = r.lo + sh->Misc.VirtualSize;
		if ((sh->Characteristics & IMAGE_SCN_MEM_EXECUTE) &&
		    self - r.lo < r.hi - r.lo) {
			out->text = r;
			found = 1;
		}
		if (out->nr_read < OS_IMAGE_MAX)
			out->read[out->nr_read++] = r;
	}
	return found ? 0 : STATIC_KEYS_EINIT;
}

/* ---- init ---------------------------------------------------------------- */

int os_init(struct os_caps *caps)
{
	SYSTEM_INFO si;

	GetSystemInfo(&si);
	if (!si.dwPageSize || (si.dwPageSize & (si.dwPageSize - 1)))
		return STATIC_KEYS_EINIT;
	if (!win_keys_dense())
		return STATIC_KEYS_EINIT;
	caps->name = "windows";
	caps->page_size = si.dwPageSize;
	caps->strategies = 1u << STATIC_KEYS_STRATEGY_MPROTECT;
	caps->default_strategy = STATIC_KEYS_STRATEGY_MPROTECT;
	caps->inplace_strategies = 1u << STATIC_KEYS_STRATEGY_MPROTECT;
	caps->store_strategies = 1u << STATIC_KEYS_STRATEGY_MPROTECT;
	caps->sync_core = 1;
#if defined(_M_X64) || defined(_M_IX86) || defined(__x86_64__) || defined(__i386__)
	caps->traps = 1;
#endif
	return 0;
}

/* ---- cross-modification -------------------------------------------------- */

int os_sync_core(struct os_patch *diag)
{
	(void)diag;
	FlushProcessWriteBuffers();
	return 0;
}

static struct {
	os_trap_fn fn;
	void *ctx;
	PVOID handle;
} win_trap;

/*
 * First in the vectored chain; a breakpoint the core does not claim (a
 * debugger's, __debugbreak) goes on down the chain as if we were absent.
 */
static LONG CALLBACK win_trap_handler(PEXCEPTION_POINTERS ep)
{
	os_trap_fn fn = win_trap.fn;
	uintptr_t to;

	if (!fn || ep->ExceptionRecord->ExceptionCode != EXCEPTION_BREAKPOINT)
		return EXCEPTION_CONTINUE_SEARCH;
	/* the context's pc is the breakpoint itself here */
	to = fn(win_trap.ctx, (uintptr_t)ep->ExceptionRecord->ExceptionAddress, 0);
	if (!to)
		return EXCEPTION_CONTINUE_SEARCH;
#if defined(_M_X64) || defined(__x86_64__)
	ep->ContextRecord->Rip = to;
#elif defined(_M_IX86) || defined(__i386__)
	ep->ContextRecord->Eip = (DWORD)to;
#endif
	return EXCEPTION_CONTINUE_EXECUTION;
}

/* A vectored handler is removed wherever it is in the chain: no thunk. */
int os_trap_arm(os_trap_fn fn, void *ctx, os_thunk_fn thunk,
		struct os_patch *diag)
{
	(void)thunk;
	if (win_trap.handle)
		return 0;
	win_trap.ctx = ctx;
	win_trap.fn = fn;
	win_trap.handle = AddVectoredExceptionHandler(1, win_trap_handler);
	if (win_trap.handle)
		return 0;
	diag->failed = "AddVectoredExceptionHandler";
	diag->raw_error = (long)GetLastError();
	return STATIC_KEYS_EPATCH;
}

/* ---- threads ------------------------------------------------------------- */

/* A per-module counter: GetCurrentThreadId() values are reused. */
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
	SwitchToThread();
}

/* No thread-exit hook here: ownership stays with the first owner. */
int os_thread_watch(uintptr_t *owner)
{
	(void)owner;
	return STATIC_KEYS_ENOTSUP;
}

/* ---- symbols ------------------------------------------------------------- */

/* Copies at most cap bytes of src[0..n) and returns n. */
static size_t win_copy(char *dst, size_t cap, const char *src, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < cap; i++)
		dst[i] = src[i];
	return n;
}

/*
 * A best effort: the image from GetModuleHandleEx, and the nearest
 * exported function at or below addr from its export directory (exports
 * have no size, so a site in a function that is not exported gets the
 * name of the export before it; `exact` says so).
 */
static const char *win_nearest_export(const uint8_t *base, uintptr_t rva,
				      uintptr_t *start)
{
	const IMAGE_DOS_HEADER *dos = (const IMAGE_DOS_HEADER *)base;
	const IMAGE_NT_HEADERS *nt;
	const IMAGE_DATA_DIRECTORY *dir;
	const IMAGE_EXPORT_DIRECTORY *exp;
	const DWORD *funcs, *names;
	const WORD *ordinals;
	const char *best = NULL;
	DWORD i;

	if (dos->e_magic != IMAGE_DOS_SIGNATURE)
		return NULL;
	nt = (const IMAGE_NT_HEADERS *)(base + dos->e_lfanew);
	dir = &nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_EXPORT];
	if (nt->Signature != IMAGE_NT_SIGNATURE || !dir->VirtualAddress)
		return NULL;
	exp = (const IMAGE_EXPORT_DIRECTORY *)(base + dir->VirtualAddress);
	funcs = (const DWORD *)(base + exp->AddressOfFunctions);
	names = (const DWORD *)(base + exp->AddressOfNames);
	ordinals = (const WORD *)(base + exp->AddressOfNameOrdinals);
	for (i = 0; i < exp->NumberOfNames; i++) {
		DWORD f = funcs[ordinals[i]];

		if (f >= dir->VirtualAddress &&
		    f < dir->VirtualAddress + dir->Size)
			continue; /* a forwarder, not code */
		if (f <= rva && (!best || f > *start)) {
			best = (const char *)(base + names[i]);
			*start = f;
		}
	}
	return best;
}

int os_symbolize(uintptr_t addr, struct os_symbol *out, char *name,
		 size_t name_cap, char *path, size_t path_cap)
{
	HMODULE mod;
	char file[1024];
	DWORD n;
	const char *sym;
	uintptr_t start = 0;
	size_t len = 0;

	if (!GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
				       GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
			       (LPCSTR)addr, &mod))
		return STATIC_KEYS_ENOKEY;
	n = GetModuleFileNameA(mod, file, sizeof(file));
	out->base = (uintptr_t)mod;
	sym = win_nearest_export((const uint8_t *)mod, addr - out->base, &start);
	out->start = sym ? out->base + start : 0;
	out->exact = sym && out->start == addr;
	while (sym && sym[len])
		len++;
	out->name_len = win_copy(name, name_cap, sym, len);
	out->path_len = win_copy(path, path_cap, file, n < sizeof(file) ? n : 0);
	return 0;
}

/* ---- patching ------------------------------------------------------------ */

/* One part of the range with a single protection before the patch. */
struct win_region {
	uintptr_t start;
	size_t len;
	DWORD old;
};

static int win_fail(struct os_patch *p, const char *call, DWORD err)
{
	p->failed = call;
	p->raw_error = (long)err;
	return STATIC_KEYS_EPATCH;
}

/*
 * Splits [p->start, p->start + p->len) into regions of one protection
 * each (VirtualProtect reports only the first page's old protection, and
 * we restore exactly what was there). Returns the count, or 0 on failure.
 */
static size_t win_query(struct os_patch *p, struct win_region *r)
{
	uintptr_t at = p->start, end = p->start + p->len;
	size_t n = 0;

	while (at < end) {
		MEMORY_BASIC_INFORMATION mbi;
		uintptr_t stop;

		p->syscalls++;
		if (!VirtualQuery((const void *)at, &mbi, sizeof mbi)) {
			win_fail(p, "VirtualQuery", GetLastError());
			return 0;
		}
		if (mbi.State != MEM_COMMIT || n == WIN_MAX_REGIONS) {
			win_fail(p, "VirtualQuery", ERROR_INVALID_ADDRESS);
			return 0;
		}
		stop = (uintptr_t)mbi.BaseAddress + mbi.RegionSize;
		if (stop > end)
			stop = end;
		r[n].start = at;
		r[n].len = stop - at;
		r[n].old = mbi.Protect;
		n++;
		at = stop;
	}
	return n;
}

/* Puts back the old protection of regions [0, n); 0 or the first error. */
static DWORD win_restore(struct os_patch *p, const struct win_region *r,
			 size_t n)
{
	DWORD err = 0, dummy;
	size_t i;

	for (i = 0; i < n; i++) {
		p->syscalls++;
		if (!VirtualProtect((void *)r[i].start, r[i].len, r[i].old,
				    &dummy) &&
		    !err)
			err = GetLastError();
	}
	return err;
}

static int win_patch_mprotect(struct os_patch *p)
{
	struct win_region r[WIN_MAX_REGIONS];
	size_t n, i;
	DWORD err;

	n = win_query(p, r);
	if (!n)
		return STATIC_KEYS_EPATCH;
	for (i = 0; i < n; i++) {
		DWORD old;

		p->syscalls++;
		if (!VirtualProtect((void *)r[i].start, r[i].len,
				    PAGE_EXECUTE_READWRITE, &old)) {
			err = GetLastError();
			win_restore(p, r, i); /* nothing was written */
			return win_fail(p, "VirtualProtect(rwx)", err);
		}
	}
	p->fill(p->ctx, (uint8_t *)p->start, p->start, p->len, 0);
	p->syscalls++;
	FlushInstructionCache(GetCurrentProcess(), (void *)p->start, p->len);
	err = win_restore(p, r, n);
	if (!err)
		return 0;
	/* Cannot close the window: put the old bytes back, try once more. */
	p->fill(p->ctx, (uint8_t *)p->start, p->start, p->len, 1);
	p->syscalls++;
	FlushInstructionCache(GetCurrentProcess(), (void *)p->start, p->len);
	win_restore(p, r, n);
	return win_fail(p, "VirtualProtect(restore)", err);
}

/* mprotect needs nothing set up beforehand. */
int os_prepare(int strategy, uintptr_t lo, uintptr_t hi, struct os_patch *diag)
{
	(void)lo;
	(void)hi;
	if (strategy == STATIC_KEYS_STRATEGY_MPROTECT)
		return 0;
	diag->failed = "strategy";
	diag->raw_error = strategy;
	return STATIC_KEYS_ENOTSUP;
}

int os_patch(struct os_patch *p)
{
	switch (p->strategy) {
	case STATIC_KEYS_STRATEGY_MPROTECT:
		return win_patch_mprotect(p);
	default:
		p->failed = "strategy";
		p->raw_error = p->strategy;
		return STATIC_KEYS_ENOTSUP;
	}
}

/* Only the trap handler outlives a flip here. */
void os_release(void)
{
	if (win_trap.handle)
		RemoveVectoredExceptionHandler(win_trap.handle);
	win_trap.handle = NULL;
	win_trap.fn = NULL;
}
