/* SPDX-License-Identifier: MIT */
/*
 * core.h - internals shared by the native sources and the C tests; not installed.
 * The jump entry accessors, a key's request bookkeeping, and the last-error
 * builder: what every file of native/ needs, above the OS contract.
 */
#ifndef STATIC_KEYS_CORE_H
#define STATIC_KEYS_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "os/os.h"
#include "static_keys.h"

/* key->flags during one update */
#define KEY_FLAG_PENDING 0x1u /* in the current request */
#define KEY_FLAG_TARGET 0x2u  /* the state the request asks for */
#define KEY_FLAG_REPAIR 0x4u  /* repair: rewrite the marked sites only */
#define KEY_FLAG_SET 0x8u     /* a set op named the key ... */
#define KEY_FLAG_SET_ON 0x10u /* ... with the state on */
#define KEY_FLAG_PIN_SHIFT 5  /* bits 5-6: the pin the request leaves */
#define KEY_FLAG_PIN_MASK (3u << KEY_FLAG_PIN_SHIFT)

/*
 * key->reserved once init is done: KEY_SITES_CHECKED after a flip or a
 * repair found every site of the key holding the instruction its state
 * implies. Init reads no site (docs/init.md), so until then a site that
 * holds the other instruction is not known to be the entry's: repair
 * reports it and leaves it, as it does a site holding anything else.
 */
#define KEY_SITES_CHECKED 1u

/* room for a failed rollback's text: what failed, and what was read back */
#define STATIC_KEYS_ERRBUF 1024

/* ---- jump entry accessors (the only way native/ reads an entry) -------- */

static inline uintptr_t jump_entry_code(const struct jump_entry *e)
{
	return (uintptr_t)&e->code + (uintptr_t)(intptr_t)e->code;
}

static inline uintptr_t jump_entry_target(const struct jump_entry *e)
{
	return (uintptr_t)&e->target + (uintptr_t)(intptr_t)e->target;
}

static inline uintptr_t jump_entry_key_raw(const struct jump_entry *e)
{
#ifdef STATIC_KEYS_ENTRY_KEY_ABS
	return (uintptr_t)e->key;
#else
	/* sign-extends a 32-bit key offset (STATIC_KEYS_ENTRY_KEY_REL32) too */
	return (uintptr_t)&e->key + (uintptr_t)(intptr_t)e->key;
#endif
}

/*
 * Stores `key` (a key's address, with the branch in bit 0) in the entry's
 * key field, as jump_entry_key_raw() reads it back: for the tables built
 * at init and for the C tests and benchmarks that build entries.
 */
static inline void jump_entry_set_key(struct jump_entry *e, uintptr_t key)
{
#if defined(STATIC_KEYS_ENTRY_KEY_ABS)
	e->key = (intptr_t)key;
#elif defined(STATIC_KEYS_ENTRY_KEY_REL32)
	e->key = (int32_t)(uint32_t)(key - (uintptr_t)&e->key);
	e->key_pad = 0;
#else
	e->key = (intptr_t)(key - (uintptr_t)&e->key);
#endif
}

/*
 * Bit 1 of the key field: keys are 8-aligned, so it is free (the kernel
 * keeps two flags there too). Only repair sets it, and clears it again.
 */
#define JUMP_ENTRY_MARK ((uintptr_t)2)

static inline struct static_key *jump_entry_key(const struct jump_entry *e)
{
	return (struct static_key *)(jump_entry_key_raw(e) & ~(uintptr_t)3);
}

static inline int jump_entry_marked(const struct jump_entry *e)
{
	return (jump_entry_key_raw(e) & JUMP_ENTRY_MARK) != 0;
}

/* Sets or clears the mark; the same arithmetic for relative and absolute keys. */
static inline void jump_entry_mark(struct jump_entry *e, int on)
{
	if (on != jump_entry_marked(e))
		e->key += on ? 2 : -2;
}

/* 1 for static_branch_likely, 0 for static_branch_unlikely */
static inline int jump_entry_branch(const struct jump_entry *e)
{
	return (int)(jump_entry_key_raw(e) & 1);
}

/* 1 when the strings are equal (strcmp is not among what a freestanding
 * environment supplies: docs/freestanding.md). */
static inline int str_equal(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

/* ---- last error (error.c) ----------------------------------------------- */

struct errbuf {
	char *buf;
	size_t len;
	size_t cap;
};

void err_begin(struct errbuf *eb);
void err_str(struct errbuf *eb, const char *s);
void err_u64(struct errbuf *eb, uint64_t v);
void err_i64(struct errbuf *eb, int64_t v);
void err_hex(struct errbuf *eb, uintptr_t v);
void err_bytes(struct errbuf *eb, const uint8_t *b, size_t n);
void err_clear(void);
/* Sets the whole last-error text to s and returns code. */
int err_set(int code, const char *s);
/*
 * "<call> failed with error <n>" from p, and for a refusal that may pass
 * (p->transient), why and that trying again may work.
 */
void err_refusal(struct errbuf *eb, const struct os_patch *p);

#endif /* STATIC_KEYS_CORE_H */
