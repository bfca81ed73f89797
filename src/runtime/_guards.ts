// SPDX-License-Identifier: MIT
// Checks made before any native call: the main thread, --allow-ffi.

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

/** Reads an environment variable, or undefined without --allow-env. */
export function readEnv(variable: string): string | undefined {
  const status = Deno.permissions.querySync({ name: "env", variable });
  return status.state === "granted" ? Deno.env.get(variable) : undefined;
}
