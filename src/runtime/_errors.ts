// SPDX-License-Identifier: MIT
// Error classes, and unwrap(): the one place that turns a native status
// code into an exception.

import { type NativeSymbols, readCString } from "./_ffi.ts";
import type { BatchStep } from "./_types.ts";

/**
 * The status codes of the C ABI (`STATIC_KEYS_E*` in `static_keys.h`).
 *
 * @example Usage
 * ```ts
 * import { StatusCode } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * assert.equal(StatusCode.ENOKEY, -2);
 * ```
 */
export const StatusCode = {
  /** Success. */
  OK: 0,
  /** A pointer, index or state the module does not know. */
  EINVAL: -1,
  /** No key of that name or index. */
  ENOKEY: -2,
  /** A flip from a thread that did not initialise the module. */
  ETHREAD: -3,
  /** A site does not hold the bytes expected; nothing was written. */
  EBADSITE: -4,
  /** A jump target is out of the architecture's reach. */
  ERANGE: -5,
  /** The operating system refused to rewrite a code page. */
  EPATCH: -6,
  /** The patch strategy is not available on this system. */
  ENOTSUP: -7,
  /** An enable count would overflow or go below zero. */
  ECOUNT: -8,
  /** The module cannot be initialised (corrupt tables, wrong ABI). */
  EINIT: -9,
  /** Another call that changes the module is running on this thread. */
  EBUSY: -10,
  /** The OS refused to make a code page read+execute again: it is left writable and executable. */
  EWX: -11,
} as const;

/**
 * Options of {@linkcode StaticKeysError}.
 *
 * @example Usage
 * ```ts
 * import { type StaticKeysErrorOptions, StatusCode } from "@static-keys/deno";
 *
 * const options: StaticKeysErrorOptions = { code: StatusCode.EBUSY };
 * ```
 */
export interface StaticKeysErrorOptions extends ErrorOptions {
  /** The status code; see {@linkcode StatusCode}. */
  code: number;
}

/**
 * The base of every error this package raises for a static-keys condition.
 * `code` is the native status code ({@linkcode StatusCode}); errors raised
 * before any native call carry the code the native layer gives the same
 * condition (a closed handle is `EINVAL`, a library that cannot be loaded is
 * `EINIT`).
 *
 * @example Usage
 * ```ts
 * import { StaticKeysError, StatusCode } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * const error = new StaticKeysError("Cannot patch", { code: StatusCode.EPATCH });
 * assert.equal(error.code, -6);
 * ```
 */
export class StaticKeysError extends Error {
  /** The native status code, see {@linkcode StatusCode}. */
  readonly code: number;

  /**
   * Makes an error with a message and a status code.
   *
   * @param message The message, in std style.
   * @param options The status code, and optionally a cause.
   */
  constructor(message: string, options: StaticKeysErrorOptions) {
    super(message, options);
    this.name = "StaticKeysError";
    this.code = options.code;
  }
}

/**
 * A key name or index the module does not have (`ENOKEY`). `suggestions`
 * holds the closest existing names, and the message names them ("did you
 * mean ...?") or, when none is close, lists every key.
 *
 * @example Usage
 * ```ts
 * import { open, UnknownKeyError } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * using mod = open();
 * try {
 *   mod.key("tarcing");
 * } catch (error) {
 *   assert.ok(error instanceof UnknownKeyError);
 *   assert.equal(error.key, "tarcing");
 *   assert.deepEqual(error.suggestions, ["tracing"]);
 * }
 * ```
 */
export class UnknownKeyError extends StaticKeysError {
  /**
   * The name asked for; for a refusal of the native layer, the key the
   * call was about (`""` when it named none).
   */
  readonly key: string;
  /**
   * Existing names closest to `key` (at most three, within half their
   * length in edits), best first; empty when none is close.
   */
  readonly suggestions: readonly string[];

  /**
   * Makes the error for an unknown key.
   *
   * @param message The message.
   * @param key The name asked for.
   * @param suggestions The closest existing names.
   */
  constructor(message: string, key: string, suggestions: readonly string[]) {
    super(message, { code: StatusCode.ENOKEY });
    this.name = "UnknownKeyError";
    this.key = key;
    this.suggestions = suggestions;
  }
}

