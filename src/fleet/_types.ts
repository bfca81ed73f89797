// SPDX-License-Identifier: MIT
// Plain data types of the fleet entry.

/**
 * What an operator asks for one key: `on` (the follower holds one
 * reference), `off` (no reference, and the compiled default's reference is
 * dropped), `pin-on` / `pin-off` (the key is forced whatever local code
 * does). A key without a value is back to what local code and its compiled
 * default say.
 *
 * @example Usage
 * ```ts
 * import type { DesiredValue } from "@static-keys/deno/fleet";
 *
 * const value: DesiredValue = "pin-off";
 * ```
 */
export type DesiredValue = "on" | "off" | "pin-on" | "pin-off";

/** The values, in the order the docs list them. */
export const DESIRED_VALUES: readonly DesiredValue[] = [
  "on",
  "off",
  "pin-on",
  "pin-off",
];

/**
 * Where a desired value applies: the whole scope, one host, or one
 * instance (a process). The most specific layer wins per key.
 *
 * @example Usage
 * ```ts
 * import type { Target } from "@static-keys/deno/fleet";
 *
 * const scopeWide: Target = {};
 * const host17: Target = { host: "host17" };
 * const one: Target = { instance: "host17-4242" };
 * ```
 */
export interface Target {
  /** The host's layer (as the follower's `host` option names it). */
  readonly host?: string;
  /** The instance's layer (the follower's `instance` option). */
  readonly instance?: string;
}

/**
 * Credentials and connection settings for a NATS store (ignored by a file
 * store). Give one of user/password, token or a creds file.
 *
 * @example Usage
 * ```ts
 * import type { StoreOptions } from "@static-keys/deno/fleet";
 *
 * const options: StoreOptions = { user: "operator", password: "s3cret" };
 * ```
 */
export interface StoreOptions {
  /** NATS user name. */
  readonly user?: string;
  /** NATS password (with `user`). */
  readonly password?: string;
  /** NATS token. */
  readonly token?: string;
  /** Path of a NATS `.creds` file (JWT and nkey seed). */
  readonly creds?: string;
  /** The desired-state bucket; `static_keys_desired` when omitted. */
  readonly bucket?: string;
  /** The status bucket; `static_keys_status` when omitted. */
  readonly statusBucket?: string;
  /**
   * Milliseconds a store operation may take before it fails; 5,000 when
   * omitted.
   */
  readonly timeout?: number;
}

/**
 * The desired state of one scope, layer by layer, as `get()` reads it.
 *
 * @example Usage
 * ```ts
 * import type { DesiredState } from "@static-keys/deno/fleet";
 *
 * const state: DesiredState = {
 *   revision: 12,
 *   scope: { tracing: "on" },
 *   hosts: { host17: { fast_crc: "pin-off" } },
 *   instances: {},
 * };
 * ```
 */
export interface DesiredState {
  /** The store's revision this state is at (0: nothing was ever set). */
  readonly revision: number;
  /** The scope-wide layer. */
  readonly scope: Readonly<Record<string, DesiredValue>>;
  /** The per-host layers, by host. */
  readonly hosts: Readonly<
    Record<string, Readonly<Record<string, DesiredValue>>>
  >;
  /** The per-instance layers, by instance. */
  readonly instances: Readonly<
    Record<string, Readonly<Record<string, DesiredValue>>>
  >;
}

/**
 * One key of a follower's library as the follower last saw it.
 *
 * @example Usage
 * ```ts
 * import type { KeyStatus } from "@static-keys/deno/fleet";
 *
 * const key: KeyStatus = { enabled: true, pinned: null, count: 2, desired: "on" };
 * ```
 */
export interface KeyStatus {
  /** What the code does now. */
  readonly enabled: boolean;
  /** The pin, if any. */
  readonly pinned: "on" | "off" | null;
  /** The holders' count. */
  readonly count: number;
  /** The value the follower applied for it, or `null` when none applies. */
  readonly desired: DesiredValue | null;
}

/**
 * What one follower publishes about itself, and what `status()` lists.
 *
 * @example Usage
 * ```ts
 * import type { FollowerStatus } from "@static-keys/deno/fleet";
 *
 * const status: FollowerStatus = {
 *   instance: "host17-4242",
 *   host: "host17",
 *   pid: 4242,
 *   library: "/opt/app/libcksum.so",
 *   scope: "cksum",
 *   revision: 12,
 *   keys: {},
 *   error: null,
 *   time: new Date().toISOString(),
 * };
 * ```
 */
export interface FollowerStatus {
  /** The instance id (the follower's `instance` option). */
  readonly instance: string;
  /** The host (the follower's `host` option), or `null`. */
  readonly host: string | null;
  /** The process id. */
  readonly pid: number;
  /** The library's path. */
  readonly library: string;
  /** The scope followed. */
  readonly scope: string;
  /** The last revision applied (0: none yet). */
  readonly revision: number;
  /** Every key of the library, by name. */
  readonly keys: Readonly<Record<string, KeyStatus>>;
  /** Why the last revision seen was not applied, or the store is not reached; `null` when all is well. */
  readonly error: string | null;
  /** When this status was written (ISO 8601). */
  readonly time: string;
}
