// SPDX-License-Identifier: MIT
// Where the package's library is, and loading a library with our symbols
// and the user's.

import { LibraryNotFoundError, MalformedLibraryError } from "./_errors.ts";
import { elfShortfall, readerOf } from "./_elf.ts";
import { abiMismatch, loadError } from "./_loaderror.ts";
import { assertFfiPermission, readEnv } from "./_guards.ts";
import {
  BUILD_COMMAND,
  CACHE_ENV,
  cacheRoot,
  inDirectory,
  libraryDirectory,
  type Os,
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

/** Where the package's library is, and the cache root when it is there. */
export interface DefaultLibrary {
  /** The library's absolute path. */
  path: string;
  /** The build entry's cache root, when `path` is in it: check it first. */
  cacheRoot?: string;
}

/**
 * The package's library path; see {@linkcode locateDefaultLibrary}.
 */
export function defaultLibraryPath(): string {
  return locateDefaultLibrary().path;
}

/**
 * The package's library, the first of: `STATIC_KEYS_LIB` when set;
 * build/lib/ next to mod.ts when mod.ts is in a clone and it exists;
 * the build entry's cache for this version when it exists, or when it
 * cannot be read (the check before loading says which flag to add). Else
 * the local path of a clone (for its error), or LibraryNotFoundError that
 * says where the cache was looked for.
 */
export function locateDefaultLibrary(): DefaultLibrary {
  const fromEnv = readEnv(LIBRARY_ENV);
  if (fromEnv) return { path: absolute(fromEnv) };
  const names = LIBRARY_NAMES[Deno.build.os];
  const dir = new URL("../../build/lib/", import.meta.url);
  const local = dir.protocol === "file:"
    ? names.map((name) => new URL(name, dir))
    : [];
  // Only a clone's build/lib/ is trusted unchecked: in a copy of the
  // package (vendor/) one planted there would run with no check.
  const found = isClone() === true
    ? local.find((url) => exists(url) === true)
    : undefined;
  if (found) return { path: fromFileUrl(found) };
  const cache = cacheRoot();
  if ("root" in cache) {
    // The cache holds one name per OS; without --allow-read it may be
    // there all the same, and open() refuses it unchecked.
    const cached = cachedLibraryPaths(cache.root)[0];
    if (exists(cached) !== false) {
      return { path: cached, cacheRoot: cache.root };
    }
  }
  // A clone's build/lib/ is where "deno task build" puts it; a local copy
  // of the published package (vendor/) has only the cache.
  if (local.length > 0 && isClone() !== false) {
    return { path: fromFileUrl(local[0]) };
  }
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
  assertWholeFile(path);
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

/**
 * Throws MalformedLibraryError when `path` is an ELF file whose headers
 * point past its end: the loader would map it and the process would die
 * of SIGBUS. Checked only when --allow-read covers the file.
 */
function assertWholeFile(path: string): void {
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
    return;
  }
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch {
    return; // missing or unreadable: Deno.dlopen says which
  }
  using _ = file;
  const info = file.statSync();
  if (!info.isFile) return;
  const why = elfShortfall(readerOf(file), info.size);
  if (why === undefined) return;
  throw new MalformedLibraryError(
    `Cannot open "${path}": the file is cut short or corrupt, loading it ` +
      `would crash the process: ${why} (the file has ${info.size} bytes): ` +
      `build or copy it again`,
    path,
  );
}
