/* SPDX-License-Identifier: MIT */
/*
 * static_keys.h - Linux-kernel static keys for userland C.
 *
 * A static key guards a rarely-changed feature. Where code tests it, the
 * compiler emits one `nop` or one `jmp` of the same length and nothing else:
 * no load, no compare, no conditional jump. Flipping the key rewrites every
 * such site in the running module. Tests cost nothing; flips are slow on
 * purpose (a few syscalls per run of contiguous pages), so flip rarely.
 *
 * Usage, with the kernel's names:
 *
 *   DEFINE_STATIC_KEY_FALSE(tracing);        // one translation unit
 *   DECLARE_STATIC_KEY_FALSE(tracing);       // the others
 *
 *   if (static_branch_unlikely(&tracing))    // laid out off the hot path
 *           trace_event(...);
 *   if (static_branch_likely(&checks))       // laid out inline
 *           check_invariants(...);
 *
 *   static_branch_enable(&tracing);          // 0, or a STATIC_KEYS_E* code
 *   static_branch_inc(&tracing);             // enabled while count > 0
 *   static_branch_dec(&tracing);
 *   static_key_enabled(&tracing);            // current state
 *
 * Cost model: the test is one instruction; a flip validates every site of
 * the key, then patches each touched page once (see docs/design.md, "A
 * request, step by step"). Use keys for switches that change a handful of
 * times per run.
 *
 * Scope: a key belongs to the module (executable or shared library) that
 * defines it, and its sites must be in that module. Each module carries its
 * own copy of the core, finds only its own entries and keys, and records the
 * first thread that initialises it or changes its state as the only one
 * allowed to change it while that thread lives (reading takes no ownership).
 *
 * Which instruction a site holds (the kernel's truth table, kept only here):
 * `type` is the key's initial state (TRUE key = 1), `branch` is 1 for
 * static_branch_likely and 0 for static_branch_unlikely, `enabled` is the
 * key's current state.
 *
 *   enabled type branch | instruction
 *   --------------------+------------
 *      0     0     0    | NOP
 *      0     0     1    | JMP
 *      0     1     0    | NOP
 *      0     1     1    | JMP
 *      1     0     0    | JMP
 *      1     0     1    | NOP
 *      1     1     0    | JMP
 *      1     1     1    | NOP
 *
 *   at run time:   instruction = enabled ^ branch   (1 = JMP)
 *   at build time: instruction = type ^ branch
 *
 * For static_branch_unlikely the fall-through (NOP) path returns false and
 * the jump target returns true; static_branch_likely inverts both, so its
 * inline path is the one taken while the key holds its likely value.
 *
 * `enabled` is always the state the code has. Unpinned, it is count > 0
 * (enable from 0 sets the count to 1, disable sets it to 0, inc/dec move
 * it). A pinned key (static_key_pin below) has its pin's state whatever its
 * count says, and takes the count's state again when the pin is lifted.
 */
#ifndef STATIC_KEYS_H
#define STATIC_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define STATIC_KEYS_VERSION_MAJOR 0
#define STATIC_KEYS_VERSION_MINOR 1
#define STATIC_KEYS_VERSION_PATCH 0
#define STATIC_KEYS_VERSION "0.1.0"

/* Version of the C ABI in native/ffi.c; bumped on any incompatible change. */
#define STATIC_KEYS_ABI_VERSION 2

/* Section names and entry layout of this object format (macros only). */
#include "os/os_sections.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status codes ------------------------------------------------------ */

#define STATIC_KEYS_OK 0
#define STATIC_KEYS_EINVAL (-1)   /* bad argument */
#define STATIC_KEYS_ENOKEY (-2)   /* no key of that name or index */
#define STATIC_KEYS_ETHREAD (-3)  /* flip from a thread that did not init */
#define STATIC_KEYS_EBADSITE (-4) /* a site does not hold the bytes expected */
#define STATIC_KEYS_ERANGE (-5)   /* a jump target is out of the arch's reach */
#define STATIC_KEYS_EPATCH (-6)   /* the OS refused to rewrite a page */
#define STATIC_KEYS_ENOTSUP (-7)  /* strategy not available here */
#define STATIC_KEYS_ECOUNT (-8)   /* inc overflow, or dec of a zero count */
#define STATIC_KEYS_EINIT (-9)    /* the module's tables are corrupt */
#define STATIC_KEYS_EBUSY (-10)   /* a call that changes state is running */
#define STATIC_KEYS_EWX (-11)     /* a page was left writable and executable */
#define STATIC_KEYS_ECODE_MIN STATIC_KEYS_EWX

