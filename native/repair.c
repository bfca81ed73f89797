/* SPDX-License-Identifier: MIT */
/*
 * repair.c - verify and repair (static_keys_repair in static_keys.h): make
 * every site agree with its key's state again, e.g. after a rollback the
 * OS refused. Each site is compared with the two instructions it may hold;
 * one holding the other instruction is marked (JUMP_ENTRY_MARK) and its key
 * joins a request that update_patch carries out like a flip: one os_patch
 * per run of pages, all or nothing. A site holding neither is left alone,
 * and so is a breakpoint unless the mark says a refused restore of ours
 * left it (protocol.c marks those; the mark outlives a failed repair).
 */
#include "update.h"

/*
 * What repair does with site e: SITE_AGREES (leave it), SITE_OTHER
 * (rewrite it) or SITE_UNKNOWN (leave it, report it). A flip whose restore
 * the OS refused half way leaves the protocol's breakpoint over byte 0
 * (threads meeting it are sent on by the key's state), and marks the
 * site: ours to rewrite, whichever instruction the tail is from. An
 * unmarked breakpoint is a debugger's or a uprobe's (gdb writes exactly
 * this), and is left alone. So is the other instruction at a site of a
 * key whose sites no flip or repair has found whole yet (init reads no
 * site, KEY_SITES_CHECKED): the entry may not describe that site.
 */
static enum site_state repair_kind(const struct static_key *k,
				   const struct jump_entry *e)
{
	enum site_state state = site_read(e, k->enabled);

	if (state == SITE_TRAPPED || state == SITE_TRAPPED_OTHER)
		return jump_entry_marked(e) ? SITE_OTHER : SITE_UNKNOWN;
	if (state == SITE_OTHER && !(k->reserved & KEY_SITES_CHECKED))
		return SITE_UNKNOWN;
	return state;
}

static void report_set(struct static_keys_repair_report *r, uint32_t sites,
		       uint32_t rewritten, uint32_t unknown)
{
	r->sites = sites;
	r->rewritten = rewritten;
	r->unknown = unknown;
}

static int unknown_site(const struct static_key *k, const struct jump_entry *e,
			uint32_t unknown, uint32_t rewritten)
{
	uint8_t other[ARCH_JUMP_SIZE];
	struct errbuf eb;

	err_begin(&eb);
	err_str(&eb, "Cannot repair key \"");
	err_str(&eb, k->name);
	err_str(&eb, "\": ");
	site_mismatch(&eb, e, k->enabled);
	if (site_read(e, k->enabled) == SITE_OTHER) {
		/* a key not checked yet (repair_kind) */
		err_str(&eb, ", the other instruction, and no flip or repair "
			     "has found this key's sites whole since the "
			     "module was loaded: its entry may not describe "
			     "this site, so it was left as it is (");
	} else {
		err_str(&eb, " or the other instruction ");
		site_bytes(e, !k->enabled, other);
		err_bytes(&eb, other, ARCH_JUMP_SIZE);
		err_str(&eb, "; something else rewrote it (a debugger?), so "
			     "it was left as it is (");
	}
	err_u64(&eb, unknown);
	err_str(&eb, " such sites; ");
	err_u64(&eb, rewritten);
	err_str(&eb, " other sites were rewritten)");
	return STATIC_KEYS_EBADSITE;
}

/* Marks the sites to rewrite; fills the report. Returns sites marked. */
static uint32_t repair_mark(struct module *m,
			    struct static_keys_repair_report *total,
			    struct static_keys_repair_report *per_key,
			    size_t count, const struct jump_entry **bad)
{
	struct static_key *k;
	size_t i = 0;

	report_set(total, 0, 0, 0);
	for (k = m->sec.keys_start; k && k < m->sec.keys_stop; k++, i++) {
		uint32_t j, rewritten = 0, unknown = 0;

		for (j = 0; j < k->sites; j++) {
			enum site_state kind = repair_kind(k, &k->entries[j]);

			jump_entry_mark(&k->entries[j], kind == SITE_OTHER);
			if (kind == SITE_OTHER) {
				rewritten++;
			} else if (kind == SITE_UNKNOWN) {
				unknown++;
				if (!*bad)
					*bad = &k->entries[j];
			}
		}
		if (rewritten)
			k->flags = (uint8_t)(KEY_FLAG_PENDING | KEY_FLAG_REPAIR |
					      (k->enabled ? KEY_FLAG_TARGET : 0));
		else if (!unknown) /* every site agrees */
			k->reserved = KEY_SITES_CHECKED;
		if (per_key && i < count)
			report_set(&per_key[i], k->sites, rewritten, unknown);
		report_set(total, total->sites + k->sites,
			   total->rewritten + rewritten, total->unknown + unknown);
	}
	return total->rewritten;
}

static void repair_unmark(struct module *m, int failed,
			  struct static_keys_repair_report *total,
			  struct static_keys_repair_report *per_key,
			  size_t count)
{
	struct static_key *k;
	size_t i = 0;
	uint32_t j;

	for (k = m->sec.keys_start; k && k < m->sec.keys_stop; k++, i++) {
		/* after a failure, our breakpoints left at sites stay marked */
		for (j = 0; j < k->sites; j++)
			jump_entry_mark(&k->entries[j],
					failed && jump_entry_marked(&k->entries[j]) &&
						site_trapped(jump_entry_code(&k->entries[j])));
		if (failed && per_key && i < count)
			per_key[i].rewritten = 0;
	}
	if (failed)
		total->rewritten = 0;
	update_unmark(m);
}

int static_keys_repair(struct static_keys_repair_report *total,
		       struct static_keys_repair_report *per_key, size_t count)
{
	struct module *m = &this_module;
	struct static_keys_repair_report sum;
	const struct jump_entry *bad = NULL;
	int rc = module_lock("Cannot repair keys");

	if (rc)
		return rc;
	err_clear();
	if (repair_mark(m, &sum, per_key, count, &bad)) {
		rc = update_patch(m);
		if (!rc)
			m->stats.requests++;
	}
	repair_unmark(m, rc != 0, &sum, per_key, count);
	if (!rc && bad)
		rc = unknown_site(jump_entry_key(bad), bad, sum.unknown,
				  sum.rewritten);
	if (total)
		report_set(total, sum.sites, sum.rewritten, sum.unknown);
	module_unlock();
	return rc;
}
