/* SPDX-License-Identifier: MIT */
/*
 * init.c - the module: find this module's sections, sort its jump entries
 * by (key, code) in place, point each key at its first entry, and record
 * the thread allowed to flip. Also the key table lookups.
 */
#include "core.h"

#include "arch/arch.h"

STATIC_KEYS_LOCAL struct module static_keys_mod;

/* ---- sorting ------------------------------------------------------------ */

static int entry_cmp(const struct jump_entry *a, const struct jump_entry *b)
{
	uintptr_t ka = (uintptr_t)jump_entry_key(a);
	uintptr_t kb = (uintptr_t)jump_entry_key(b);
	uintptr_t ca, cb;

	if (ka != kb)
		return ka < kb ? -1 : 1;
	ca = jump_entry_code(a);
	cb = jump_entry_code(b);
	return (ca > cb) - (ca < cb);
}

/*
 * Fields are relative to their own address, so an entry that moves by
 * `delta` bytes must have each field shrunk by `delta` to keep pointing at
 * the same code, target and key (the kernel's jump_label_swap); an absolute
 * key (STATIC_KEYS_ENTRY_KEY_ABS) is copied unchanged.
 */
static void entry_move(struct jump_entry *to, const struct jump_entry *from)
{
	uintptr_t delta = (uintptr_t)to - (uintptr_t)from;

	to->code = (int32_t)((uint32_t)from->code - (uint32_t)delta);
	to->target = (int32_t)((uint32_t)from->target - (uint32_t)delta);
#if defined(STATIC_KEYS_ENTRY_KEY_ABS)
	to->key = from->key; /* absolute: moves as is */
#elif defined(STATIC_KEYS_ENTRY_KEY_REL32)
	to->key = (int32_t)((uint32_t)from->key - (uint32_t)delta);
	to->key_pad = 0;
#else
	to->key = (intptr_t)((uintptr_t)from->key - delta);
#endif
}

static void entry_swap(struct jump_entry *a, struct jump_entry *b)
{
	struct jump_entry tmp;

	entry_move(&tmp, a);
	entry_move(a, b);
	entry_move(b, &tmp);
}

static void sift_down(struct jump_entry *base, size_t root, size_t n)
{
	for (;;) {
		size_t child = 2 * root + 1;

		if (child >= n)
			return;
		if (child + 1 < n && entry_cmp(&base[child], &base[child + 1]) < 0)
			child++;
		if (entry_cmp(&base[root], &base[child]) >= 0)
			return;
		entry_swap(&base[root], &base[child]);
		root = child;
	}
}

/* Heapsort: O(n log n), no allocation, no recursion. */
static void entries_sort(struct jump_entry *base, size_t n)
{
	size_t i;

	for (i = 1; i < n; i++)
		if (entry_cmp(&base[i - 1], &base[i]) > 0)
			break;
	if (i >= n)
		return; /* already sorted */
	for (i = n / 2; i-- > 0;)
		sift_down(base, i, n);
	for (i = n; i-- > 1;) {
		entry_swap(&base[0], &base[i]);
		sift_down(base, 0, i);
	}
}

/* ---- validation --------------------------------------------------------- */

static int is_padding(const struct jump_entry *e)
{
	return e->code == 0 && e->target == 0 && e->key == 0;
}

/*
 * Some linkers pad input sections with zeros (PE grouped sections do);
 * squeeze such holes out so the table is dense.
 */
static size_t entries_compact(struct jump_entry *base, size_t n)
{
	size_t i, kept = 0;

	for (i = 0; i < n; i++) {
		if (is_padding(&base[i]))
			continue;
		if (kept != i)
			entry_move(&base[kept], &base[i]);
		kept++;
	}
	return kept;
}

int module_key_valid(const struct static_key *key)
{
	const struct module *m = &static_keys_mod;
	uintptr_t k = (uintptr_t)key, lo = (uintptr_t)m->sec.keys_start;

	if (!key || !m->sec.keys_start || k < lo ||
	    k >= (uintptr_t)m->sec.keys_stop)
		return 0;
	return (k - lo) % sizeof(struct static_key) == 0;
}

static int entries_check(struct jump_entry *base, size_t n)
{
	struct errbuf eb;
	size_t i;

	for (i = 0; i < n; i++) {
		const struct jump_entry *e = &base[i];
		int rc;

		if (!module_key_valid(jump_entry_key(e))) {
			err_begin(&eb);
			err_str(&eb, "Cannot init module: jump entry ");
			err_u64(&eb, i);
			err_str(&eb, " at ");
			err_hex(&eb, (uintptr_t)e);
			err_str(&eb, " names key ");
			err_hex(&eb, (uintptr_t)jump_entry_key(e));
			err_str(&eb, ", which is not in this module's key table: "
				     "keys must be defined with DEFINE_STATIC_KEY_* "
				     "in the module that uses them");
			return STATIC_KEYS_EINIT;
		}
		rc = arch_jump_check(jump_entry_code(e), jump_entry_target(e));
		if (rc) {
			err_begin(&eb);
			err_str(&eb, "Cannot init module: the site at ");
			err_hex(&eb, jump_entry_code(e));
			err_str(&eb, " of key \"");
			err_str(&eb, jump_entry_key(e)->name);
			err_str(&eb, "\" cannot reach its target ");
			err_hex(&eb, jump_entry_target(e));
			err_str(&eb, " with one " ARCH_NAME " jump: keep the "
				     "module's text smaller than the jump's reach");
			return rc;
		}
	}
	return 0;
}

