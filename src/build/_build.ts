// SPDX-License-Identifier: MIT
// The build entry's work. Everything that can be checked is checked before
// the first write; CMake runs in a temporary directory beside the result,
// and the result (library + metadata) is renamed into place in one step.

import { BuildError } from "../runtime/_errors.ts";
import { SOURCES } from "./_sources.ts";
import {
  cacheRoot,
  inDirectory,
  libraryDirectory,
  METADATA_FILE,
  TARGET,
  VERSION,
  versionDirectory,
} from "../runtime/_cache.ts";
import { cacheLibraryName } from "../runtime/_library.ts";
import { compile, install, probeCmake } from "./_cmake.ts";

/**
 * Options of {@linkcode build}.
 *
 * @example Usage
 * ```ts
 * import type { BuildOptions } from "@static-keys/deno/build";
 *
 * const options: BuildOptions = { prefix: "/opt/static-keys", quiet: true };
 * ```
 */
export interface BuildOptions {
  /**
   * Also install the C package (header, core library, CMake package,
   * pkg-config file, version script fragment) into this directory with
   * `cmake --install`; relative to the working directory. Installs again
   * on every call that gives it, even when the library was in place.
   */
  prefix?: string;
  /**
   * Print nothing. Default: `false`: while it builds or installs, progress
   * goes to stderr ("Building static-keys ..."); when everything is in
   * place it prints nothing either way. Errors are thrown, not printed.
   */
  quiet?: boolean;
}

/**
 * What {@linkcode build} did, and where the library is.
 *
 * @example Usage
 * ```ts
 * import type { BuildResult } from "@static-keys/deno/build";
 *
 * function describe(result: BuildResult): string {
 *   const what = result.built ? "built" : "found";
 *   return `${what} ${result.version} for ${result.target}: ${result.library}`;
 * }
 * ```
 */
export interface BuildResult {
  /** The package version built, e.g. "0.1.0"; the cache is per version. */
  version: string;
  /** The OS and architecture, e.g. "linux-x86_64": the cache's subfolder. */
  target: string;
  /**
   * The cache directory holding the library and its metadata file,
   * `<cache>/<version>/<target>/`.
   */
  directory: string;
  /**
   * The library's absolute path; `open()` without a path loads it, and a
   * program needs `--allow-ffi=` this path.
   */
  library: string;
  /** True when this call compiled anything; false when all was in place. */
  built: boolean;
  /** The absolute install prefix, when one was asked for. */
  prefix?: string;
}

/** What the metadata file beside the library holds. */
interface Metadata {
  version: string;
  target: string;
  sources: string;
  library: string;
  cmake: string;
  compiler: string;
  built: string;
}

/**
 * Builds this version's library into the cache unless it is there, and
 * installs the C package into `options.prefix` when given.
 */
export async function build(options: BuildOptions = {}): Promise<BuildResult> {
  checkOptions(options);
  const say = options.quiet ? () => {} : (line: string) => console.error(line);
  const root = findRoot();
  const dir = libraryDirectory(root);
  const digest = await sourcesDigest();
  const prefix = options.prefix === undefined
    ? undefined
    : absolute(options.prefix);

  // Looking needs read access only; a build needs the rest as well.
  const lookFlags = missingFlags(root, prefix, "read");
  if (lookFlags.length > 0 && prefix === undefined) {
    // Once built, reading is all it takes: say so, and what a build adds.
    throw new BuildError(
      "Cannot build the static-keys library: looking for it in the cache " +
        `requires --allow-read=${root}, run again with ${lookFlags.join(" ")}` +
        ` (only --allow-read=${root} once it is built)`,
      "permission",
    );
  }
  if (lookFlags.length > 0) throw permissionError(lookFlags, prefix);
  const ready = readMetadata(dir, digest);
  const library = inDirectory(
    dir,
    ready?.library ?? cacheLibraryName(),
  );
  const result = { version: VERSION, target: TARGET, directory: dir, library };
  if (ready && prefix === undefined) return { ...result, built: false };

  const flags = missingFlags(root, prefix, "build");
  const cmake = await probeCmake();
  if (cmake === undefined) {
    throw permissionError([...flags, "--allow-run=cmake"], prefix);
  }
  if (flags.length > 0) throw permissionError(flags, prefix);
  if (prefix !== undefined) assertWritable(prefix, "prefix");
  const created = missingDirectories(root);
  let work: string;
  try {
    work = makeWorkDir(root);
  } catch (error) {
    created.forEach((path) => removeQuietly(path, false));
    throw error;
  }
  let ok = false;
  try {
    say(
      `Building static-keys ${VERSION} for ${TARGET} ` +
        (ready ? `to install into ${prefix}` : `in ${dir}`),
    );
    const built = await compile(work, prefix, say);
    // One name per OS in the cache, whichever the compiler gave it (mingw's
    // libstatic_keys.dll is static_keys.dll there): open() without
    // --allow-read cannot look, so it loads this name.
    const name = ready?.library ?? cacheLibraryName();
    if (!ready) {
      publish(work, dir, {
        version: VERSION,
        target: TARGET,
        sources: digest,
        library: name,
        cmake,
        compiler: built.compiler,
        built: new Date().toISOString(),
      }, built.library);
      say(`Built ${inDirectory(dir, name)}`);
    }
    ok = true;
    if (prefix !== undefined) {
      await install(work, prefix);
      say(`Installed the C package into ${prefix}`);
    }
    return {
      ...result,
      library: inDirectory(dir, name),
      built: true,
      ...(prefix === undefined ? {} : { prefix }),
    };
  } finally {
    removeQuietly(work, true);
    // A failed first build leaves the cache as it found it.
    if (!ok) created.forEach((path) => removeQuietly(path, false));
  }
}

