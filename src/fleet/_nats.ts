// SPDX-License-Identifier: MIT
// The NATS store: JetStream key-value buckets. Desired state is one bucket
// (keys "<scope>.scope", "<scope>.host.<host>", "<scope>.instance.<id>",
// each a JSON object of key to value); statuses are a second bucket
// ("<scope>.<instance>") whose max age makes dead followers disappear.
// Revisions are the bucket's: what set() returns is what followers report.

import {
  credsAuthenticator,
  type NatsConnection,
} from "@nats-io/transport-node";
import {
  DeliverPolicy,
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { connectDeno } from "./_transport.ts";
import { FleetError, messageOf } from "./_errors.ts";
import type { LayerId, RawLayer, Snapshot } from "./_policy.ts";
import type { NatsAddress, Store, Watch, WatchEvent } from "./_store.ts";
import type { DesiredValue, FollowerStatus, StoreOptions } from "./_types.ts";

/** The desired-state bucket when none is named. */
export const DESIRED_BUCKET = "static_keys_desired";
/** The status bucket when none is named. */
export const STATUS_BUCKET = "static_keys_status";
/** Statuses expire this long after their last write unless set() says. */
export const STATUS_TTL_MS = 15_000;

/** One key's last message in a bucket, as the watches read it. */
interface Entry {
  readonly key: string;
  readonly revision: number;
  /** PUT, DEL or PURGE. */
  readonly operation: string;
  readonly text: string;
}

/** The KV key of a layer. */
export function layerKey(scope: string, id: LayerId): string {
  return id.kind === "scope"
    ? `${scope}.scope`
    : `${scope}.${id.kind}.${id.name}`;
}

/** The layer a KV key names, or undefined for a key of no layer. */
export function layerOf(scope: string, key: string): LayerId | undefined {
  const rest = key.slice(scope.length + 1);
  if (rest === "scope") return { kind: "scope" };
  const m = rest.match(/^(host|instance)\.(.+)$/);
  if (!m) return undefined;
  return { kind: m[1] as "host" | "instance", name: m[2] };
}

/** What a NATS error means for the fleet. */
export function natsError(action: string, error: unknown): FleetError {
  if (error instanceof FleetError) return error;
  const text = messageOf(error);
  const code = /authoriz|authenticat|permission/i.test(text)
    ? "EAUTH"
    : /timeout|timed out|connection refused|ECONNREFUSED|closed|disconnect|no responders|CONNECTION_REFUSED/i
        .test(text)
    ? "EUNREACHABLE"
    : "EUNREACHABLE";
  return new FleetError(`${action}: ${text}`, code, { cause: error });
}

/** The NATS store. */
export class NatsStore implements Store {
  readonly name: string;
  readonly #nc: NatsConnection;
  readonly #kvm: Kvm;
  readonly #options: StoreOptions;
  readonly #timeout: number;
  #jsm: JetStreamManager | undefined;
  #js: JetStreamClient | undefined;
  #closed = false;
  #desired: KV | undefined;
  #status: KV | undefined;
  /** Watches to restart on a reconnect (their consumer may be gone). */
  readonly #restarts = new Set<() => void>();
  /** Watches to tell of a lost connection. */
  readonly #losses = new Set<(error: FleetError) => void>();

  private constructor(
    name: string,
    nc: NatsConnection,
    options: StoreOptions,
  ) {
    this.name = name;
    this.#nc = nc;
    this.#kvm = new Kvm(nc);
    this.#options = options;
    this.#timeout = options.timeout ?? 5000;
    (async () => {
      for await (const s of nc.status()) {
        if (s.type === "reconnect") {
          for (const restart of this.#restarts) restart();
        } else if (s.type === "disconnect") {
          const error = new FleetError(
            `Cannot read "${name}": the connection to ${s.server} was lost; reconnecting`,
            "EUNREACHABLE",
          );
          for (const lost of this.#losses) lost(error);
        }
      }
    })().catch(() => {});
  }

  /** Connects; EPERM, EAUTH or EUNREACHABLE when it cannot. */
  static async open(
    address: NatsAddress,
    options: StoreOptions,
  ): Promise<NatsStore> {
    const servers = address.servers.map(({ host, port }) =>
      host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`
    );
    const name = servers.map((s) => `nats://${s}`).join(",");
    let authenticator;
    if (options.creds !== undefined) {
      authenticator = credsAuthenticator(await Deno.readFile(options.creds));
    }
    try {
      const nc = await connectDeno({
        servers,
        user: options.user,
        pass: options.password,
        token: options.token,
        authenticator,
        timeout: options.timeout ?? 5000,
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        reconnectJitter: 100,
        pingInterval: 2000,
        maxPingOut: 2,
        name: "static-keys fleet",
      });
      return new NatsStore(name, nc, options);
    } catch (error) {
      throw natsError(`Cannot connect to "${name}"`, error);
    }
  }

  async #manager(): Promise<JetStreamManager> {
    return this.#jsm ??= await jetstreamManager(this.#nc, {
      timeout: this.#timeout,
    });
  }

  get #desiredName(): string {
    return this.#options.bucket ?? DESIRED_BUCKET;
  }

  get #statusName(): string {
    return this.#options.statusBucket ?? STATUS_BUCKET;
  }

  /** The desired bucket: opened (followers), or created (`create`). */
  async #desiredKv(create: false | { replicas?: number }): Promise<KV> {
    if (this.#desired) return this.#desired;
    const name = this.#desiredName;
    try {
      this.#desired = await this.#kvm.open(name, { timeout: this.#timeout });
      await this.#desired.status();
    } catch (error) {
      this.#desired = undefined;
      if (!create || !/not found|stream not found/i.test(messageOf(error))) {
        throw natsError(`Cannot open bucket "${name}"`, error);
      }
      this.#desired = await this.#kvm.create(name, {
        history: 1,
        replicas: create.replicas ?? 1,
        timeout: this.#timeout,
      });
    }
    return this.#desired;
  }

  async #statusKv(create: false | { replicas?: number; ttl?: number }) {
    if (this.#status) return this.#status;
    const name = this.#statusName;
    try {
      this.#status = await this.#kvm.open(name, { timeout: this.#timeout });
      await this.#status.status();
    } catch (error) {
      this.#status = undefined;
      if (!create || !/not found/i.test(messageOf(error))) {
        throw natsError(`Cannot open bucket "${name}"`, error);
      }
      this.#status = await this.#kvm.create(name, {
        history: 1,
        replicas: create.replicas ?? 1,
        ttl: create.ttl ?? STATUS_TTL_MS,
        timeout: this.#timeout,
      });
    }
    return this.#status;
  }

  /** Creates both buckets if needed (operators; followers only open them). */
  async ensureBuckets(replicas = 1, statusTtl = STATUS_TTL_MS): Promise<void> {
    try {
      await this.#desiredKv({ replicas });
      await this.#statusKv({ replicas, ttl: statusTtl });
    } catch (error) {
      throw natsError("Cannot create the fleet's buckets", error);
    }
  }

  /** Messages of `bucket` under `filter` now (0: none, the watch sends none). */
  async #count(bucket: string, filter: string): Promise<number> {
    const jsm = await this.#manager();
    const info = await jsm.streams.info(`KV_${bucket}`, {
      subjects_filter: `$KV.${bucket}.${filter}`,
    });
    return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  }

  /**
   * The last message of each key of `bucket` under `filter`, delivered
   * whole: `done` gets them once the initial state is in, then after each
   * update. An ordered consumer reads them: the client makes it again,
   * from the last message seen, when it goes missing (its node died).
   * Resolves once the watch runs; the returned stop() ends it.
   */
  async #watchEntries(
    bucket: string,
    filter: string,
    done: (entries: Map<string, Entry>) => void,
  ): Promise<{ stop: () => void; ended: Promise<void> }> {
    const pending = await this.#count(bucket, filter);
    this.#js ??= jetstream(this.#nc, { timeout: this.#timeout });
    const consumer = await this.#js.consumers.get(`KV_${bucket}`, {
      filter_subjects: `$KV.${bucket}.${filter}`,
      deliver_policy: DeliverPolicy.LastPerSubject,
    });
    // Heartbeats every second: a consumer whose node died is noticed within
    // seconds, and the watch starts again (from the last value of each key).
    const messages = await consumer.consume({
      expires: 2000,
      idle_heartbeat: 1000,
    });
    (async () => {
      for await (const s of messages.status()) {
        if (
          s.type === "heartbeats_missed" && s.count >= 2 ||
          s.type === "consumer_deleted" || s.type === "consumer_not_found" ||
          s.type === "stream_not_found"
        ) {
          messages.stop();
          break;
        }
      }
    })().catch(() => {});
    const prefix = `$KV.${bucket}.`;
    const entries = new Map<string, Entry>();
    let initial = pending > 0;
    if (!initial) done(entries);
    const ended = (async () => {
      for await (const m of messages) {
        const key = m.subject.slice(prefix.length);
        entries.set(key, {
          key,
          revision: m.seq,
          operation: m.headers?.get("KV-Operation") || "PUT",
          text: m.string(),
        });
        if (initial && m.info.pending > 0) continue;
        initial = false;
        done(entries);
      }
    })();
    return { stop: () => messages.stop(), ended };
  }

  /**
   * Watches `filter` of `bucket` until stopped: a watch that ends (its
   * consumer lost, a reconnect) or fails starts again, with backoff;
   * `failed` hears each failure and each lost connection.
   */
  #keepWatching(
    bucket: string,
    filter: string,
    open: () => Promise<unknown>,
    done: (entries: Map<string, Entry>) => void,
    failed: (error: FleetError) => void,
  ): Watch {
    let stopped = false;
    let current: { stop: () => void } | undefined;
    let wake: () => void = () => {};
    const restart = () => {
      current?.stop();
      wake();
    };
    const lost = (error: FleetError) => {
      if (!stopped) failed(error);
    };
    this.#restarts.add(restart);
    this.#losses.add(lost);
    const loop = (async () => {
      let backoff = 250;
      while (!stopped) {
        try {
          await open();
          const w = await this.#watchEntries(bucket, filter, done);
          current = w;
          if (stopped) w.stop();
          backoff = 250;
          await w.ended;
        } catch (error) {
          if (stopped) break;
          failed(natsError(`Cannot watch "${this.name}"`, error));
        }
        if (stopped) break;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, backoff);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        backoff = Math.min(backoff * 2, 5000);
      }
    })();
    return {
      stop: async () => {
        stopped = true;
        this.#restarts.delete(restart);
        this.#losses.delete(lost);
        restart();
        await loop;
      },
    };
  }

  watch(scope: string, on: (event: WatchEvent) => void): Watch {
    return this.#keepWatching(
      this.#desiredName,
      `${scope}.>`,
      () => this.#desiredKv(false),
      (entries) =>
        on({ kind: "snapshot", snapshot: toSnapshot(scope, entries) }),
      (error) => {
        this.#desired = undefined; // open it again: it may be new
        on({ kind: "error", error });
      },
    );
  }

  async read(scope: string): Promise<Snapshot> {
    try {
      await this.#desiredKv(false);
      return await new Promise<Snapshot>((resolve, reject) => {
        let w: { stop: () => void } | undefined;
        let got: Snapshot | undefined;
        this.#watchEntries(this.#desiredName, `${scope}.>`, (entries) => {
          got ??= toSnapshot(scope, entries);
          w?.stop();
          resolve(got);
        }).then((watch) => {
          w = watch;
          if (got) watch.stop();
        }, reject);
      });
    } catch (error) {
      if (/not found/i.test(messageOf(error))) {
        return { revision: 0, layers: [] };
      }
      throw natsError(`Cannot read desired state from "${this.name}"`, error);
    }
  }

  async set(
    scope: string,
    layer: LayerId,
    changes: ReadonlyMap<string, DesiredValue | null>,
  ): Promise<number> {
    const action = `Cannot set desired state in "${this.name}"`;
    const key = layerKey(scope, layer);
    try {
      const kv = await this.#desiredKv({});
      for (let attempt = 0;; attempt++) {
        const entry = await kv.get(key);
        const values = entry?.operation === "PUT" ? layerValues(entry) : {};
        for (const [k, v] of changes) {
          if (v === null) delete values[k];
          else values[k] = v;
        }
        const text = JSON.stringify(values);
        try {
          return entry
            ? await kv.update(key, text, entry.revision)
            : await kv.create(key, text);
        } catch (error) {
          // another writer came first: read again and retry
          if (
            attempt < 20 && /wrong last sequence|exists/i.test(messageOf(error))
          ) {
            continue;
          }
          throw error;
        }
      }
    } catch (error) {
      throw natsError(action, error);
    }
  }

  async writeStatus(status: FollowerStatus): Promise<void> {
    try {
      const kv = await this.#statusKv(false);
      await kv.put(
        `${status.scope}.${status.instance}`,
        JSON.stringify(status),
      );
    } catch (error) {
      this.#status = undefined;
      throw natsError(`Cannot write the status of "${status.instance}"`, error);
    }
  }

  async removeStatus(scope: string, instance: string): Promise<void> {
    try {
      const kv = await this.#statusKv(false);
      await kv.delete(`${scope}.${instance}`);
    } catch {
      // it expires anyway
    }
  }

  async watchStatuses(
    scope: string,
    maxAge: number,
    on: (statuses: FollowerStatus[]) => void,
  ): Promise<Watch> {
    try {
      await this.#statusKv(false);
    } catch (error) {
      throw natsError(`Cannot watch the statuses of "${this.name}"`, error);
    }
    const parsed = new WeakMap<Entry, FollowerStatus | null>();
    let first!: (error?: FleetError) => void;
    const started = new Promise<FleetError | undefined>((r) => first = r);
    const w = this.#keepWatching(
      this.#statusName,
      `${scope}.>`,
      () => this.#statusKv(false),
      (entries) => {
        first();
        on(liveStatuses(entries, maxAge, parsed));
      },
      (error) => first(error),
    );
    const error = await started;
    if (error) {
      await w.stop();
      throw natsError(`Cannot watch the statuses of "${this.name}"`, error);
    }
    return w;
  }

  async statuses(scope: string, maxAge: number): Promise<FollowerStatus[]> {
    let first!: (list: FollowerStatus[]) => void;
    const got = new Promise<FollowerStatus[]>((resolve) => first = resolve);
    let w: Watch;
    try {
      w = await this.watchStatuses(scope, maxAge, (list) => first(list));
    } catch (error) {
      if (/not found/i.test(messageOf(error))) return [];
      throw error;
    }
    try {
      return await got;
    } finally {
      await w.stop();
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#restarts.clear();
    this.#losses.clear();
    await this.#nc.close().catch(() => {});
  }
}