/**
 * A flip, or `open()`, from a thread other than the main thread (`ETHREAD`).
 * Raised inside a Web Worker before any native call, and when the native
 * layer refuses a foreign thread.
 *
 * @example Usage
 * ```ts
 * import { WrongThreadError } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new WrongThreadError("Cannot flip").code, -3);
 * ```
 */
export class WrongThreadError extends StaticKeysError {
  /**
   * Makes the error for a call from the wrong thread.
   *
   * @param message The message.
   */
  constructor(message: string) {
    super(message, { code: StatusCode.ETHREAD });
    this.name = "WrongThreadError";
  }
}

/**
 * A site does not hold the instruction the module expected (`EBADSITE`):
 * something else rewrote the code. Nothing was written.
 *
 * @example Usage
 * ```ts
 * import { BadSiteError } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new BadSiteError("Cannot patch").code, -4);
 * ```
 */
export class BadSiteError extends StaticKeysError {
  /**
   * Makes the error for a site that holds unexpected bytes.
   *
   * @param message The message, with the native detail.
   */
  constructor(message: string) {
    super(message, { code: StatusCode.EBADSITE });
    this.name = "BadSiteError";
  }
}

/**
 * A patch strategy this system does not offer (`ENOTSUP`).
 *
 * @example Usage
 * ```ts
 * import { UnsupportedStrategyError } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new UnsupportedStrategyError("Cannot use").code, -7);
 * ```
 */
export class UnsupportedStrategyError extends StaticKeysError {
  /**
   * Makes the error for an unavailable strategy.
   *
   * @param message The message, with the native detail.
   */
  constructor(message: string) {
    super(message, { code: StatusCode.ENOTSUP });
    this.name = "UnsupportedStrategyError";
  }
}

/**
 * An enable count that would overflow, or a `dec()` with no matching
 * `inc()` (`ECOUNT`).
 *
 * @example Usage
 * ```ts
 * import { KeyCountError } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new KeyCountError("Cannot dec").code, -8);
 * ```
 */
export class KeyCountError extends StaticKeysError {
  /**
   * Makes the error for a bad enable count.
   *
   * @param message The message, with the native detail.
   */
  constructor(message: string) {
    super(message, { code: StatusCode.ECOUNT });
    this.name = "KeyCountError";
  }
}

/**
 * A request the native layer refuses as malformed (`EINVAL`): a key asked
 * to be both enabled and disabled in one request, or a pointer, index or
 * state the module does not know. Nothing was changed; the message says
 * which change was wrong.
 *
 * @example Usage
 * ```ts
 * import { InvalidArgumentError, open } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * using mod = open();
 * assert.throws(
 *   () => mod.set([["tracing", true], ["tracing", false]]),
 *   InvalidArgumentError,
 * );
 * ```
 */
export class InvalidArgumentError extends StaticKeysError {
  /**
   * Makes the error for a malformed request.
   *
   * @param message The message, with the native detail and the fix.
   */
  constructor(message: string) {
    super(message, { code: StatusCode.EINVAL });
    this.name = "InvalidArgumentError";
  }
}

/**
 * A site whose jump target lies beyond the architecture's reach
 * (`ERANGE`): the key cannot be flipped as the library was built. Nothing
 * was written; the message names the site and the target.
 *
 * @example Usage
 * ```ts
 * import { OutOfReachError, StatusCode } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * const error = new OutOfReachError("Cannot flip key \"x\": out of reach");
 * assert.equal(error.code, StatusCode.ERANGE);
 * ```
 */
export class OutOfReachError extends StaticKeysError {
  /**
   * Makes the error for a target out of reach.
   *
   * @param message The message, with the native detail and the fix.
   */
  constructor(message: string) {
    super(message, { code: StatusCode.ERANGE });
    this.name = "OutOfReachError";
  }
}

/**
 * The operating system refused to rewrite a code page (`EPATCH`): a
 * security policy (SELinux, a seccomp filter, a kernel that forbids
 * writes through `/proc/self/mem`) or a failed system call. Every page was
 * restored and no key changed, unless the message says a restore failed
 * too (then call `repair()`). Another strategy may be allowed:
 * `mod.stats().strategies` lists them, `mod.setStrategy()` picks one.
 *
 * @example Usage
 * ```ts
 * import { PatchRefusedError, StatusCode } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * const error = new PatchRefusedError("Cannot patch pages: refused");
 * assert.equal(error.code, StatusCode.EPATCH);
 * ```
 */
