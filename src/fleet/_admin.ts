// SPDX-License-Identifier: MIT
// The operator's side from code: set, unset, get, status, and waiting for
// the followers of a revision. The command line (cli fleet) calls these.

import { FleetError } from "./_errors.ts";
import {
  checkName,
  checkValue,
  describeLayer,
  type LayerId,
  parseLayer,
  type Snapshot,
  toName,
} from "./_policy.ts";
import { openStore, type Store } from "./_store.ts";
import type {
  DesiredState,
  DesiredValue,
  FollowerStatus,
  StoreOptions,
  Target,
} from "./_types.ts";

/**
 * Options of {@linkcode set} and {@linkcode unset}: the layer, the store's
 * credentials, and, for a NATS store whose buckets do not exist yet, how
 * to create them.
 *
 * @example Usage
 * ```ts
 * import type { SetOptions } from "@static-keys/deno/fleet";
 *
 * const options: SetOptions = { host: "host17", replicas: 3 };
 * ```
 */
export interface SetOptions extends StoreOptions, Target {
  /** Replicas of the buckets if this call creates them (NATS; 1 when omitted). */
  readonly replicas?: number;
  /**
   * Milliseconds a status lives after its last heartbeat, if this call
   * creates the status bucket (NATS; 15,000 when omitted).
   */
  readonly statusTtl?: number;
}

/**
 * Options of {@linkcode status} and {@linkcode waitFor}.
 *
 * @example Usage
 * ```ts
 * import type { StatusOptions } from "@static-keys/deno/fleet";
 *
 * const options: StatusOptions = { maxAge: 15_000 };
 * ```
 */
export interface StatusOptions extends StoreOptions {
  /**
   * A status older than this many milliseconds is a dead follower's and is
   * left out (a file store also prunes it). 15,000 when omitted; keep it
   * above the followers' heartbeat.
   */
  readonly maxAge?: number;
}

/**
 * One follower in {@linkcode FleetStatus}: its status, and whether it has
 * applied the scope's latest revision.
 *
 * @example Usage
 * ```ts
 * import { status } from "@static-keys/deno/fleet";
 *
 * // A desired-state file (a NATS store is "nats://host:port")
 * const store = `${Deno.makeTempDirSync({ dir: "build/fleet-scratch" })}/fleet.json`;
 *
 * const { followers } = await status(store, "demo");
 * for (const f of followers) console.log(f.instance, f.converged);
 * ```
 */
export interface FollowerReport extends FollowerStatus {
  /** `revision` is at (or past) the scope's latest revision. */
  readonly converged: boolean;
}

/**
 * What {@linkcode status} returns: the scope's latest revision and every
 * live follower.
 *
 * @example Usage
 * ```ts
 * import { status } from "@static-keys/deno/fleet";
 *
 * // A desired-state file (a NATS store is "nats://host:port")
 * const store = `${Deno.makeTempDirSync({ dir: "build/fleet-scratch" })}/fleet.json`;
 *
 * const { revision, followers } = await status(store, "demo");
 * ```
 */
export interface FleetStatus {
  /** The scope's latest revision. */
  readonly revision: number;
  /** The live followers, by instance. */
  readonly followers: readonly FollowerReport[];
}

/**
 * What {@linkcode waitFor} found: the live followers that applied the
 * revision and those that did not (yet).
 *
 * @example Usage
 * ```ts
 * import { set, waitFor } from "@static-keys/deno/fleet";
 *
 * // A desired-state file (a NATS store is "nats://host:port")
 * const store = `${Deno.makeTempDirSync({ dir: "build/fleet-scratch" })}/fleet.json`;
 *
 * const revision = await set(store, "demo", { tracing: "on" });
 * const { pending } = await waitFor(store, "demo", revision);
 * ```
 */
export interface WaitResult {
  /** The live followers at (or past) the revision. */
  readonly applied: readonly FollowerStatus[];
  /** The live followers still behind it, with their last error. */
  readonly pending: readonly FollowerStatus[];
}

/** How long one store operation inside {@linkcode waitFor} may take. */
const OPERATION_MS = 5000;

/** The layer of a target; ESCOPE when both host and instance are given. */
function layerOf(target: Target): LayerId {
  if (target.host !== undefined && target.instance !== undefined) {
    throw new FleetError(
      "Cannot pick a layer: give a host or an instance, not both",
      "ESCOPE",
    );
  }
  if (target.host !== undefined) {
    return { kind: "host", name: toName(String(target.host)) };
  }
  if (target.instance !== undefined) {
    return { kind: "instance", name: checkName("instance", target.instance) };
  }
  return { kind: "scope" };
}