/** Removes `path`; a leftover .build-* directory is never read anyway. */
function removeQuietly(path: string, recursive: boolean): void {
  try {
    Deno.removeSync(path, { recursive });
  } catch { /* not empty, or gone */ }
}

/** The cache directories that do not exist yet, deepest first. */
function missingDirectories(root: string): string[] {
  return [versionDirectory(root), root].filter((path) => {
    try {
      Deno.statSync(path);
      return false;
    } catch {
      return true;
    }
  });
}

function checkOptions(options: BuildOptions): void {
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `Cannot build: options must be an object, got ${typeof options}`,
    );
  }
  const { prefix, quiet } = options;
  if (prefix !== undefined && (typeof prefix !== "string" || prefix === "")) {
    throw new TypeError(
      `Cannot build: options.prefix must be a non-empty path, got ${
        JSON.stringify(prefix)
      }`,
    );
  }
  if (quiet !== undefined && typeof quiet !== "boolean") {
    throw new TypeError(
      `Cannot build: options.quiet must be a boolean, got ${typeof quiet}`,
    );
  }
}

function findRoot(): string {
  const found = cacheRoot();
  if ("root" in found) return found.root;
  if ("needsEnv" in found) {
    throw new BuildError(
      "Cannot build the static-keys library: finding the cache directory " +
        `requires --allow-env, run again with --allow-env=${
          found.needsEnv.join(",")
        }`,
      "permission",
    );
  }
  throw new BuildError(
    "Cannot build the static-keys library: there is no cache directory " +
      `(${found.unset.join(", ")} are all unset): set STATIC_KEYS_CACHE`,
    "cache",
  );
}

/**
 * The flags missing for the cache and the prefix: to look in the cache
 * (read), or to build (write, and install into the prefix). When read is
 * missing, every flag a build may need is named at once; run is left to
 * probeCmake() then, as only spawning tells a missing cmake from a
 * missing flag.
 */
function missingFlags(
  root: string,
  prefix: string | undefined,
  need: "read" | "build",
): string[] {
  const granted = (d: Deno.PermissionDescriptor) =>
    Deno.permissions.querySync(d).state === "granted";
  const read = granted({ name: "read", path: root });
  if (need === "read" && read) return [];
  const flags: string[] = [];
  if (!read) flags.push(`--allow-read=${root}`);
  const write = [root, ...(prefix === undefined ? [] : [prefix])]
    .filter((path) => !granted({ name: "write", path }));
  if (write.length > 0) flags.push(`--allow-write=${write.join(",")}`);
  if (need === "read" && !granted({ name: "run", command: "cmake" })) {
    flags.push("--allow-run=cmake");
  }
  return flags;
}

function permissionError(
  flags: string[],
  prefix: string | undefined,
): BuildError {
  const what = prefix === undefined
    ? "building into the cache"
    : `building into the cache and installing into "${prefix}"`;
  return new BuildError(
    `Cannot build the static-keys library: ${what} requires more ` +
      `permissions, run again with ${flags.join(" ")}`,
    "permission",
  );
}

