/* SPDX-License-Identifier: MIT */
/*
 * test_hooks.h - the one interface through which the C tests make the core
 * and the OS layer fail on purpose. Compiled in only where
 * STATIC_KEYS_TEST_HOOKS is defined: the test build of the core
 * (static_keys_testing in CMakeLists.txt, with native/test_hooks.c, which
 * defines `test_hooks`). In every other build each hook below is a
 * constant the compiler folds away, so the shipped library and archive
 * carry no knob and check none on a flip.
 */
#ifndef STATIC_KEYS_TEST_HOOKS_H
#define STATIC_KEYS_TEST_HOOKS_H

#include "os.h"

/* What test_hooks.fault_rollback makes a rollback's os_patch calls meet. */
enum test_rollback_fault {
	ROLLBACK_FAULT_NONE,
	ROLLBACK_FAULT_STRATEGY, /* the strategy's own calls fail (ENOMEM, as
				  * out of mappings; Linux honours it where a
				  * rollback can do without them): its
				  * fallback may still restore */
	ROLLBACK_FAULT_ALL,      /* every os_patch of a rollback fails before
				  * reaching the OS */
};

#ifdef STATIC_KEYS_TEST_HOOKS
struct test_hooks {
	/* the core (native/runs.c, native/init.c) */
	int fault_at;                  /* n > 0: the n-th os_patch fails */
	enum test_rollback_fault fault_rollback;
	void (*before_patch)(void);    /* called before each os_patch */
	void (*after_setup)(void);     /* called at the end of init */
	int setup_fail;                /* n > 0: the n-th init attempt fails
					* (EINIT, as if the image lookup did) */
	/* the Linux layer (os/linux_patch.c, os/linux_sync.c) */
	int rx_skip, rx_fail;  /* after rx_skip calls that make pages r-x
				* again, the next rx_fail fail (EACCES) */
	int no_sync_core;      /* init sees no membarrier SYNC_CORE */
	int sync_fail;         /* n > 0: the n-th os_sync_core fails (EPERM) */
};

extern STATIC_KEYS_LOCAL struct test_hooks test_hooks;

/* 1 when the hook `field` is set (a test build only). */
#define TEST_HOOK(field) (test_hooks.field)
/* Counts the hook `field` down: 1 when it reaches 0 now. */
#define TEST_HOOK_COUNTDOWN(field)                                             \
	(test_hooks.field > 0 && --test_hooks.field == 0)
/* Calls the function hook `field` when set. */
#define TEST_HOOK_CALL(field)                                                  \
	do {                                                                   \
		if (test_hooks.field)                                          \
			test_hooks.field();                                    \
	} while (0)
/* Lets `skip` calls pass, then makes `fail` calls fail: 1 when this one does. */
#define TEST_HOOK_SKIP_THEN_FAIL(skip, fail)                                   \
	(test_hooks.skip > 0    ? (test_hooks.skip--, 0)                       \
	 : test_hooks.fail > 0 ? (test_hooks.fail--, 1)                       \
			       : 0)
#else
#define TEST_HOOK(field) 0
#define TEST_HOOK_COUNTDOWN(field) 0
#define TEST_HOOK_CALL(field)                                                  \
	do {                                                                   \
	} while (0)
#define TEST_HOOK_SKIP_THEN_FAIL(skip, fail) 0
#endif

#endif /* STATIC_KEYS_TEST_HOOKS_H */
