/* SPDX-License-Identifier: MIT */
/*
 * sites_walk_test.c - sites as data: static_key_sites lists every site of a
 * key in address order with its target and branch; the bytes it reports
 * are those at the site, equal to the arch's nop or jmp encoding for that
 * site, and it names the instruction before and after a flip. The Deno ABI
 * packs the same records, and os_symbolize names the exported function
 * holding a site.
 */
#include <stdint.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "check.h"
#include "core.h"
#include "static_keys.h"

DEFINE_STATIC_KEY_FALSE(walk_off);
DEFINE_STATIC_KEY_TRUE(walk_on);
DEFINE_STATIC_KEY_FALSE(walk_none); /* no site */

/* Two sites of walk_off (unlikely, likely) and one of walk_on. */
STATIC_KEYS_EXPORT __attribute__((noinline)) int walk_guarded(void)
{
	int n = 0;

	if (static_branch_unlikely(&walk_off))
		n |= 1;
	if (static_branch_likely(&walk_off))
		n |= 2;
	if (static_branch_likely(&walk_on))
		n |= 4;
	return n;
}

STATIC_KEYS_EXPORT int32_t static_keys_ffi_sites(uint32_t index, uint32_t first,
						  uint64_t *out, uint32_t cap);
STATIC_KEYS_EXPORT int32_t static_keys_ffi_symbolize(uint64_t addr,
						      uint64_t *out,
						      uint8_t *name,
						      uint32_t name_cap,
						      uint8_t *path,
						      uint32_t path_cap);

static int same(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, ARCH_JUMP_SIZE) == 0;
}

/* Every site's bytes are what the arch writes for the instruction named. */
static void check_sites(struct static_key *key, int want, const char *step)
{
	struct static_key_site s[4];
	uint8_t nop[ARCH_JUMP_SIZE], jmp[ARCH_JUMP_SIZE];
	int i, n = static_key_sites(key, 0, s, 4);

	CHECK(step, n == want);
	for (i = 0; i < n && i < 4; i++) {
		int insn = static_key_enabled((struct static_key_true *)key) ^
			   s[i].likely;

		arch_jump_nop(nop, s[i].code, s[i].target);
		arch_jump_jmp(jmp, s[i].code, s[i].target);
		CHECK(step, s[i].size == ARCH_JUMP_SIZE);
		CHECK(step, same(s[i].bytes, (const uint8_t *)s[i].code));
		CHECK(step, s[i].expected == insn);
		CHECK(step, s[i].insn == insn);
		CHECK(step, same(s[i].bytes, insn ? jmp : nop));
		if (i > 0)
			CHECK("sites come in address order",
			      s[i].code > s[i - 1].code);
		/* site and target are inside walk_guarded (a small function) */
		CHECK(step, s[i].code >= (uintptr_t)walk_guarded &&
				    s[i].code < (uintptr_t)walk_guarded + 256);
		CHECK(step, s[i].target != s[i].code);
	}
}

