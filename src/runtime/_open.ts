// SPDX-License-Identifier: MIT
// open(): guards, library path, dlopen, init.

import {
  FfiPermissionError,
  LibraryNotFoundError,
  UntrustedLibraryError,
} from "./_errors.ts";
import { assertLibraryChosen, assertMainThread, readEnv } from "./_guards.ts";
import {
  type DefaultLibrary,
  type Library,
  LIBRARY_ENV,
  loadLibrary,
  locateDefaultLibrary,
  resolveLibraryPath,
} from "./_library.ts";
import { verifyCachedLibrary } from "./_trust.ts";
import { StaticKeysModule } from "./_module.ts";
import type { OpenOptions } from "./_types.ts";

/**
 * Opens a module: the package's library when `path` is omitted
 * (`STATIC_KEYS_LIB` if set, else `build/lib/` next to a local `mod.ts`,
 * else the cache of `@static-keys/deno/build`), or your own library that
 * links the static-keys core, given as a path (relative to the working
 * directory) or a `file:` URL such as `new URL("./libmine.so",
 * import.meta.url)`. Checks the thread and the `--allow-ffi` permission
 * before loading anything, then checks the C ABI version and initialises
 * the module on the main thread.
 *
 * A library from the build entry's cache is loaded only when it is the one
 * the build entry wrote: its size and SHA-256 match the build's metadata,
 * and it, its metadata and every folder up to the cache root belong to you
 * or root and are not writable by group or others. Checking needs
 * `--allow-read=<cache>` and `--allow-sys=uid` (see docs/security.md). A
 * path you give, or `STATIC_KEYS_LIB`, is loaded as it is.
 * `STATIC_KEYS_LIB` is read only with `--allow-env=STATIC_KEYS_LIB` (Deno
 * cannot tell whether it is set without it); unread, it counts as unset
 * when `--allow-ffi` is scoped to the package's library, and an unscoped
 * `--allow-ffi` is refused rather than loading the package's library in
 * place of the one the variable may name. With
 * `--allow-read` of an ELF library, a file cut short is refused before the
 * loader could crash on it.
 *
 * The symbols keep their exact types: `S` is a `const` type parameter, so
 * `parameters: ["u32"]` types the function as `(a: number) => ...` and a
 * call with the wrong number of arguments fails `deno check`.
 *
 * @typeParam S The user's own symbols.
 * @param path The library's path or `file:` URL, or `undefined` for the
 *   package's.
 * @param options More symbols to bind, and the strategy to use; see
 *   {@linkcode OpenOptions}.
 * @returns A disposable handle over the module.
 * @throws {WrongThreadError} Inside a Web Worker.
 * @throws {FfiPermissionError} Without `--allow-ffi` for the path; without
 *   a path, with an unscoped `--allow-ffi` and no `--allow-env` for
 *   `STATIC_KEYS_LIB`.
 * @throws {LibraryNotFoundError} If the file does not exist; for the
 *   package's own library the message says how to build it.
 * @throws {UntrustedLibraryError} If the library in the build entry's
 *   cache cannot be checked or fails a check; nothing of it ran.
 * @throws {MalformedLibraryError} If the file is cut short.
 * @throws {NotAModuleError} If the file is a directory, not a library
 *   this system can load, or a library without the static-keys C ABI
 *   ({@linkcode HiddenExportsError} when a version script hides it).
 * @throws {AbiMismatchError} If the library speaks another C ABI version.
 * @throws {ModuleInitError} If the library's key tables are corrupt.
 * @throws {TypeError} If `path` or `options` have the wrong type, or a
 *   URL is not a `file:` URL.
 *
 * @example Usage
 * ```ts
 * import { open } from "@static-keys/deno";
 *
 * using mod = open();
 * console.log(mod.keys);
 * mod.key("tracing").enable();
 * mod.key("tracing").disable();
 * ```
 *
 * @example A URL, and your own symbols
 * ```ts
 * import { open } from "@static-keys/deno";
 * import { pathToFileURL } from "node:url";
 * import assert from "node:assert/strict";
 *
 * using first = open(); // the package's library; a URL to yours works alike
 * using mod = open(pathToFileURL(first.path), {
 *   symbols: { static_keys_demo_tracing: { parameters: [], result: "i32" } },
 * });
 * const taken = mod.symbols.static_keys_demo_tracing() === 1;
 * assert.equal(taken, mod.key("tracing").enabled);
 * ```
 */
export function open<
  const S extends Deno.ForeignLibraryInterface = Record<never, never>,
>(path?: string | URL, options: OpenOptions<S> = {}): StaticKeysModule<S> {
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `Cannot open library: options must be an object, got ${typeof options}`,
    );
  }
  const symbols = options.symbols ?? ({} as S);
  const where = path === undefined ? "the package's library" : `"${path}"`;
  assertMainThread(`Cannot open ${where}`);
  let found: DefaultLibrary | undefined;
  if (path === undefined) {
    try {
      found = locateDefaultLibrary();
    } catch (error) {
      throw withEnvNote(error);
    }
    // Never the package's library in place of STATIC_KEYS_LIB's unseen.
    assertLibraryChosen(found.path, LIBRARY_ENV);
  }
  let resolved: string;
  let lib: Library<S>;
  try {
    if (found !== undefined) {
      resolved = found.path;
      // The build entry's cache: only the library it wrote there, checked
      // before anything of it runs.
      if (found.cacheRoot !== undefined) {
        verifyCachedLibrary(found.cacheRoot, resolved);
      }
    } else {
      resolved = resolveLibraryPath(path);
    }
    lib = loadLibrary(resolved, symbols, missingHint(path));
  } catch (error) {
    throw found !== undefined ? withEnvNote(error) : error;
  }
  let mod: StaticKeysModule<S> | undefined;
  try {
    mod = new StaticKeysModule(lib, resolved, Object.keys(symbols));
    if (options.strategy !== undefined) mod.setStrategy(options.strategy);
    return mod;
  } catch (error) {
    if (mod) mod.close(); // also drops its exit listener
    else lib.raw.close();
    throw error;
  }
}

/** What to do about a missing library, by where its path came from. */
function missingHint(path?: string | URL): string | undefined {
  if (path !== undefined) return "no such file, check the path given to open()";
  if (readEnv(LIBRARY_ENV)) {
    return `no such file, check ${LIBRARY_ENV} or unset it to use the package's library`;
  }
  return undefined; // the package's own library: loadLibrary says how to build it
}

/**
 * Without --allow-env the variable reads as unset, so the package's library
 * was tried instead of the one it may name: say so when that fails.
 */
function withEnvNote(error: unknown): unknown {
  const env = Deno.permissions.querySync({
    name: "env",
    variable: LIBRARY_ENV,
  });
  if (env.state === "granted") return error;
  const note = `; ${LIBRARY_ENV} could not be read without --allow-env, ` +
    `if it is set run again with --allow-env=${LIBRARY_ENV}`;
  if (error instanceof FfiPermissionError) {
    return new FfiPermissionError(`${error.message}${note}`, error.path);
  }
  if (error instanceof LibraryNotFoundError) {
    return new LibraryNotFoundError(`${error.message}${note}`, error.path, {
      cause: error.cause,
    });
  }
  if (error instanceof UntrustedLibraryError) {
    return new UntrustedLibraryError(
      `${error.message}${note}`,
      error.path,
      error.reason,
    );
  }
  return error;
}
