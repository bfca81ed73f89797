// SPDX-License-Identifier: MIT
// Where the build entry puts this version's library, and where open()
// looks for it: <root>/<version>/<os>-<arch>/, with <root> from
// STATIC_KEYS_CACHE, else <Deno's cache dir>/static-keys.

/** This package's version; deno.json and static_keys.h say the same. */
export const VERSION = "0.1.0";

/**
 * The build entry's command line for this version, with every flag it
 * needs (each one is scoped in docs/security.md).
 */
export const BUILD_COMMAND: string =
  `deno run --allow-env --allow-read --allow-write --allow-run=cmake ` +
  `--allow-sys=uid jsr:@static-keys/deno@${VERSION}/build`;

/** The variable that overrides the cache root. */
export const CACHE_ENV = "STATIC_KEYS_CACHE";

/** The metadata file beside the library in a cache directory. */
export const METADATA_FILE = "static-keys.json";

/** An OS as `Deno.build.os` names it. */
export type Os = typeof Deno.build.os;

/** The OS and architecture a cache directory is for, e.g. "linux-x86_64". */
export function targetOf(
  os: Os = Deno.build.os,
  arch: string = Deno.build.arch,
): string {
  return `${os}-${arch}`;
}

/** This machine's target. */
export const TARGET: string = targetOf();

/** The cache root under a variable's value, per variable, on `os`. */
function rootUnder(variable: string, os: Os): readonly string[] {
  switch (variable) {
    case CACHE_ENV:
      return [];
    case "DENO_DIR":
      return ["static-keys"];
    case "HOME":
      return os === "darwin"
        ? ["Library", "Caches", "deno", "static-keys"]
        : [".cache", "deno", "static-keys"];
    default: // XDG_CACHE_HOME, LOCALAPPDATA
      return ["deno", "static-keys"];
  }
}

/**
 * The variables read, in order, to find the cache root on `os`: Deno's
 * own rule for its cache directory, after STATIC_KEYS_CACHE.
 */
export function cacheEnvNames(os: Os = Deno.build.os): string[] {
  const platform = os === "windows"
    ? ["LOCALAPPDATA"]
    : os === "darwin"
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

/** A variable's value; null when it may not be read (no --allow-env). */
export type EnvReader = (variable: string) => string | undefined | null;

/** Reads this process's environment without prompting. */
function readGranted(variable: string): string | undefined | null {
  const status = Deno.permissions.querySync({ name: "env", variable });
  return status.state === "granted" ? Deno.env.get(variable) : null;
}

function join(os: Os, ...parts: string[]): string {
  const sep = os === "windows" ? "\\" : "/";
  return parts.map((p, i) => i === 0 ? p.replace(/[\\/]+$/, "") : p)
    .join(sep);
}

/** Whether `path` is absolute on `os` (a drive or UNC path on Windows). */
export function isAbsolute(path: string, os: Os = Deno.build.os): boolean {
  return os === "windows"
    ? /^([a-zA-Z]:[\\/]|[\\/]{2})/.test(path)
    : path.startsWith("/");
}

/**
 * An absolute `path` without "." and ".." segments or repeated separators,
 * joined with `sep`; a UNC path keeps its two leading separators.
 */
export function normalize(path: string, sep: string): string {
  const [, drive = "", lead = sep, rest = path] =
    path.match(/^([a-zA-Z]:)?([\\/]+)(.*)$/) ?? [];
  const unc = drive === "" && sep === "\\" && lead.length >= 2;
  const parts: string[] = [];
  for (const part of rest.split(/[\\/]+/)) {
    if (part === "..") parts.pop();
    else if (part !== "." && part !== "") parts.push(part);
  }
  return drive + (unc ? sep + sep : sep) + parts.join(sep);
}

/**
 * Finds the cache root on `os` from `env` (default: this process, without
 * prompting). Each variable is read only when the ones before it are unset,
 * and an unreadable one stops the search: STATIC_KEYS_CACHE may be set, so
 * DENO_DIR must not be taken instead. A relative value is taken from `cwd`
 * now, and the root is normalized, so the root (and the library open()
 * checks and loads) is one absolute path, whatever the current directory
 * is later.
 */
export function cacheRoot(
  os: Os = Deno.build.os,
  env: EnvReader = readGranted,
  cwd: () => string = Deno.cwd,
): CacheRoot {
  const names = cacheEnvNames(os);
  const sep = os === "windows" ? "\\" : "/";
  for (const variable of names) {
    const value = env(variable);
    if (value === null) return { needsEnv: names };
    if (!value) continue;
    const base = isAbsolute(value, os) ? value : join(os, cwd(), value);
    return { root: normalize(join(os, base, ...rootUnder(variable, os)), sep) };
  }
  return { unset: names };
}

/** The directory of this version's builds, for every OS and arch. */
export function versionDirectory(
  root: string,
  os: Os = Deno.build.os,
): string {
  return join(os, root, VERSION);
}

/** The directory of this version's library for `os` and `arch`. */
export function libraryDirectory(
  root: string,
  os: Os = Deno.build.os,
  arch: string = Deno.build.arch,
): string {
  return join(os, root, VERSION, targetOf(os, arch));
}

/** `name` inside `dir`, with the separator of `os`. */
export function inDirectory(
  dir: string,
  name: string,
  os: Os = Deno.build.os,
): string {
  return join(os, dir, name);
}