async function withStore<T>(
  store: string,
  options: StoreOptions,
  fn: (s: Store) => Promise<T>,
): Promise<T> {
  const s = await openStore(store, options);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

/** Creates a NATS store's buckets when missing (a file store needs none). */
async function prepare(s: Store, options: SetOptions): Promise<void> {
  const nats = s as Store & {
    ensureBuckets?: (replicas?: number, ttl?: number) => Promise<void>;
  };
  await nats.ensureBuckets?.(options.replicas, options.statusTtl);
}

/**
 * Sets keys of one layer of `scope` (scope-wide, or `options.host`, or
 * `options.instance`) to absolute values, in one write; `null` unsets a
 * key. Returns the revision of the write: followers report it once they
 * have applied it. Every value is checked before anything is written.
 *
 * @param store `nats://host:port` (comma-separated for a cluster) or the
 *   path of a desired-state file.
 * @param scope The scope (a service).
 * @param values Key name to `on`, `off`, `pin-on`, `pin-off`, or `null`.
 * @param options The layer and the store's credentials.
 * @returns The revision written.
 * @throws {FleetError} `EVALUE` (a value), `ESCOPE` (scope, instance),
 *   `EURL` (store), `EAUTH` (the user may not write), `EUNREACHABLE`,
 *   `EPERM` (a Deno flag is missing).
 *
 * @example Usage
 * ```ts
 * import { set } from "@static-keys/deno/fleet";
 *
 * // A desired-state file (a NATS store is "nats://host:port")
 * const store = `${Deno.makeTempDirSync({ dir: "build/fleet-scratch" })}/fleet.json`;
 *
 * await set(store, "cksum", { tracing: "on", fast_crc: "pin-off" });
 * await set(store, "cksum", { tracing: "off" }, { host: "host17" });
 * ```
 */
export async function set(
  store: string,
  scope: string,
  values: Readonly<Record<string, DesiredValue | null>>,
  options: SetOptions = {},
): Promise<number> {
  checkName("scope", scope);
  if (values === null || typeof values !== "object") {
    throw new TypeError(
      `Cannot set keys of scope "${scope}": values must be a record of key to value`,
    );
  }
  const layer = layerOf(options);
  const changes = new Map<string, DesiredValue | null>();
  for (const [key, value] of Object.entries(values)) {
    if (key === "") {
      throw new FleetError("Cannot set a key without a name", "EVALUE");
    }
    changes.set(key, value === null ? null : checkValue(key, value));
  }
  return await withStore(store, options, async (s) => {
    await prepare(s, options);
    return await s.set(scope, layer, changes);
  });
}

/**
 * Unsets keys of one layer of `scope`: those keys are back to what the
 * less specific layers (or, with none, local code and the compiled
 * defaults) say. Returns the revision of the write.
 *
 * @param store The store, as for {@linkcode set}.
 * @param scope The scope.
 * @param keys The key names.
 * @param options The layer and the store's credentials.
 * @returns The revision written.
 * @throws {FleetError} As {@linkcode set}.
 *
 * @example Usage
 * ```ts
 * import { unset } from "@static-keys/deno/fleet";
 *
 * // A desired-state file (a NATS store is "nats://host:port")
 * const store = `${Deno.makeTempDirSync({ dir: "build/fleet-scratch" })}/fleet.json`;
 *
 * await unset(store, "cksum", ["tracing"], { host: "host17" });
 * ```
 */
export function unset(
  store: string,
  scope: string,
  keys: readonly string[],
  options: SetOptions = {},
): Promise<number> {
  return set(
    store,
    scope,
    Object.fromEntries(keys.map((k) => [k, null])),
    options,
  );
}

/** The layers of a snapshot as a DesiredState; EVALUE on a malformed one. */
function stateOf(snapshot: Snapshot): DesiredState {
  const state = {
    revision: snapshot.revision,
    scope: {} as Record<string, DesiredValue>,
    hosts: {} as Record<string, Record<string, DesiredValue>>,
    instances: {} as Record<string, Record<string, DesiredValue>>,
  };
  for (const layer of snapshot.layers) {
    if (layer.json === null) continue;
    const values = parseLayer(describeLayer(layer.id), layer.json);
    if (layer.id.kind !== "scope" && Object.keys(values).length === 0) continue;
    if (layer.id.kind === "scope") state.scope = values;
    else if (layer.id.kind === "host") state.hosts[layer.id.name] = values;
    else state.instances[layer.id.name] = values;
  }
  return state;
}

/**
 * The desired state of `scope`, layer by layer, and its revision.
 *
 * @param store The store, as for {@linkcode set}.
 * @param scope The scope.
 * @param options The store's credentials.
 * @returns The desired state.
 * @throws {FleetError} `EVALUE` when a layer is malformed (the message
 *   names it), and as {@linkcode set}.
 *
 * @example Usage
 * ```ts
 * import { get } from "@static-keys/deno/fleet";
 *
 * // A desired-state file (a NATS store is "nats://host:port")
 * const store = `${Deno.makeTempDirSync({ dir: "build/fleet-scratch" })}/fleet.json`;
 *
 * const { revision, scope, hosts } = await get(store, "cksum");
 * ```
 */
export async function get(
  store: string,
  scope: string,
  options: StoreOptions = {},
): Promise<DesiredState> {
  checkName("scope", scope);
  return stateOf(await withStore(store, options, (s) => s.read(scope)));
}

/**
 * The live followers of `scope` (a status older than `options.maxAge` is
 * a dead one's and is left out) with their applied revision, whether it
 * is the scope's latest, and their last error.
 *
 * @param store The store, as for {@linkcode set}.
 * @param scope The scope.
 * @param options The store's credentials and the status age limit.
 * @returns The scope's latest revision and the followers.
 * @throws {FleetError} As {@linkcode set}.
 *
 * @example Usage
 * ```ts
 * import { status } from "@static-keys/deno/fleet";
 *
 * // A desired-state file (a NATS store is "nats://host:port")
 * const store = `${Deno.makeTempDirSync({ dir: "build/fleet-scratch" })}/fleet.json`;
 *
 * const { revision, followers } = await status(store, "cksum");
 * console.table(followers.map(({ instance, revision, converged, error }) => ({ instance, revision, converged, error })));
 * ```
 */
export async function status(
  store: string,
  scope: string,
  options: StatusOptions = {},
): Promise<FleetStatus> {
  checkName("scope", scope);
  return await withStore(store, options, async (s) => {
    const { revision } = await s.read(scope);
    const followers = await s.statuses(scope, options.maxAge ?? 15_000);
    return {
      revision,
      followers: followers.map((f) => ({
        ...f,
        converged: f.revision >= revision,
      })),
    };
  });
}

/**
 * Waits until every live follower of `scope` has applied `revision` (or a
 * later one), watching their statuses, for at most `options.timeout` ms
 * (10,000 when omitted). Followers that appear while it waits count too.
 * Here `timeout` bounds the whole wait: each store operation inside it
 * (connecting, starting the watch) may take at most 5,000 ms (or
 * `timeout`, if shorter, but at least 1,000 ms), and one that
 * times out (a cluster electing a leader, a watch placed on a node that is
 * down) is tried again while the wait lasts.
 *
 * @param store The store, as for {@linkcode set}.
 * @param scope The scope.
 * @param revision The revision, as {@linkcode set} returned it.
 * @param options The store's credentials, the status age limit, and
 *   `timeout`.
 * @returns Who applied it and who did not, when all did or the time ran
 *   out.
 * @throws {FleetError} As {@linkcode set}.
 *
 * @example Usage
 * ```ts
 * import { set, waitFor } from "@static-keys/deno/fleet";
 *
 * // A desired-state file (a NATS store is "nats://host:port")
 * const store = `${Deno.makeTempDirSync({ dir: "build/fleet-scratch" })}/fleet.json`;
 *
 * const revision = await set(store, "cksum", { tracing: "on" });
 * const { pending } = await waitFor(store, "cksum", revision, { timeout: 5000 });
 * if (pending.length) console.error(`not applied: ${pending.map((f) => f.instance)}`);
 * ```
 */
export async function waitFor(
  store: string,
  scope: string,
  revision: number,
  options: StatusOptions & { readonly timeout?: number } = {},
): Promise<WaitResult> {
  checkName("scope", scope);
  const timeout = options.timeout ?? 10_000;
  // The whole wait's timeout is not each operation's: a watch request that
  // hangs would otherwise use all of it (and waitFor would never retry).
  const operation = {
    ...options,
    timeout: Math.max(1000, Math.min(timeout, OPERATION_MS)),
  };
  return await withStore(store, operation, async (s) => {
    let last: FollowerStatus[] = [];
    let done!: () => void;
    const finished = new Promise<void>((resolve) => done = resolve);
    const deadline = performance.now() + timeout;
    let w;
    for (;;) {
      try {
        w = await s.watchStatuses(
          scope,
          options.maxAge ?? 15_000,
          (list) => {
            last = list;
            if (list.every((f) => f.revision >= revision)) done();
          },
        );
        break;
      } catch (error) {
        // A cluster electing a leader answers again soon: try until the end.
        const code = (error as FleetError).code;
        if (code !== "EUNREACHABLE" || performance.now() > deadline) {
          throw error;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    const timer = setTimeout(done, Math.max(0, deadline - performance.now()));
    try {
      await finished;
    } finally {
      clearTimeout(timer);
      await w.stop();
    }
    return {
      applied: last.filter((f) => f.revision >= revision),
      pending: last.filter((f) => f.revision < revision),
    };
  });
}