/* ---- patch strategies (docs/design.md, "Strategies") ------------------ */

/*
 * DEFAULT is the OS layer's pick: a strategy that keeps W^X and is safe
 * while other threads run the sites, and changes the process least
 * (docs/strategies.md says why; it is not chosen for speed). Linux x86: PROCMEM with the
 * cross-modification protocol where membarrier can synchronise cores, else
 * REMAP; Linux aarch64/riscv64 and macOS: REMAP; Windows: MPROTECT.
 */
#define STATIC_KEYS_STRATEGY_DEFAULT 0  /* the OS layer's pick (above) */
#define STATIC_KEYS_STRATEGY_REMAP 1    /* patch a copy, swap it in */
#define STATIC_KEYS_STRATEGY_MPROTECT 2 /* brief rwx window */
#define STATIC_KEYS_STRATEGY_ALIAS 3    /* store through an rw alias */
#define STATIC_KEYS_STRATEGY_DIRECT 4   /* text is writable (bare metal) */
#define STATIC_KEYS_STRATEGY_PROCMEM 5  /* kernel's forced write (Linux) */
#define STATIC_KEYS_STRATEGY_COUNT 6

/* ---- visibility --------------------------------------------------------- */

/*
 * Keys and the C API are hidden: each module binds to its own copy, and a
 * site's PC-relative reference to its key needs no dynamic relocation. Only
 * the Deno ABI (static_keys_ffi_*) is exported.
 */
#if defined(_WIN32) || defined(__CYGWIN__)
#define STATIC_KEYS_LOCAL
#define STATIC_KEYS_EXPORT __declspec(dllexport)
#else
#define STATIC_KEYS_LOCAL __attribute__((visibility("hidden")))
#define STATIC_KEYS_EXPORT __attribute__((visibility("default")))
#endif

/* ---- data layout (docs/design.md, "Data layout") ---------------------- */

/*
 * One record per site, written by the assembler. Fields are relative to
 * themselves so they need no relocation: code and target as 32-bit offsets,
 * key as a pointer-sized offset whose low bit is the branch (1 = likely).
 * Where the object format has no 64-bit PC-relative relocation (PE/COFF,
 * see os/os_sections.h) the key offset is 32 bits followed by 4 zero bytes:
 * still 16 bytes, still relative. Where the assembler cannot subtract an
 * undefined key (x86_64 Mach-O), the key is an absolute pointer the loader
 * rebases (STATIC_KEYS_ENTRY_KEY_ABS). Read through the accessors in
 * native/core.h only.
 */
struct jump_entry {
	int32_t code;
	int32_t target;
#ifdef STATIC_KEYS_ENTRY_KEY_REL32
	int32_t key;
	int32_t key_pad; /* always 0 */
#else
	intptr_t key;
#endif
};

/*
 * A key. Define it with DEFINE_STATIC_KEY_*; never write its fields.
 * `entries` and `sites` are filled by init (until then `entries` holds the
 * link guard below); `count` is the enable count; `pin` is
 * STATIC_KEY_PIN_*; `flags`, `cursor` and `next_count` are the core's
 * bookkeeping during one update. The size is a multiple of 8 on every
 * target: keys are 8-aligned in their section and walked by size.
 */
struct static_key {
	const char *name;
	struct jump_entry *entries;
	uint32_t sites;
	int32_t count;
	uint8_t type;
	uint8_t enabled;
	uint8_t pin;
	uint8_t flags;
	uint32_t cursor;
	int32_t next_count;
	uint32_t reserved; /* 0 as defined; the core's own after init */
};

