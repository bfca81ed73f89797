/* SPDX-License-Identifier: MIT */
/*
 * core.h - internals shared by the native sources and the C tests; not installed.
 * The module state, jump entry accessors and the last-error builder.
 */
#ifndef STATIC_KEYS_CORE_H
#define STATIC_KEYS_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "os/os.h"
#include "static_keys.h"

/* the library's namespace, as in os/os.h */
#define module_ready     static_keys__module_ready
#define module_enter     static_keys__module_enter
#define module_lock      static_keys__module_lock
#define module_unlock    static_keys__module_unlock
#define module_key_valid static_keys__module_key_valid
#define tables_init      static_keys__tables_init
#define update_patch     static_keys__update_patch
#define update_unmark    static_keys__update_unmark
#define update_caps      static_keys__update_caps
#define err_begin        static_keys__err_begin
#define err_str          static_keys__err_str
#define err_u64          static_keys__err_u64
#define err_i64          static_keys__err_i64
#define err_hex          static_keys__err_hex
#define err_bytes        static_keys__err_bytes
#define err_clear        static_keys__err_clear
#define err_set          static_keys__err_set

/* key->flags during one update */
#define KEY_FLAG_PENDING 0x1u /* in the current request */
#define KEY_FLAG_TARGET 0x2u  /* the state the request asks for */
#define KEY_FLAG_REPAIR 0x4u  /* repair: rewrite the marked sites only */

/* room for a failed rollback's text: what failed, and what was read back */
#define STATIC_KEYS_ERRBUF 1024

enum module_init { MODULE_NEW = 0, MODULE_READY = 2 };

/* One per module: the core is linked into each module on its own. */
struct module {
	struct os_caps caps;
	struct os_sections sec;
	size_t nr_entries;
	size_t nr_keys;
	int init;        /* enum module_init, atomic */
	int init_status; /* result of the last init attempt */
	uintptr_t setup_thread; /* the thread running init (atomic) */
	uintptr_t owner; /* thread allowed to flip: 0 until init or a flip */
	int strategy;
	int default_strategy; /* what STATIC_KEYS_STRATEGY_DEFAULT means here */
	int protocol;    /* atomic: 0, or a request's protocol runs: 1 towards
			  * the new states, 2 back to the old (rollback) */
	int trap_inflight; /* atomic: trap handlers reading the request */
	int busy;        /* a state-changing call is running (re-entry guard) */
	int fault_at;    /* tests only: n > 0 makes the n-th os_patch fail */
	int fault_rollback; /* tests only: 1, the rollback's os_patch calls get
			     * os_patch.fault (the strategy's calls fail, its
			     * fallback may still restore); 2, every os_patch
			     * of a rollback fails before reaching the OS */
	int prepared;    /* os_prepare ran for the strategy in use */
	void (*patch_hook)(void); /* tests only: called before each os_patch */
	void (*setup_hook)(void); /* tests only: called at the end of init */
	struct static_keys_stats stats;
	char last_error[STATIC_KEYS_ERRBUF];
};

STATIC_KEYS_LOCAL extern struct module static_keys_mod;

/* ---- jump entry accessors (the only way native/ reads an entry) -------- */

static inline uintptr_t jump_entry_code(const struct jump_entry *e)
{
	return (uintptr_t)&e->code + (uintptr_t)(intptr_t)e->code;
}

static inline uintptr_t jump_entry_target(const struct jump_entry *e)
{
	return (uintptr_t)&e->target + (uintptr_t)(intptr_t)e->target;
}

static inline uintptr_t jump_entry_key_raw(const struct jump_entry *e)
{
#ifdef STATIC_KEYS_ENTRY_KEY_ABS
	return (uintptr_t)e->key;
#else
	/* sign-extends a 32-bit key offset (STATIC_KEYS_ENTRY_KEY_REL32) too */
	return (uintptr_t)&e->key + (uintptr_t)(intptr_t)e->key;
#endif
}

/*
 * Stores `key` (a key's address, with the branch in bit 0) in the entry's
 * key field, as jump_entry_key_raw() reads it back: for the tables built
 * at init and for the C tests and benchmarks that build entries.
 */
static inline void jump_entry_set_key(struct jump_entry *e, uintptr_t key)
{
#if defined(STATIC_KEYS_ENTRY_KEY_ABS)
	e->key = (intptr_t)key;
#elif defined(STATIC_KEYS_ENTRY_KEY_REL32)
	e->key = (int32_t)(uint32_t)(key - (uintptr_t)&e->key);
	e->key_pad = 0;
#else
	e->key = (intptr_t)(key - (uintptr_t)&e->key);
#endif
}

