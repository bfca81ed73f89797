/* SPDX-License-Identifier: MIT */
/*
 * padding_test.c - linkers may pad between the entry-section contributions
 * of different objects (PE grouped sections do). Padding here is made on
 * purpose: all-zero records placed in the entry section next to real ones.
 * Init must squeeze them out, and the key table, filled by two objects,
 * must list exactly the keys defined, each with a name.
 */
#include "check.h"
#include "padding.h"
#include "sites.h"

_Static_assert(sizeof(struct jump_entry) == PAD_ENTRY_BYTES,
	       "padding.h: PAD_ENTRY_* describe struct jump_entry");

DEFINE_STATIC_KEY_FALSE(pad_a);
DEFINE_STATIC_KEY_TRUE(pad_b);

/* Two zero records, as a linker's padding would look, then two sites. */
__attribute__((noinline)) static int pad_here(void)
{
	int n = 0;

	__asm__ volatile(STATIC_KEYS_ENTRY_PUSHSECTION "\n\t"
			 ".balign " PAD_ENTRY_ALIGN "\n\t"
			 ".fill 2 * " PAD_ENTRY_SIZE ", 1, 0\n\t"
			 STATIC_KEYS_ENTRY_POPSECTION);
	if (static_branch_unlikely(&pad_a))
		n |= 1;
	if (static_branch_likely(&pad_b))
		n |= 2;
	return n;
}

int main(void)
{
	static const char *const names[] = {"pad_a", "pad_b", "pad_c", "pad_d"};
	struct static_keys_stats st;
	struct os_sections sec;
	size_t i;
	int named = 1;

	CHECK_OK("init", static_keys_init());
	static_keys_get_stats(&st);
	CHECK("exactly the four keys", static_keys_count() == 4 && st.keys == 4);
	for (i = 0; i < static_keys_count(); i++)
		named &= static_keys_at(i) && static_keys_at(i)->name != NULL;
	CHECK("every listed key has a name", named);
	for (i = 0; i < 4; i++)
		CHECK(names[i], static_keys_find(names[i]) != NULL);
	CHECK("padding squeezed out: entries == sites",
	      st.entries == pad_a.key.sites + pad_b.key.sites + pad_c.key.sites +
				    pad_d.key.sites);
	CHECK("sites in both objects", pad_a.key.sites >= 1 && pad_c.key.sites >= 1);
	os_sections(&sec);
	CHECK("the entry section does hold padding",
	      (size_t)(sec.entries_stop - sec.entries_start) >= st.entries + 3);

	CHECK("initial", pad_here() == 2 && pad_other() == 0);
	CHECK_OK("flip all", static_keys_update((struct static_key_change[]){
							{&pad_a.key, 1},
							{&pad_b.key, 0},
							{&pad_c.key, 1},
							{&pad_d.key, 0}},
						4));
	CHECK("flipped", pad_here() == 1 && pad_other() == 3);
	CHECK("sites", sites_match(&pad_a.key) && sites_match(&pad_b.key) &&
			       sites_match(&pad_c.key) && sites_match(&pad_d.key));
	CHECK("no wx", check_no_wx_mapping());
	return check_summary();
}
