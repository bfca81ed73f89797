/* SPDX-License-Identifier: MIT */
/*
 * badsite_test.c - the old-bytes check (the kernel's "unexpected op"):
 * corrupt one site on purpose, and a request touching it is refused as a
 * whole with STATIC_KEYS_EBADSITE, every byte and every key as before.
 */
#include "check.h"
#include "plat.h"
#include "sites.h"
#include "static_keys.h"

DEFINE_STATIC_KEY_FALSE(good);
DEFINE_STATIC_KEY_FALSE(victim);

static int f_good(void)
{
	return static_branch_unlikely(&good) ? 1 : 0;
}

static int f_victim(void)
{
	int n = 0;

	if (static_branch_unlikely(&victim))
		n++;
	if (static_branch_likely(&victim))
		n++;
	return n;
}

/* Copies every site of key into buf (ARCH_JUMP_SIZE bytes each). */
static void snapshot(const struct static_key *k, uint8_t *buf)
{
	uint32_t i;

	for (i = 0; i < k->sites; i++)
		memcpy(buf + i * ARCH_JUMP_SIZE,
		       (const void *)jump_entry_code(&k->entries[i]), ARCH_JUMP_SIZE);
}

int main(void)
{
	uint8_t good_before[8 * ARCH_JUMP_SIZE], good_after[8 * ARCH_JUMP_SIZE];
	uint8_t victim_before[8 * ARCH_JUMP_SIZE], victim_after[8 * ARCH_JUMP_SIZE];
	uint8_t saved[ARCH_JUMP_SIZE], junk[ARCH_JUMP_SIZE];
	struct static_key_change both[2] = {{&good.key, 1}, {&victim.key, 1}};
	uint8_t *site;
	char hex[24];

	CHECK_OK("init", static_keys_init());
	CHECK("sites fit the snapshot", good.key.sites <= 8 && victim.key.sites >= 2 &&
					      victim.key.sites <= 8);

	/* Corrupt the last site of victim (a likely site: it holds a jmp). */
	site = (uint8_t *)jump_entry_code(&victim.key.entries[victim.key.sites - 1]);
	memcpy(saved, site, ARCH_JUMP_SIZE);
	memset(junk, 0xcc, sizeof junk);
	CHECK("poke", plat_poke_code(site, junk, ARCH_JUMP_SIZE) == 0);
	snapshot(&good.key, good_before);
	snapshot(&victim.key, victim_before);

	CHECK("batch refused", static_keys_update(both, 2) == STATIC_KEYS_EBADSITE);
	snprintf(hex, sizeof hex, "%lx", (unsigned long)(uintptr_t)site);
	CHECK("error names the address", strstr(static_keys_last_error(), hex) != NULL);
	CHECK("error shows the found bytes", strstr(static_keys_last_error(), "holds cc cc") != NULL);
	CHECK("error shows the expected bytes", strstr(static_keys_last_error(), "expected ") != NULL);
	CHECK("error names the key", strstr(static_keys_last_error(), "\"victim\"") != NULL);
	snapshot(&good.key, good_after);
	snapshot(&victim.key, victim_after);
	CHECK("good's sites untouched", !memcmp(good_before, good_after, good.key.sites * ARCH_JUMP_SIZE));
	CHECK("victim's sites untouched",
	      !memcmp(victim_before, victim_after, victim.key.sites * ARCH_JUMP_SIZE));
	CHECK("no key changed", !static_key_enabled(&good) && !static_key_enabled(&victim));
	CHECK("good still runs off", f_good() == 0);

	CHECK("single flip refused too", static_branch_enable(&victim) == STATIC_KEYS_EBADSITE);
	CHECK("victim still off", !static_key_enabled(&victim));

	/* A request that does not touch the corrupt site goes through. */
	CHECK_OK("good alone flips", static_branch_enable(&good));
	CHECK("good on", f_good() == 1);

	/* Repaired, the batch works. */
	CHECK("repair", plat_poke_code(site, saved, ARCH_JUMP_SIZE) == 0);
	CHECK_OK("batch after repair", static_keys_update(both, 2));
	CHECK("victim on", f_victim() == 2 && sites_match(&victim.key));
	CHECK("no wx", check_no_wx_mapping());
	return check_summary();
}
