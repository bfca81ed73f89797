// SPDX-License-Identifier: MIT
// The file store: one JSON file of desired state, written atomically
// (temp file, fsync, rename, fsync of the folder) by writers serialised
// through a lock file; followers watch the folder (Deno.watchFs) and poll
// as a fallback; each follower's status is one file in "<file>.status/",
// rewritten as a heartbeat, stale ones ignored and pruned by readers.

import { FleetError, FleetPermissionError, messageOf } from "./_errors.ts";
import type { LayerId, RawLayer, Snapshot } from "./_policy.ts";
import type { FileAddress, Store, Watch, WatchEvent } from "./_store.ts";
import type { DesiredValue, FollowerStatus } from "./_types.ts";

/** The file's format tag; a file without it is refused. */
export const FILE_FORMAT = "static-keys-fleet/1";

type Layer = Record<string, unknown>;

interface ScopeDoc {
  scope?: Layer;
  hosts?: Record<string, Layer>;
  instances?: Record<string, Layer>;
}

/** The desired-state file's JSON. */
export interface FileDoc {
  format: string;
  revision: number;
  scopes: Record<string, ScopeDoc>;
}

/** How often a follower polls the file besides watching it. */
export const POLL_MS = 1000;

/** Throws FleetPermissionError unless `name` is granted for `path`. */
function needPermission(
  name: "read" | "write",
  path: string,
  action: string,
): void {
  const state = Deno.permissions.querySync({ name, path }).state;
  if (state === "granted") return;
  const flag = `--allow-${name}=${path}`;
  throw new FleetPermissionError(
    `${action}: it needs ${flag}, run again with ${flag}`,
    flag,
  );
}

/** Parses the file's text; EVALUE when it is not a desired-state file. */
export function parseDoc(path: string, text: string): FileDoc {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new FleetError(
      `Cannot read desired state "${path}": it is not JSON (${
        messageOf(error)
      })`,
      "EVALUE",
    );
  }
  const d = doc as Partial<FileDoc> | null;
  if (
    d === null || typeof d !== "object" || d.format !== FILE_FORMAT ||
    typeof d.revision !== "number" || !Number.isSafeInteger(d.revision) ||
    d.scopes === null || typeof d.scopes !== "object"
  ) {
    throw new FleetError(
      `Cannot read desired state "${path}": it is not a "${FILE_FORMAT}" ` +
        `file ({"format", "revision", "scopes"}); write it with "cli fleet set"`,
      "EVALUE",
    );
  }
  return d as FileDoc;
}

/** The layers of one scope of a document, as raw JSON for the policy. */
export function snapshotOf(doc: FileDoc, scope: string): Snapshot {
  const layers: RawLayer[] = [];
  const s = doc.scopes[scope];
  const raw = (id: LayerId, value: unknown) =>
    layers.push({ id, revision: doc.revision, json: JSON.stringify(value) });
  if (s !== undefined && (s === null || typeof s !== "object")) {
    raw({ kind: "scope" }, s);
  } else if (s) {
    if (s.scope !== undefined) raw({ kind: "scope" }, s.scope);
    for (const [name, layer] of Object.entries(s.hosts ?? {})) {
      raw({ kind: "host", name }, layer);
    }
    for (const [name, layer] of Object.entries(s.instances ?? {})) {
      raw({ kind: "instance", name }, layer);
    }
  }
  return { revision: doc.revision, layers };
}

const EMPTY: FileDoc = { format: FILE_FORMAT, revision: 0, scopes: {} };

/** The file store. */
export class FileStore implements Store {
  readonly #a: FileAddress;

  private constructor(address: FileAddress) {
    this.#a = address;
  }

  /** Opens the store at `address` (nothing is read yet). */
  static open(address: FileAddress): FileStore {
    return new FileStore(address);
  }

  get name(): string {
    return this.#a.path;
  }