/* ---- init --------------------------------------------------------------- */

static int module_setup(struct module *m)
{
	struct static_key *k;
	struct jump_entry *e;
	size_t n;
	int rc;

	rc = os_init(&m->caps);
	if (rc)
		return err_set(rc, "Cannot init module: the OS layer failed");
	update_caps(m);
	m->strategy = m->default_strategy;
	os_sections(&m->sec);

	n = 0;
	if (m->sec.entries_start && m->sec.entries_stop > m->sec.entries_start)
		n = (size_t)(m->sec.entries_stop - m->sec.entries_start);
	n = entries_compact(m->sec.entries_start, n);
	m->nr_keys = 0;
	if (m->sec.keys_start && m->sec.keys_stop > m->sec.keys_start)
		m->nr_keys = (size_t)(m->sec.keys_stop - m->sec.keys_start);

	rc = entries_check(m->sec.entries_start, n);
	if (rc)
		return rc;
	entries_sort(m->sec.entries_start, n);
	m->nr_entries = n;

	for (k = m->sec.keys_start; k && k < m->sec.keys_stop; k++) {
		k->entries = NULL;
		k->sites = 0;
	}
	for (e = m->sec.entries_start; e && e < m->sec.entries_start + n; e++) {
		k = jump_entry_key(e);
		if (!k->entries)
			k->entries = e;
		k->sites++;
	}

	m->stats.strategy = (uint32_t)m->strategy;
	m->stats.strategies = m->caps.strategies;
	m->stats.keys = (uint32_t)m->nr_keys;
	m->stats.entries = (uint32_t)m->nr_entries;
	m->stats.page_size = m->caps.page_size;
	if (m->setup_hook)
		m->setup_hook();
	return 0;
}

/*
 * Runs module_setup exactly once, whichever thread comes first; threads
 * that arrive meanwhile wait for it (setup sorts in memory and makes one
 * OS call, so the wait is short), and so always see the whole key table.
 * Only a signal handler interrupting setup on its own thread is refused
 * (EBUSY): waiting there would never end. Takes no ownership.
 */
int module_ready(void)
{
	struct module *m = &static_keys_mod;
	uintptr_t self, setup = 0;

	if (__atomic_load_n(&m->init, __ATOMIC_ACQUIRE) == MODULE_READY)
		return m->init_status;
	self = os_thread_id();
	if (__atomic_compare_exchange_n(&m->setup_thread, &setup, self, 0,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		m->init_status = module_setup(m);
		__atomic_store_n(&m->init, MODULE_READY, __ATOMIC_RELEASE);
		return m->init_status;
	}
	if (setup == self &&
	    __atomic_load_n(&m->init, __ATOMIC_ACQUIRE) != MODULE_READY)
		return STATIC_KEYS_EBUSY;
	while (__atomic_load_n(&m->init, __ATOMIC_ACQUIRE) != MODULE_READY)
		os_thread_yield();
	return m->init_status;
}

/*
 * Init, and ownership: the first thread to call this (or to flip, which
 * calls it) owns the module for good; every other thread gets ETHREAD.
 * os_thread_id never hands an exited thread's id to a new thread, so a
 * new thread is never taken for an exited owner.
 */
int static_keys_init(void)
{
	struct module *m = &static_keys_mod;
	uintptr_t self, owner = 0;
	int rc = module_ready();

	if (rc)
		return rc;
	self = os_thread_id();
	if (__atomic_compare_exchange_n(&m->owner, &owner, self, 0,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return 0;
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
	struct module *m = &static_keys_mod;
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
	__atomic_store_n(&static_keys_mod.busy, 0, __ATOMIC_RELEASE);
}

/* ---- key table ---------------------------------------------------------- */

size_t static_keys_count(void)
{
	if (module_ready())
		return 0;
	return static_keys_mod.nr_keys;
}

struct static_key *static_keys_at(size_t index)
{
	if (module_ready() || index >= static_keys_mod.nr_keys)
		return NULL;
	return &static_keys_mod.sec.keys_start[index];
}

static int str_equal(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

struct static_key *static_keys_find(const char *name)
{
	size_t i;

	if (!name || module_ready())
		return NULL;
	for (i = 0; i < static_keys_mod.nr_keys; i++) {
		struct static_key *k = &static_keys_mod.sec.keys_start[i];

		if (k->name && str_equal(k->name, name))
			return k;
	}
	return NULL;
}

/* ---- unload ------------------------------------------------------------- */

/*
 * The module's destructor (dlclose, FreeLibrary, exit): whatever the
 * strategy set up (a writable view, descriptors, buffers) goes with it.
 * Skipped while an update runs on this thread (exit from a signal handler).
 */
__attribute__((destructor)) static void module_unload(void)
{
	struct module *m = &static_keys_mod;

	if (__atomic_load_n(&m->init, __ATOMIC_ACQUIRE) != MODULE_READY ||
	    m->busy)
		return;
	os_release();
	m->prepared = 0;
}
