/* SPDX-License-Identifier: MIT */
/*
 * ffi.c - the C ABI for Deno. Fixed-width types, int32 status codes, keys
 * addressed by their index in the module's key table. Every module that
 * links the core exports these, so mod.ts drives the package's dylib and a
 * user's dylib alike. Strings returned live as long as the module.
 */
#include "module.h"
#include "update.h"

/* Defined here and only here: every key refers to it (static_keys.h, "the
 * link guard"), so whatever links a key links this file's ABI too. */
STATIC_KEYS_LOCAL struct jump_entry STATIC_KEYS_CORE_GUARD[1];

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

/* out[0..4] = enabled, initial, sites, count, pin (STATIC_KEY_PIN_*). */
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
	out[4] = __atomic_load_n(&k->pin, __ATOMIC_RELAXED);
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
	*out = module_key(index);
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

/* Op i of a request names key number `index`: op->key, or ENOKEY. */
static int ffi_op_key(size_t i, uint32_t index, struct static_key_op *op)
{
	struct errbuf eb;

	op->key = static_keys_at(index);
	if (op->key)
		return 0;
	err_begin(&eb);
	err_str(&eb, "Cannot update keys: change ");
	err_u64(&eb, i);
	err_str(&eb, " names key number ");
	err_u64(&eb, index);
	err_str(&eb, ", past the end of the key table");
	return STATIC_KEYS_ENOKEY;
}

struct ffi_changes {
	const uint32_t *indices;
	const uint8_t *states;
};

static int ffi_change_at(const void *src, size_t i, struct static_key_op *op)
{
	const struct ffi_changes *c = src;

	op->op = STATIC_KEY_OP_SET;
	op->arg = c->states[i];
	return ffi_op_key(i, c->indices[i], op);
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
	return update_apply(count, &c, ffi_change_at);
}

/* Pins key `index` to `state` (0 or 1), or lifts its pin (state < 0). */
STATIC_KEYS_EXPORT int32_t static_keys_ffi_pin(uint32_t index, int32_t state)
{
	struct static_key *k;
	int rc = ffi_key(index, &k);

	if (rc)
		return rc;
	return state < 0 ? static_key_unpin(k) : static_key_pin(k, state);
}

struct ffi_ops {
	const uint32_t *indices;
	const uint8_t *ops;
};

static int ffi_op_at(const void *src, size_t i, struct static_key_op *op)
{
	const struct ffi_ops *c = src;
	uint8_t code = c->ops[i];

	/* bits 0-6: STATIC_KEY_OP_*, bit 7: the state of a set or pin */
	op->op = code & 0x7f;
	op->arg = code >> 7;
	return ffi_op_key(i, c->indices[i], op);
}

/*
 * One all-or-nothing request of counts, sets and pins (static_keys_apply):
 * op i is ops[i] on key indices[i], where ops[i] is STATIC_KEY_OP_* with
 * bit 7 set for the state on (SET and PIN).
 */
