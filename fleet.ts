// SPDX-License-Identifier: MIT
/**
 * The fleet: keys of many processes follow a shared desired state. An
 * operator says "tracing on for service cksum", "only on host 17", "force
 * fast_crc off whatever the code does"; every follower applies it as one
 * all-or-nothing request and publishes what it applied.
 *
 * The store is a `nats://` URL (comma-separated for a cluster; JetStream
 * key-value buckets) or a file path (a JSON file on one machine, no
 * server). The runtime (`@static-keys/deno`) imports none of this.
 *
 * A follower, in the service:
 *
 * ```ts
 * import { open } from "@static-keys/deno";
 * import { follow } from "@static-keys/deno/fleet";
 *
 * // A desired-state file (a NATS store is "nats://host:port")
 * const store = `${Deno.makeTempDirSync({ dir: "build/fleet-scratch" })}/fleet.json`;
 *
 * using mod = open(); // your library: open("./libcksum.so")
 * await using follower = await follow(mod, {
 *   store, // or "nats://10.0.0.5:4222"
 *   scope: "cksum",
 *   host: "host17",
 * });
 * ```
 *
 * An operator, from code (or `cli fleet set ./fleet.json cksum tracing=on`):
 *
 * ```ts
 * import { set, status, waitFor } from "@static-keys/deno/fleet";
 *
 * // A desired-state file (a NATS store is "nats://host:port")
 * const store = `${Deno.makeTempDirSync({ dir: "build/fleet-scratch" })}/fleet.json`;
 *
 * const revision = await set(store, "cksum", { tracing: "on" });
 * const { pending } = await waitFor(store, "cksum", revision);
 * console.table((await status(store, "cksum")).followers);
 * ```
 *
 * Values are absolute: `on`, `off`, `pin-on`, `pin-off`, or unset; layers
 * are scope-wide, per host and per instance, the most specific winning.
 * See `docs/fleet.md` for the semantics, the NATS layout and permissions,
 * and failure behaviour.
 *
 * @module
 */

export {
  follow,
  Follower,
  type FollowerState,
  type FollowOptions,
} from "./src/fleet/_follow.ts";
export {
  type FleetStatus,
  type FollowerReport,
  get,
  set,
  type SetOptions,
  status,
  type StatusOptions,
  unset,
  waitFor,
  type WaitResult,
} from "./src/fleet/_admin.ts";
export {
  type DesiredState,
  type DesiredValue,
  type FollowerStatus,
  type KeyStatus,
  type StoreOptions,
  type Target,
} from "./src/fleet/_types.ts";
// The types of the runtime that follow() takes (the module handle and what
// its members name), for documentation; import the values from
// "@static-keys/deno".
export type * from "./mod.ts";
export {
  FleetError,
  type FleetErrorCode,
  FleetPermissionError,
} from "./src/fleet/_errors.ts";
