/* SPDX-License-Identifier: MIT */
/*
 * strategy.h - the strategy: how a patch gets past the write protection of
 * code pages (docs/design.md, "Strategies"). Its names, which strategies
 * run the cross-modification protocol and which is the default here, and
 * making one ready (os_prepare) live in strategy.c; the ids are
 * STATIC_KEYS_STRATEGY_* in static_keys.h, and tests/strategy_test.ts holds
 * the TypeScript list (src/runtime/_types.ts) to them. Not installed.
 */
#ifndef STATIC_KEYS_STRATEGY_H
#define STATIC_KEYS_STRATEGY_H

#include "module.h"

/*
 * From the OS layer's caps, as bit sets by strategy id: the strategies that
 * run the cross-modification protocol, and those safe for concurrent
 * executors (module.c records them as stats.protocol and .concurrent).
 */
uint32_t strategy_protocol_set(const struct os_caps *c);
uint32_t strategy_concurrent_set(const struct os_caps *c);

/*
 * After os_init: the default strategy, caps.fast_strategy when safe for
 * concurrent executors, else caps.default_strategy.
 */
void strategy_caps(struct module *m);

/* 1 when the module's strategy runs the protocol (stats.protocol). */
static inline int strategy_protocol(const struct module *m)
{
	return (m->stats.protocol >> m->strategy) & 1u;
}

/*
 * Before a patch: the set-up of the strategy in use (and of its rollback),
 * once per strategy. 0, or a code with the last-error text set.
 */
int strategy_ready(struct module *m);

/*
 * Caller holds the module. Makes `strategy` (STATIC_KEYS_STRATEGY_*, any
 * int) the module's, ready for the next patch; on failure the strategy in
 * use stays, and the last-error text says why. 0 or a code.
 */
int strategy_select(struct module *m, int strategy);

#endif /* STATIC_KEYS_STRATEGY_H */
