/* SPDX-License-Identifier: MIT */
/*
 * init.c - one attempt at init (module_setup, which module.c runs once):
 * the OS layer's caps and the strategy they imply, this module's sections
 * and where it is mapped, its tables checked and sorted (tables.c).
 * module.c records the stats that describe them.
 */
#include "module.h"
#include "strategy.h"
#include "tables.h"

#include "os/test_hooks.h"

int module_setup(struct module *m)
{
	struct os_image img;
	int rc;

	/* once: a retried init keeps what the OS layer set up (fork hooks) */
	if (!m->caps.page_size) {
		rc = os_init(&m->caps);
		if (rc)
			return err_set(rc, "Cannot init module: the OS layer "
					   "failed");
	}
	strategy_caps(m);
	m->strategy = m->default_strategy;
	m->prepared = 0; /* a new strategy: its set-up comes at the first patch */
	os_sections(&m->sec);
	if (os_image(&img) || TEST_HOOK_COUNTDOWN(setup_fail))
		return err_set(STATIC_KEYS_EINIT,
			       "Cannot init module: the OS layer cannot tell "
			       "where this module's code is mapped");
	rc = tables_init(&m->sec, &img, &m->nr_entries, &m->nr_keys);
	if (rc)
		return rc;
	TEST_HOOK_CALL(after_setup);
	return 0;
}
