/* SPDX-License-Identifier: MIT */
/*
 * ffi.c - the C ABI for Deno. Fixed-width types, int32 status codes, keys
 * addressed by their index in the module's key table. Every module that
 * links the core exports these, so mod.ts drives the package's dylib and a
 * user's dylib alike. Strings returned live as long as the module.
 */
#include "core.h"

STATIC_KEYS_EXPORT uint32_t static_keys_ffi_abi_version(void)
{
	return STATIC_KEYS_ABI_VERSION;
}

STATIC_KEYS_EXPORT const char *static_keys_ffi_version(void)
{
	return STATIC_KEYS_VERSION " " ARCH_NAME;
}

STATIC_KEYS_EXPORT int32_t static_keys_ffi_init(void)
{
	return static_keys_init();
}

/* Number of keys (>= 0), or a negative code if init failed. */
STATIC_KEYS_EXPORT int32_t static_keys_ffi_key_count(void)
{
	int rc = module_ready();

	return rc ? rc : (int32_t)static_keys_count();
}

/* The key's name, or NULL past the end. */
STATIC_KEYS_EXPORT const char *static_keys_ffi_key_name(uint32_t index)
{
	struct static_key *k = static_keys_at(index);

	return k ? k->name : NULL;
}

/* out[0..3] = enabled, initial, sites, count. */
STATIC_KEYS_EXPORT int32_t static_keys_ffi_key_info(uint32_t index,
						    int32_t *out)
{
	struct static_key *k = static_keys_at(index);

	if (!out)
		return STATIC_KEYS_EINVAL;
	if (!k)
		return STATIC_KEYS_ENOKEY;
	out[0] = __atomic_load_n(&k->enabled, __ATOMIC_ACQUIRE);
	out[1] = k->type;
	out[2] = (int32_t)k->sites;
	out[3] = __atomic_load_n(&k->count, __ATOMIC_RELAXED);
	return 0;
}

/* Index of the key named `name` (>= 0), or STATIC_KEYS_ENOKEY. */
STATIC_KEYS_EXPORT int32_t static_keys_ffi_find(const char *name)
{
	struct static_key *k = static_keys_find(name);

	if (!k)
		return STATIC_KEYS_ENOKEY;
	return (int32_t)(k - static_keys_at(0));
}

static int ffi_key(uint32_t index, struct static_key **out)
{
	int rc = module_ready();

	if (rc)
		return rc;
	*out = static_keys_at(index);
	if (!*out) {
		struct errbuf eb;

		err_begin(&eb);
		err_str(&eb, "Cannot find key number ");
		err_u64(&eb, index);
		err_str(&eb, ": the module has ");
		err_u64(&eb, static_keys_count());
		err_str(&eb, " keys");
		return STATIC_KEYS_ENOKEY;
	}
	return 0;
}

STATIC_KEYS_EXPORT int32_t static_keys_ffi_set(uint32_t index, int32_t enabled)
{
	struct static_key *k;
	int rc = ffi_key(index, &k);

	return rc ? rc : static_key_set(k, enabled);
}

STATIC_KEYS_EXPORT int32_t static_keys_ffi_inc(uint32_t index)
{
	struct static_key *k;
	int rc = ffi_key(index, &k);

	return rc ? rc : static_key_slow_inc(k);
}

STATIC_KEYS_EXPORT int32_t static_keys_ffi_dec(uint32_t index)
{
	struct static_key *k;
	int rc = ffi_key(index, &k);

	return rc ? rc : static_key_slow_dec(k);
}

struct ffi_changes {
	const uint32_t *indices;
	const uint8_t *states;
};

static int ffi_change_at(const void *src, size_t i, struct static_key **key,
			 int *enabled)
{
	const struct ffi_changes *c = src;

	*key = static_keys_at(c->indices[i]);
	*enabled = c->states[i];
	if (*key)
		return 0;
	{
		struct errbuf eb;

		err_begin(&eb);
		err_str(&eb, "Cannot update keys: change ");
		err_u64(&eb, i);
		err_str(&eb, " names key number ");
		err_u64(&eb, c->indices[i]);
		err_str(&eb, ", past the end of the key table");
	}
	return STATIC_KEYS_ENOKEY;
}

/* One all-or-nothing request: key indices[i] takes states[i] (0 or 1). */
STATIC_KEYS_EXPORT int32_t static_keys_ffi_set_many(const uint32_t *indices,
						    const uint8_t *states,
						    uint32_t count)
{
	struct ffi_changes c = {indices, states};

	if (count && (!indices || !states))
		return err_set(STATIC_KEYS_EINVAL,
			       "Cannot update keys: indices or states is NULL");
	return static_keys_update_request(count, &c, ffi_change_at);
}

/*
 * Copies the C string `src` (one this ABI returned) into dst[0..cap) without
 * a terminating NUL and returns its full length; a caller whose buffer was
 * too small calls again with a larger one. Deno reads pointers only with an
 * unscoped --allow-ffi; this lets mod.ts work with --allow-ffi=<path>.
 */
STATIC_KEYS_EXPORT int32_t static_keys_ffi_copy_string(const char *src,
							uint8_t *dst,
							uint32_t cap)
{
	uint32_t n;

	if (!src)
		return 0;
	for (n = 0; src[n] && n < INT32_MAX; n++)
		if (n < cap && dst)
			dst[n] = (uint8_t)src[n];
	return (int32_t)n;
}

STATIC_KEYS_EXPORT const char *static_keys_ffi_last_error(void)
{
	return static_keys_last_error();
}

STATIC_KEYS_EXPORT const char *static_keys_ffi_strerror(int32_t code)
{
	return static_keys_strerror(code);
}

STATIC_KEYS_EXPORT int32_t static_keys_ffi_set_strategy(int32_t strategy)
{
	return static_keys_set_strategy(strategy);
}

STATIC_KEYS_EXPORT const char *static_keys_ffi_strategy_name(int32_t strategy)
{
	return static_keys_strategy_name(strategy);
}

/*
 * out[0..12] = strategy, strategies, keys, entries, page_size, flips,
 * requests, pages_patched, syscalls, last_pages, last_syscalls, runs,
 * last_runs. Writes at most `count` fields; returns how many there are (13).
 */
#define FFI_STATS_FIELDS 13

STATIC_KEYS_EXPORT int32_t static_keys_ffi_stats(uint64_t *out, uint32_t count)
{
	struct static_keys_stats s;
	uint64_t all[FFI_STATS_FIELDS];
	uint32_t i;
	int rc = static_keys_get_stats(&s);

	if (rc)
		return rc;
	all[0] = s.strategy;
	all[1] = s.strategies;
	all[2] = s.keys;
	all[3] = s.entries;
	all[4] = s.page_size;
	all[5] = s.flips;
	all[6] = s.requests;
	all[7] = s.pages_patched;
	all[8] = s.syscalls;
	all[9] = s.last_pages;
	all[10] = s.last_syscalls;
	all[11] = s.runs;
	all[12] = s.last_runs;
	for (i = 0; out && i < count && i < FFI_STATS_FIELDS; i++)
		out[i] = all[i];
	return FFI_STATS_FIELDS;
}
