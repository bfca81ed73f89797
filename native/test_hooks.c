/* SPDX-License-Identifier: MIT */
/*
 * test_hooks.c - the knobs of os/test_hooks.h, in the test build of the
 * core only (STATIC_KEYS_TEST_HOOKS); nothing else defines them.
 */
#include "os/test_hooks.h"

#ifndef STATIC_KEYS_TEST_HOOKS
#error "test_hooks.c belongs to the test build of the core only"
#endif

STATIC_KEYS_LOCAL struct test_hooks test_hooks;
