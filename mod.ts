// SPDX-License-Identifier: MIT
/**
 * Linux-kernel-style static keys for native code, driven from Deno.
 *
 * Native code marks a rarely-changed feature with a static branch: one
 * `nop` or `jmp` instruction and nothing else, so the check costs nothing.
 * Flipping the key rewrites every such instruction in the running process.
 * This module loads such a library with `Deno.dlopen`, lists its keys and
 * flips them, from the main thread only. It needs `--allow-ffi` for the
 * library's path.
 *
 * A short tour, on the package's own library (the build entry
 * `jsr:@static-keys/deno/build` compiles it once per version and machine,
 * see its docs; in a clone of the repository, `deno task build`):
 *
 * ```ts
 * import { open } from "@static-keys/deno";
 *
 * using mod = open(undefined, {
 *   symbols: {
 *     static_keys_demo_tracing: { parameters: [], result: "i32" },
 *   },
 * });
 * console.table(mod.keys); // a row per key, in the linker's order
 *
 * mod.key("tracing").enable(); // rewrites every tracing site
 * mod.symbols.static_keys_demo_tracing(); // 1: the branch is taken now
 *
 * mod.set({ tracing: false, checks: false }); // one all-or-nothing request
 * mod.batch().enable("experimental").enable("checks").apply();
 *
 * mod.key("checks").pin("off"); // forced off: local enable/inc only count
 * mod.batch().unpin("checks").inc("tracing").apply(); // counts, sets, pins
 *
 * const { strategy, lastPages, lastSyscalls } = mod.stats();
 * console.log(`${strategy}: ${lastSyscalls} syscalls for ${lastPages} pages`);
 * mod.key("experimental").disable();
 * ```
 *
 * Errors are classes, all extending {@linkcode StaticKeysError}, whose
 * `code` is the native status and whose message says what to do:
 * {@linkcode UnknownKeyError} (with suggestions), {@linkcode WrongThreadError},
 * {@linkcode ModuleClosedError}, {@linkcode UnappliedBatchError},
 * {@linkcode InvalidArgumentError}, {@linkcode BadSiteError},
 * {@linkcode PatchRefusedError}, {@linkcode OutOfReachError},
 * {@linkcode BusyError}, {@linkcode WxViolationError},
 * {@linkcode KeyCountError}, {@linkcode UnsupportedStrategyError}, and from
 * `open()`: {@linkcode FfiPermissionError}, {@linkcode LibraryNotFoundError},
 * {@linkcode NotAModuleError} ({@linkcode HiddenExportsError} when a linker
 * version script hides the core's exports), {@linkcode AbiMismatchError},
 * {@linkcode ModuleInitError}, {@linkcode MalformedLibraryError} (a file cut
 * short, refused before loading), {@linkcode UntrustedLibraryError} (a
 * cached library that failed its checks, refused before loading).
 *
 * @module
 */

export { open } from "./src/runtime/_open.ts";
export { type KeyChanges, StaticKeysModule } from "./src/runtime/_module.ts";
export { StaticKey } from "./src/runtime/_key.ts";
export { Batch } from "./src/runtime/_batch.ts";
export type { CodeLocation, Site } from "./src/runtime/_sites.ts";
export {
  type BatchStep,
  type KeyInfo,
  type OpenOptions,
  type Pin,
  type RepairReport,
  type Stats,
  STRATEGIES,
  type Strategy,
} from "./src/runtime/_types.ts";
export {
  AbiMismatchError,
  BadSiteError,
  BuildError,
  type BuildErrorReason,
  BusyError,
  FfiPermissionError,
  HiddenExportsError,
  InvalidArgumentError,
  KeyCountError,
  LibraryNotFoundError,
  MalformedLibraryError,
  ModuleClosedError,
  ModuleInitError,
  NotAModuleError,
  type NotAModuleReason,
  OutOfReachError,
  PatchRefusedError,
  StaticKeysError,
  type StaticKeysErrorOptions,
  StatusCode,
  UnappliedBatchError,
  UnknownKeyError,
  UnsupportedStrategyError,
  UntrustedLibraryError,
  type UntrustedLibraryReason,
  WrongThreadError,
  WxViolationError,
} from "./src/runtime/_errors.ts";