/*
 * Bit 1 of the key field: keys are 8-aligned, so it is free (the kernel
 * keeps two flags there too). Only repair sets it, and clears it again.
 */
#define JUMP_ENTRY_MARK ((uintptr_t)2)

static inline struct static_key *jump_entry_key(const struct jump_entry *e)
{
	return (struct static_key *)(jump_entry_key_raw(e) & ~(uintptr_t)3);
}

static inline int jump_entry_marked(const struct jump_entry *e)
{
	return (jump_entry_key_raw(e) & JUMP_ENTRY_MARK) != 0;
}

/* Sets or clears the mark; the same arithmetic for relative and absolute keys. */
static inline void jump_entry_mark(struct jump_entry *e, int on)
{
	if (on != jump_entry_marked(e))
		e->key += on ? 2 : -2;
}

/* 1 for static_branch_likely, 0 for static_branch_unlikely */
static inline int jump_entry_branch(const struct jump_entry *e)
{
	return (int)(jump_entry_key_raw(e) & 1);
}

/*
 * The bytes a site holds while its key is `enabled`: instruction =
 * enabled ^ branch (truth table in static_keys.h), 1 = JMP.
 */
static inline void jump_entry_bytes(const struct jump_entry *e, int enabled,
				    uint8_t *out)
{
	uintptr_t code = jump_entry_code(e);

	if (enabled ^ jump_entry_branch(e))
		arch_jump_jmp(out, code, jump_entry_target(e));
	else
		arch_jump_nop(out, code);
}

/* ---- module (init.c) ---------------------------------------------------- */

/*
 * Runs init once, whichever thread comes first; the others wait for it.
 * Takes no ownership (readers call it). 0 or a code.
 */
int module_ready(void);

/*
 * Runs init if needed and takes ownership if nobody has it yet: 0, or
 * ETHREAD when another thread owns the module.
 */
int module_enter(void);

/*
 * For every call that changes state: module_enter, then marks the module
 * busy; EBUSY (with `action` in the text) if a call is already running on
 * this thread (a signal handler). module_unlock ends it.
 */
int module_lock(const char *action);
void module_unlock(void);

/* 1 when key is one of this module's keys. */
int module_key_valid(const struct static_key *key);

/* ---- tables (tables.c) -------------------------------------------------- */

/*
 * Checks one module's sections against where it is mapped (os_image) and
 * sorts its entries by (key, code) in place; on 0 each key points at its
 * first entry, *nr_entries counts the entries kept (padding squeezed out)
 * and *nr_keys the keys. Otherwise STATIC_KEYS_EINIT (or ERANGE for a jump
 * out of reach) with the last-error text naming the record and its
 * address. Allocates nothing; callable on any tables (tests, benchmarks).
 */
int tables_init(struct os_sections *sec, const struct os_image *img,
		size_t *nr_entries, size_t *nr_keys);

/* ---- update (update.c; update_caps in protocol.c) ----------------------- */

/* An update whose changes come from at(src, i, &key, &enabled), i < count. */
int static_keys_update_request(size_t count, const void *src,
			       int (*at)(const void *src, size_t i,
					 struct static_key **key, int *enabled));

/*
 * Caller holds the module (module_lock). Patches every run of the marked
 * keys, all or nothing: 0, or a code with the last-error text set.
 */
int update_patch(struct module *m);

/* Clears every key's request bookkeeping (flags, cursor). */
void update_unmark(struct module *m);

/*
 * After os_init: which strategies run the cross-modification protocol and
 * which are safe for concurrent executors (stats.protocol, .concurrent),
 * and the default: caps.fast_strategy when safe, else caps.default_strategy.
 */
void update_caps(struct module *m);

/* ---- last error (error.c) ----------------------------------------------- */

struct errbuf {
	char *buf;
	size_t len;
	size_t cap;
};

void err_begin(struct errbuf *eb);
void err_str(struct errbuf *eb, const char *s);
void err_u64(struct errbuf *eb, uint64_t v);
void err_i64(struct errbuf *eb, int64_t v);
void err_hex(struct errbuf *eb, uintptr_t v);
void err_bytes(struct errbuf *eb, const uint8_t *b, size_t n);
void err_clear(void);
/* Sets the whole last-error text to s and returns code. */
int err_set(int code, const char *s);

#endif /* STATIC_KEYS_CORE_H */
