/* SPDX-License-Identifier: MIT */
/*
 * strategy.c - the strategy in one place (strategy.h): the names, the
 * choice of the default and of the strategies that run the cross-
 * modification protocol from the OS layer's caps, and making a strategy
 * ready (os_prepare) before the first patch and whenever it changes.
 */
#include "strategy.h"

/* By STATIC_KEYS_STRATEGY_* id; tests/strategy_test.ts checks the order. */
static const char *const strategy_names[STATIC_KEYS_STRATEGY_COUNT] = {
	[STATIC_KEYS_STRATEGY_DEFAULT] = "default",
	[STATIC_KEYS_STRATEGY_REMAP] = "remap",
	[STATIC_KEYS_STRATEGY_MPROTECT] = "mprotect",
	[STATIC_KEYS_STRATEGY_ALIAS] = "alias",
	[STATIC_KEYS_STRATEGY_DIRECT] = "direct",
	[STATIC_KEYS_STRATEGY_PROCMEM] = "procmem",
};

const char *static_keys_strategy_name(int strategy)
{
	if (strategy < 0 || strategy >= STATIC_KEYS_STRATEGY_COUNT)
		return "unknown";
	return strategy_names[strategy];
}

uint32_t strategy_protocol_set(const struct os_caps *c)
{
	if (c->sync_core && (!ARCH_NEEDS_BREAKPOINT || c->traps))
		return c->inplace_strategies & c->strategies;
	return 0;
}

uint32_t strategy_concurrent_set(const struct os_caps *c)
{
	uint32_t proto = strategy_protocol_set(c), safe = c->swap_strategies;

	/*
	 * x86: behind the breakpoint any in-place write is safe. 4-byte ISAs:
	 * only where the core's own aligned store is what executors see (a
	 * kernel's copy, as procmem's, is not promised to be one store).
	 */
	safe |= ARCH_NEEDS_BREAKPOINT ? proto : proto & c->store_strategies;
	return safe & c->strategies;
}

void strategy_caps(struct module *m)
{
	const struct os_caps *c = &m->caps;

	m->default_strategy = c->default_strategy;
	if (c->fast_strategy &&
	    ((strategy_concurrent_set(c) >> c->fast_strategy) & 1u))
		m->default_strategy = c->fast_strategy;
}

/* Pages holding a byte of any site of the module: [lo, hi), or lo == hi. */
static void module_span(const struct module *m, uintptr_t *lo, uintptr_t *hi)
{
	const struct jump_entry *e = m->sec.entries_start;
	size_t i;

	*lo = UINTPTR_MAX;
	*hi = 0;
	for (i = 0; i < m->nr_entries; i++) {
		uintptr_t c = jump_entry_code(&e[i]);

		if (c < *lo)
			*lo = c;
		if (c + ARCH_JUMP_SIZE > *hi)
			*hi = c + ARCH_JUMP_SIZE;
	}
	if (!m->nr_entries) {
		*lo = *hi = 0;
		return;
	}
	*lo = page_down(m, *lo);
	*hi = site_end_page(m, *hi - 1);
}

/* The names of the strategies in `mask`, by id, ", " between them. */
static void strategy_list(struct errbuf *eb, uint32_t mask)
{
	const char *sep = "";
	int s;

	for (s = STATIC_KEYS_STRATEGY_DEFAULT + 1; s < STATIC_KEYS_STRATEGY_COUNT;
	     s++) {
		if (!((mask >> s) & 1u))
			continue;
		err_str(eb, sep);
		err_str(eb, strategy_names[s]);
		sep = ", ";
	}
}

static int strategy_refused(const struct module *m, int strategy, int rc,
			    const struct os_patch *diag)
{
	struct errbuf eb;

	err_begin(&eb);
	err_str(&eb, "Cannot use strategy \"");
	err_str(&eb, static_keys_strategy_name(strategy));
	err_str(&eb, "\": ");
	if (rc == STATIC_KEYS_ENOTSUP && diag && diag->failed) {
		err_str(&eb, diag->failed);
		err_str(&eb, " (error ");
		err_i64(&eb, diag->raw_error);
		err_str(&eb, "); the strategy in use did not change");
	} else if (rc == STATIC_KEYS_ENOTSUP) {
		err_str(&eb, "the ");
		err_str(&eb, m->caps.name);
		err_str(&eb, " layer does not offer it: choose one it offers (");
		strategy_list(&eb, m->caps.strategies);
		err_str(&eb, ")");
	} else {
		err_refusal(&eb, diag);
		err_str(&eb, "; the strategy in use did not change");
	}
	return rc;
}

/* Makes `strategy` ready (os_prepare) and the module's; 0 or a code. */
static int strategy_prepare(struct module *m, int strategy)
{
	struct os_patch diag = {0};
	uintptr_t lo, hi;
	int rc;

	module_span(m, &lo, &hi);
	rc = os_prepare(strategy, lo, hi, &diag);
	m->stats.syscalls += diag.syscalls;
	if (rc)
		return strategy_refused(m, strategy, rc, &diag);
	m->strategy = strategy;
	m->stats.strategy = (uint32_t)strategy;
	m->prepared = 1;
	return 0;
}

/*
 * The default: caps.fast_strategy where strategy_caps chose it, unless the
 * OS refuses it here (a policy, an emulator): then the safe one for good.
 */
static int strategy_prepare_default(struct module *m)
{
	int rc = strategy_prepare(m, m->default_strategy);

	if (rc == STATIC_KEYS_ENOTSUP &&
	    m->default_strategy != m->caps.default_strategy) {
		m->default_strategy = m->caps.default_strategy;
		err_clear();
		rc = strategy_prepare(m, m->default_strategy);
	}
	return rc;
}

int strategy_ready(struct module *m)
{
	if (m->prepared)
		return 0;
	return m->strategy == m->default_strategy
		       ? strategy_prepare_default(m)
		       : strategy_prepare(m, m->strategy);
}

int strategy_select(struct module *m, int strategy)
{
	if (strategy == STATIC_KEYS_STRATEGY_DEFAULT) {
		err_clear();
		return strategy_prepare_default(m);
	}
	if (strategy < 0 || strategy >= STATIC_KEYS_STRATEGY_COUNT ||
	    !(m->caps.strategies & (1u << strategy)))
		return strategy_refused(m, strategy, STATIC_KEYS_ENOTSUP, NULL);
	err_clear();
	return strategy_prepare(m, strategy);
}
