// SPDX-License-Identifier: MIT
// The NATS store: JetStream key-value buckets. Desired state is one bucket
// (keys "<scope>.scope", "<scope>.host.<host>", "<scope>.instance.<id>",
// each a JSON object of key to value); statuses are a second bucket
// ("<scope>.<instance>") whose max age makes dead followers disappear.
// Revisions are the bucket's: what set() returns is what followers report.

import {
  createInbox,
  credsAuthenticator,
  nanos,
  type NatsConnection,
} from "@nats-io/transport-node";
import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamManager,
  jetstreamManager,
  StorageType,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { connectDeno } from "./_transport.ts";
import { FleetError, FleetPermissionError, messageOf } from "./_errors.ts";
import type { LayerId, RawLayer, Snapshot } from "./_policy.ts";
import {
  type NatsAddress,
  retryDelay,
  type Store,
  type Watch,
  type WatchEvent,
} from "./_store.ts";
import type { DesiredValue, FollowerStatus, StoreOptions } from "./_types.ts";

/** The desired-state bucket when none is named. */
export const DESIRED_BUCKET = "static_keys_desired";
/** The status bucket when none is named. */
export const STATUS_BUCKET = "static_keys_status";
/** Statuses expire this long after their last write unless set() says. */
export const STATUS_TTL_MS = 15_000;
/**
 * A watch's consumer sends a heartbeat this often while it has nothing to
 * send; two missed ones (while the process ran) end the watch, which
 * starts again.
 */
export const WATCH_HEARTBEAT_MS = 5000;
/**
 * How many consumers a one-shot read (and the first start of a status
 * watch) tries when one does not answer in time. In a cluster with a node
 * down, the server may place a watch's consumer on that node, and the
 * request then times out; the next consumer lands elsewhere.
 */
export const WATCH_TRIES = 3;

/** Whether `error` is a request that did not answer in time. */
function timedOut(error: unknown): boolean {
  return /timeout|timed out/i.test(messageOf(error));
}

/** What the reply subject of a JetStream delivery says about it. */
interface Delivery {
  /** The stream's sequence number of the message (a KV revision). */
  readonly stream: number;
  /** The consumer's sequence number: 1, 2, 3... without gaps. */
  readonly consumer: number;
  /** Messages left to deliver after this one. */
  readonly pending: number;
}

/**
 * Reads `$JS.ACK.<stream>.<consumer>.<count>.<stream seq>.<consumer seq>.
 * <time>.<pending>`, or the form with a domain and an account hash after
 * `$JS.ACK` (and maybe a token at the end); undefined for any other subject.
 */
export function deliveryOf(reply: string | undefined): Delivery | undefined {
  if (!reply?.startsWith("$JS.ACK.")) return undefined;
  const t = reply.split(".");
  const at = t.length === 9 ? 5 : t.length >= 11 ? 7 : -1;
  if (at < 0) return undefined;
  const d = {
    stream: Number(t[at]),
    consumer: Number(t[at + 1]),
    pending: Number(t[at + 3]),
  };
  return Number.isSafeInteger(d.stream) && Number.isSafeInteger(d.consumer) &&
      Number.isSafeInteger(d.pending)
    ? d
    : undefined;
}

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

/**
 * The authenticator of a `.creds` file (a user JWT and its nkey seed);
 * EAUTH naming the file when it cannot be read or is not one.
 */
async function credsOf(path: string) {
  const action =
    `Cannot use the NATS creds file "${path}" (the creds option, --creds)`;
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
    throw new FleetPermissionError(
      `${action}: reading it needs --allow-read=${path}, run again with --allow-read=${path}`,
      `--allow-read=${path}`,
    );
  }
  let text: Uint8Array;
  try {
    text = await Deno.readFile(path);
  } catch (error) {
    throw new FleetError(
      `${action}: ${messageOf(error)}; give the path of a .creds file`,
      "EAUTH",
      { cause: error },
    );
  }
  const authenticator = credsAuthenticator(text);
  try {
    // Signs a nonce as the connection will: a file without a JWT and a
    // seed fails here, before any server is asked.
    authenticator("0");
  } catch (error) {
    throw new FleetError(
      `${action}: it is not a creds file (${
        messageOf(error)
      }); it must hold a user JWT and its nkey seed, as "nsc generate creds" writes them`,
      "EAUTH",
      { cause: error },
    );
  }
  return authenticator;
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

