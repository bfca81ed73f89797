/* SPDX-License-Identifier: MIT */
/*
 * update.h - a request: what update.c (mark, check, publish, the entry
 * points) offers repair.c and ffi.c, and what the three files of the patch
 * step share: update.c, runs.c (runs of pages, the plain patch and its
 * rollback) and protocol.c (the cross-modification protocol). Not
 * installed.
 */
#ifndef STATIC_KEYS_UPDATE_H
#define STATIC_KEYS_UPDATE_H

#include "module.h"
#include "site.h"

/* Which bytes of each site a pass writes (the protocol's steps). */
enum patch_pass {
	PASS_ALL,  /* the whole site (arch_site_store in the protocol) */
	PASS_TRAP, /* the breakpoint over byte 0 */
	PASS_TAIL, /* the bytes after the breakpoint */
	PASS_HEAD, /* the breakpoint's bytes: the site is whole again */
};

#define KEY_PENDING(k) ((k)->flags & KEY_FLAG_PENDING)
#define KEY_TARGET(k) (((k)->flags & KEY_FLAG_TARGET) ? 1 : 0)
#define KEY_NEXT_PIN(k) (((k)->flags & KEY_FLAG_PIN_MASK) >> KEY_FLAG_PIN_SHIFT)

/* ---- update.c ----------------------------------------------------------- */

/*
 * A request (static_keys_apply) whose ops come from at(src, i, &op),
 * i < count; at() returns 0, or a code with the last-error text set.
 */
int update_apply(size_t count, const void *src,
		 int (*at)(const void *src, size_t i, struct static_key_op *op));

/*
 * Caller holds the module (module_lock). Patches every run of the marked
 * keys, all or nothing: 0, or a code with the last-error text set.
 */
int update_patch(struct module *m);

/* Clears every key's request bookkeeping (flags, cursor). */
void update_unmark(struct module *m);

/* ---- keys and sites of a request ---------------------------------------- */

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

/* The request's runs, one whole-site write each, all or nothing. */
int patch_plain(struct module *m);

/* ---- the protocol (protocol.c) ------------------------------------------ */

/* The request's runs through the cross-modification protocol. */
int patch_protocol(struct module *m);

#endif /* STATIC_KEYS_UPDATE_H */
