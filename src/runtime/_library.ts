// SPDX-License-Identifier: MIT
// Where the package's library is, and loading a library with our symbols
// and the user's.

import { LibraryNotFoundError } from "./_errors.ts";
import { abiMismatch, loadError } from "./_loaderror.ts";
import { assertFfiPermission, readEnv } from "./_guards.ts";
import {
  CACHE_ENV,
  cacheRoot,
  inDirectory,
  libraryDirectory,
  type Os,
  VERSION,
} from "./_cache.ts";
import {
  ABI_VERSION,
  type NativeSymbols,
  symbols as nativeSymbols,
} from "./_ffi.ts";

/** The library's file names per OS, most likely first. */
export const LIBRARY_NAMES: Record<typeof Deno.build.os, readonly string[]> = {
  linux: ["libstatic_keys.so"],
  android: ["libstatic_keys.so"],
  darwin: ["libstatic_keys.dylib"],
  // MSVC names it static_keys.dll, mingw-w64 libstatic_keys.dll.
  windows: ["static_keys.dll", "libstatic_keys.dll"],
  freebsd: ["libstatic_keys.so"],
  netbsd: ["libstatic_keys.so"],
  aix: ["libstatic_keys.so"],
  solaris: ["libstatic_keys.so"],
  illumos: ["libstatic_keys.so"],
};

/** The library's name in the build entry's cache on `os`. */
export function cacheLibraryName(os: Os = Deno.build.os): string {
  return LIBRARY_NAMES[os][0];
}

/**
 * Where open() looks for the library in the cache under `root`, most likely
 * name first, for `os` and `arch`.
 */
export function cachedLibraryPaths(
  root: string,
  os: Os = Deno.build.os,
  arch: string = Deno.build.arch,
): string[] {
  return LIBRARY_NAMES[os].map((name) =>
    inDirectory(libraryDirectory(root, os, arch), name, os)
  );
}

/** The variable that overrides the package's library path. */
export const LIBRARY_ENV = "STATIC_KEYS_LIB";

function exists(path: string | URL): boolean | undefined {
  const read = Deno.permissions.querySync({ name: "read", path });
  if (read.state !== "granted") return undefined;
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    return undefined;
  }
}

/** A file: URL as a path of this OS. */
function fromFileUrl(url: URL): string {
  if (url.protocol !== "file:") {
    throw new TypeError(
      `Cannot open library: the URL must be a file: URL, got "${url.href}"`,
    );
  }
  const path = decodeURIComponent(url.pathname);
  return Deno.build.os === "windows"
    ? path.replace(/^\/([a-zA-Z]:)/, "$1").replaceAll("/", "\\")
    : path;
}

function absolute(path: string): string {
  if (/^([a-zA-Z]:)?[\\/]/.test(path)) return path;
  const sep = Deno.build.os === "windows" ? "\\" : "/";
  return `${Deno.cwd()}${sep}${path.replace(/^\.[\\/]/, "")}`;
}

/** The build entry's command line for this version. */
const BUILD_COMMAND =
  `deno run --allow-env --allow-read --allow-write --allow-run=cmake ` +
  `jsr:@static-keys/deno@${VERSION}/build`;

/**
 * Whether this mod.ts is a clone of the repository (its scripts/ are there,
 * which the published package leaves out), or undefined when that cannot
 * be read.
 */
function isClone(): boolean | undefined {
  const script = new URL("../../scripts/build.ts", import.meta.url);
  return script.protocol === "file:" ? exists(script) : false;
}

/**
 * What to do when the package's library is missing: `deno task build` in a
 * clone, the build entry for the published package (also when vendored).
 */
export function buildHint(): string {
  const clone = isClone();
  if (clone === true) {
    return `build the package's library with "deno task build"`;
  }
  if (clone === false) {
    return `build the package's library with "${BUILD_COMMAND}"`;
  }
  return `build the package's library with "deno task build" in a clone ` +
    `of the repository, else with "${BUILD_COMMAND}"`;
}

/**
 * The package's library, the first of: `STATIC_KEYS_LIB` when set;
 * build/lib/ next to mod.ts when mod.ts is a local file and it exists;
 * the build entry's cache for this version when it exists. Else the
 * local path of a clone (for its error), or LibraryNotFoundError that says
 * where the cache was looked for.
 */