  /** The document now: the empty one when the file does not exist yet. */
  async #read(action: string): Promise<FileDoc> {
    needPermission("read", this.#a.path, action);
    let text: string;
    try {
      text = await Deno.readTextFile(this.#a.path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return EMPTY;
      throw new FleetError(
        `${action}: cannot read "${this.#a.path}": ${messageOf(error)}`,
        "EUNREACHABLE",
        { cause: error },
      );
    }
    return parseDoc(this.#a.path, text);
  }

  async read(scope: string): Promise<Snapshot> {
    return snapshotOf(await this.#read("Cannot read desired state"), scope);
  }

  watch(scope: string, on: (event: WatchEvent) => void): Watch {
    const action = `Cannot follow "${this.#a.path}"`;
    needPermission("read", this.#a.dir, action);
    let stopped = false;
    let last = "";
    const check = async () => {
      if (stopped) return;
      let stamp = "";
      try {
        const st = await Deno.stat(this.#a.path);
        stamp = `${st.ino}:${st.size}:${st.mtime?.getTime()}`;
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) {
          stamp = `error:${messageOf(error)}`;
        } else stamp = "missing";
      }
      if (stamp === last) return;
      last = stamp;
      try {
        const doc = await this.#read(action);
        if (!stopped) {
          on({ kind: "snapshot", snapshot: snapshotOf(doc, scope) });
        }
      } catch (error) {
        last = ""; // read again at the next poll
        if (!stopped) on({ kind: "error", error: error as Error });
      }
    };
    let running: Promise<void> = Promise.resolve();
    let queued = false;
    const kick = () => {
      if (queued) return;
      queued = true;
      running = running.then(() => {
        queued = false;
        return check();
      });
    };
    kick();
    const poll = setInterval(kick, POLL_MS);
    let watcher: Deno.FsWatcher | undefined;
    try {
      watcher = Deno.watchFs(this.#a.dir, { recursive: false });
    } catch {
      watcher = undefined; // the poll still runs
    }
    const base = this.#a.path.slice(this.#a.dir.length + 1);
    const events = (async () => {
      if (!watcher) return;
      try {
        for await (const event of watcher) {
          if (event.paths.some((p) => p.endsWith(`/${base}`))) kick();
        }
      } catch {
        // the poll still runs
      }
    })();
    return {
      stop: async () => {
        stopped = true;
        clearInterval(poll);
        watcher?.close();
        await events;
        await running;
      },
    };
  }

  /** The status file of one instance. */
  #statusPath(scope: string, instance: string): string {
    return `${this.#a.statusDir}/${scope}.${instance}.json`;
  }

  async writeStatus(status: FollowerStatus): Promise<void> {
    const action = `Cannot write the status of "${status.instance}"`;
    needPermission("write", this.#a.statusDir, action);
    await Deno.mkdir(this.#a.statusDir, { recursive: true });
    const path = this.#statusPath(status.scope, status.instance);
    const tmp = `${path}.${crypto.randomUUID()}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(status));
    await Deno.rename(tmp, path);
  }

  async removeStatus(scope: string, instance: string): Promise<void> {
    try {
      await Deno.remove(this.#statusPath(scope, instance));
    } catch {
      // already gone
    }
  }

  async statuses(scope: string, maxAge: number): Promise<FollowerStatus[]> {
    const action = `Cannot read the statuses of "${this.#a.path}"`;
    needPermission("read", this.#a.statusDir, action);
    const out: FollowerStatus[] = [];
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(this.#a.statusDir));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
    const now = Date.now();
    const canPrune =
      Deno.permissions.querySync({ name: "write", path: this.#a.statusDir })
        .state === "granted";
    for (const entry of entries) {
      const path = `${this.#a.statusDir}/${entry.name}`;
      if (!entry.isFile) continue;
      if (entry.name.endsWith(".tmp")) {
        // a writer that died between write and rename
        const st = await Deno.stat(path).catch(() => null);
        if (canPrune && st?.mtime && now - st.mtime.getTime() > maxAge) {
          await Deno.remove(path).catch(() => {});
        }
        continue;
      }
      if (
        !entry.name.startsWith(`${scope}.`) || !entry.name.endsWith(".json")
      ) {
        continue;
      }
      let status: FollowerStatus;
      try {
        status = JSON.parse(await Deno.readTextFile(path));
      } catch {
        continue; // removed meanwhile, or not a status
      }
      const age = now - Date.parse(status.time);
      if (!(age <= maxAge)) {
        if (canPrune) await Deno.remove(path).catch(() => {});
        continue;
      }
      out.push(status);
    }
    return out.sort((a, b) => a.instance.localeCompare(b.instance));
  }

  async watchStatuses(
    scope: string,
    maxAge: number,
    on: (statuses: FollowerStatus[]) => void,
  ): Promise<Watch> {
    let stopped = false;
    let queued = false;
    let running: Promise<void> = Promise.resolve();
    const kick = () => {
      if (queued || stopped) return;
      queued = true;
      running = running.then(async () => {
        queued = false;
        if (stopped) return;
        try {
          on(await this.statuses(scope, maxAge));
        } catch {
          // read again at the next event or poll
        }
      });
    };
    await Deno.mkdir(this.#a.statusDir, { recursive: true }).catch(() => {});
    kick();
    const poll = setInterval(kick, POLL_MS);
    let watcher: Deno.FsWatcher | undefined;
    try {
      watcher = Deno.watchFs(this.#a.statusDir, { recursive: false });
    } catch {
      watcher = undefined;
    }
    const events = (async () => {
      if (!watcher) return;
      try {
        for await (const _ of watcher) kick();
      } catch {
        // the poll still runs
      }
    })();
    return {
      stop: async () => {
        stopped = true;
        clearInterval(poll);
        watcher?.close();
        await events;
        await running;
      },
    };
  }

  async set(
    scope: string,
    layer: LayerId,
    changes: ReadonlyMap<string, DesiredValue | null>,
  ): Promise<number> {
    const action = `Cannot set desired state in "${this.#a.path}"`;
    needPermission("read", this.#a.path, action);
    needPermission("write", this.#a.dir, action);
    const lock = await Deno.open(`${this.#a.path}.lock`, {
      create: true,
      write: true,
    });
    try {
      await lock.lock(true); // writers one at a time
      const doc: FileDoc = structuredClone(await this.#read(action));
      const s: ScopeDoc = doc.scopes[scope] ??= {};
      let values: Layer;
      if (layer.kind === "scope") values = s.scope ??= {};
      else if (layer.kind === "host") {
        values = (s.hosts ??= {})[layer.name] ??= {};
      } else values = (s.instances ??= {})[layer.name] ??= {};
      for (const [key, value] of changes) {
        if (value === null) delete values[key];
        else values[key] = value;
      }
      if (layer.kind === "host" && Object.keys(values).length === 0) {
        delete s.hosts![layer.name];
      }
      if (layer.kind === "instance" && Object.keys(values).length === 0) {
        delete s.instances![layer.name];
      }
      doc.revision++;
      await this.#writeAtomically(JSON.stringify(doc, null, 2) + "\n");
      return doc.revision;
    } finally {
      lock.close(); // releases the lock
    }
  }

  /** temp file, fsync, rename over the file, fsync of the folder. */
  async #writeAtomically(text: string): Promise<void> {
    const tmp = `${this.#a.path}.${crypto.randomUUID()}.tmp`;
    const file = await Deno.open(tmp, { create: true, write: true });
    try {
      const bytes = new TextEncoder().encode(text);
      for (let done = 0; done < bytes.length;) {
        done += await file.write(bytes.subarray(done));
      }
      await file.sync();
    } finally {
      file.close();
    }
    try {
      await Deno.rename(tmp, this.#a.path);
    } catch (error) {
      await Deno.remove(tmp).catch(() => {});
      throw error;
    }
    try {
      const dir = await Deno.open(this.#a.dir, { read: true });
      try {
        await dir.sync();
      } finally {
        dir.close();
      }
    } catch {
      // not every OS can fsync a folder; the rename is done
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
