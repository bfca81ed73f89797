// SPDX-License-Identifier: MIT
// The interface every store adapter implements (three verbs: watch the
// desired state, write a status, set), and picking the adapter for a
// store string: nats:// URLs or a file path.

import { FleetError, FleetPermissionError } from "./_errors.ts";
import type { LayerId, Snapshot } from "./_policy.ts";
import type { DesiredValue, FollowerStatus, StoreOptions } from "./_types.ts";

/** What a watch reports: a snapshot of the scope, or why there is none now. */
/** The first wait before a store is tried again, in ms. */
export const RETRY_MIN_MS = 250;
/** The longest wait before a store is tried again, in ms. */
export const RETRY_MAX_MS = 5000;

/**
 * The wait before try `attempt` (1, 2, ...) of a failed store operation:
 * doubling from {@linkcode RETRY_MIN_MS} up to {@linkcode RETRY_MAX_MS},
 * each drawn between half and all of that, so that followers that lost
 * their store together do not come back together.
 */
export function retryDelay(attempt: number): number {
  const cap = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (attempt - 1));
  return cap / 2 + Math.random() * cap / 2;
}

export type WatchEvent =
  | { readonly kind: "snapshot"; readonly snapshot: Snapshot }
  | { readonly kind: "error"; readonly error: Error };

/** A running watch; stop() ends it. */
export interface Watch {
  stop(): Promise<void>;
}

/** One store: the three verbs, and the readers an operator needs. */
export interface Store {
  /** How the store reads in messages (the URL list or the file's path). */
  readonly name: string;
  /**
   * Calls `on` with the scope's whole desired state each time it changes
   * (a store may skip intermediate states), and with an error each time it
   * cannot be read; keeps trying (with backoff) until stopped.
   */
  watch(scope: string, on: (event: WatchEvent) => void): Watch;
  /** Writes one follower's status (it expires after the store's TTL). */
  writeStatus(status: FollowerStatus): Promise<void>;
  /** Removes one follower's status (a follower that closes). */
  removeStatus(scope: string, instance: string): Promise<void>;
  /**
   * Changes one layer: each key to its value, or unset (null). Returns the
   * revision of the write.
   */
  set(
    scope: string,
    layer: LayerId,
    changes: ReadonlyMap<string, DesiredValue | null>,
  ): Promise<number>;
  /** The scope's desired state now. */
  read(scope: string): Promise<Snapshot>;
  /** The live followers' statuses of the scope (stale ones left out). */
  statuses(scope: string, maxAge: number): Promise<FollowerStatus[]>;
  /**
   * Calls `on` with the live followers' statuses each time one changes
   * (stale ones left out), until stopped.
   */
  watchStatuses(
    scope: string,
    maxAge: number,
    on: (statuses: FollowerStatus[]) => void,
  ): Promise<Watch>;
  /** Ends the connection. */
  close(): Promise<void>;
}

/** A NATS store's servers, parsed from "nats://h:p,nats://h2:p2". */
export interface NatsAddress {
  readonly kind: "nats";
  readonly servers: readonly { host: string; port: number }[];
}

/** A file store's desired-state file (absolute) and its status folder. */
export interface FileAddress {
  readonly kind: "file";
  readonly path: string;
  readonly dir: string;
  readonly statusDir: string;
}

/**
 * Parses a store string: one or more comma-separated `nats://host:port`
 * URLs (port 4222 when omitted), or a file path (absolute or relative to
 * the working directory; `file://` URLs too). EURL when it is neither.
 */
export function parseStore(store: string): NatsAddress | FileAddress {
  if (typeof store !== "string" || store.trim() === "") {
    throw new FleetError(
      `Cannot parse store ${JSON.stringify(store) ?? String(store)}: ` +
        `give nats://host:port (comma-separated for a cluster) or a file path`,
      "EURL",
    );
  }
  if (
    /^nats:/i.test(store) || store.includes("://") && !/^file:/i.test(store)
  ) {
    const servers = store.split(",").map((part) => {
      const text = part.trim();
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        throw badUrl(store, text, "it is not a URL");
      }
      if (url.protocol !== "nats:") {
        throw badUrl(
          store,
          text,
          `the scheme must be nats:, got ${url.protocol}`,
        );
      }
      if (!url.hostname) throw badUrl(store, text, "it names no host");
      if (url.pathname && url.pathname !== "/" || url.search || url.hash) {
        throw badUrl(store, text, "a server URL has no path or query");
      }
      if (url.username || url.password) {
        throw badUrl(
          store,
          text,
          "give credentials as options (user/password, token or creds), not in the URL",
        );
      }
      const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
      return { host, port: url.port ? Number(url.port) : 4222 };
    });
    return { kind: "nats", servers };
  }
  let path = store;
  if (/^file:/i.test(store)) {
    try {
      path = decodeURIComponent(new URL(store).pathname);
    } catch {
      throw badUrl(store, store, "it is not a file: URL");
    }
  }
  if (!path.startsWith("/")) {
    path = `${Deno.cwd()}/${path.replace(/^\.\//, "")}`;
  }
  if (path.endsWith("/")) {
    throw new FleetError(
      `Cannot use store "${store}": it names a folder; name the desired-state file, e.g. ${path}fleet.json`,
      "EURL",
    );
  }
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  return { kind: "file", path, dir, statusDir: `${path}.status` };
}

function badUrl(store: string, part: string, why: string): FleetError {
  return new FleetError(
    `Cannot parse store "${store}": "${part}" ${why}; ` +
      `give nats://host:port (comma-separated for a cluster) or a file path`,
    "EURL",
  );
}

/** Permission checks before any connection: every server, the creds file. */
export function checkNatsPermissions(
  address: NatsAddress,
  options: StoreOptions,
): void {
  const missing = address.servers.map(({ host, port }) =>
    host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`
  ).filter((host) =>
    Deno.permissions.querySync({ name: "net", host }).state !== "granted"
  );
  if (missing.length > 0) {
    const flag = `--allow-net=${missing.join(",")}`;
    throw new FleetPermissionError(
      `Cannot connect to the NATS store: it needs ${flag}, run again with ${flag}`,
      flag,
    );
  }
  if (options.creds !== undefined) {
    const state =
      Deno.permissions.querySync({ name: "read", path: options.creds }).state;
    if (state !== "granted") {
      const flag = `--allow-read=${options.creds}`;
      throw new FleetPermissionError(
        `Cannot read the NATS creds file: it needs ${flag}, run again with ${flag}`,
        flag,
      );
    }
  }
}

/** Opens the store's adapter (connects, for NATS). */
export async function openStore(
  store: string,
  options: StoreOptions = {},
): Promise<Store> {
  const address = parseStore(store);
  if (address.kind === "file") {
    const { FileStore } = await import("./_file.ts");
    return FileStore.open(address);
  }
  checkNatsPermissions(address, options);
  const { NatsStore } = await import("./_nats.ts");
  return NatsStore.open(address, options);
}
