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
  normalize,
  TARGET,
  VERSION,
  versionDirectory,
} from "../runtime/_cache.ts";
import {
  currentUid,
  entryProblem,
  fixFor,
  folderProblem,
  hashProblem,
  type Metadata,
  POSIX,
  readLibrary,
  readMetadata,
  trustFlags,
} from "../runtime/_trust.ts";
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

/**
 * Builds this version's library into the cache unless it is there, and
 * installs the C package into `options.prefix` when given. A library is
 * "there" only when the cache can be trusted (see src/runtime/_trust.ts)
 * and the library matches its metadata; a cache others could have written
 * is refused, a library that does not match is rebuilt.
 */
export async function build(options: BuildOptions = {}): Promise<BuildResult> {
  checkOptions(options);
  const say = options.quiet ? () => {} : (line: string) => console.error(line);
  const root = findRoot();
  const dir = libraryDirectory(root);
  const name = cacheLibraryName();
  const library = inDirectory(dir, name);
  const digest = await sourcesDigest();
  const prefix = options.prefix === undefined
    ? undefined
    : absolute(options.prefix);

  // Looking needs read access and the user id; a build needs the rest too.
  const lookFlags = missingFlags(root, prefix, "read");
  if (lookFlags.length > 0 && prefix === undefined) {
    // Once built, checking is all it takes: say so, and what a build adds.
    const check = trustFlags(root);
    throw new BuildError(
      "Cannot build the static-keys library: looking for it in the cache " +
        `requires ${check.join(" ")}, run again with ${lookFlags.join(" ")}` +
        ` (only ${lookOnlyFlags(root)} once it is built)`,
      "permission",
    );
  }
  if (lookFlags.length > 0) throw permissionError(lookFlags, prefix);
  const uid = currentUid();
  const found = await inspect(root, digest, uid);
  const result = { version: VERSION, target: TARGET, directory: dir, library };
  if (found.ready && prefix === undefined) return { ...result, built: false };

  const flags = missingFlags(root, prefix, "build");
  const cmake = await probeCmake();
  if (cmake === undefined) {
    throw permissionError([...flags, "--allow-run=cmake"], prefix, found.why);
  }
  if (flags.length > 0) throw permissionError(flags, prefix, found.why);
  if (prefix !== undefined) assertWritable(prefix, "prefix");
  const created = makeCacheFolders(root);
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
      found.ready
        ? `Building static-keys ${VERSION} for ${TARGET} to install into ${prefix}`
        : found.why
        ? `Rebuilding static-keys ${VERSION} for ${TARGET} in ${dir}: ${found.why}`
        : `Building static-keys ${VERSION} for ${TARGET} in ${dir}`,
    );
    const built = await compile(work, prefix, say);
    // One name per OS in the cache, whichever the compiler gave it (mingw's
    // libstatic_keys.dll is static_keys.dll there): open() loads this name.
    if (!found.ready) {
      await publish(
        root,
        work,
        {
          version: VERSION,
          target: TARGET,
          sources: digest,
          library: name,
          cmake,
          compiler: built.compiler,
          built: new Date().toISOString(),
        },
        built.library,
        uid,
      );
      say(`Built ${library}`);
    }
    ok = true;
    if (prefix !== undefined) {
      await install(work, prefix);
      say(`Installed the C package into ${prefix}`);
    }
    return {
      ...result,
      built: true,
      ...(prefix === undefined ? {} : { prefix }),
    };
  } finally {
    removeQuietly(work, true);
    // A failed first build leaves the cache as it found it.
    if (!ok) created.forEach((path) => removeQuietly(path, false));
  }
}

/**
 * What is in the cache: `ready` (the metadata) when this version's library
 * is there, built from these sources, and matches its metadata; else `why`
 * it must be rebuilt, when that is not simply a first build or new
 * sources. Throws BuildError when a folder of the cache is not trusted:
 * a rebuild into it would not be trusted either.
 */
async function inspect(
  root: string,
  digest: string,
  uid: number | undefined,
): Promise<{ ready?: Metadata; why?: string }> {
  const folders = folderProblem(root, uid);
  if (folders.problem) {
    throw new BuildError(
      `Cannot build the static-keys library: the cache cannot be trusted: ${folders.problem.what}: ${
        fixFor(folders.problem, "run the build again")
      }`,
      "cache",
    );
  }
  if (!folders.exists) return {};
  const dir = libraryDirectory(root);
  const name = cacheLibraryName();
  const library = inDirectory(dir, name);
  const meta = readMetadata(dir, name, uid);
  if ("reason" in meta) {
    // An empty folder is a build that never finished: no reason to give.
    return exists(library) ? { why: meta.what } : {};
  }
  if (meta.sources !== digest) return {};
  let before: Deno.FileInfo;
  try {
    before = Deno.lstatSync(library);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    return { why: `"${library}" is missing, though its metadata is there` };
  }
  const problem = entryProblem(library, before, "file", uid, "rebuild") ??
    hashProblem(library, meta, before.size);
  if (problem) return { why: problem.what };
  const read = readLibrary(library, before);
  if ("reason" in read) return { why: read.what };
  const mismatch = hashProblem(
    library,
    meta,
    read.bytes.length,
    await sha256(read.bytes),
  );
  return mismatch ? { why: mismatch.what } : { ready: meta };
}

/** Whether `path` exists; other errors (no permission) are thrown. */
function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (error) {
    if (
      error instanceof Deno.errors.NotFound ||
      error instanceof Deno.errors.NotADirectory
    ) return false;
    throw error;
  }
}