export class PatchRefusedError extends StaticKeysError {
  /**
   * Makes the error for a patch the OS refused.
   *
   * @param message The message, with the native detail and the fix.
   */
  constructor(message: string) {
    super(message, { code: StatusCode.EPATCH });
    this.name = "PatchRefusedError";
  }
}

/**
 * Another call that changes the module is running on this thread
 * (`EBUSY`): this one came from code that interrupted it, such as a
 * signal handler. Nothing was changed; call again after the other returns.
 *
 * @example Usage
 * ```ts
 * import { BusyError, StatusCode } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new BusyError("Cannot flip").code, StatusCode.EBUSY);
 * ```
 */
export class BusyError extends StaticKeysError {
  /**
   * Makes the error for a module busy with another call.
   *
   * @param message The message, with the native detail.
   */
  constructor(message: string) {
    super(message, { code: StatusCode.EBUSY });
    this.name = "BusyError";
  }
}

/**
 * The OS refused to make a code page read+execute again after a patch
 * failed (`EWX`): that page is left writable and executable, and the
 * process has lost its W^X protection there. The message names the pages
 * and whether sites may disagree with their keys (then call `repair()`).
 * Restart the process, and prefer a strategy that never makes a page
 * writable (`procmem`, `remap`).
 *
 * @example Usage
 * ```ts
 * import { StatusCode, WxViolationError } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new WxViolationError("Cannot patch").code, StatusCode.EWX);
 * ```
 */
export class WxViolationError extends StaticKeysError {
  /**
   * Makes the error for a page left writable and executable.
   *
   * @param message The message, with the native detail and the fix.
   */
  constructor(message: string) {
    super(message, { code: StatusCode.EWX });
    this.name = "WxViolationError";
  }
}

/**
 * The module cannot be initialised (`EINIT` from the native layer): its
 * key or jump entry tables are corrupt (a record outside the module, two
 * entries for one site, two keys with one name, data placed in the key
 * sections by other means than `DEFINE_STATIC_KEY_*`), or the OS layer
 * cannot find the module's code. The message says which record is wrong;
 * `docs/init.md` lists what init checks.
 *
 * @example Usage
 * ```ts
 * import { ModuleInitError, StatusCode } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * const error = new ModuleInitError("Cannot init module: corrupt");
 * assert.equal(error.code, StatusCode.EINIT);
 * ```
 */
export class ModuleInitError extends StaticKeysError {
  /**
   * Makes the error for a module that cannot be initialised.
   *
   * @param message The message, with the native detail and the fix.
   */
  constructor(message: string) {
    super(message, { code: StatusCode.EINIT });
    this.name = "ModuleInitError";
  }
}

/**
 * Why a file is not a static-keys module (see {@linkcode NotAModuleError}):
 * `"directory"` (a folder, not a file), `"not-a-library"` (not a shared
 * library the loader can load here: not ELF, truncated, another
 * architecture), `"no-core"` (a library without the static-keys core),
 * `"hidden-exports"` (the core is linked, but a linker version script or
 * `--exclude-libs` hides its exports; see {@linkcode HiddenExportsError}),
 * `"no-exports"` (the C ABI is not exported, and the file could not be
 * read to tell which of the last two it is).
 *
 * @example Usage
 * ```ts
 * import type { NotAModuleReason } from "@static-keys/deno";
 *
 * const reason: NotAModuleReason = "hidden-exports";
 * ```
 */
export type NotAModuleReason =
  | "directory"
  | "not-a-library"
  | "no-core"
  | "hidden-exports"
  | "no-exports";

/**
 * `open()` of a file that is not a static-keys module (code `EINIT`): a
 * directory, a file the loader cannot load, or a library that does not
 * export the static-keys C ABI (`static_keys_ffi_*`). `reason` says which;
 * the message says what to do.
 *
 * @example Usage
 * ```ts
 * import { NotAModuleError, open } from "@static-keys/deno";
 *
 * function openPlugin(path: string) {
 *   try {
 *     return open(path);
 *   } catch (error) {
 *     if (!(error instanceof NotAModuleError)) throw error;
 *     console.error(`skipping ${error.path} (${error.reason}): ${error.message}`);
 *     return undefined;
 *   }
 * }
 * ```
 */
export class NotAModuleError extends StaticKeysError {
  /** The path of the file given to `open()`. */
  readonly path: string;
  /** Why it is not a module; see {@linkcode NotAModuleReason}. */
  readonly reason: NotAModuleReason;

