/* SPDX-License-Identifier: MIT */
/*
 * module.c - the state of the module this copy of the core belongs to:
 * init run once (init.c does the work), the thread allowed to flip, the
 * lock every call that changes state takes, the key table lookups, the
 * stats, and the unload.
 */
#include "module.h"
#include "strategy.h"

STATIC_KEYS_LOCAL struct module this_module;

int module_key_valid(const struct static_key *key)
{
	const struct module *m = &this_module;
	uintptr_t k = (uintptr_t)key, lo = (uintptr_t)m->sec.keys_start;

	if (!key || !m->sec.keys_start || k < lo ||
	    k >= (uintptr_t)m->sec.keys_stop)
		return 0;
	return (k - lo) % sizeof(struct static_key) == 0;
}

/* ---- init --------------------------------------------------------------- */

/*
 * The stats one attempt at init describes: the protocol's and the
 * concurrent strategies once the OS layer answered (init.c chose the
 * default from them), the rest once the attempt succeeded.
 */
static void module_record_setup(struct module *m, int rc)
{
	if (m->caps.page_size) {
		m->stats.protocol = strategy_protocol_set(&m->caps);
		m->stats.concurrent = strategy_concurrent_set(&m->caps);
	}
	if (rc)
		return;
	m->stats.strategy = (uint32_t)m->strategy;
	m->stats.strategies = m->caps.strategies;
	m->stats.keys = (uint32_t)m->nr_keys;
	m->stats.entries = (uint32_t)m->nr_entries;
	m->stats.page_size = m->caps.page_size;
}

/*
 * Runs module_setup until it succeeds, one thread at a time; threads that
 * arrive meanwhile wait for it (setup sorts in memory and makes one OS
 * call, so the wait is short), and so always see the whole key table or
 * that attempt's failure. A failure is not kept: the next call tries
 * again (say, once a site someone else rewrote is whole again). Only a
 * signal handler interrupting setup on its own thread is refused (EBUSY):
 * waiting there would never end. Takes no ownership.
 */
int module_ready(void)
{
	struct module *m = &this_module;
	uintptr_t self, setup = 0;
	int rc;

	if (__atomic_load_n(&m->init, __ATOMIC_ACQUIRE) == MODULE_READY)
		return 0;
	self = os_thread_id();
	if (__atomic_compare_exchange_n(&m->setup_thread, &setup, self, 0,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		rc = module_setup(m);
		module_record_setup(m, rc);
		m->init_status = rc;
		if (!rc)
			__atomic_store_n(&m->init, MODULE_READY, __ATOMIC_RELEASE);
		else /* the next call tries again */
			__atomic_store_n(&m->setup_thread, 0, __ATOMIC_RELEASE);
		return rc;
	}
	if (setup == self)
		return STATIC_KEYS_EBUSY;
	while (__atomic_load_n(&m->setup_thread, __ATOMIC_ACQUIRE) == setup &&
	       __atomic_load_n(&m->init, __ATOMIC_ACQUIRE) != MODULE_READY)
		os_thread_yield();
	if (__atomic_load_n(&m->init, __ATOMIC_ACQUIRE) == MODULE_READY)
		return 0;
	return m->init_status; /* the attempt waited for failed */
}

/*
 * Init, and ownership: the first thread to call this (or to flip, which
 * calls it) owns the module while it lives; every other thread gets
 * ETHREAD. When the owner exits, the OS layer gives the module back
 * (os_thread_watch), and the next thread to flip owns it: an owner that is
 * gone cannot flip, so holding the module for it only locks everyone out
 * (a Deno Worker that used the raw ABI first). os_thread_id never hands
 * an exited thread's token to a new thread, so a new thread is never
 * taken for the exited owner where the OS cannot watch threads.
 */
int static_keys_init(void)
{
	struct module *m = &this_module;
	uintptr_t self, owner = 0;
	int rc = module_ready();

	if (rc)
		return rc;
	self = os_thread_id();
	if (__atomic_compare_exchange_n(&m->owner, &owner, self, 0,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		os_thread_watch(&m->owner); /* ENOTSUP: owned for good */
		return 0;
	}
	return owner == self ? 0 : STATIC_KEYS_ETHREAD;
}

/*
 * Flips go through here. A foreign thread gets ETHREAD and the last-error
 * text is left alone: only the owner writes it.
 */
int module_enter(void)
{
	return static_keys_init();
}

int module_lock(const char *action)
{
	struct module *m = &this_module;
	struct errbuf eb;
	int rc = module_enter();

	if (rc)
		return rc;
	/* The owner only: re-entry can come from a signal handler alone. */
	if (!__atomic_exchange_n(&m->busy, 1, __ATOMIC_ACQUIRE))
		return 0;
	err_begin(&eb);
	err_str(&eb, action);
	err_str(&eb, ": another call that changes this module is running on "
		     "this thread (this call came from a signal handler "
		     "that interrupted it); nothing was changed, call again "
		     "after it returns");
	return STATIC_KEYS_EBUSY;
}

void module_unlock(void)
{
	__atomic_store_n(&this_module.busy, 0, __ATOMIC_RELEASE);
}

/* ---- key table ---------------------------------------------------------- */

size_t static_keys_count(void)
{
	if (module_ready())
		return 0;
	return this_module.nr_keys;
}

struct static_key *static_keys_at(size_t index)
{
	return module_ready() ? NULL : module_key(index);
}

struct static_key *static_keys_find(const char *name)
{
	size_t i;

	if (!name || module_ready())
		return NULL;
	for (i = 0; i < this_module.nr_keys; i++) {
		struct static_key *k = &this_module.sec.keys_start[i];

		if (k->name && str_equal(k->name, name))
			return k;
	}
	return NULL;
}

/* ---- stats -------------------------------------------------------------- */

int static_keys_get_stats(struct static_keys_stats *out)
{
	int rc;

	if (!out)
		return STATIC_KEYS_EINVAL;
	rc = module_ready();
	*out = this_module.stats;
	out->traps = __atomic_load_n(&this_module.stats.traps, __ATOMIC_RELAXED);
	return rc;
}

/* ---- unload ------------------------------------------------------------- */

/*
 * The module's destructor (dlclose, FreeLibrary, exit): whatever the
 * strategy set up (a writable view, descriptors, buffers) goes with it.
 * Skipped while an update runs on this thread (exit from a signal handler).
 */
__attribute__((destructor)) static void module_unload(void)
{
	struct module *m = &this_module;

	if (__atomic_load_n(&m->init, __ATOMIC_ACQUIRE) != MODULE_READY ||
	    m->busy)
		return;
	os_release();
	m->prepared = 0;
}
