/* SPDX-License-Identifier: MIT */
/*
 * module.h - the module: the state of the one module this copy of the core
 * belongs to, its lock and its stats (module.c), and init, which fills it
 * (init.c). Not installed.
 */
#ifndef STATIC_KEYS_MODULE_H
#define STATIC_KEYS_MODULE_H

#include "core.h"

enum module_init { MODULE_NEW = 0, MODULE_READY = 2 };

/* Where a request's cross-modification protocol is (module.protocol). */
enum protocol_phase {
	PROTOCOL_OFF,     /* no request runs the protocol */
	PROTOCOL_FORWARD, /* the request's sites go to their new states */
	PROTOCOL_BACK,    /* rolling back: to their old states again */
};

/*
 * The runs of the request the protocol is patching, as its first pass
 * found them (next_run), for the passes after it: they visit the same runs,
 * and finding a run walks every site in it. Kept only when they fit.
 */
#define MODULE_RUNS_KEPT 16
struct module_runs {
	uintptr_t start[MODULE_RUNS_KEPT], end[MODULE_RUNS_KEPT];
	uint32_t n;  /* runs the first pass found so far */
	int whole;   /* it found them all, and all fit: the passes after use them */
};

/* One per module: the core is linked into each module on its own. */
struct module {
	struct os_caps caps;
	struct os_sections sec;
	size_t nr_entries;
	size_t nr_keys;
	int init;               /* enum module_init, atomic */
	int init_status;        /* result of the last init attempt */
	uintptr_t setup_thread; /* the thread running init (atomic) */
	uintptr_t owner;        /* thread allowed to flip: 0 until init or a flip */
	int strategy;
	int default_strategy;   /* what STATIC_KEYS_STRATEGY_DEFAULT means here */
	int prepared;           /* os_prepare ran for the strategy in use */
	unsigned protocol;      /* atomic: enum protocol_phase in the low 2
				 * bits, above them a count of the requests
				 * that armed it (the trap side's check that
				 * nothing changed while it looked) */
	int trap_inflight;      /* atomic: trap handlers reading the request */
	int busy;               /* a state-changing call is running (re-entry guard) */
	struct module_runs runs; /* the protocol's, during one request */
	struct static_keys_stats stats;
};

STATIC_KEYS_LOCAL extern struct module this_module;

#define KEYS_FOR_EACH(m, k)                                                    \
	for ((k) = (m)->sec.keys_start; (k) && (k) < (m)->sec.keys_stop; (k)++)

static inline uintptr_t page_down(const struct module *m, uintptr_t a)
{
	return a & ~(uintptr_t)(m->caps.page_size - 1);
}

/* The end of the last page holding a byte of the site at `code`. */
static inline uintptr_t site_end_page(const struct module *m, uintptr_t code)
{
	return page_down(m, code + ARCH_JUMP_SIZE - 1) + m->caps.page_size;
}

/* ---- module.c ----------------------------------------------------------- */

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

/* Key `index` in table order, or NULL past the end; after module_ready. */
static inline struct static_key *module_key(size_t index)
{
	return index < this_module.nr_keys ? &this_module.sec.keys_start[index]
					   : NULL;
}

/* ---- init.c ------------------------------------------------------------- */

/*
 * One attempt at init: the OS layer's caps, the strategy that follows from
 * them, this module's sections checked and sorted (tables_init), the
 * stats that describe them. 0 or a code with the last-error text set.
 */
int module_setup(struct module *m);

#endif /* STATIC_KEYS_MODULE_H */