  /**
   * Makes the error for a file that is not a static-keys module.
   *
   * @param message The message, naming the path and what to do.
   * @param path The path given to `open()`.
   * @param reason Why it is not a module.
   * @param options The loader's error as the cause, if any.
   */
  constructor(
    message: string,
    path: string,
    reason: NotAModuleReason,
    options?: ErrorOptions,
  ) {
    super(message, { code: StatusCode.EINIT, ...options });
    this.name = "NotAModuleError";
    this.path = path;
    this.reason = reason;
  }
}

/**
 * The static-keys core is linked into the library, but its exports are
 * hidden (code `EINIT`, `reason` `"hidden-exports"`): a linker version
 * script that ends in `local: *;`, or `-Wl,--exclude-libs,ALL`, keeps
 * `static_keys_ffi_*` out of the dynamic symbol table, so Deno cannot bind
 * them. Add `static_keys_ffi_*;` under `global:` in the version script, or
 * link with the package's own fragment next to yours (for a script with
 * named versions): `<prefix>/share/static-keys/static_keys.map`, also
 * `pkg-config --variable=versionscript static-keys` and
 * `StaticKeys_VERSION_SCRIPT` after `find_package(StaticKeys)`. Needs
 * `--allow-read` for the library to be told apart from a library without
 * the core.
 *
 * @example Usage
 * ```ts
 * import { HiddenExportsError, NotAModuleError } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * const error = new HiddenExportsError("Cannot open", "/x/libz.so", [
 *   "static_keys_ffi_abi_version",
 * ]);
 * assert.ok(error instanceof NotAModuleError);
 * assert.equal(error.reason, "hidden-exports");
 * ```
 */
export class HiddenExportsError extends NotAModuleError {
  /** The C ABI's functions that the library hides and `open()` binds. */
  readonly hidden: readonly string[];

  /**
   * Makes the error for a library that hides the core's exports.
   *
   * @param message The message, naming the exports and the fix.
   * @param path The library's path.
   * @param hidden The hidden functions.
   * @param options The loader's error as the cause, if any.
   */
  constructor(
    message: string,
    path: string,
    hidden: readonly string[],
    options?: ErrorOptions,
  ) {
    super(message, path, "hidden-exports", options);
    this.name = "HiddenExportsError";
    this.hidden = hidden;
  }
}

/**
 * The library's C ABI is not the version this module speaks (code
 * `EINIT`): it was built with an older or newer static-keys core than this
 * `mod.ts`. Also `sites()` of a library whose core is older than
 * `static_keys_ffi_sites` (`found` then equals `expected`: the export came
 * within the same ABI version). Rebuild the library against the C package
 * of this version (the build entry's `--prefix`), or import the version of
 * `@static-keys/deno` that matches it.
 *
 * @example Usage
 * ```ts
 * import { AbiMismatchError } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * const error = new AbiMismatchError("Cannot open", "/x/libmine.so", 2, 1);
 * assert.deepEqual([error.found, error.expected, error.code], [2, 1, -9]);
 * ```
 */
export class AbiMismatchError extends StaticKeysError {
  /** The library's path. */
  readonly path: string;
  /** The ABI version the library reports. */
  readonly found: number;
  /** The ABI version this module speaks. */
  readonly expected: number;

  /**
   * Makes the error for a library of another ABI version.
   *
   * @param message The message, naming both versions and the fix.
   * @param path The library's path.
   * @param found The library's ABI version.
   * @param expected This module's ABI version.
   */
  constructor(message: string, path: string, found: number, expected: number) {
    super(message, { code: StatusCode.EINIT });
    this.name = "AbiMismatchError";
    this.path = path;
    this.found = found;
    this.expected = expected;
  }
}

/**
 * A use of a module handle after `close()` (code `EINVAL`): every getter
 * and method except `path`, `closed` and `close()`, the handle's keys and
 * batches, and functions taken from its `symbols`. Open the library again
 * for a new handle.
 *
 * @example Usage
 * ```ts
 * import { ModuleClosedError, open } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * const mod = open();
 * mod.close();
 * assert.throws(() => mod.keys, ModuleClosedError);
 * ```
 */
export class ModuleClosedError extends StaticKeysError {
  /**
   * Makes the error for a closed handle.
   *
   * @param message The message.
   */
  constructor(message: string) {
    super(message, { code: StatusCode.EINVAL });
    this.name = "ModuleClosedError";
  }
}