/** The metadata of an up-to-date build in `dir`, or undefined. */
function readMetadata(dir: string, digest: string): Metadata | undefined {
  try {
    const meta = JSON.parse(
      Deno.readTextFileSync(inDirectory(dir, METADATA_FILE)),
    ) as Metadata;
    if (
      meta.version !== VERSION || meta.target !== TARGET ||
      meta.sources !== digest || typeof meta.library !== "string"
    ) return undefined;
    return Deno.statSync(inDirectory(dir, meta.library)).isFile
      ? meta
      : undefined;
  } catch {
    return undefined;
  }
}

/** SHA-256 of the embedded sources: a build is reused only for these. */
async function sourcesDigest(): Promise<string> {
  const text = JSON.stringify(Object.entries(SOURCES).sort());
  const hash = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  const hex = (b: number) => b.toString(16).padStart(2, "0");
  return Array.from(new Uint8Array(hash), hex).join("");
}

/** Creates `path` if needed and proves a file can be written in it. */
function assertWritable(path: string, what: "cache" | "prefix"): void {
  try {
    Deno.mkdirSync(path, { recursive: true });
    Deno.removeSync(Deno.makeTempFileSync({ dir: path, prefix: ".probe-" }));
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    const fix = what === "cache"
      ? "set STATIC_KEYS_CACHE to a writable directory"
      : "choose a writable prefix";
    throw new BuildError(
      `Cannot write the ${what === "cache" ? "cache" : "install"} directory ` +
        `"${path}": ${why}: ${fix}`,
      what,
      { cause: error },
    );
  }
}

/** A day: a .build-* directory older than that was left by a killed build. */
const STALE_MS = 24 * 60 * 60 * 1000;

/**
 * A fresh directory beside the results, so the final rename is atomic.
 * Removes what killed builds left there (a build never takes a day).
 */
function makeWorkDir(root: string): string {
  const parent = versionDirectory(root);
  assertWritable(parent, "cache");
  const prefix = `.build-${TARGET}-`;
  for (const entry of Deno.readDirSync(parent)) {
    if (!entry.isDirectory || !entry.name.startsWith(prefix)) continue;
    const path = inDirectory(parent, entry.name);
    const mtime = Deno.statSync(path).mtime?.getTime() ?? Date.now();
    if (Date.now() - mtime > STALE_MS) removeQuietly(path, true);
  }
  return Deno.makeTempDirSync({ dir: parent, prefix });
}

/**
 * Puts the library and its metadata into `dir` in one rename. A stale
 * `dir` (other sources, half-deleted) is moved aside first; if another
 * process renamed a good build in meanwhile, its result stands.
 */
function publish(
  work: string,
  dir: string,
  meta: Metadata,
  library: string,
): void {
  const out = inDirectory(work, "out");
  Deno.mkdirSync(out);
  Deno.copyFileSync(library, inDirectory(out, meta.library));
  Deno.writeTextFileSync(
    inDirectory(out, METADATA_FILE),
    JSON.stringify(meta, null, 2) + "\n",
  );
  try {
    Deno.renameSync(dir, inDirectory(work, "stale"));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  try {
    Deno.renameSync(out, dir);
  } catch (error) {
    if (readMetadata(dir, meta.sources)) return;
    throw error;
  }
}

/**
 * `path` made absolute, without "." and ".." segments: CMake bakes the
 * prefix into what it installs (the CMake package, static-keys.pc).
 */
export function absolute(path: string): string {
  const sep = Deno.build.os === "windows" ? "\\" : "/";
  if (/^([a-zA-Z]:)?[\\/]/.test(path)) return normalize(path, sep);
  let cwd: string;
  try {
    cwd = Deno.cwd();
  } catch (error) {
    throw new BuildError(
      `Cannot install into "${path}": a relative prefix needs --allow-read ` +
        "for the current directory: pass an absolute prefix instead",
      "permission",
      { cause: error },
    );
  }
  return normalize(`${cwd}${sep}${path}`, sep);
}

/** An absolute `path` without "." and ".." segments, joined with `sep`. */
export function normalize(path: string, sep: string): string {
  const [, head, rest] = path.match(/^((?:[a-zA-Z]:)?[\\/]+)(.*)$/) ?? [];
  const parts: string[] = [];
  for (const part of rest.split(/[\\/]+/)) {
    if (part === "..") parts.pop();
    else if (part !== "." && part !== "") parts.push(part);
  }
  return head.replace(/[\\/]+$/, sep) + parts.join(sep);
}
