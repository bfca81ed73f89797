// SPDX-License-Identifier: MIT
// What makes the library in the build entry's cache trusted, checked by
// open() before Deno.dlopen and by the build entry before it reports
// "nothing to build": every folder from the cache root down and both files
// belong to you or root and are not writable by group or others (so no one
// else can swap them between the check and the load), the files are
// regular files, and the library's size and SHA-256 are the ones the build
// recorded in its metadata. docs/security.md explains why.

import {
  UntrustedLibraryError,
  type UntrustedLibraryReason,
} from "./_errors.ts";
import {
  BUILD_COMMAND,
  CACHE_ENV,
  inDirectory,
  libraryDirectory,
  METADATA_FILE,
  TARGET,
  VERSION,
  versionDirectory,
} from "./_cache.ts";
import { sha256Hex } from "./_sha256.ts";

/** What the metadata file beside the library holds. */
export interface Metadata {
  /** The package version built. */
  version: string;
  /** `<os>-<arch>`. */
  target: string;
  /** SHA-256 of the embedded sources built. */
  sources: string;
  /** The library's file name in the same folder (never a path). */
  library: string;
  /** SHA-256 of the library file, lowercase hex. */
  sha256: string;
  /** The library file's size in bytes. */
  size: number;
  /** The CMake version that built it. */
  cmake: string;
  /** The C compiler CMake found. */
  compiler: string;
  /** When it was built (ISO 8601). */
  built: string;
}

/** Whether owners and modes mean anything here (not on Windows). */
export const POSIX: boolean = Deno.build.os !== "windows";

/** What a check found wrong, and what kind of fix it needs. */
export interface Problem {
  reason: UntrustedLibraryReason;
  /** What is wrong, e.g. `"/c/0.1.0" is writable by group or others (mode 0777)`. */
  what: string;
  /**
   * `root`: the cache root itself (rebuilding there does not help);
   * `folder`: a folder inside it (remove it, then rebuild);
   * `rebuild`: a file (a rebuild replaces it).
   */
  fix: "root" | "folder" | "rebuild";
  /** The file or folder at fault. */
  path: string;
}

/** The flags missing to check the cache under `root`. */
export function trustFlags(root: string): string[] {
  const granted = (d: Deno.PermissionDescriptor) =>
    Deno.permissions.querySync(d).state === "granted";
  const flags: string[] = [];
  if (!granted({ name: "read", path: root })) {
    flags.push(`--allow-read=${root}`);
  }
  if (POSIX && !granted({ name: "sys", kind: "uid" })) {
    flags.push("--allow-sys=uid");
  }
  return flags;
}

/** This process's user id; undefined on Windows. Needs --allow-sys=uid. */
export function currentUid(): number | undefined {
  return POSIX ? Deno.uid() ?? undefined : undefined;
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}

/**
 * What is wrong with `info` (of `path`, a folder or a regular file) for
 * the cache to trust it, or undefined.
 */
export function entryProblem(
  path: string,
  info: Deno.FileInfo,
  kind: "folder" | "file",
  uid: number | undefined,
  fix: Problem["fix"],
): Problem | undefined {
  if (kind === "folder" ? !info.isDirectory : !info.isFile) {
    const is = info.isSymlink
      ? "a symbolic link"
      : info.isDirectory
      ? "a folder"
      : "not a regular file";
    return {
      reason: "file",
      what: `"${path}" is ${is}, not a ${
        kind === "folder" ? "folder" : "regular file"
      }`,
      fix,
      path,
    };
  }
  if (!POSIX || uid === undefined) return undefined;
  if (info.uid !== null && info.uid !== uid && info.uid !== 0) {
    return {
      reason: "owner",
      what: `"${path}" is owned by uid ${info.uid}, not by you (uid ${uid}) ` +
        `or root, so its owner could have put anything there`,
      fix,
      path,
    };
  }
  if (info.mode !== null && (info.mode & 0o022) !== 0) {
    return {
      reason: "mode",
      what: `"${path}" is writable by group or others (mode ${
        octal(info.mode)
      }), so anyone in them could have replaced what it holds`,
      fix,
      path,
    };
  }
  return undefined;
}

