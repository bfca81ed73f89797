// SPDX-License-Identifier: MIT
// open(): guards, library path, dlopen, init.

import { assertMainThread } from "./_guards.ts";
import { loadLibrary, resolveLibraryPath } from "./_library.ts";
import { StaticKeysModule } from "./_module.ts";
import type { OpenOptions } from "./_types.ts";

/**
 * Opens a module: the package's library when `path` is omitted
 * (`STATIC_KEYS_LIB` if set, else `build/lib/` next to a local `mod.ts`,
 * else the cache of `@static-keys/deno/build`), or your
 * own library that links the static-keys core. Checks the thread and the
 * `--allow-ffi` permission before loading anything, then checks the C ABI
 * version and initialises the module on the main thread.
 *
 * @typeParam S The user's own symbols.
 * @param path The library's path, or `undefined` for the package's.
 * @param options More symbols to bind, and the strategy to use.
 * @returns A disposable handle over the module.
 * @throws {WrongThreadError} Inside a Web Worker.
 * @throws {FfiPermissionError} Without `--allow-ffi` for the path.
 * @throws {LibraryNotFoundError} If the file does not exist.
 * @throws {TypeError} If `path` or `options` have the wrong type.
 * @throws {StaticKeysError} If the library does not speak this ABI or
 *   cannot be initialised.
 *
 * @example Usage
 * ```ts ignore
 * import { open } from "@static-keys/deno";
 *
 * using mod = open();
 * console.log(mod.keys);
 * mod.key("tracing").enable();
 * ```
 */
export function open<
  S extends Deno.ForeignLibraryInterface = Record<never, never>,
>(path?: string | URL, options: OpenOptions<S> = {}): StaticKeysModule<S> {
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `Cannot open library: options must be an object, got ${typeof options}`,
    );
  }
  const symbols = options.symbols ?? ({} as S);
  const where = path === undefined ? "the package's library" : `"${path}"`;
  assertMainThread(`Cannot open ${where}`);
  const resolved = resolveLibraryPath(path);
  const lib = loadLibrary(resolved, symbols);
  let mod: StaticKeysModule<S> | undefined;
  try {
    mod = new StaticKeysModule(lib, resolved, Object.keys(symbols));
    if (options.strategy !== undefined) mod.setStrategy(options.strategy);
    return mod;
  } catch (error) {
    lib.raw.close();
    throw error;
  }
}
