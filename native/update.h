/* SPDX-License-Identifier: MIT */
/*
 * update.h - internals shared by the three files of a request, not by the
 * rest of native/: update.c (mark, check, publish, the entry points),
 * runs.c (runs of pages, the plain patch and its rollback) and protocol.c
 * (the cross-modification protocol). Not installed, not for the tests.
 */
#ifndef STATIC_KEYS_UPDATE_H
#define STATIC_KEYS_UPDATE_H

#include "core.h"

#include "arch/arch.h"

/* the library's namespace, as in os/os.h */
#define next_run       static_keys__next_run
#define run_done       static_keys__run_done
#define cursors_reset  static_keys__cursors_reset
#define run_patch      static_keys__run_patch
#define patch_error    static_keys__patch_error
#define err_refusal    static_keys__err_refusal
#define patch_plain    static_keys__patch_plain
#define patch_protocol static_keys__patch_protocol

/* Which bytes of each site a pass writes (the protocol's steps). */
enum patch_pass {
	PASS_ALL,  /* the whole site (arch_site_store in the protocol) */
	PASS_TRAP, /* the breakpoint over byte 0 */
	PASS_TAIL, /* the bytes after the breakpoint */
	PASS_HEAD, /* the breakpoint's bytes: the site is whole again */
};

#define KEYS_FOR_EACH(m, k)                                                    \
	for ((k) = (m)->sec.keys_start; (k) && (k) < (m)->sec.keys_stop; (k)++)
#define KEY_PENDING(k) ((k)->flags & KEY_FLAG_PENDING)
#define KEY_TARGET(k) (((k)->flags & KEY_FLAG_TARGET) ? 1 : 0)

/* ---- keys, sites and pages of a request --------------------------------- */

static inline int bytes_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	while (n--)
		if (*a++ != *b++)
			return 0;
	return 1;
}

/* A key whose sites this request rewrites (repair: its marked ones). */
static inline int key_moves(const struct static_key *k)
{
	return KEY_PENDING(k) &&
	       ((k->flags & KEY_FLAG_REPAIR) || KEY_TARGET(k) != k->enabled);
}

static inline int site_moves(const struct static_key *k,
			     const struct jump_entry *e)
{
	return !(k->flags & KEY_FLAG_REPAIR) || jump_entry_marked(e);
}

/* The state whose bytes a site of a moving key gets: new, or old on undo. */
static inline int site_state(const struct static_key *k, int old)
{
	if (!old)
		return KEY_TARGET(k);
	return (k->flags & KEY_FLAG_REPAIR) ? !k->enabled : k->enabled;
}

static inline uintptr_t page_down(const struct module *m, uintptr_t a)
{
	return a & ~(uintptr_t)(m->caps.page_size - 1);
}

static inline uintptr_t site_end_page(const struct module *m, uintptr_t code)
{
	return page_down(m, code + ARCH_JUMP_SIZE - 1) + m->caps.page_size;
}

/* ---- runs (runs.c) ------------------------------------------------------ */

/* The next run of pages with sites not yet patched; 0 when none is left. */
int next_run(struct module *m, uintptr_t *start, uintptr_t *end);

/* Moves each key's cursor past the sites of the run that ends at `end`. */
void run_done(struct module *m, uintptr_t end);

/* Every key's cursor back to its first site, to walk the runs again. */
void cursors_reset(struct module *m);

/*
 * One os_patch of [start, end): `pass` (enum patch_pass) of each moving
 * site, old bytes when `invert`. 0 or a code; *p reports the syscalls
 * made and, on failure, what failed.
 */
int run_patch(struct module *m, uintptr_t start, uintptr_t end, int invert,
	      int pass, struct os_patch *p);

/*
 * The last-error text of a failed request (rc), its rollback (undo_rc) and
 * the rollback's failed core synchronisation (usync, or NULL), after
 * reading every site of the module back: the text says which disagree
 * with their keys, and claims a restore only when none does.
 */
void patch_error(struct module *m, const struct os_patch *p, int rc,
		 uintptr_t start, uintptr_t end, int undo_rc,
		 const struct os_patch *usync);

/*
 * "<call> failed with error <n>" from p, and for a refusal that may pass
 * (p->transient), why and that trying again may work.
 */
void err_refusal(struct errbuf *eb, const struct os_patch *p);

/* The request's runs, one whole-site write each, all or nothing. */
int patch_plain(struct module *m);

/* ---- the protocol (protocol.c) ------------------------------------------ */

/* The request's runs through the cross-modification protocol. */
int patch_protocol(struct module *m);

#endif /* STATIC_KEYS_UPDATE_H */