/**
 * A layer's values to change; a malformed layer (not a JSON object) is
 * replaced whole, so that set() repairs it.
 */
function layerValues(entry: { json<T>(): T }): Record<string, unknown> {
  try {
    const values = entry.json<unknown>();
    if (values && typeof values === "object" && !Array.isArray(values)) {
      return values as Record<string, unknown>;
    }
  } catch {
    // not JSON
  }
  return {};
}

/** The statuses among `entries` written in the last `maxAge` ms. */
function liveStatuses(
  entries: Map<string, Entry>,
  maxAge: number,
  parsed: WeakMap<Entry, FollowerStatus | null>,
): FollowerStatus[] {
  const now = Date.now();
  const out: FollowerStatus[] = [];
  for (const e of entries.values()) {
    if (e.operation !== "PUT") continue;
    let s = parsed.get(e);
    if (s === undefined) {
      try {
        s = JSON.parse(e.text) as FollowerStatus;
      } catch {
        s = null; // not a status
      }
      parsed.set(e, s); // each entry is parsed once, not once per update
    }
    if (s && now - Date.parse(s.time) <= maxAge) out.push(s);
  }
  return out.sort((a, b) => a.instance.localeCompare(b.instance));
}

/** The scope's layers from its KV entries (a deleted layer is absent). */
function toSnapshot(scope: string, entries: Map<string, Entry>): Snapshot {
  let revision = 0;
  const layers: RawLayer[] = [];
  for (const e of entries.values()) {
    revision = Math.max(revision, e.revision);
    const id = layerOf(scope, e.key);
    if (!id) continue;
    layers.push({
      id,
      revision: e.revision,
      json: e.operation === "PUT" ? e.text : null,
    });
  }
  return { revision, layers };
}
