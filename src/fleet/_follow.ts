// SPDX-License-Identifier: MIT
// follow(): a module's keys follow a scope of a store. The policy lives
// here once for every store: coalescing (one request per minimum interval,
// with the latest state), fail-static (keys keep their last applied state
// while the store cannot be read), one batch per revision, the status
// heartbeat.

import { assertMainThread } from "../runtime/_guards.ts";
import type { StaticKeysModule } from "../runtime/_module.ts";
import type { Batch } from "../runtime/_batch.ts";
import type { BatchStep } from "../runtime/_types.ts";
import { FleetError, FleetPermissionError, messageOf } from "./_errors.ts";
import {
  checkName,
  desiredFor,
  type Holding,
  plan,
  type Snapshot,
  toName,
} from "./_policy.ts";
import {
  openStore,
  parseStore,
  retryDelay,
  type Store,
  type Watch,
} from "./_store.ts";
import type {
  DesiredValue,
  FollowerStatus,
  KeyStatus,
  StoreOptions,
} from "./_types.ts";

/**
 * Options of {@linkcode follow}: where to follow, who this process is, and
 * how fast to go. Store credentials as in {@linkcode StoreOptions}.
 *
 * @example Usage
 * ```ts
 * import type { FollowOptions } from "@static-keys/deno/fleet";
 *
 * const options: FollowOptions = {
 *   store: "nats://10.0.0.5:4222,nats://10.0.0.6:4222",
 *   scope: "cksum",
 *   host: "host17",
 *   user: "follower",
 *   password: "secret",
 * };
 * ```
 */
export interface FollowOptions extends StoreOptions {
  /**
   * `nats://host:port` (comma-separated for a cluster), or the path of a
   * desired-state file.
   */
  readonly store: string;
  /** The scope followed (a service): letters, digits, `_`, `-`, `=`. */
  readonly scope: string;
  /**
   * This process's host, for the host layer. Omitted: `Deno.hostname()`,
   * which needs `--allow-sys=hostname` (`follow()` rejects naming the flag
   * without it); `null`: follow no host layer. Characters other than
   * letters, digits, `_`, `-` and `=` become `_` (as in `set()`).
   */
  readonly host?: string | null;
  /**
   * This process's instance id, for the instance layer and its status.
   * Omitted: `<host>-<pid>` (`pid-<pid>` without a host).
   */
  readonly instance?: string;
  /**
   * Minimum milliseconds between two applied revisions: updates arriving
   * faster are applied as one request with the latest state. 100 when
   * omitted.
   */
  readonly minInterval?: number;
  /**
   * Longest time `follow()` waits for the first desired state before it
   * resolves anyway (keys at their compiled defaults, the follower still
   * trying). 3,000 ms when omitted.
   */
  readonly readyTimeout?: number;
  /** Milliseconds between two status writes (the heartbeat). 5,000 when omitted. */
  readonly heartbeat?: number;
  /** Called after each revision is applied or refused. */
  readonly onChange?: (state: FollowerState) => void;
}

/**
 * What a follower knows now; see {@linkcode Follower.state}.
 *
 * @example Usage
 * ```ts
 * import { open } from "@static-keys/deno";
 * import { follow } from "@static-keys/deno/fleet";
 *
 * // A desired-state file (a NATS store is "nats://host:port")
 * const store = `${Deno.makeTempDirSync({ dir: "build/fleet-scratch" })}/fleet.json`;
 *
 * using mod = open();
 * await using follower = await follow(mod, { store, scope: "demo", host: null });
 * const { revision, error, keys } = follower.state;
 * ```
 */
export interface FollowerState {
  /** The last revision applied (0: none yet). */
  readonly revision: number;
  /** The highest revision seen (above `revision` when one was refused). */
  readonly seen: number;
  /** Whether the store was read last time it was tried. */
  readonly connected: boolean;
  /** Why the last revision was refused or the store is not read; else `null`. */
  readonly error: string | null;
  /** Every key of the module: its effective state and what was applied. */
  readonly keys: Readonly<Record<string, KeyStatus>>;
}