/* What static_key_pinned() returns. */
#define STATIC_KEY_PIN_NONE 0 /* not pinned: the count decides */
#define STATIC_KEY_PIN_OFF 1  /* forced off */
#define STATIC_KEY_PIN_ON 2   /* forced on */

struct static_key_true {
	struct static_key key;
};
struct static_key_false {
	struct static_key key;
};

#ifdef __cplusplus
} /* extern "C" */
#endif

#include "arch/arch.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The link guard. Every key refers to this symbol, which only the core's
 * Deno ABI (native/ffi.c) defines, so linking the core as a plain archive
 * pulls that ABI into the module, and a module that has keys but not the
 * core fails to link, naming what to do. Hidden: a shared library cannot
 * leave it for the loader to find elsewhere.
 */
#define STATIC_KEYS_CORE_GUARD                                                 \
	static_keys_core_missing__link_libstatic_keys_core_after_your_objects
extern STATIC_KEYS_LOCAL struct jump_entry STATIC_KEYS_CORE_GUARD[];

#define STATIC_KEY_INIT_NAMED(nm, initial)                                     \
	{ (nm), STATIC_KEYS_CORE_GUARD, 0, (initial), (initial), (initial),    \
	  0, 0, 0, 0, 0 }

/* Keys live in the key section so a key without sites is still listed. */
#define STATIC_KEYS_KEY_ATTRS                                                  \
	STATIC_KEYS_LOCAL STATIC_KEYS_KEY_SECTION __attribute__((aligned(8)))