/**
 * A batch was built but never applied (code `EINVAL`). `close()` throws it
 * after closing the handle, so a forgotten `apply()` cannot go unseen;
 * `changes` lists the changes of each batch that was lost.
 *
 * @example Usage
 * ```ts
 * import { open, UnappliedBatchError } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * const mod = open();
 * mod.batch().enable("tracing"); // no apply(): nothing changes
 * try {
 *   mod.close();
 * } catch (error) {
 *   assert.ok(error instanceof UnappliedBatchError);
 *   assert.deepEqual(error.changes, [[["tracing", true]]]);
 * }
 * assert.equal(mod.closed, true);
 * ```
 */
export class UnappliedBatchError extends StaticKeysError {
  /**
   * One entry per batch never applied, in the order they were built: its
   * steps as `[name, step]` pairs, as `Batch.changes` held them (`true` and
   * `false` for enable and disable; see `BatchStep`).
   */
  readonly changes: readonly (readonly (readonly [string, BatchStep])[])[];

  /**
   * Makes the error for batches never applied.
   *
   * @param message The message, listing the lost changes.
   * @param changes The changes of each lost batch.
   */
  constructor(
    message: string,
    changes: readonly (readonly (readonly [string, BatchStep])[])[],
  ) {
    super(message, { code: StatusCode.EINVAL });
    this.name = "UnappliedBatchError";
    this.changes = changes;
  }
}

/**
 * `open()` without `--allow-ffi` for the library's path (code `EINIT`).
 * Raised before `Deno.dlopen`; `path` is the path to grant.
 *
 * @example Usage
 * ```ts
 * import { FfiPermissionError, open } from "@static-keys/deno";
 *
 * function openMine(path: string) {
 *   try {
 *     return open(path);
 *   } catch (error) {
 *     if (!(error instanceof FfiPermissionError)) throw error;
 *     console.error(`run again with --allow-ffi=${error.path}`);
 *     return undefined;
 *   }
 * }
 * ```
 */
export class FfiPermissionError extends StaticKeysError {
  /**
   * The absolute path of the library that needs `--allow-ffi`, as the flag
   * takes it: `--allow-ffi=<path>`.
   */
  readonly path: string;

  /**
   * Makes the error for a missing `--allow-ffi`.
   *
   * @param message The message, naming the flag and the path.
   * @param path The library's path.
   */
  constructor(message: string, path: string) {
    super(message, { code: StatusCode.EINIT });
    this.name = "FfiPermissionError";
    this.path = path;
  }
}

/**
 * `open()` of a library file that does not exist (code `EINIT`); the message
 * names the path tried and what to do: check the path given to `open()` or
 * in `STATIC_KEYS_LIB`, or build the package's own library.
 *
 * @example Usage
 * ```ts
 * import { LibraryNotFoundError, open } from "@static-keys/deno";
 *
 * function openIfBuilt(path: string) {
 *   try {
 *     return open(path);
 *   } catch (error) {
 *     if (!(error instanceof LibraryNotFoundError)) throw error;
 *     console.error(`no library at ${error.path} yet`);
 *     return undefined;
 *   }
 * }
 * ```
 */
export class LibraryNotFoundError extends StaticKeysError {
  /**
   * The absolute path tried: the path given to `open()` or in
   * `STATIC_KEYS_LIB`, or, for the package's own library, the build
   * entry's cache path (a clone's `build/lib/` one when no cache
   * directory is set).
   */
  readonly path: string;

  /**
   * Makes the error for a missing library.
   *
   * @param message The message, naming the path and what to do.
   * @param path The path tried.
   * @param options The cause, if any.
   */
  constructor(message: string, path: string, options?: ErrorOptions) {
    super(message, { code: StatusCode.EINIT, ...options });
    this.name = "LibraryNotFoundError";
    this.path = path;
  }
}

/**
 * Why `open()` refused the library in the build entry's cache:
 * `"permission"` (it could not be checked: a flag is missing),
 * `"metadata"` (its metadata file is missing, unreadable, for another
 * version or names another file), `"file"` (the library or its metadata is
 * not a regular file, e.g. a symbolic link), `"owner"` (a file or folder
 * belongs to another user than you or root), `"mode"` (a file or folder is
 * writable by group or others), `"hash"` (its size or SHA-256 is not the
 * one the build recorded).
 *
 * @example Usage
 * ```ts
 * import type { UntrustedLibraryReason } from "@static-keys/deno";
 *
 * const reason: UntrustedLibraryReason = "owner";
 * ```
 */