/**
 * A running follower; get one from {@linkcode follow}. Dispose it (or call
 * `close()`) to stop following: its status is removed, and the keys keep
 * the state they have (the follower's references and pins stay).
 *
 * @example Usage
 * ```ts
 * import { open } from "@static-keys/deno";
 * import { follow } from "@static-keys/deno/fleet";
 *
 * // A desired-state file (a NATS store is "nats://host:port")
 * const store = `${Deno.makeTempDirSync({ dir: "build/fleet-scratch" })}/fleet.json`;
 *
 * using mod = open();
 * await using follower = await follow(mod, { store, scope: "demo", host: null });
 * console.log(follower.state.revision);
 * ```
 */
export class Follower implements AsyncDisposable {
  readonly #mod: StaticKeysModule;
  readonly #options: FollowOptions;
  readonly #host: string | null;
  readonly #instance: string;
  #store: Store | undefined;
  #watch: Watch | undefined;
  #holdings = new Map<string, Holding>();
  #desired = new Map<string, DesiredValue>();
  #latest: Snapshot | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #lastApply = -Infinity;
  #revision = 0;
  #seen = 0;
  #connected = false;
  #error: string | null = null;
  #closed = false;
  #running: Promise<void> = Promise.resolve();
  #writing: Promise<void> | undefined;
  #dirty = false;
  readonly #waiters = new Set<() => void>();
  #settle: ((error?: Error) => void) | undefined;

  /** @internal Used by follow(). */
  constructor(
    mod: StaticKeysModule,
    options: FollowOptions,
    host: string | null,
    instance: string,
  ) {
    this.#mod = mod;
    this.#options = options;
    this.#host = host;
    this.#instance = instance;
  }

  /**
   * This follower's instance id.
   *
   * @returns The id its status and instance layer use.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   * import { follow } from "@static-keys/deno/fleet";
   *
   * // A desired-state file (a NATS store is "nats://host:port")
   * const store = `${Deno.makeTempDirSync({ dir: "build/fleet-scratch" })}/fleet.json`;
   *
   * using mod = open();
   * await using f = await follow(mod, { store, scope: "demo", host: null });
   * console.log(f.instance);
   * ```
   */
  get instance(): string {
    return this.#instance;
  }

  /**
   * This follower's host (`null`: it follows no host layer).
   *
   * @returns The host.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   * import { follow } from "@static-keys/deno/fleet";
   *
   * // A desired-state file (a NATS store is "nats://host:port")
   * const store = `${Deno.makeTempDirSync({ dir: "build/fleet-scratch" })}/fleet.json`;
   *
   * using mod = open();
   * await using f = await follow(mod, { store, scope: "demo", host: "h1" });
   * console.log(f.host); // "h1"
   * ```
   */
  get host(): string | null {
    return this.#host;
  }

  /**
   * What the follower knows now: the revision applied, the highest seen,
   * the last error, and every key's effective state read from the module.
   *
   * @returns A snapshot of the state.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   * import { follow } from "@static-keys/deno/fleet";
   *
   * // A desired-state file (a NATS store is "nats://host:port")
   * const store = `${Deno.makeTempDirSync({ dir: "build/fleet-scratch" })}/fleet.json`;
   *
   * using mod = open();
   * await using f = await follow(mod, { store, scope: "demo", host: null });
   * if (f.state.error) console.error(f.state.error);
   * ```
   */
  get state(): FollowerState {
    return {
      revision: this.#revision,
      seen: this.#seen,
      connected: this.#connected,
      error: this.#error,
      keys: this.#keys(),
    };
  }

  /**
   * Whether `close()` was called.
   *
   * @returns `true` once closed.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   * import { follow } from "@static-keys/deno/fleet";
   *
   * // A desired-state file (a NATS store is "nats://host:port")
   * const store = `${Deno.makeTempDirSync({ dir: "build/fleet-scratch" })}/fleet.json`;
   *
   * using mod = open();
   * const f = await follow(mod, { store, scope: "demo", host: null });
   * await f.close();
   * console.log(f.closed); // true
   * ```
   */
  get closed(): boolean {
    return this.#closed;
  }