#define DEFINE_STATIC_KEY_TRUE(name)                                           \
	STATIC_KEYS_KEY_ATTRS struct static_key_true name = {                  \
		STATIC_KEY_INIT_NAMED(#name, 1)}
#define DEFINE_STATIC_KEY_FALSE(name)                                          \
	STATIC_KEYS_KEY_ATTRS struct static_key_false name = {                 \
		STATIC_KEY_INIT_NAMED(#name, 0)}
/* The same, with a name for Deno other than the C identifier. */
#define DEFINE_STATIC_KEY_TRUE_NAMED(name, str)                                \
	STATIC_KEYS_KEY_ATTRS struct static_key_true name = {                  \
		STATIC_KEY_INIT_NAMED(str, 1)}
#define DEFINE_STATIC_KEY_FALSE_NAMED(name, str)                               \
	STATIC_KEYS_KEY_ATTRS struct static_key_false name = {                 \
		STATIC_KEY_INIT_NAMED(str, 0)}
#define DECLARE_STATIC_KEY_TRUE(name)                                          \
	extern STATIC_KEYS_LOCAL struct static_key_true name
#define DECLARE_STATIC_KEY_FALSE(name)                                         \
	extern STATIC_KEYS_LOCAL struct static_key_false name

/* ---- branches ----------------------------------------------------------- */

/*
 * ARCH_STATIC_BRANCH(key, branch) emits a NOP site and evaluates to 0 on
 * the fall-through path, 1 at the jump target; ARCH_STATIC_BRANCH_JUMP
 * emits a JMP site. Which one a branch starts with is type ^ branch, where
 * the type is 1 for static_key_true, 0 for static_key_false; any other
 * argument is a compile error, as in the kernel.
 */
#ifndef __cplusplus
#define STATIC_KEYS_TYPE(x)                                                    \
	_Generic((x), struct static_key_true *: 1,                             \
		 struct static_key_false *: 0)

#define STATIC_KEYS_SITE(key, type, branch)                                    \
	__builtin_choose_expr((type) ^ (branch),                               \
			      ARCH_STATIC_BRANCH_JUMP(key, branch),            \
			      ARCH_STATIC_BRANCH(key, branch))

#define static_branch_likely(x)                                                \
	__builtin_expect(!STATIC_KEYS_SITE(&(x)->key, STATIC_KEYS_TYPE(x), 1), 1)
#define static_branch_unlikely(x)                                              \
	__builtin_expect(STATIC_KEYS_SITE(&(x)->key, STATIC_KEYS_TYPE(x), 0), 0)
#else
/*
 * C++ (11 or later) has neither _Generic nor __builtin_choose_expr, and a
 * constant `?:` still emits both sites at -O0. A specialisation picks the
 * emitter instead, with the key as a template argument so the asm gets a
 * constant at any optimisation level; always_inline puts the one site into
 * the caller, as the C macro does, and no out-of-line copy is left.
 */
extern "C++" {
template <class P> struct static_keys_cxx_type; /* not a key: error */
template <> struct static_keys_cxx_type<struct static_key_true *> {
	enum { value = 1 };
};
template <> struct static_keys_cxx_type<struct static_key_false *> {
	enum { value = 0 };
};

template <int Jump> struct static_keys_cxx_site;
template <> struct static_keys_cxx_site<0> {
	template <class P, P K, int Branch>
	static inline __attribute__((always_inline)) int at()
	{
		return ARCH_STATIC_BRANCH(&K->key, Branch);
	}
};
template <> struct static_keys_cxx_site<1> {
	template <class P, P K, int Branch>
	static inline __attribute__((always_inline)) int at()
	{
		return ARCH_STATIC_BRANCH_JUMP(&K->key, Branch);
	}
};
} /* extern "C++" */

#define STATIC_KEYS_TYPE(x) (static_keys_cxx_type<decltype(x)>::value)
#define STATIC_KEYS_SITE_CXX(x, branch)                                        \
	(static_keys_cxx_site<STATIC_KEYS_TYPE(x) ^ (branch)>::template at<    \
		decltype(x), (x), (branch)>())

#define static_branch_likely(x)                                                \
	__builtin_expect(!STATIC_KEYS_SITE_CXX(x, 1), 1)
#define static_branch_unlikely(x)                                              \
	__builtin_expect(STATIC_KEYS_SITE_CXX(x, 0), 0)
#endif

/* ---- flipping (each returns 0 or a negative STATIC_KEYS_E* code) -------- */
/*
 * Every call that changes state (these, static_keys_update, the strategy,
 * repair) returns STATIC_KEYS_EBUSY and changes nothing when another runs
 * on the same thread, i.e. from a signal handler that interrupted it.
 */

STATIC_KEYS_LOCAL int static_key_enable(struct static_key *key);
STATIC_KEYS_LOCAL int static_key_disable(struct static_key *key);
STATIC_KEYS_LOCAL int static_key_set(struct static_key *key, int enabled);
/* inc/dec count like the kernel's: the key is enabled while count > 0. */
STATIC_KEYS_LOCAL int static_key_slow_inc(struct static_key *key);
STATIC_KEYS_LOCAL int static_key_slow_dec(struct static_key *key);

#define static_branch_enable(x) static_key_enable(&(x)->key)
#define static_branch_disable(x) static_key_disable(&(x)->key)
#define static_branch_inc(x) static_key_slow_inc(&(x)->key)
#define static_branch_dec(x) static_key_slow_dec(&(x)->key)
#define static_key_enabled(x)                                                  \
	((int)__atomic_load_n(&(x)->key.enabled, __ATOMIC_RELAXED))
#define static_key_count(x)                                                    \
	((int)__atomic_load_n(&(x)->key.count, __ATOMIC_RELAXED))

/*
 * Pins: an operator's override. A pinned key has the pin's state, whatever
 * local code does, until the pin is lifted:
 *
 *   static_key_pin(key, on)  forces the key on (or off): its sites are
 *                            patched now if they need it; 0 or a code. A
 *                            pinned key may be pinned again to either state.
 *   static_key_unpin(key)    lifts the pin: the key takes the state its
 *                            count says (count > 0), patched now if needed;
 *                            0 (also when it was not pinned) or a code.
 *   static_key_pinned(x)     STATIC_KEY_PIN_NONE, _OFF or _ON.
 *
 * On a pinned key, enable/disable/set, inc/dec and static_keys_update are
 * counted exactly as on an unpinned one and return what they would return
 * there (0; ECOUNT for a dec of a zero count or an inc past INT32_MAX,
 * which change nothing), but patch nothing: static_key_count() is the
 * holders' count (enable from 0 makes it 1, disable makes it 0), and
 * static_key_enabled() stays the pin's state, which is what the code does.
 * The sites always hold the instruction of static_key_enabled() (the truth
 * table above). A failed pin or unpin changes nothing: no byte, no pin.
 */
STATIC_KEYS_LOCAL int static_key_pin(struct static_key *key, int enabled);
STATIC_KEYS_LOCAL int static_key_unpin(struct static_key *key);

#define static_branch_pin(x, on) static_key_pin(&(x)->key, (on))
#define static_branch_unpin(x) static_key_unpin(&(x)->key)
#define static_key_pinned(x)                                                   \
	((int)__atomic_load_n(&(x)->key.pin, __ATOMIC_RELAXED))

/*
 * Several keys in one all-or-nothing request: every site of every key is
 * checked first, each touched page is patched once, and a failure restores
 * what was patched. A key may appear twice only with the same state.
 */
struct static_key_change {
	struct static_key *key;
	int enabled;
};
STATIC_KEYS_LOCAL int static_keys_update(const struct static_key_change *changes,
					 size_t count);

/*
 * Counts, sets and pins of several keys in one all-or-nothing request. The
 * ops apply in order, as if made one after the other (a key may appear in
 * several), with one exception kept from static_keys_update: a request
 * that sets one key both on and off is refused. Each key's resulting
 * count, pin and state are computed first; any error (a key not of this
 * module, an unknown op, a dec below 0, an inc past INT32_MAX, the set
 * conflict) refuses the whole request before any byte is written, with
 * STATIC_KEYS_EINVAL or STATIC_KEYS_ECOUNT and the last-error text naming
 * the op. Then the keys whose state changes are patched as one request
 * (each touched page once; stats.requests counts it once) and the counts,
 * pins and states are published together. On failure nothing changed: no
 * byte, no count, no pin.
 */
#define STATIC_KEY_OP_SET 0   /* arg: the state (as static_key_set) */
#define STATIC_KEY_OP_INC 1   /* as static_key_slow_inc; arg unused */
#define STATIC_KEY_OP_DEC 2   /* as static_key_slow_dec; arg unused */
#define STATIC_KEY_OP_PIN 3   /* arg: the state to force (static_key_pin) */
#define STATIC_KEY_OP_UNPIN 4 /* as static_key_unpin; arg unused */

struct static_key_op {
	struct static_key *key;
	int32_t op;  /* STATIC_KEY_OP_* */
	int32_t arg; /* 0 or 1 for SET and PIN */
};
STATIC_KEYS_LOCAL int static_keys_apply(const struct static_key_op *ops,
					size_t count);

/* ---- sites as data -------------------------------------------------------- */

/* Which instruction a site holds (struct static_key_site, insn/expected). */
#define STATIC_KEYS_INSN_NOP 0   /* the arch's nop: falls through */
#define STATIC_KEYS_INSN_JMP 1   /* the arch's jmp to the site's target */
#define STATIC_KEYS_INSN_OTHER 2 /* neither: something else rewrote it */

#define STATIC_KEYS_SITE_BYTES 8 /* room for one site on every arch */

/*
 * One site, as static_key_sites reads it. `insn` comes from comparing the
 * bytes at `code` with what the arch layer writes there for a nop and for
 * a jmp to `target`; `expected` is what the key's current state asks for
 * (enabled ^ likely, the truth table above).
 */
struct static_key_site {
	uintptr_t code;   /* address of the instruction */
	uintptr_t target; /* where its jmp goes */
	uint8_t likely;   /* 1: static_branch_likely, 0: _unlikely */
	uint8_t insn;     /* STATIC_KEYS_INSN_* found at `code` now */
	uint8_t expected; /* STATIC_KEYS_INSN_NOP or _JMP */
	uint8_t size;     /* bytes of the instruction; bytes[size..] are 0 */
	uint8_t bytes[STATIC_KEYS_SITE_BYTES]; /* the bytes at `code` now */
};

/*
 * Walks the sites of `key` in address order: copies sites first,
 * first + 1, ... into out[0..cap) and returns how many sites the key has
 * in all (so cap = 0 asks for the count). Negative STATIC_KEYS_E* code if
 * `key` is not one of this module's keys or init failed. Reads only.
 */
STATIC_KEYS_LOCAL int static_key_sites(const struct static_key *key,
				       size_t first,
				       struct static_key_site *out, size_t cap);
/*
 * Verify and repair: checks every site of every key against the key's
 * state. A site that holds the other instruction (left by a rollback that
 * failed) is rewritten, through the strategy in use and all or nothing, as
 * a flip is. A site that holds neither instruction is never overwritten:
 * something else owns those bytes now (a debugger's or uprobe's int3,
 * another patcher), and the kernel refuses such a site too; it is counted
 * in `unknown` and the call returns STATIC_KEYS_EBADSITE after repairing
 * the others, the last-error text naming the first one.
 *
 * `total` (may be NULL) gets the sums; per_key[i] (NULL, or `count`
 * entries) gets key i's counts in table order. On a failed patch nothing
 * was rewritten and `rewritten` is 0 everywhere.
 */
struct static_keys_repair_report {
	uint32_t sites;     /* sites checked */
	uint32_t rewritten; /* held the other instruction; now agree */
	uint32_t unknown;   /* held neither instruction; left as they were */
};
STATIC_KEYS_LOCAL int static_keys_repair(struct static_keys_repair_report *total,
					 struct static_keys_repair_report *per_key,
					 size_t count);

/* ---- module ------------------------------------------------------------- */

/*
 * Sorts this module's entries and records the calling thread as the only
 * one allowed to flip its keys, if no thread is yet. Idempotent; the first
 * flip calls it too. Reading (count, at, find, stats) runs init but takes
 * no ownership. Ownership stays with that thread until it exits (Linux;
 * elsewhere for the module's life); then the next thread to flip takes it.
 */
STATIC_KEYS_LOCAL int static_keys_init(void);

/* A sentence for every status code (never NULL). */
STATIC_KEYS_LOCAL const char *static_keys_strerror(int code);

/* Detail of the last failure on the owning thread ("" if none). */
STATIC_KEYS_LOCAL const char *static_keys_last_error(void);

/* Keys of this module in table order; NULL past the end. */
STATIC_KEYS_LOCAL size_t static_keys_count(void);
STATIC_KEYS_LOCAL struct static_key *static_keys_at(size_t index);
STATIC_KEYS_LOCAL struct static_key *static_keys_find(const char *name);

/* Picks how pages are rewritten; ENOTSUP if this OS lacks it. */
STATIC_KEYS_LOCAL int static_keys_set_strategy(int strategy);
STATIC_KEYS_LOCAL const char *static_keys_strategy_name(int strategy);

struct static_keys_stats {
	uint32_t strategy;      /* STATIC_KEYS_STRATEGY_* in use */
	uint32_t strategies;    /* bit 1 << id for each one available */
	uint32_t keys;          /* keys in the module */
	uint32_t entries;       /* sites in the module */
	uint64_t page_size;     /* bytes */
	uint64_t flips;         /* key state changes */
	uint64_t requests;      /* updates that patched at least one page */
	uint64_t pages_patched; /* pages rewritten, counted once per request */
	uint64_t syscalls;      /* made by the strategy while patching */
	uint64_t last_pages;    /* pages of the last request that patched */
	uint64_t last_syscalls; /* syscalls of the last request that patched */
	uint64_t runs;          /* os patches: runs of contiguous pages */
	uint64_t last_runs;     /* runs of the last request that patched */
	/*
	 * Threads that execute sites while a flip runs (docs/concurrency.md):
	 * `concurrent` has bit 1 << id for each strategy that is safe for
	 * them on this system, `protocol` for each that runs the
	 * cross-modification protocol here (x86: two passes and one core
	 * synchronisation per request, three and two when a site's bytes
	 * after the first change; 4-byte ISAs: one). Strategies not in
	 * `concurrent` work, but only while no other thread runs a site.
	 */
	uint32_t concurrent;
	uint32_t protocol;
	uint64_t core_syncs; /* core synchronisations made (membarrier) */
	uint64_t traps;      /* threads sent on from a site's breakpoint */
};
STATIC_KEYS_LOCAL int static_keys_get_stats(struct static_keys_stats *out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* STATIC_KEYS_H */