STATIC_KEYS_EXPORT int32_t static_keys_ffi_apply(const uint32_t *indices,
						 const uint8_t *ops,
						 uint32_t count)
{
	struct ffi_ops c = {indices, ops};

	if (count && (!indices || !ops))
		return err_set(STATIC_KEYS_EINVAL,
			       "Cannot update keys: indices or ops is NULL");
	return update_apply(count, &c, ffi_op_at);
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
 * Verify and repair (static_keys_repair). out[0..2] = sites, rewritten,
 * unknown over the module; out[3 + 3 * i + 0..2] the same for key i.
 * Writes at most `count` fields; returns how many there are (3 + 3 * keys)
 * or a negative code. On STATIC_KEYS_EBADSITE the fields are written too.
 */
_Static_assert(sizeof(struct static_keys_repair_report) == 3 * sizeof(uint32_t),
	       "the report is three uint32_t fields, as Deno reads them");

STATIC_KEYS_EXPORT int32_t static_keys_ffi_repair(uint32_t *out, uint32_t count)
{
	struct static_keys_repair_report total;
	size_t keys;
	int rc = module_ready();

	if (rc)
		return rc;
	keys = static_keys_count();
	if (count < 3 || !out)
		count = 0;
	rc = static_keys_repair(&total,
				count ? (struct static_keys_repair_report *)(out + 3)
				      : NULL,
				count ? (count - 3) / 3 : 0);
	if (count) {
		out[0] = total.sites;
		out[1] = total.rewritten;
		out[2] = total.unknown;
	}
	if (rc && rc != STATIC_KEYS_EBADSITE)
		return rc;
	return rc ? rc : (int32_t)(3 + 3 * keys);
}

/*
 * The stats as u64 fields, in this order: the table Deno reads them by
 * (STATS_FIELD_NAMES in src/runtime/_ffi.ts; tests/native_names_test.ts
 * holds the two to each other). Append only: an older core writes a
 * prefix (11 or 13 fields).
 */
#define FFI_STATS(X)                                                           \
	X(strategy)                                                            \
	X(strategies)                                                          \
	X(keys)                                                                \
	X(entries)                                                             \
	X(page_size)                                                           \
	X(flips)                                                               \
	X(requests)                                                            \
	X(pages_patched)                                                       \
	X(syscalls)                                                            \
	X(last_pages)                                                          \
	X(last_syscalls)                                                       \
	X(runs)                                                                \
	X(last_runs)                                                           \
	X(concurrent)                                                          \
	X(protocol)                                                            \
	X(core_syncs)                                                          \
	X(traps)

#define FFI_STATS_COUNT(field) +1
#define FFI_STATS_FIELDS (0 FFI_STATS(FFI_STATS_COUNT))

/*
 * Writes at most `count` of the FFI_STATS fields to out; returns how many
 * there are (17).
 */
STATIC_KEYS_EXPORT int32_t static_keys_ffi_stats(uint64_t *out, uint32_t count)
{
	struct static_keys_stats s;
	uint64_t all[FFI_STATS_FIELDS];
	uint32_t i = 0;
	int rc = static_keys_get_stats(&s);

	if (rc)
		return rc;
#define FFI_STATS_PUT(field) all[i++] = s.field;
	FFI_STATS(FFI_STATS_PUT)
#undef FFI_STATS_PUT
	for (i = 0; out && i < count && i < FFI_STATS_FIELDS; i++)
		out[i] = all[i];
	return FFI_STATS_FIELDS;
}

/*
 * Sites of key `index` from site `first`: out holds `cap` records of
 * FFI_SITE_FIELDS u64 each: code, target, flags (likely | insn << 8 |
 * expected << 16 | size << 24), and the bytes at code now, little-endian
 * (byte 0 lowest). Returns how many sites the key has, or a negative code.
 */
#define FFI_SITE_FIELDS 4
#define FFI_SITE_BATCH 16

_Static_assert(STATIC_KEYS_SITE_BYTES <= 8, "site bytes must fit one u64");

STATIC_KEYS_EXPORT int32_t static_keys_ffi_sites(uint32_t index,
						  uint32_t first,
						  uint64_t *out, uint32_t cap)
{
	struct static_key_site batch[FFI_SITE_BATCH];
	struct static_key *k;
	uint32_t done = 0;
	int total;
	int rc = ffi_key(index, &k);

	if (rc)
		return rc;
	if (cap && !out)
		return err_set(STATIC_KEYS_EINVAL,
			       "Cannot read sites: out is NULL");
	do {
		uint32_t n = cap - done < FFI_SITE_BATCH ? cap - done
							 : FFI_SITE_BATCH;
		uint32_t i, b;

		total = static_key_sites(k, (size_t)first + done, batch, n);
		if (total < 0)
			return total;
		for (i = 0; i < n && (size_t)first + done + i < (size_t)total;
		     i++) {
			uint64_t *rec = out + (size_t)(done + i) * FFI_SITE_FIELDS;
			uint64_t bytes = 0;

			for (b = 0; b < STATIC_KEYS_SITE_BYTES; b++)
				bytes |= (uint64_t)batch[i].bytes[b] << (8 * b);
			rec[0] = batch[i].code;
			rec[1] = batch[i].target;
			rec[2] = (uint64_t)batch[i].likely |
				 (uint64_t)batch[i].insn << 8 |
				 (uint64_t)batch[i].expected << 16 |
				 (uint64_t)batch[i].size << 24;
			rec[3] = bytes;
		}
		done += n;
	} while (done < cap && (size_t)first + done < (size_t)total);
	return total;
}

/*
 * What the loader knows about code address `addr`: out[0..4] = image base,
 * symbol start (0: none), exact (1: addr is inside that symbol), name
 * length, path length; the names go to name/path without a NUL, cut at
 * their caps (call again with more room if a length exceeds its cap).
 * 0, STATIC_KEYS_ENOKEY (no loaded image holds addr), or
 * STATIC_KEYS_ENOTSUP (no loader to ask).
 */
STATIC_KEYS_EXPORT int32_t static_keys_ffi_symbolize(uint64_t addr,
						      uint64_t *out,
						      uint8_t *name,
						      uint32_t name_cap,
						      uint8_t *path,
						      uint32_t path_cap)
{
	struct os_symbol sym = {0, 0, 0, 0, 0};
	int rc;

	if (!out || (name_cap && !name) || (path_cap && !path))
		return STATIC_KEYS_EINVAL;
	if ((uint64_t)(uintptr_t)addr != addr)
		return STATIC_KEYS_ENOKEY;
	rc = os_symbolize((uintptr_t)addr, &sym, (char *)name, name_cap,
			  (char *)path, path_cap);
	if (rc)
		return rc;
	out[0] = sym.base;
	out[1] = sym.start;
	out[2] = (uint64_t)sym.exact;
	out[3] = sym.name_len;
	out[4] = sym.path_len;
	return 0;
}
