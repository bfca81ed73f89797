// SPDX-License-Identifier: MIT
// The only file that names native symbols: the C ABI of native/ffi.c.

/** The C ABI version this module speaks (STATIC_KEYS_ABI_VERSION). */
export const ABI_VERSION = 2;

/**
 * The u64 fields static_keys_ffi_stats writes, in order, by their C names
 * (FFI_STATS in native/ffi.c; tests/native_names_test.ts holds the two to
 * each other).
 */
export const STATS_FIELD_NAMES = [
  "strategy",
  "strategies",
  "keys",
  "entries",
  "page_size",
  "flips",
  "requests",
  "pages_patched",
  "syscalls",
  "last_pages",
  "last_syscalls",
  "runs",
  "last_runs",
  "concurrent",
  "protocol",
  "core_syncs",
  "traps",
] as const;

/** Number of u64 fields static_keys_ffi_stats writes. */
export const STATS_FIELDS = STATS_FIELD_NAMES.length;

/** One field of static_keys_ffi_stats, by its C name. */
export type StatsField = typeof STATS_FIELD_NAMES[number];

/** The fields static_keys_ffi_stats wrote into `raw`, by name. */
export function statsByName(raw: BigUint64Array): Record<StatsField, number> {
  return Object.fromEntries(
    STATS_FIELD_NAMES.map((name, i) => [name, Number(raw[i])]),
  ) as Record<StatsField, number>;
}

/** i32 fields static_keys_ffi_key_info writes. */
export const KEY_INFO_FIELDS = 5;

/** STATIC_KEY_OP_* of static_keys.h; bit 7 of an op byte is the state. */
export const KEY_OP = {
  set: 0,
  inc: 1,
  dec: 2,
  pin: 3,
  unpin: 4,
} as const;

/** STATIC_KEY_PIN_* of static_keys.h, as static_keys_ffi_key_info reports. */
export const KEY_PIN = { none: 0, off: 1, on: 2 } as const;

/** u64 fields per site static_keys_ffi_sites writes. */
export const SITE_FIELDS = 4;

/** u64 fields static_keys_ffi_symbolize writes. */
export const SYMBOL_FIELDS = 5;

/** Every symbol of native/ffi.c, C names verbatim. */
export const symbols = {
  static_keys_ffi_abi_version: { parameters: [], result: "u32" },
  static_keys_ffi_version: { parameters: [], result: "pointer" },
  static_keys_ffi_init: { parameters: [], result: "i32" },
  static_keys_ffi_key_count: { parameters: [], result: "i32" },
  static_keys_ffi_key_name: {
    parameters: [
      "u32", // uint32_t index
    ],
    result: "pointer",
  },
  static_keys_ffi_key_info: {
    parameters: [
      "u32", // uint32_t index
      "buffer", // int32_t out[5]
    ],
    result: "i32",
  },
  static_keys_ffi_find: {
    parameters: [
      "buffer", // const char *name
    ],
    result: "i32",
  },
  static_keys_ffi_set: {
    parameters: [
      "u32", // uint32_t index
      "i32", // int32_t enabled
    ],
    result: "i32",
  },
  static_keys_ffi_inc: {
    parameters: [
      "u32", // uint32_t index
    ],
    result: "i32",
  },
  static_keys_ffi_dec: {
    parameters: [
      "u32", // uint32_t index
    ],
    result: "i32",
  },
  static_keys_ffi_set_many: {
    parameters: [
      "buffer", // const uint32_t *indices
      "buffer", // const uint8_t *states
      "u32", // uint32_t count
    ],
    result: "i32",
  },
  // Optional only so that a library of an older ABI still loads far
  // enough for the version check to name what is wrong.
  static_keys_ffi_pin: {
    parameters: [
      "u32", // uint32_t index
      "i32", // int32_t state
    ],
    result: "i32",
    optional: true,
  },
  static_keys_ffi_apply: {
    parameters: [
      "buffer", // const uint32_t *indices
      "buffer", // const uint8_t *ops
      "u32", // uint32_t count
    ],
    result: "i32",
    optional: true,
  },
  static_keys_ffi_copy_string: {
    parameters: [
      "pointer", // const char *src
      "buffer", // uint8_t *dst
      "u32", // uint32_t cap
    ],
    result: "i32",
  },
  static_keys_ffi_last_error: { parameters: [], result: "pointer" },
  static_keys_ffi_strerror: {
    parameters: [
      "i32", // int32_t code
    ],
    result: "pointer",
  },
  static_keys_ffi_set_strategy: {
    parameters: [
      "i32", // int32_t strategy
    ],
    result: "i32",
  },
  static_keys_ffi_strategy_name: {
    parameters: [
      "i32", // int32_t strategy
    ],
    result: "pointer",
  },
  static_keys_ffi_repair: {
    parameters: [
      "buffer", // uint32_t *out
      "u32", // uint32_t count
    ],
    result: "i32",
  },
  static_keys_ffi_stats: {
    parameters: [
      "buffer", // uint64_t *out
      "u32", // uint32_t count
    ],
    result: "i32",
  },
  // Sites as data (optional: libraries built before them lack these).
  static_keys_ffi_sites: {
    parameters: [
      "u32", // uint32_t index
      "u32", // uint32_t first
      "buffer", // uint64_t *out
      "u32", // uint32_t cap
    ],
    result: "i32",
    optional: true,
  },
  static_keys_ffi_symbolize: {
    parameters: [
      "u64", // uint64_t addr
      "buffer", // uint64_t *out
      "buffer", // uint8_t *name
      "u32", // uint32_t name_cap
      "buffer", // uint8_t *path
      "u32", // uint32_t path_cap
    ],
    result: "i32",
    optional: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The native symbols, as Deno.dlopen types them. */
export type NativeSymbols = Deno.StaticForeignLibraryInterface<typeof symbols>;

/** A NUL-terminated C string for a `buffer` parameter. */
export function cString(s: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(s + "\0");
}

const decoder = new TextDecoder();
let scratch = new Uint8Array(256);

/**
 * Reads a C string the module owns, or "" for NULL. The module copies it:
 * Deno.UnsafePointerView needs an unscoped --allow-ffi.
 */
export function readCString(sym: NativeSymbols, p: Deno.PointerValue): string {
  if (p === null) return "";
  let length = sym.static_keys_ffi_copy_string(p, scratch, scratch.length);
  if (length > scratch.length) {
    scratch = new Uint8Array(length);
    length = sym.static_keys_ffi_copy_string(p, scratch, scratch.length);
  }
  return decoder.decode(scratch.subarray(0, length));
}