/**
 * The client's wait before each reconnection try, as for every other store
 * operation ({@linkcode retryDelay}): doubling from 250 ms to 5 s with
 * jitter, counted from the connection's loss. `tried()` counts a try (the
 * client's "reconnecting" event), `connected()` starts again from 250 ms;
 * `delay()` is the client's `reconnectDelayHandler`, asked before each
 * try (and again while it waits: one draw per try, so that the wait does
 * not change under it).
 */
export function reconnectBackoff(): {
  delay: () => number;
  tried: () => void;
  connected: () => void;
} {
  let attempts = 0;
  let drawnFor = -1;
  let drawn = 0;
  return {
    delay: () => {
      if (drawnFor !== attempts) {
        drawnFor = attempts;
        drawn = retryDelay(Math.max(1, attempts));
      }
      return drawn;
    },
    tried: () => {
      attempts++;
    },
    connected: () => {
      attempts = 0;
    },
  };
}

/** The NATS store. */
export class NatsStore implements Store {
  readonly name: string;
  readonly #nc: NatsConnection;
  readonly #kvm: Kvm;
  readonly #options: StoreOptions;
  readonly #timeout: number;
  #jsm: JetStreamManager | undefined;
  #closed = false;
  /** Whether the connection is up (watches check heartbeats only then). */
  #connected = true;
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
    backoff: ReturnType<typeof reconnectBackoff>,
  ) {
    this.name = name;
    this.#nc = nc;
    this.#kvm = new Kvm(nc);
    this.#options = options;
    this.#timeout = options.timeout ?? 5000;
    (async () => {
      for await (const s of nc.status()) {
        if (s.type === "reconnecting") backoff.tried();
        else if (s.type === "reconnect") {
          backoff.connected();
          this.#connected = true;
          for (const restart of this.#restarts) restart();
        } else if (s.type === "disconnect") {
          this.#connected = false;
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
    const authenticator = options.creds === undefined
      ? undefined
      : await credsOf(options.creds);
    const backoff = reconnectBackoff();
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
        // Doubling from 250 ms to 5 s, with jitter (the client's own wait
        // is a constant one).
        reconnectDelayHandler: backoff.delay,
        // A server that died closes its sockets (the loss is seen at once);
        // pings find a silent one (a cut network) within 10 to 15 s.
        pingInterval: 5000,
        maxPingOut: 2,
        name: "static-keys fleet",
      });
      return new NatsStore(name, nc, options, backoff);
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
      // In memory: statuses are rewritten every heartbeat and expire.
      this.#status = await this.#kvm.create(name, {
        history: 1,
        replicas: create.replicas ?? 1,
        ttl: create.ttl ?? STATUS_TTL_MS,
        storage: StorageType.Memory,
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

  /**
   * The last message of each key of `bucket` under `filter`, delivered
   * whole: `done` gets them once the initial state is in, then after each
   * update. A push consumer of our own (no acknowledgements, no pull
   * requests) sends them to an inbox this connection subscribes to, and
   * a heartbeat every {@linkcode WATCH_HEARTBEAT_MS} while there is
   * nothing to send. The watch ends (and the caller starts it again, from
   * the last value of each key) when the consumer is gone, a delivery is
   * missing, or two heartbeats were not heard while this process ran.
   * Resolves once the watch runs; the returned stop() ends it.
   */
  async #watchEntries(
    bucket: string,
    filter: string,
    done: (entries: Map<string, Entry>) => void,
  ): Promise<{ stop: () => void; ended: Promise<void> }> {
    const jsm = await this.#manager();
    const stream = `KV_${bucket}`;
    const prefix = `$KV.${bucket}.`;
    const entries = new Map<string, Entry>();
    const ended = Promise.withResolvers<void>();
    let initial = true;
    let next = 1; // the consumer sequence of the next delivery
    let consumer: string | undefined;
    let stopped = false;
    let heard = performance.now();
    // Two heartbeats missed while this process ran: the consumer is gone
    // (its node died). A check that itself comes late means this process
    // was not running (a starved machine): what the server sent meanwhile
    // may still be unread, so that check decides nothing.
    let due = performance.now() + WATCH_HEARTBEAT_MS;
    const timer = setInterval(() => {
      const now = performance.now();
      const late = now - due;
      due = now + WATCH_HEARTBEAT_MS;
      if (late > WATCH_HEARTBEAT_MS / 2 || !this.#connected) return;
      if (now - heard > 2.5 * WATCH_HEARTBEAT_MS) stop();
    }, WATCH_HEARTBEAT_MS);
    const stop = () => {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      sub.unsubscribe();
      if (consumer) jsm.consumers.delete(stream, consumer).catch(() => {});
      ended.resolve();
    };
    const sub = this.#nc.subscribe(createInbox(), {
      callback: (error, m) => {
        if (stopped) return;
        if (error) return stop();
        heard = performance.now();
        const headers = m.headers;
        if (headers && headers.code !== 0) {
          // 100: a heartbeat; anything else (409: the consumer was
          // deleted) ends the watch
          if (headers.code !== 100) stop();
          return;
        }
        const delivery = deliveryOf(m.reply);
        if (!delivery || delivery.consumer !== next) return stop();
        next++;
        const key = m.subject.slice(prefix.length);
        entries.set(key, {
          key,
          revision: delivery.stream,
          operation: headers?.get("KV-Operation") || "PUT",
          text: m.string(),
        });
        if (initial && delivery.pending > 0) return;
        initial = false;
        done(entries);
      },
    });
    try {
      const info = await jsm.consumers.add(stream, {
        deliver_subject: sub.getSubject(),
        filter_subject: `${prefix}${filter}`,
        deliver_policy: DeliverPolicy.LastPerSubject,
        ack_policy: AckPolicy.None,
        idle_heartbeat: nanos(WATCH_HEARTBEAT_MS),
        flow_control: false,
        mem_storage: true,
        num_replicas: 1,
      });
      consumer = info.name;
      if (stopped) {
        jsm.consumers.delete(stream, consumer).catch(() => {});
      } else if (initial && info.num_pending === 0 && next === 1) {
        initial = false;
        done(entries);
      }
    } catch (error) {
      stop();
      throw error;
    }
    return { stop, ended: ended.promise };
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
      let attempt = 0; // failed tries since the watch last ran
      while (!stopped) {
        try {
          await open();
          const w = await this.#watchEntries(bucket, filter, done);
          current = w;
          if (stopped) w.stop();
          attempt = 0;
          await w.ended;
        } catch (error) {
          if (stopped) break;
          // Never out of the loop: the error is the follower's to report,
          // and the watch is made again (from the current state) until it
          // runs or is stopped.
          try {
            failed(natsError(`Cannot watch "${this.name}"`, error));
          } catch {
            // a caller's error must not end the watch
          }
        }
        if (stopped) break;
        attempt++;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, retryDelay(attempt));
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
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
      const kv = await this.#desiredKv(false);
      const entries = await this.#lastEntries(this.#desiredName, scope, kv);
      return toSnapshot(scope, entries);
    } catch (error) {
      if (/not found/i.test(messageOf(error))) {
        return { revision: 0, layers: [] };
      }
      throw natsError(`Cannot read desired state from "${this.name}"`, error);
    }
  }

  /**
   * The last entry of each key of `bucket` under `scope`, read without a
   * consumer: the stream's leader lists the keys, and each is read by a
   * direct get, which any of the stream's replicas answers. A one-shot read
   * so does not depend on where the server would place a consumer (in a
   * cluster with a node down, that node may be chosen, and the request
   * never answered).
   */
  async #lastEntries(
    bucket: string,
    scope: string,
    kv: KV,
  ): Promise<Map<string, Entry>> {
    const jsm = await this.#manager();
    const prefix = `$KV.${bucket}.`;
    const info = await jsm.streams.info(`KV_${bucket}`, {
      subjects_filter: `${prefix}${scope}.>`,
    });
    const keys = Object.keys(info.state.subjects ?? {})
      .map((subject) => subject.slice(prefix.length))
      .sort();
    const entries = new Map<string, Entry>();
    const got = await Promise.all(keys.map((key) => kv.get(key)));
    for (const e of got) {
      if (!e) continue; // expired since it was listed
      entries.set(e.key, {
        key: e.key,
        revision: e.revision,
        operation: e.operation,
        text: e.string(),
      });
    }
    return entries;
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

  /**
   * Publishes the status to its key's subject: the status bucket's stream
   * stores it (a KV put), without an acknowledgement to wait for, read and
   * parse; a lost one is written again at the next heartbeat.
   */
  writeStatus(status: FollowerStatus): Promise<void> {
    try {
      this.#nc.publish(
        `$KV.${this.#statusName}.${status.scope}.${status.instance}`,
        JSON.stringify(status),
      );
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(
        natsError(`Cannot write the status of "${status.instance}"`, error),
      );
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
    const statuses = new StatusList();
    let first!: (error?: FleetError) => void;
    const started = new Promise<FleetError | undefined>((r) => first = r);
    let timeouts = 0; // before the watch first ran
    const w = this.#keepWatching(
      this.#statusName,
      `${scope}.>`,
      () => this.#statusKv(false),
      (entries) => {
        first();
        on(statuses.list(entries, maxAge));
      },
      // A consumer that did not answer is tried again (the loop does);
      // the caller hears of it after WATCH_TRIES of them.
      (error) => {
        if (timedOut(error) && ++timeouts < WATCH_TRIES) return;
        first(error);
      },
    );
    const error = await started;
    if (error) {
      await w.stop();
      throw natsError(`Cannot watch the statuses of "${this.name}"`, error);
    }
    return w;
  }

  async statuses(scope: string, maxAge: number): Promise<FollowerStatus[]> {
    try {
      const kv = await this.#statusKv(false);
      const entries = await this.#lastEntries(this.#statusName, scope, kv);
      return new StatusList().list(entries, maxAge);
    } catch (error) {
      if (/not found/i.test(messageOf(error))) return [];
      throw natsError(`Cannot read the statuses of "${this.name}"`, error);
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

/**
 * The live statuses among a watch's entries, sorted by instance. Each
 * entry is parsed once; the order is sorted again only when a key is new
 * (entries are never removed from the map, a deleted key stays as a DEL),
 * so an update costs a pass over the entries, not a sort and a parse of
 * each.
 */
class StatusList {
  readonly #parsed = new WeakMap<
    Entry,
    { status: FollowerStatus; time: number } | null
  >();
  #order: string[] = [];

  list(entries: Map<string, Entry>, maxAge: number): FollowerStatus[] {
    if (entries.size !== this.#order.length) {
      this.#order = [...entries.keys()].sort((a, b) => a.localeCompare(b));
    }
    const now = Date.now();
    const out: FollowerStatus[] = [];
    for (const key of this.#order) {
      const e = entries.get(key)!;
      if (e.operation !== "PUT") continue;
      let s = this.#parsed.get(e);
      if (s === undefined) {
        try {
          const status = JSON.parse(e.text) as FollowerStatus;
          s = { status, time: Date.parse(status.time) };
        } catch {
          s = null; // not a status
        }
        this.#parsed.set(e, s);
      }
      if (s && now - s.time <= maxAge) out.push(s.status);
    }
    return out;
  }
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
