// SPDX-License-Identifier: MIT
// Where the build entry puts this version's library, and where open()
// looks for it: <root>/<version>/<os>-<arch>/, with <root> from
// STATIC_KEYS_CACHE, else <Deno's cache dir>/static-keys.

/** This package's version; deno.json and static_keys.h say the same. */
export const VERSION = "0.1.0";

/** The variable that overrides the cache root. */
export const CACHE_ENV = "STATIC_KEYS_CACHE";

/** The metadata file beside the library in a cache directory. */
export const METADATA_FILE = "static-keys.json";

/** The OS and architecture a cache directory is for, e.g. "linux-x86_64". */
export const TARGET = `${Deno.build.os}-${Deno.build.arch}`;

/** The cache root under a variable's value, per variable. */
const ROOT_UNDER: Record<string, readonly string[]> = {
  [CACHE_ENV]: [],
  DENO_DIR: ["static-keys"],
  XDG_CACHE_HOME: ["deno", "static-keys"],
  LOCALAPPDATA: ["deno", "static-keys"],
  HOME: Deno.build.os === "darwin"
    ? ["Library", "Caches", "deno", "static-keys"]
    : [".cache", "deno", "static-keys"],
};

/**
 * The variables read, in order, to find the cache root on this OS: Deno's
 * own rule for its cache directory, after STATIC_KEYS_CACHE.
 */
export function cacheEnvNames(): string[] {
  const platform = Deno.build.os === "windows"
    ? ["LOCALAPPDATA"]
    : Deno.build.os === "darwin"
    ? ["HOME"]
    : ["XDG_CACHE_HOME", "HOME"];
  return [CACHE_ENV, "DENO_DIR", ...platform];
}

/**
 * The cache root; or the variables that need --allow-env to find it; or,
 * when every one is unset, the variables that could be set.
 */
export type CacheRoot =
  | { root: string }
  | { needsEnv: string[] }
  | { unset: string[] };

function join(...parts: string[]): string {
  const sep = Deno.build.os === "windows" ? "\\" : "/";
  return parts.map((p, i) => i === 0 ? p.replace(/[\\/]+$/, "") : p)
    .join(sep);
}

/**
 * Finds the cache root without prompting. Each variable is read only when
 * the ones before it are unset, and an unreadable one stops the search:
 * STATIC_KEYS_CACHE may be set, so DENO_DIR must not be taken instead.
 */
export function cacheRoot(): CacheRoot {
  const names = cacheEnvNames();
  for (const variable of names) {
    const status = Deno.permissions.querySync({ name: "env", variable });
    if (status.state !== "granted") return { needsEnv: names };
    const value = Deno.env.get(variable);
    if (value) return { root: join(value, ...ROOT_UNDER[variable]) };
  }
  return { unset: names };
}

/** The directory of this version's builds, for every OS and arch. */
export function versionDirectory(root: string): string {
  return join(root, VERSION);
}

/** The directory of this version's library for this OS and arch. */
export function libraryDirectory(root: string): string {
  return join(root, VERSION, TARGET);
}

/** `name` inside `dir`, with this OS's separator. */
export function inDirectory(dir: string, name: string): string {
  return join(dir, name);
}
