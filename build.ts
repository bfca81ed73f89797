// SPDX-License-Identifier: MIT
/**
 * Builds the package's native library for this OS and architecture from the
 * C sources of this very version, so that `open()` without a path finds it;
 * optionally installs the C package for your own library.
 *
 * The library goes to a cache directory per version and target,
 * `<cache>/<version>/<os>-<arch>/`, with a metadata file beside it. `<cache>`
 * is `STATIC_KEYS_CACHE` when set, else `static-keys/` in Deno's cache
 * directory (`DENO_DIR`, or the platform's default). A second call finds the
 * library there, checks it against the metadata (its size and SHA-256) and
 * returns at once, quietly; a library that does not match is rebuilt, and a
 * cache that another user owns or others may write is refused
 * (docs/security.md). It needs CMake 3.15+ and a C compiler. A missing
 * permission or CMake is found before anything is written; a missing C
 * compiler or build program when CMake configures, in a temporary folder
 * that is then removed, leaving the cache as it was.
 *
 * From the command line (prints the library's path):
 *
 * ```sh
 * deno run --allow-env --allow-read --allow-write --allow-run=cmake \
 *   --allow-sys=uid jsr:@static-keys/deno/build [--prefix DIR] [--quiet]
 * ```
 *
 * From code:
 *
 * ```ts
 * import { build } from "@static-keys/deno/build";
 * import { open } from "@static-keys/deno";
 *
 * export async function openPackage() {
 *   await build(); // compiles once per version, then returns at once
 *   return open(); // finds the library in the cache
 * }
 * ```
 *
 * @module
 */

import {
  build as buildLibrary,
  type BuildOptions,
  type BuildResult,
} from "./src/builder/_build.ts";

import { BuildError } from "./src/runtime/_errors.ts";

export type { BuildOptions, BuildResult } from "./src/builder/_build.ts";
export { BuildError, type BuildErrorReason } from "./src/runtime/_errors.ts";

/**
 * Builds this version's library into the cache unless it is already there,
 * and installs the C package (header, core library, CMake package,
 * `static-keys.pc`) into `options.prefix` when given. Prints progress on
 * stderr while it builds, nothing when the library is in place.
 *
 * Needs `--allow-env` for `STATIC_KEYS_CACHE` (and, when it is unset,
 * `DENO_DIR` and the variables of Deno's default cache directory),
 * `--allow-read` and `--allow-write` for the cache directory (and
 * `--allow-write` for the prefix), `--allow-run=cmake`, and
 * `--allow-sys=uid` (to check who owns the cache; not on Windows). When the
 * library is already built and no prefix is given, `--allow-read` of the
 * cache and `--allow-sys=uid` are enough.
 *
 * What it creates in the cache is readable by all and writable by you
 * only, whatever the umask (folders and library 0755, metadata 0644).
 *
 * @param options An install prefix, and whether to print nothing.
 * @returns Where the library is, and whether anything was compiled.
 * @throws {BuildError} When a permission, CMake or a writable directory is
 *   missing (before anything is written), when CMake finds no C compiler or
 *   build program (the cache is left as it was), when a folder of the
 *   cache belongs to another user or is writable by group or others
 *   (`reason` `"cache"`), or the build fails; `reason` says which, the
 *   message what to install, grant or change.
 * @throws {TypeError} If an option has the wrong type.
 *
 * @example Usage
 * ```ts
 * import { build, BuildError } from "@static-keys/deno/build";
 *
 * try {
 *   const { library, built } = await build({ quiet: true });
 *   console.log(built ? `built ${library}` : `${library} was there`);
 * } catch (error) {
 *   if (!(error instanceof BuildError)) throw error;
 *   console.error(`${error.reason}: ${error.message}`); // e.g. a missing flag
 * }
 * ```
 *
 * @example Install the C package
 * ```ts
 * import { build } from "@static-keys/deno/build";
 *
 * export async function installCPackage(prefix = "/opt/static-keys") {
 *   const result = await build({ prefix });
 *   // cmake -DCMAKE_PREFIX_PATH=<prefix>, or
 *   // PKG_CONFIG_PATH=<prefix>/lib/pkgconfig pkg-config static-keys
 *   return result.prefix; // absolute
 * }
 * ```
 */
export function build(options: BuildOptions = {}): Promise<BuildResult> {
  return buildLibrary(options);
}

const USAGE = "Usage: deno run --allow-env --allow-read --allow-write " +
  "--allow-run=cmake --allow-sys=uid jsr:@static-keys/deno/build " +
  "[--prefix DIR] [--quiet]";

/** The command line: options from `args`, the library's path on stdout. */
async function main(args: string[]): Promise<number> {
  const options: BuildOptions = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--help" || arg === "-h") {
      console.log(USAGE);
      return 0;
    } else if (arg === "--quiet" || arg === "-q") {
      options.quiet = true;
    } else if (arg === "--prefix" && i + 1 < args.length) {
      options.prefix = args[++i];
    } else if (arg.startsWith("--prefix=")) {
      options.prefix = arg.slice("--prefix=".length);
    } else {
      console.error(`error: Cannot read argument "${arg}"\n${USAGE}`);
      return 2;
    }
  }
  try {
    const result = await buildLibrary(options);
    console.log(result.library);
    return 0;
  } catch (error) {
    if (!(error instanceof BuildError || error instanceof TypeError)) {
      throw error;
    }
    console.error(`error: ${error.message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
