/* SPDX-License-Identifier: MIT */
/*
 * init.c - the module: find this module's sections and where it is mapped,
 * have tables.c check and sort them, and record the thread allowed to
 * flip. Also the key table lookups.
 */
#include "core.h"

#include "arch/arch.h"

STATIC_KEYS_LOCAL struct module static_keys_mod;

int module_key_valid(const struct static_key *key)
{
	const struct module *m = &static_keys_mod;
	uintptr_t k = (uintptr_t)key, lo = (uintptr_t)m->sec.keys_start;

	if (!key || !m->sec.keys_start || k < lo ||
	    k >= (uintptr_t)m->sec.keys_stop)
		return 0;
	return (k - lo) % sizeof(struct static_key) == 0;
}

/* ---- init --------------------------------------------------------------- */

static int module_setup(struct module *m)
{
	struct os_image img;
	int rc;

	rc = os_init(&m->caps);
	if (rc)
		return err_set(rc, "Cannot init module: the OS layer failed");
	m->strategy = m->caps.default_strategy;
	os_sections(&m->sec);
	if (os_image(&img))
		return err_set(STATIC_KEYS_EINIT,
			       "Cannot init module: the OS layer cannot tell "
			       "where this module's code is mapped");
	rc = tables_init(&m->sec, &img, &m->nr_entries, &m->nr_keys);
	if (rc)
		return rc;

	m->stats.strategy = (uint32_t)m->strategy;
	m->stats.strategies = m->caps.strategies;
	m->stats.keys = (uint32_t)m->nr_keys;
	m->stats.entries = (uint32_t)m->nr_entries;
	m->stats.page_size = m->caps.page_size;
	return 0;
}

/*
 * Runs module_setup exactly once, whichever thread comes first; that
 * thread becomes the owner. A second caller during setup gets EBUSY.
 */
int module_ready(void)
{
	struct module *m = &static_keys_mod;
	int expected = MODULE_NEW;

	if (__atomic_compare_exchange_n(&m->init, &expected, MODULE_RUNNING, 0,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		m->owner = os_thread_id();
		m->init_status = module_setup(m);
		__atomic_store_n(&m->init, MODULE_READY, __ATOMIC_RELEASE);
		return m->init_status;
	}
	if (expected == MODULE_RUNNING)
		return STATIC_KEYS_EBUSY;
	return m->init_status;
}

int static_keys_init(void)
{
	int rc = module_ready();

	if (rc)
		return rc;
	return os_thread_id() == static_keys_mod.owner ? 0 : STATIC_KEYS_ETHREAD;
}

/*
 * Flips go through here. A foreign thread gets ETHREAD and the last-error
 * text is left alone: only the owner writes it.
 */
int module_enter(void)
{
	return static_keys_init();
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
