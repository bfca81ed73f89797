// SPDX-License-Identifier: MIT
// The fleet's error classes: one base with a string code, one for a
// missing Deno permission (it names the flag and its value).

/**
 * What went wrong, as {@linkcode FleetError.code}:
 *
 * | code | meaning |
 * | --- | --- |
 * | `EURL` | the store is neither a `nats://` URL list nor a file path |
 * | `ESCOPE` | a scope, host or instance name a store key cannot hold |
 * | `EVALUE` | a desired value that is not `on`, `off`, `pin-on`, `pin-off`, or a layer that is not a JSON object of them |
 * | `EKEY` | a desired state names a key the library does not have |
 * | `EPERM` | a Deno permission is missing (see {@linkcode FleetPermissionError}) |
 * | `EAUTH` | the store refused the credentials, or the user may not do that |
 * | `EUNREACHABLE` | the store cannot be reached (or read) now |
 * | `ETIMEOUT` | a wait ran out of time |
 * | `EAPPLY` | the library refused the request (a dec below 0...) |
 * | `ECLOSED` | the follower or connection is closed |
 *
 * @example Usage
 * ```ts
 * import type { FleetErrorCode } from "@static-keys/deno/fleet";
 *
 * const code: FleetErrorCode = "EVALUE";
 * ```
 */
export type FleetErrorCode =
  | "EURL"
  | "ESCOPE"
  | "EVALUE"
  | "EKEY"
  | "EPERM"
  | "EAUTH"
  | "EUNREACHABLE"
  | "ETIMEOUT"
  | "EAPPLY"
  | "ECLOSED";

/**
 * An error of the fleet entry; `code` says which condition.
 *
 * @example Usage
 * ```ts
 * import { FleetError } from "@static-keys/deno/fleet";
 * import assert from "node:assert/strict";
 *
 * const error = new FleetError("Cannot parse store \"x:\"", "EURL");
 * assert.equal(error.code, "EURL");
 * ```
 */
export class FleetError extends Error {
  /** The condition; see {@linkcode FleetErrorCode}. */
  readonly code: FleetErrorCode;

  /**
   * Makes an error with a message and a code.
   *
   * @param message The message, in std style.
   * @param code The condition.
   * @param options The cause, if any.
   */
  constructor(message: string, code: FleetErrorCode, options?: ErrorOptions) {
    super(message, options);
    this.name = "FleetError";
    this.code = code;
  }
}

/**
 * A Deno permission the fleet needs is not granted (code `EPERM`); `flag`
 * is the whole flag to add, e.g. `--allow-net=127.0.0.1:4222`.
 *
 * @example Usage
 * ```ts
 * import { FleetPermissionError } from "@static-keys/deno/fleet";
 * import assert from "node:assert/strict";
 *
 * const error = new FleetPermissionError("Cannot connect", "--allow-net=h:4222");
 * assert.equal(error.code, "EPERM");
 * ```
 */
export class FleetPermissionError extends FleetError {
  /** The flag to run again with. */
  readonly flag: string;

  /**
   * Makes the error for a missing permission.
   *
   * @param message The message, naming the flag.
   * @param flag The flag and its value.
   */
  constructor(message: string, flag: string) {
    super(message, "EPERM");
    this.name = "FleetPermissionError";
    this.flag = flag;
  }
}

/** The message of anything thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