export function defaultLibraryPath(): string {
  const fromEnv = readEnv(LIBRARY_ENV);
  if (fromEnv) return absolute(fromEnv);
  const names = LIBRARY_NAMES[Deno.build.os];
  const dir = new URL("../../build/lib/", import.meta.url);
  const local = dir.protocol === "file:"
    ? names.map((name) => new URL(name, dir))
    : [];
  const found = local.find((url) => exists(url) === true);
  if (found) return fromFileUrl(found);
  const cache = cacheRoot();
  if ("root" in cache) {
    const cached = cachedLibraryPaths(cache.root);
    // Without --allow-read the file may be there all the same.
    const hit = cached.find((path) => exists(path) === true) ??
      cached.find((path) => exists(path) === undefined);
    if (hit) return hit;
  }
  // A clone's build/lib/ is where "deno task build" puts it; a local copy
  // of the published package (vendor/) has only the cache.
  if (local.length > 0 && isClone() !== false) return fromFileUrl(local[0]);
  const build = `build it with "${BUILD_COMMAND}"`;
  const [where, fix] = "root" in cache
    ? [
      `"${cachedLibraryPaths(cache.root)[0]}" does not exist`,
      build,
    ]
    : "needsEnv" in cache
    ? [
      `finding the cache needs --allow-env=${cache.needsEnv.join(",")}`,
      `run again with --allow-env=${
        cache.needsEnv.join(",")
      } (and ${build}, if it is not built yet)`,
    ]
    : [
      `no cache directory is set (${cache.unset.join(", ")} are unset)`,
      `set ${CACHE_ENV} and ${build}`,
    ];
  // The path tried: the cache's, else the clone's build/lib/ one.
  const tried = "root" in cache
    ? cachedLibraryPaths(cache.root)[0]
    : local.length > 0
    ? fromFileUrl(local[0])
    : names[0];
  const from = dir.protocol === "file:"
    ? new URL("../..", import.meta.url).href.replace(/\/$/, "")
    : dir.origin;
  throw new LibraryNotFoundError(
    `Cannot find the package's library: mod.ts was loaded from "${from}" ` +
      `and ${where}: ${fix}, or set ${LIBRARY_ENV} to the path of ${names[0]}`,
    tried,
  );
}

/** The absolute path `open()` loads for `path`. */
export function resolveLibraryPath(path?: string | URL): string {
  if (path === undefined) return defaultLibraryPath();
  if (typeof path !== "string" && !(path instanceof URL)) {
    throw new TypeError(
      `Cannot open library: path must be a string or a URL, got ${typeof path}`,
    );
  }
  return absolute(path instanceof URL ? fromFileUrl(path) : path);
}

/** A loaded library, seen as the static-keys ABI and as the user's symbols. */
export interface Library<S extends Deno.ForeignLibraryInterface> {
  /** The static-keys C ABI. */
  readonly native: NativeSymbols;
  /** Every symbol the user asked for. */
  readonly user: Deno.StaticForeignLibraryInterface<S>;
  /** The library as Deno.dlopen returned it. */
  readonly raw: Deno.DynamicLibrary<Deno.ForeignLibraryInterface>;
}

/**
 * Loads `path` after the permission check; maps a missing file to
 * LibraryNotFoundError (its message ends with `missingHint`, what to do) and
 * checks the ABI version.
 */
export function loadLibrary<S extends Deno.ForeignLibraryInterface>(
  path: string,
  userSymbols: S,
  missingHint = buildHint(),
): Library<S> {
  for (const name of Object.keys(userSymbols)) {
    if (Object.hasOwn(nativeSymbols, name)) {
      throw new TypeError(
        `Cannot open "${path}": options.symbols names "${name}", ` +
          `which the package binds itself`,
      );
    }
  }
  assertFfiPermission(path);
  let raw: Deno.DynamicLibrary<Deno.ForeignLibraryInterface>;
  try {
    raw = Deno.dlopen(path, { ...userSymbols, ...nativeSymbols });
  } catch (error) {
    throw loadError(path, error, missingHint, Object.keys(nativeSymbols));
  }
  // One dlopen binds both tables; these are two typed views of its symbols.
  const lib: Library<S> = {
    native: raw.symbols as unknown as NativeSymbols,
    user: raw.symbols as unknown as Deno.StaticForeignLibraryInterface<S>,
    raw,
  };
  const abi = lib.native.static_keys_ffi_abi_version();
  if (abi !== ABI_VERSION) {
    raw.close();
    throw abiMismatch(path, abi, ABI_VERSION);
  }
  return lib;
}