export type UntrustedLibraryReason =
  | "permission"
  | "metadata"
  | "file"
  | "owner"
  | "mode"
  | "hash";

/**
 * `open()` without a path refused the library in the build entry's cache
 * (code `EINIT`): it could not be checked, or it is not the one the build
 * entry wrote there, or someone else than you or root could have replaced
 * it. Raised before `Deno.dlopen`, so none of the library's code ran.
 * `reason` says which check failed; the message names the file or folder
 * and what to do (usually: rebuild with the build entry).
 *
 * @example Usage
 * ```ts
 * import { open, UntrustedLibraryError } from "@static-keys/deno";
 *
 * function openPackage() {
 *   try {
 *     return open();
 *   } catch (error) {
 *     if (!(error instanceof UntrustedLibraryError)) throw error;
 *     console.error(`${error.reason}: ${error.message}`);
 *     return undefined;
 *   }
 * }
 * ```
 *
 * @example The fields
 * ```ts
 * import { UntrustedLibraryError } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * const error = new UntrustedLibraryError(
 *   'Cannot open the package\'s library "/c/libstatic_keys.so": ...',
 *   "/c/libstatic_keys.so",
 *   "hash",
 * );
 * assert.equal(error.code, -9);
 * assert.equal(error.reason, "hash");
 * ```
 */
export class UntrustedLibraryError extends StaticKeysError {
  /** The cached library's path. */
  readonly path: string;
  /** Which check failed; see {@linkcode UntrustedLibraryReason}. */
  readonly reason: UntrustedLibraryReason;

  /**
   * Makes the error for a cached library that was not loaded.
   *
   * @param message The message, naming what failed and what to do.
   * @param path The cached library's path.
   * @param reason Which check failed.
   * @param options The cause, if any.
   */
  constructor(
    message: string,
    path: string,
    reason: UntrustedLibraryReason,
    options?: ErrorOptions,
  ) {
    super(message, { code: StatusCode.EINIT, ...options });
    this.name = "UntrustedLibraryError";
    this.path = path;
    this.reason = reason;
  }
}

/**
 * `open()` of a file the loader would crash on (code `EINIT`): an ELF file
 * cut short, whose program or section headers point past its end. The
 * loader maps such a file and the process dies with `SIGBUS` when it
 * touches the missing pages, so `open()` checks the headers against the
 * file's size before `Deno.dlopen`, when `--allow-read` covers the file.
 * Without `--allow-read` of the library the check cannot run and such a
 * file may kill the process with `SIGBUS`: grant `--allow-read=<path>`
 * with `--allow-ffi=<path>`.
 *
 * @example Usage
 * ```ts
 * import { MalformedLibraryError } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * const error = new MalformedLibraryError(
 *   'Cannot open "/x/libcut.so": the file is cut short',
 *   "/x/libcut.so",
 * );
 * assert.equal(error.code, -9);
 * assert.equal(error.path, "/x/libcut.so");
 * ```
 */
export class MalformedLibraryError extends StaticKeysError {
  /** The library's path. */
  readonly path: string;

  /**
   * Makes the error for a library file the loader cannot map whole.
   *
   * @param message The message, naming the file and what is wrong.
   * @param path The library's path.
   */
  constructor(message: string, path: string) {
    super(message, { code: StatusCode.EINIT });
    this.name = "MalformedLibraryError";
    this.path = path;
  }
}

/**
 * What was missing when the build entry stopped: `"cmake"` or `"compiler"`
 * (a tool not installed), `"permission"` (a Deno flag), `"cache"` (a cache
 * directory that cannot be written, or that another user owns or others
 * may write, so what is in it cannot be trusted), `"prefix"` (an install prefix that
 * cannot be written, or a failed install), `"failed"` (CMake failed).
 *
 * @example Usage
 * ```ts
 * import type { BuildErrorReason } from "@static-keys/deno";
 *
 * const reason: BuildErrorReason = "cmake";
 * ```
 */
export type BuildErrorReason =
  | "cmake"
  | "compiler"
  | "permission"
  | "cache"
  | "prefix"
  | "failed";

