/* SPDX-License-Identifier: MIT */
/*
 * error.c - words for codes, the last-error text, strategy names, stats.
 * Formatting is done by hand: the core calls nothing from libc, so it also
 * builds freestanding (os/none.c).
 */
#include "core.h"

const char *static_keys_strerror(int code)
{
	switch (code) {
	case STATIC_KEYS_OK:
		return "Success";
	case STATIC_KEYS_EINVAL:
		return "Invalid argument: a pointer, index or state is not one "
		       "this module knows";
	case STATIC_KEYS_ENOKEY:
		return "No such key in this module";
	case STATIC_KEYS_ETHREAD:
		return "Keys can only be flipped on the thread that initialised "
		       "the module";
	case STATIC_KEYS_EBADSITE:
		return "A site does not hold the instruction expected; nothing "
		       "was written";
	case STATIC_KEYS_ERANGE:
		return "A jump target is out of the architecture's reach";
	case STATIC_KEYS_EPATCH:
		return "The operating system refused to rewrite a code page; "
		       "nothing was changed";
	case STATIC_KEYS_ENOTSUP:
		return "This patch strategy is not available on this system";
	case STATIC_KEYS_ECOUNT:
		return "The key's enable count would overflow or go below zero";
	case STATIC_KEYS_EINIT:
		return "The module's jump entries or keys are corrupt";
	case STATIC_KEYS_EBUSY:
		return "Another call that changes this module is running on "
		       "this thread (a signal handler?); nothing was changed";
	case STATIC_KEYS_EWX:
		return "The operating system refused to make a code page "
		       "read+execute again: it is left writable and executable";
	default:
		return "Unknown static-keys status code";
	}
}

const char *static_keys_strategy_name(int strategy)
{
	static const char *const names[STATIC_KEYS_STRATEGY_COUNT] = {
		"default", "remap", "mprotect", "alias", "direct", "procmem"};

	if (strategy < 0 || strategy >= STATIC_KEYS_STRATEGY_COUNT)
		return "unknown";
	return names[strategy];
}

/*
 * Field by field: a struct assignment this size becomes a call to memcpy
 * (clang -O0 does it), which a freestanding image may not have.
 */
static void stats_copy(struct static_keys_stats *to,
		       const struct static_keys_stats *from)
{
	to->strategy = from->strategy;
	to->strategies = from->strategies;
	to->keys = from->keys;
	to->entries = from->entries;
	to->page_size = from->page_size;
	to->flips = from->flips;
	to->requests = from->requests;
	to->pages_patched = from->pages_patched;
	to->syscalls = from->syscalls;
	to->last_pages = from->last_pages;
	to->last_syscalls = from->last_syscalls;
	to->runs = from->runs;
	to->last_runs = from->last_runs;
	to->concurrent = from->concurrent;
	to->protocol = from->protocol;
	to->core_syncs = from->core_syncs;
	to->traps = __atomic_load_n(&from->traps, __ATOMIC_RELAXED);
}

int static_keys_get_stats(struct static_keys_stats *out)
{
	int rc;

	if (!out)
		return STATIC_KEYS_EINVAL;
	rc = module_ready();
	stats_copy(out, &static_keys_mod.stats);
	return rc;
}

/* ---- last error --------------------------------------------------------- */

const char *static_keys_last_error(void)
{
	return static_keys_mod.last_error;
}

void err_clear(void)
{
	static_keys_mod.last_error[0] = '\0';
}

void err_begin(struct errbuf *eb)
{
	eb->buf = static_keys_mod.last_error;
	eb->cap = sizeof(static_keys_mod.last_error);
	eb->len = 0;
	eb->buf[0] = '\0';
}

void err_str(struct errbuf *eb, const char *s)
{
	if (!s)
		s = "(null)";
	while (*s && eb->len + 1 < eb->cap)
		eb->buf[eb->len++] = *s++;
	eb->buf[eb->len] = '\0';
}

static void err_digits(struct errbuf *eb, uint64_t v, unsigned base,
		       int min_digits)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	while (n < min_digits)
		tmp[n++] = '0';
	while (n-- > 0 && eb->len + 1 < eb->cap)
		eb->buf[eb->len++] = tmp[n];
	eb->buf[eb->len] = '\0';
}

void err_u64(struct errbuf *eb, uint64_t v)
{
	err_digits(eb, v, 10, 1);
}

void err_i64(struct errbuf *eb, int64_t v)
{
	if (v < 0) {
		err_str(eb, "-");
		err_digits(eb, (uint64_t)0 - (uint64_t)v, 10, 1);
	} else {
		err_digits(eb, (uint64_t)v, 10, 1);
	}
}

void err_hex(struct errbuf *eb, uintptr_t v)
{
	err_str(eb, "0x");
	err_digits(eb, v, 16, 1);
}

void err_bytes(struct errbuf *eb, const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (i)
			err_str(eb, " ");
		err_digits(eb, b[i], 16, 2);
	}
}

int err_set(int code, const char *s)
{
	struct errbuf eb;

	err_begin(&eb);
	err_str(&eb, s);
	return code;
}