/** Removes `path`; a leftover .build-* directory is never read anyway. */
function removeQuietly(path: string, recursive: boolean): void {
  try {
    Deno.removeSync(path, { recursive });
  } catch { /* not empty, or gone */ }
}

/**
 * Creates `path` and its missing parents, each readable by all and
 * writable by its owner only, whatever the umask: made 0700 (a umask only
 * takes bits away, so no one else can write in it meanwhile), then 0755.
 * Returns the folders it created, deepest first.
 */
function makeFolders(path: string): string[] {
  const created: string[] = [];
  // Only write access is needed: mkdir says whether it exists.
  const make = (at: string): void => {
    try {
      Deno.mkdirSync(at, { mode: 0o700 });
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) return;
      if (!(error instanceof Deno.errors.NotFound) || parentOf(at) === at) {
        throw error;
      }
      make(parentOf(at));
      Deno.mkdirSync(at, { mode: 0o700 });
    }
    created.unshift(at);
    if (POSIX) Deno.chmodSync(at, 0o755);
  };
  try {
    make(path);
  } catch (error) {
    created.forEach((folder) => removeQuietly(folder, false));
    throw error;
  }
  return created;
}

function parentOf(path: string): string {
  const parent = path.replace(/[\\/]+[^\\/]*$/, "");
  return parent === "" || /^[a-zA-Z]:$/.test(parent) ? path : parent;
}

/** Creates the cache's version folder; the folders it made, deepest first. */
function makeCacheFolders(root: string): string[] {
  const parent = versionDirectory(root);
  try {
    return makeFolders(parent);
  } catch (error) {
    throw cacheWriteError(parent, error);
  }
}

function cacheWriteError(path: string, error: unknown): BuildError {
  const why = error instanceof Error ? error.message : String(error);
  return new BuildError(
    `Cannot write the cache directory "${path}": ${why}: ` +
      "set STATIC_KEYS_CACHE to a writable directory",
    "cache",
    { cause: error },
  );
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

/** The flags that let the build entry check a built library. */
function lookOnlyFlags(root: string): string {
  return [`--allow-read=${root}`, ...(POSIX ? ["--allow-sys=uid"] : [])]
    .join(" ");
}

/**
 * The flags missing for the cache and the prefix: to look in the cache
 * (read it, and know the user id to check who owns it), or to build
 * (write, and install into the prefix). When looking is not allowed, every
 * flag a build may need is named at once; run is left to probeCmake()
 * then, as only spawning tells a missing cmake from a missing flag.
 */
function missingFlags(
  root: string,
  prefix: string | undefined,
  need: "read" | "build",
): string[] {
  const granted = (d: Deno.PermissionDescriptor) =>
    Deno.permissions.querySync(d).state === "granted";
  const look = trustFlags(root);
  if (need === "read" && look.length === 0) return [];
  const flags = [...look];
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
  why?: string,
): BuildError {
  const what = prefix === undefined
    ? "building into the cache"
    : `building into the cache and installing into "${prefix}"`;
  const rebuild = why === undefined
    ? ""
    : `the library in the cache must be rebuilt (${why}), and `;
  return new BuildError(
    `Cannot build the static-keys library: ${rebuild}${what} requires more ` +
      `permissions, run again with ${flags.join(" ")}`,
    "permission",
  );
}

/** SHA-256 of the embedded sources: a build is reused only for these. */
export function sourcesDigest(): Promise<string> {
  return sha256(
    new TextEncoder().encode(JSON.stringify(Object.entries(SOURCES).sort())),
  );
}

/** SHA-256 of `bytes`, lowercase hex. */
async function sha256(bytes: Uint8Array): Promise<string> {
  const hash = await crypto.subtle.digest(
    "SHA-256",
    bytes as Uint8Array<ArrayBuffer>,
  );
  const hex = (b: number) => b.toString(16).padStart(2, "0");
  return Array.from(new Uint8Array(hash), hex).join("");
}

/** Creates `path` if needed and proves a file can be written in it. */
function assertWritable(path: string, what: "cache" | "prefix"): void {
  try {
    makeFolders(path);
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
 * Puts the library and its metadata (with the library's size and SHA-256)
 * into this target's folder under `root` in one rename, with modes that do
 * not depend on the umask: folder 0755, library 0755, metadata 0644. A
 * stale folder (other sources, a library that does not match) is moved
 * aside first; if another process renamed a good build in meanwhile, its
 * result stands.
 */
async function publish(
  root: string,
  work: string,
  meta: Omit<Metadata, "sha256" | "size">,
  built: string,
  uid: number | undefined,
): Promise<void> {
  const dir = libraryDirectory(root);
  const out = inDirectory(work, "out");
  Deno.mkdirSync(out, { mode: 0o700 });
  const bytes = Deno.readFileSync(built);
  const library = inDirectory(out, meta.library);
  Deno.writeFileSync(library, bytes, { mode: 0o700 });
  const full: Metadata = {
    ...meta,
    sha256: await sha256(bytes),
    size: bytes.length,
  };
  const file = inDirectory(out, METADATA_FILE);
  Deno.writeTextFileSync(file, JSON.stringify(full, null, 2) + "\n", {
    mode: 0o600,
  });
  if (POSIX) {
    Deno.chmodSync(library, 0o755);
    Deno.chmodSync(file, 0o644);
    Deno.chmodSync(out, 0o755);
  }
  try {
    Deno.renameSync(dir, inDirectory(work, "stale"));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  try {
    Deno.renameSync(out, dir);
  } catch (error) {
    if ((await inspect(root, meta.sources, uid)).ready) return;
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
