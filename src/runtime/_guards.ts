// SPDX-License-Identifier: MIT
// Checks made before any native call: the main thread, --allow-ffi, and
// that open() without a path knows which library is meant.

import { FfiPermissionError, WrongThreadError } from "./_errors.ts";

type WorkerScope = { WorkerGlobalScope?: abstract new () => unknown };

/** True outside a Web Worker (Deno's main thread). */
export function isMainThread(): boolean {
  const scope = (globalThis as WorkerScope).WorkerGlobalScope;
  return scope === undefined || !(globalThis instanceof scope);
}

/** Throws WrongThreadError inside a Web Worker; `action` starts the message. */
export function assertMainThread(action: string): void {
  if (isMainThread()) return;
  throw new WrongThreadError(
    `${action} from a Worker: keys can only be flipped on the main thread`,
  );
}

/** Throws FfiPermissionError unless --allow-ffi covers `path`. */
export function assertFfiPermission(path: string): void {
  const status = Deno.permissions.querySync({ name: "ffi", path });
  if (status.state === "granted") return;
  throw new FfiPermissionError(
    `Cannot open "${path}": loading native code requires --allow-ffi, ` +
      `run again with --allow-ffi=${path}`,
    path,
  );
}

/**
 * Throws FfiPermissionError when `open()` without a path cannot know which
 * library is meant: `variable` (STATIC_KEYS_LIB) cannot be read without
 * --allow-env, and an unscoped --allow-ffi would let the package's library
 * at `path` load in place of the one the variable may name. With
 * --allow-ffi scoped to `path`, the grant itself names the library.
 */
export function assertLibraryChosen(path: string, variable: string): void {
  if (
    Deno.permissions.querySync({ name: "env", variable }).state === "granted"
  ) {
    return;
  }
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return;
  throw new FfiPermissionError(
    `Cannot open the package's library: ${variable} cannot be read without ` +
      `--allow-env, and with --allow-ffi for every library the one it may ` +
      `name would be passed over unseen: run again with ` +
      `--allow-env=${variable}, or with --allow-ffi=${path} for the ` +
      `package's library`,
    path,
  );
}

/** Reads an environment variable, or undefined without --allow-env. */
export function readEnv(variable: string): string | undefined {
  const status = Deno.permissions.querySync({ name: "env", variable });
  return status.state === "granted" ? Deno.env.get(variable) : undefined;
}