int main(void)
{
	struct static_key_site s[4], one;
	struct static_key stranger = {"stranger", NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	uint64_t rec[4 * 3], sym[5];
	uint8_t name[64], path[512];
	int index_off = -1, likely = 0, i;

	CHECK_OK("init", static_keys_init());
	CHECK("walk_guarded starts at 4", walk_guarded() == 4);

	CHECK("cap 0 counts", static_key_sites(&walk_off.key, 0, NULL, 0) == 2);
	CHECK("a key with no site has none",
	      static_key_sites(&walk_none.key, 0, s, 4) == 0);
	CHECK("a stranger key is refused",
	      static_key_sites(&stranger, 0, s, 4) == STATIC_KEYS_ENOKEY);
	CHECK("NULL out with room is refused",
	      static_key_sites(&walk_off.key, 0, NULL, 1) == STATIC_KEYS_EINVAL);

	static_key_sites(&walk_off.key, 0, s, 4);
	for (i = 0; i < 2; i++)
		likely += s[i].likely;
	CHECK("one likely and one unlikely site", likely == 1);
	CHECK("first = 1 gives the second site",
	      static_key_sites(&walk_off.key, 1, &one, 1) == 2 &&
		      one.code == s[1].code);

	check_sites(&walk_off.key, 2, "walk_off off");
	check_sites(&walk_on.key, 1, "walk_on on");

	CHECK_OK("flip both", static_keys_update(
				      (struct static_key_change[]){
					      {&walk_off.key, 1},
					      {&walk_on.key, 0}},
				      2));
	CHECK("walk_guarded now 3", walk_guarded() == 3);
	check_sites(&walk_off.key, 2, "walk_off on");
	check_sites(&walk_on.key, 1, "walk_on off");
	static_key_sites(&walk_off.key, 0, &one, 1);
	CHECK("the flip turned the first site's instruction over",
	      one.insn == !s[0].insn && !same(one.bytes, s[0].bytes));

	/* The Deno ABI: the same sites, packed in u64 records. */
	for (i = 0; (size_t)i < static_keys_count(); i++)
		if (static_keys_at((size_t)i) == &walk_off.key)
			index_off = i;
	CHECK("walk_off is in the table", index_off >= 0);
	memset(rec, 0xff, sizeof rec);
	CHECK("ffi: count", static_keys_ffi_sites((uint32_t)index_off, 0, rec, 3) == 2);
	static_key_sites(&walk_off.key, 0, s, 4);
	for (i = 0; i < 2; i++) {
		uint64_t bytes = 0;
		int b;

		for (b = 0; b < ARCH_JUMP_SIZE; b++)
			bytes |= (uint64_t)s[i].bytes[b] << (8 * b);
		CHECK("ffi: code", rec[4 * i] == s[i].code);
		CHECK("ffi: target", rec[4 * i + 1] == s[i].target);
		CHECK("ffi: flags", rec[4 * i + 2] == ((uint64_t)s[i].likely |
						       (uint64_t)s[i].insn << 8 |
						       (uint64_t)s[i].expected << 16 |
						       (uint64_t)ARCH_JUMP_SIZE << 24));
		CHECK("ffi: bytes", rec[4 * i + 3] == bytes);
	}
	CHECK("ffi: nothing written past the sites", rec[8] == UINT64_MAX);
	CHECK("ffi: unknown key index",
	      static_keys_ffi_sites(9999, 0, rec, 3) == STATIC_KEYS_ENOKEY);

	/* The loader names the exported function holding a site. */
	CHECK_OK("symbolize a site",
		 static_keys_ffi_symbolize(s[0].code, sym, name, sizeof name,
					   path, sizeof path));
	CHECK("symbolize: walk_guarded",
	      sym[3] == strlen("walk_guarded") &&
		      !memcmp(name, "walk_guarded", sym[3]));
	CHECK("symbolize: its start", sym[1] == (uintptr_t)walk_guarded);
#ifdef __GLIBC__
	CHECK("symbolize: glibc knows the site is inside it", sym[2] == 1);
#else
	CHECK("symbolize: the nearest export, extent unknown", sym[2] == 0);
#endif
	CHECK("symbolize: an image path", sym[4] > 0 && sym[4] <= sizeof path);
	CHECK("symbolize: an address no image holds",
	      static_keys_ffi_symbolize(8, sym, name, sizeof name, path,
					sizeof path) == STATIC_KEYS_ENOKEY);

#ifdef __linux__
	/* A site something else rewrote is neither nop nor jmp. */
	{
		long ps = sysconf(_SC_PAGESIZE);
		uintptr_t page = s[0].code & ~(uintptr_t)(ps - 1);
		size_t len = (size_t)(s[0].code + ARCH_JUMP_SIZE - page);
		uint8_t *at = (uint8_t *)s[0].code, keep = at[0];
		uint8_t other = (uint8_t)~keep;
		int writable;

		writable = !mprotect((void *)page, len,
				     PROT_READ | PROT_WRITE | PROT_EXEC);
		CHECK("the test can write its own text", writable);
		if (writable) {
			at[0] = other;
			static_key_sites(&walk_off.key, 0, &one, 1);
			at[0] = keep;
			mprotect((void *)page, len, PROT_READ | PROT_EXEC);
			CHECK("a foreign byte reads as other",
			      one.insn == STATIC_KEYS_INSN_OTHER &&
				      one.bytes[0] == other);
		}
	}
#endif

	CHECK_OK("flip back", static_keys_update(
				      (struct static_key_change[]){
					      {&walk_off.key, 0},
					      {&walk_on.key, 1}},
				      2));
	check_sites(&walk_off.key, 2, "walk_off off again");
	return check_summary();
}
