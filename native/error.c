/* SPDX-License-Identifier: MIT */
/*
 * error.c - the error text: words for codes, and the last-error text with
 * the builder every file of native/ writes it through. Formatting is done
 * by hand: the core calls no stdio, so it also builds freestanding
 * (os/none.c).
 */
#include "core.h"

/* The last-error text of this module (one per copy of the core). */
static char last_error[STATIC_KEYS_ERRBUF];

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

/* ---- last error --------------------------------------------------------- */

const char *static_keys_last_error(void)
{
	return last_error;
}

void err_clear(void)
{
	last_error[0] = '\0';
}

void err_begin(struct errbuf *eb)
{
	eb->buf = last_error;
	eb->cap = sizeof(last_error);
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

void err_refusal(struct errbuf *eb, const struct os_patch *p)
{
	err_str(eb, p->failed ? p->failed : "the OS layer");
	err_str(eb, " failed with error ");
	err_i64(eb, p->raw_error);
	if (p->transient) {
		err_str(eb, ", a transient refusal (");
		err_str(eb, p->transient);
		err_str(eb, "): nothing is kept from it, so try again once "
			    "that has passed");
	}
}