/**
 * The build entry (`@static-keys/deno/build`) cannot build or install the
 * package's library (code `EINIT`). A missing permission, CMake or
 * writable directory is found before anything is written to the cache; a
 * missing C compiler or build program when CMake configures, and the cache
 * is left as it was. The message names the package or the flag to add.
 *
 * @example Usage
 * ```ts
 * import { BuildError } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * const error = new BuildError("Cannot build: cmake is not installed", "cmake");
 * assert.equal(error.reason, "cmake");
 * assert.equal(error.code, -9);
 * ```
 */
export class BuildError extends StaticKeysError {
  /**
   * What was missing, so a caller can react without parsing the message:
   * see {@linkcode BuildErrorReason}.
   */
  readonly reason: BuildErrorReason;

  /**
   * Makes the error for a build that cannot run or failed.
   *
   * @param message The message, naming what to install or grant.
   * @param reason What was missing.
   * @param options The cause, if any.
   */
  constructor(
    message: string,
    reason: BuildErrorReason,
    options?: ErrorOptions,
  ) {
    super(message, { code: StatusCode.EINIT, ...options });
    this.name = "BuildError";
    this.reason = reason;
  }
}

/**
 * What to do, per status code, appended to the native text unless it
 * already says so (`said` matches it). ETHREAD, EBADSITE, ENOTSUP and
 * ECOUNT texts carry their own.
 */
const FIXES: Partial<Record<number, { said: RegExp; fix: string }>> = {
  [StatusCode.EINVAL]: {
    said: /give each key one state/,
    fix: "nothing was changed; give each key one state in a request",
  },
  [StatusCode.ERANGE]: {
    said: /keep the/,
    fix: "rebuild the library so that each site's jump target lies within " +
      "one jump of it (keep a key's sites and the code they jump to in one " +
      "section, or the library's code smaller than the jump's reach)",
  },
  [StatusCode.EPATCH]: {
    // A transient refusal says to try again: that is the fix then.
    said: /setStrategy|try again/,
    fix: "pick another strategy with setStrategy() (stats().strategies " +
      "lists those this system offers), or allow what refused the write " +
      "(an SELinux execmod/execmem denial, a seccomp filter, a kernel that " +
      "forbids writes to /proc/self/mem)",
  },
  [StatusCode.EBUSY]: {
    said: /call again/,
    fix: "call again after the interrupted call returns",
  },
  [StatusCode.EWX]: {
    said: /restart the process/,
    fix: "the process has lost W^X protection on that page: restart the " +
      "process, and prefer a strategy that never makes a page writable " +
      '("procmem" or "remap")',
  },
  [StatusCode.EINIT]: {
    said: /docs\/init\.md/,
    fix: "rebuild the library with this version of the static-keys core, " +
      "and let only DEFINE_STATIC_KEY_* and static_branch_* place data in " +
      "its __static_keys sections (docs/init.md lists what init checks)",
  },
};

/** `text` with the fix for `code` after it, unless it says it already. */
function withFix(code: number, text: string): string {
  // The C call's name means nothing from Deno: name the method.
  const deno = text.replaceAll("static_keys_repair()", "repair()");
  const entry = FIXES[code];
  return entry && !entry.said.test(deno) ? `${deno}; ${entry.fix}` : deno;
}

/** The key a native call was about, for `ENOKEY`'s suggestions. */
export interface KeyContext {
  /** The key's name. */
  readonly name: string;
  /** Every key name of the module. */
  readonly names: readonly string[];
}

/**
 * Returns `code` when it is a success (>= 0); otherwise throws the error
 * class for it, with the native last-error text after `action` and what to
 * do. This is the one place that maps a native status code to a class;
 * `key` names the key the call was about, when there was one.
 */