  #keys(): Record<string, KeyStatus> {
    if (this.#mod.closed) return {};
    const out: Record<string, KeyStatus> = {};
    for (const k of this.#mod.keys) {
      out[k.name] = {
        enabled: k.enabled,
        pinned: k.pinned,
        count: k.count,
        desired: this.#desired.get(k.name) ?? null,
      };
    }
    return out;
  }

  /** Starts: resolves once the first state is in (or refused) or on a store error. */
  start(ready: (error?: Error) => void): void {
    this.#settle = ready;
    this.#running = this.#run();
  }

  async #run(): Promise<void> {
    let attempt = 0;
    while (!this.#closed) {
      try {
        this.#store = await openStore(this.#options.store, this.#options);
        break;
      } catch (error) {
        const e = error as FleetError;
        if (e.code === "EPERM" || e.code === "EAUTH" || e.code === "EURL") {
          this.#settled(e);
          return;
        }
        this.#fail(e);
      }
      await this.#sleep(retryDelay(++attempt));
    }
    if (this.#closed || !this.#store) return;
    try {
      this.#watch = this.#store.watch(this.#options.scope, (event) => {
        if (this.#closed) return;
        if (event.kind === "error") {
          const e = event.error as FleetError;
          if (e.code === "EPERM" || e.code === "EAUTH") this.#settled(e);
          this.#fail(e);
          return;
        }
        this.#connected = true;
        this.#latest = event.snapshot;
        this.#schedule();
      });
    } catch (error) {
      this.#settled(error as Error);
      return;
    }
    const every = this.#options.heartbeat ?? 5000;
    this.#heartbeat = setInterval(() => this.#publish(), every);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(t);
        this.#waiters.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      this.#waiters.add(wake);
    });
  }

  /**
   * The store cannot be read: keys stay as they are, the error is kept and
   * published at once when it is new (the same error again waits for the
   * heartbeat, so that a store failing in a loop is not written in one).
   */
  #fail(error: Error): void {
    this.#connected = false;
    const message = messageOf(error);
    const changed = message !== this.#error;
    this.#error = message;
    this.#settled();
    if (changed) this.#publish();
    this.#options.onChange?.(this.state);
  }

  #settled(error?: Error): void {
    const settle = this.#settle;
    this.#settle = undefined;
    settle?.(error);
  }

  /**
   * One apply per minimum interval, with the latest state: a change after
   * a quiet interval is applied at once, the ones that follow it within
   * the interval together at its end.
   */
  #schedule(): void {
    if (this.#timer !== undefined || this.#closed) return;
    const min = this.#options.minInterval ?? 100;
    const delay = this.#lastApply + min - performance.now();
    if (delay <= 0) {
      this.#apply();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#apply();
    }, delay);
  }

  /** Applies the latest snapshot as one batch, or refuses all of it. */
  #apply(): void {
    const snapshot = this.#latest;
    this.#latest = undefined;
    if (!snapshot || this.#closed) return;
    this.#lastApply = performance.now();
    this.#seen = Math.max(this.#seen, snapshot.revision);
    try {
      const desired = desiredFor(snapshot, {
        host: this.#host,
        instance: this.#instance,
      });
      const { steps, holdings } = plan(this.#mod.keys, this.#holdings, desired);
      if (steps.length > 0) batchOf(this.#mod, steps).apply();
      this.#holdings = holdings;
      this.#desired = desired;
      this.#revision = snapshot.revision;
      this.#error = null;
    } catch (error) {
      this.#error =
        `Cannot apply revision ${snapshot.revision} of scope "${this.#options.scope}": ${
          messageOf(error).replace(/^Cannot apply: /, "")
        }; the keys keep their state`;
    }
    this.#settled();
    for (const wake of [...this.#waiters]) wake();
    this.#publish();
    this.#options.onChange?.(this.state);
  }

  /** Writes the status; one write at a time, the latest state each time. */
  #publish(): void {
    if (this.#closed || !this.#store) return;
    if (this.#writing) {
      this.#dirty = true;
      return;
    }
    const status: FollowerStatus = {
      instance: this.#instance,
      host: this.#host,
      pid: Deno.pid,
      library: this.#mod.closed ? "" : this.#mod.path,
      scope: this.#options.scope,
      revision: this.#revision,
      keys: this.#keys(),
      error: this.#error,
      time: new Date().toISOString(),
    };
    this.#writing = this.#store.writeStatus(status).catch(() => {
      // the next heartbeat tries again
    }).finally(() => {
      this.#writing = undefined;
      if (this.#dirty) {
        this.#dirty = false;
        this.#publish();
      }
    });
  }

  /**
   * Resolves once revision `revision` (or a later one) is applied; rejects
   * with `ETIMEOUT` after `timeout` ms.
   *
   * @param revision The revision, as `set()` returned it.
   * @param timeout Milliseconds to wait; 10,000 when omitted.
   * @returns The state then.
   * @throws {FleetError} `ETIMEOUT` when the time runs out, `ECLOSED` when
   *   the follower is closed.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   * import { follow, set } from "@static-keys/deno/fleet";
   *
   * // A desired-state file (a NATS store is "nats://host:port")
   * const store = `${Deno.makeTempDirSync({ dir: "build/fleet-scratch" })}/fleet.json`;
   *
   * using mod = open();
   * await using f = await follow(mod, { store, scope: "demo", host: null });
   * const revision = await set(store, "demo", { tracing: "on" });
   * await f.applied(revision);
   * ```
   */
  async applied(revision: number, timeout = 10_000): Promise<FollowerState> {
    const deadline = performance.now() + timeout;
    while (this.#revision < revision) {
      if (this.#closed) {
        throw new FleetError(
          `Cannot wait for revision ${revision}: the follower is closed`,
          "ECLOSED",
        );
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new FleetError(
          `Cannot wait for revision ${revision}: still at ${this.#revision} after ${timeout} ms` +
            (this.#error ? ` (${this.#error})` : ""),
          "ETIMEOUT",
        );
      }
      await this.#sleep(Math.min(left, 50));
    }
    return this.state;
  }

  /**
   * Stops following: the watch and the heartbeat end, the status is
   * removed, the connection is closed. The keys keep their state. A no-op
   * when already closed.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   * import { follow } from "@static-keys/deno/fleet";
   *
   * // A desired-state file (a NATS store is "nats://host:port")
   * const store = `${Deno.makeTempDirSync({ dir: "build/fleet-scratch" })}/fleet.json`;
   *
   * using mod = open();
   * const f = await follow(mod, { store, scope: "demo", host: null });
   * await f.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearInterval(this.#heartbeat);
    for (const wake of [...this.#waiters]) wake();
    this.#settled();
    await this.#running;
    await this.#watch?.stop();
    await this.#writing;
    await this.#store?.removeStatus(this.#options.scope, this.#instance);
    await this.#store?.close();
  }

  /**
   * Closes the follower at the end of an `await using` block.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   * import { follow } from "@static-keys/deno/fleet";
   *
   * // A desired-state file (a NATS store is "nats://host:port")
   * const store = `${Deno.makeTempDirSync({ dir: "build/fleet-scratch" })}/fleet.json`;
   *
   * using mod = open();
   * {
   *   await using f = await follow(mod, { store, scope: "demo", host: null });
   * } // closed here
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** The batch of `steps` over `mod`. */
function batchOf(
  mod: StaticKeysModule,
  steps: readonly (readonly [string, BatchStep])[],
): Batch {
  let batch = mod.batch();
  for (const [name, step] of steps) {
    if (step === true) batch = batch.enable(name);
    else if (step === false) batch = batch.disable(name);
    else if (step === "inc") batch = batch.inc(name);
    else if (step === "dec") batch = batch.dec(name);
    else if (step === "unpin") batch = batch.unpin(name);
    else batch = batch.pin(name, step === "pin-on" ? "on" : "off");
  }
  return batch;
}

/** The host a follower uses when `options.host` is omitted. */
function defaultHost(action: string): string {
  const state =
    Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state;
  if (state !== "granted") {
    throw new FleetPermissionError(
      `${action}: the host name needs --allow-sys=hostname, run again with ` +
        `--allow-sys=hostname, or pass the host option (null: follow no host layer)`,
      "--allow-sys=hostname",
    );
  }
  return Deno.hostname();
}

/**
 * Makes the keys of `mod` follow `options.scope` of `options.store`: each
 * revision of the desired state is applied as one all-or-nothing request,
 * on this (the main) thread. Resolves once the first desired state is
 * applied, or the store could not be reached, or after
 * `options.readyTimeout` (3 s): the keys keep their compiled defaults
 * until the store answers; the follower keeps trying with backoff.
 *
 * What the values do to a key (the follower is one more holder of its
 * count, the compiled default another: a TRUE key starts with count 1):
 *
 * | value | the follower |
 * | --- | --- |
 * | `on` | holds one reference (an `inc`) |
 * | `off` | holds none, and drops the compiled default's (a TRUE key's count 1): on only while local code holds it |
 * | `pin-on` / `pin-off` | pins the key: local `inc`/`dec`/`enable`/`disable` are counted but flip nothing until the pin is lifted |
 * | absent | holds none; the compiled default's reference is back; a pin it set is lifted |
 *
 * A revision that names a key the library does not have, or holds a value
 * that is not one of these (or is not JSON), is not applied at all: the
 * keys keep their state, and `state.error` and the status say why.
 *
 * @param mod The module whose keys follow.
 * @param options The store, the scope, and who this process is.
 * @returns A running follower; dispose it to stop following.
 * @throws {FleetError} `EURL` (store), `ESCOPE` (scope, instance), `EAUTH`
 *   (credentials refused), `EPERM` ({@linkcode FleetPermissionError}: a
 *   Deno flag is missing; the message names it).
 * @throws {WrongThreadError} Inside a Worker.
 *
 * @example Usage
 * ```ts
 * import { open } from "@static-keys/deno";
 * import { follow } from "@static-keys/deno/fleet";
 *
 * // A desired-state file; or "nats://10.0.0.5:4222" with user and password
 * const store = `${Deno.makeTempDirSync({ dir: "build/fleet-scratch" })}/fleet.json`;
 *
 * using mod = open();
 * await using follower = await follow(mod, {
 *   store,
 *   scope: "cksum",
 *   host: "host17", // omitted: Deno.hostname(), with --allow-sys=hostname
 * });
 * console.log(follower.state);
 * ```
 */
export async function follow(
  mod: StaticKeysModule,
  options: FollowOptions,
): Promise<Follower> {
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `Cannot follow: options must be an object, got ${typeof options}`,
    );
  }
  const action = `Cannot follow "${options.store}"`;
  assertMainThread(action);
  const scope = checkName("scope", options.scope);
  const address = parseStore(options.store);
  const host = options.host === undefined
    ? toName(defaultHost(action))
    : options.host === null
    ? null
    : toName(String(options.host));
  const instance = options.instance === undefined
    ? toName(`${host ?? "pid"}-${Deno.pid}`)
    : checkName("instance", options.instance);
  if (address.kind === "file") {
    // What the file store needs, checked before anything runs: every
    // missing flag named at once.
    const missing = ([
      ["read", address.dir],
      ["write", address.statusDir],
    ] as const).filter(([name, path]) =>
      Deno.permissions.querySync({ name, path }).state !== "granted"
    ).map(([name, path]) => `--allow-${name}=${path}`);
    if (missing.length > 0) {
      const flags = missing.join(" ");
      throw new FleetPermissionError(
        `${action}: it needs ${flags}, run again with ${flags}`,
        flags,
      );
    }
  }
  mod.names; // ModuleClosedError now rather than at the first revision
  const follower = new Follower(mod, { ...options, scope }, host, instance);
  const timeout = options.readyTimeout ?? 3000;
  const ready = new Promise<Error | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), timeout);
    follower.start((error) => {
      clearTimeout(timer);
      resolve(error);
    });
  });
  const error = await ready;
  if (error) {
    await follower.close();
    throw error;
  }
  return follower;
}