/**
 * Checks the folders of the cache under `root` that exist, from the root
 * down to this target's folder: the root as it resolves (it may be a link
 * you made), the folders inside as they are (a link there is refused).
 * Returns the first problem, and whether this target's folder exists.
 */
export function folderProblem(
  root: string,
  uid: number | undefined,
): { problem?: Problem; exists: boolean } {
  const chain = [
    [root, "root"],
    [versionDirectory(root), "folder"],
    [libraryDirectory(root), "folder"],
  ] as const;
  for (const [path, fix] of chain) {
    let info: Deno.FileInfo;
    try {
      info = fix === "root" ? Deno.statSync(path) : Deno.lstatSync(path);
    } catch (error) {
      if (
        error instanceof Deno.errors.NotFound ||
        error instanceof Deno.errors.NotADirectory
      ) return { exists: false };
      throw error;
    }
    const problem = entryProblem(path, info, "folder", uid, fix);
    if (problem) return { problem, exists: true };
  }
  return { exists: true };
}

/** A metadata problem with `what` about the file at `path`. */
function metadataProblem(path: string, what: string): Problem {
  return { reason: "metadata", what, fix: "rebuild", path };
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Reads and checks the metadata in `dir` (a folder already checked): a
 * regular file of yours or root's, not writable by others, for this version
 * and target, naming `name` as the library (a plain name: the library is
 * never looked for outside `dir`), with its hash and size.
 */
export function readMetadata(
  dir: string,
  name: string,
  uid: number | undefined,
): Metadata | Problem {
  const path = inDirectory(dir, METADATA_FILE);
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    return metadataProblem(
      path,
      `its metadata "${path}" is missing, so there is nothing to check it against`,
    );
  }
  const problem = entryProblem(path, info, "file", uid, "rebuild");
  if (problem) return problem;
  let meta: Partial<Metadata>;
  try {
    meta = JSON.parse(Deno.readTextFileSync(path));
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    return metadataProblem(path, `its metadata "${path}" is not JSON`);
  }
  if (meta === null || typeof meta !== "object") {
    return metadataProblem(path, `its metadata "${path}" is not an object`);
  }
  if (meta.version !== VERSION || meta.target !== TARGET) {
    return metadataProblem(
      path,
      `its metadata "${path}" is for ${JSON.stringify(meta.version)} on ` +
        `${JSON.stringify(meta.target)}, not for ${VERSION} on ${TARGET}`,
    );
  }
  if (meta.library !== name) {
    return metadataProblem(
      path,
      `its metadata "${path}" names ${
        JSON.stringify(meta.library)
      } as the library, not "${name}" in the same folder`,
    );
  }
  if (
    typeof meta.sha256 !== "string" || !HEX64.test(meta.sha256) ||
    !Number.isSafeInteger(meta.size) || (meta.size as number) < 0
  ) {
    return metadataProblem(
      path,
      `its metadata "${path}" records no SHA-256 and size of the library ` +
        `(an older build entry wrote it)`,
    );
  }
  return meta as Metadata;
}

/** A size or hash problem of the library at `path`. */
export function hashProblem(
  path: string,
  meta: Metadata,
  size: number,
  sha256?: string,
): Problem | undefined {
  if (size !== meta.size) {
    return {
      reason: "hash",
      what: `"${path}" has ${size} bytes, its metadata recorded ${meta.size}`,
      fix: "rebuild",
      path,
    };
  }
  if (sha256 !== undefined && sha256 !== meta.sha256) {
    return {
      reason: "hash",
      what: `the SHA-256 of "${path}" is ${sha256}, its metadata recorded ` +
        meta.sha256,
      fix: "rebuild",
      path,
    };
  }
  return undefined;
}