export function unwrap(
  code: number,
  lib: NativeSymbols,
  action: string,
  key?: KeyContext,
): number {
  if (code >= 0) return code;
  // The native layer leaves the last-error text alone for a foreign thread,
  // so it may describe an older failure: use the code's sentence instead.
  const detail = code === StatusCode.ETHREAD
    ? ""
    : readCString(lib, lib.static_keys_ffi_last_error());
  const text = detail || readCString(lib, lib.static_keys_ffi_strerror(code));
  // The native text is a whole message when it names its own action.
  const message = withFix(
    code,
    text.startsWith("Cannot ")
      ? text
      : `${action}: ${text.charAt(0).toLowerCase()}${text.slice(1)}`,
  );
  switch (code) {
    case StatusCode.EINVAL:
      return fail(new InvalidArgumentError(message));
    case StatusCode.ENOKEY: {
      const name = key?.name ?? "";
      const others = key?.names.filter((n) => n !== name) ?? [];
      return fail(new UnknownKeyError(message, name, closest(name, others)));
    }
    case StatusCode.ETHREAD:
      return fail(new WrongThreadError(message));
    case StatusCode.EBADSITE:
      return fail(new BadSiteError(message));
    case StatusCode.ERANGE:
      return fail(new OutOfReachError(message));
    case StatusCode.EPATCH:
      return fail(new PatchRefusedError(message));
    case StatusCode.ENOTSUP:
      return fail(new UnsupportedStrategyError(message));
    case StatusCode.ECOUNT:
      return fail(new KeyCountError(message));
    case StatusCode.EINIT:
      return fail(new ModuleInitError(message));
    case StatusCode.EBUSY:
      return fail(new BusyError(message));
    case StatusCode.EWX:
      return fail(new WxViolationError(message));
    default:
      return fail(new StaticKeysError(message, { code }));
  }
}

function fail(error: Error): never {
  throw error;
}

/**
 * Edit distance with adjacent transpositions (optimal string alignment),
 * for "did you mean" suggestions: "tarce" is 1 from "trace". The work is
 * bounded by `limit`: only cells within `limit` of the diagonal are
 * computed, and any distance above `limit` comes back as `limit + 1`, at
 * once when the lengths differ by more. `work.cells`, when given, grows by
 * the number of cells computed (the tests check the bound with it).
 */
export function distance(
  a: string,
  b: string,
  limit = Infinity,
  work?: { cells: number },
): number {
  const over = limit + 1;
  if (Math.abs(a.length - b.length) > limit) return over;
  let older = new Array<number>(b.length + 1).fill(over);
  let prev = Array.from(
    { length: b.length + 1 },
    (_, j) => j > limit ? over : j,
  );
  let row = new Array<number>(b.length + 1).fill(over);
  for (let i = 1; i <= a.length; i++) {
    const lo = Math.max(1, i - limit);
    const hi = Math.min(b.length, i + limit);
    row[lo - 1] = lo === 1 && i <= limit ? i : over;
    let best = row[lo - 1];
    for (let j = lo; j <= hi; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, older[j - 2] + 1);
      }
      row[j] = Math.min(d, over);
      best = Math.min(best, row[j]);
    }
    if (work) work.cells += Math.max(0, hi - lo + 1);
    if (hi < b.length) row[hi + 1] = over;
    if (best > limit) return over;
    [older, prev, row] = [prev, row, older];
  }
  return Math.min(prev[b.length], over);
}

/** How far a name may be from a key to be suggested: half the longer. */
function near(name: string, key: string): number {
  return Math.max(2, Math.ceil(Math.max(name.length, key.length) / 2));
}

/**
 * Up to three names within half their length of `name`, best first. The
 * work is bounded: a name that cannot be near any key (more than twice as
 * long as the longest, plus 2) is compared with none, and the others
 * through `distance` with their limit as its band.
 */
export function closest(name: string, names: readonly string[]): string[] {
  const longest = names.reduce((n, key) => Math.max(n, key.length), 0);
  if (name.length > 2 * longest + 2) return [];
  const lower = name.toLowerCase();
  return names
    .map((n) => ({
      n,
      d: distance(lower, n.toLowerCase(), near(name, n)),
    }))
    .filter(({ n, d }) => d <= near(name, n))
    .sort((x, y) => x.d - y.d || x.n.localeCompare(y.n))
    .slice(0, 3)
    .map(({ n }) => n);
}

/** A name for a message: quoted, and cut short when it is long. */
export function quoteName(name: string): string {
  if (name.length <= 64) return `"${name}"`;
  return `"${name.slice(0, 32)}..." (${name.length} characters)`;
}

/** The error for a name the module does not have. */
export function unknownKey(
  name: string,
  path: string,
  names: readonly string[],
): UnknownKeyError {
  const suggestions = closest(name, names);
  const hint = suggestions.length
    ? `did you mean ${suggestions.map((s) => `"${s}"`).join(" or ")}?`
    : `the keys are ${
      [...names].sort().map((s) => `"${s}"`).join(", ") || "none"
    }`;
  return new UnknownKeyError(
    `Cannot find key ${quoteName(name)} in "${path}": ${hint}`,
    name,
    suggestions,
  );
}