/** Whether `a` and `b` are the same file, unchanged. */
export function sameFile(a: Deno.FileInfo, b: Deno.FileInfo): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size &&
    a.mtime?.getTime() === b.mtime?.getTime();
}

/**
 * Reads the library at `path` (already lstat-ed as `before`) through one
 * open file, and its SHA-256 with `hash`; a problem if the path names
 * another file by the time it is read, or after.
 */
export function readLibrary(
  path: string,
  before: Deno.FileInfo,
): { bytes: Uint8Array } | Problem {
  const changed: Problem = {
    reason: "file",
    what: `"${path}" changed while it was checked`,
    fix: "rebuild",
    path,
  };
  using file = Deno.openSync(path, { read: true });
  const info = file.statSync();
  if (!sameFile(before, info)) return changed;
  const bytes = new Uint8Array(info.size);
  let read = 0;
  while (read < bytes.length) {
    const n = file.readSync(bytes.subarray(read));
    if (n === null || n === 0) return changed;
    read += n;
  }
  return sameFile(info, Deno.lstatSync(path)) ? { bytes } : changed;
}

/**
 * What to do about `problem`; `rebuild` is how to build the library again
 * (a command for open(), "run the build again" for the build entry).
 */
export function fixFor(problem: Problem, rebuild: string): string {
  switch (problem.fix) {
    case "root":
      return problem.reason === "mode"
        ? `make it writable only by its owner (chmod go-w "${problem.path}") ` +
          `or set ${CACHE_ENV} to a folder only you can write, then ${rebuild}`
        : `set ${CACHE_ENV} to a folder of your own, then ${rebuild}`;
    case "folder":
      return `remove "${problem.path}", then ${rebuild}`;
    case "rebuild":
      return rebuild;
  }
}

/**
 * Checks the library the build entry left at `path` in the cache under
 * `root` before open() loads it, and throws UntrustedLibraryError when a
 * flag to check it is missing or a check fails: who owns and who may write
 * each folder and file, the metadata, the library's size and SHA-256.
 * Returns the bytes it hashed. The folders are not writable by others
 * once checked, so only you or root can swap the file before Deno.dlopen.
 */
export function verifyCachedLibrary(root: string, path: string): Uint8Array {
  const refuse = (problem: Problem): never => {
    throw new UntrustedLibraryError(
      `Cannot open the package's library "${path}": ${problem.what}: ${
        fixFor(problem, `rebuild it with "${BUILD_COMMAND}"`)
      }`,
      path,
      problem.reason,
    );
  };
  const flags = trustFlags(root);
  if (flags.length > 0) {
    const ffi = Deno.permissions.querySync({ name: "ffi", path });
    if (ffi.state !== "granted") flags.push(`--allow-ffi=${path}`);
    throw new UntrustedLibraryError(
      `Cannot open the package's library "${path}": checking it before ` +
        `loading it requires more permissions, run again with ${
          flags.join(" ")
        }`,
      path,
      "permission",
    );
  }
  const uid = currentUid();
  const folders = folderProblem(root, uid);
  if (folders.problem) refuse(folders.problem);
  const dir = libraryDirectory(root);
  const name = path.slice(dir.length + 1);
  const meta = readMetadata(dir, name, uid);
  if ("reason" in meta) return refuse(meta);
  let before: Deno.FileInfo;
  try {
    before = Deno.lstatSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    return refuse({
      reason: "file",
      what: `"${path}" is missing, though its metadata is there`,
      fix: "rebuild",
      path,
    });
  }
  const problem = entryProblem(path, before, "file", uid, "rebuild") ??
    hashProblem(path, meta, before.size);
  if (problem) refuse(problem);
  const read = readLibrary(path, before);
  if ("reason" in read) return refuse(read);
  const mismatch = hashProblem(
    path,
    meta,
    read.bytes.length,
    sha256Hex(read.bytes),
  );
  if (mismatch) refuse(mismatch);
  return read.bytes;
}
