// SPDX-License-Identifier: MIT
// The file store: one JSON file of desired state, written atomically
// (temp file, fsync, rename, fsync of the folder) by writers serialised
// through a lock file; followers watch the folder (Deno.watchFs) and poll
// as a fallback; each follower's status is one file in "<file>.status/",
// rewritten as a heartbeat, stale ones ignored and pruned by readers.
// Temporary files and the lock live in folders of their own
// ("<file>.write/", "<file>.status/.tmp/"), so that a write wakes each
// watcher once, with the final rename, not at every step of the writing.

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

/**
 * How often a follower reads the file besides watching its folder (a
 * missed event, a folder that cannot be watched: then every
 * {@linkcode POLL_UNWATCHED_MS}).
 */
export const POLL_MS = 5000;
/** How often a follower reads the file when its folder cannot be watched. */
export const POLL_UNWATCHED_MS = 1000;

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
  /** The status folder's write permission was checked (once is enough). */
  #statusWritable = false;

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

  /** Writers' lock and temporary files. */
  get #writeDir(): string {
    return `${this.#a.path}.write`;
  }

  /** Followers' temporary status files. */
  get #statusTmp(): string {
    return `${this.#a.statusDir}/.tmp`;
  }

  watch(scope: string, on: (event: WatchEvent) => void): Watch {
    const action = `Cannot follow "${this.#a.path}"`;
    needPermission("read", this.#a.dir, action);
    let stopped = false;
    let last: string | null | undefined; // null: no file
    // Once the file has been read, its absence is an outage, not an empty
    // state: a deleted file must not drop every key and lift every pin
    // (fail-static). Before that, no file is the empty state of a store
    // nobody wrote yet.
    let existed = false;
    const check = () => {
      if (stopped) return;
      let text: string | null;
      try {
        // Synchronous, as the status write: a small local file. (The read
        // permission of the folder was checked above.)
        text = Deno.readTextFileSync(this.#a.path);
        existed = true;
      } catch (error) {
        if (error instanceof Deno.errors.NotFound && !existed) text = null;
        else {
          last = undefined; // read again at the next event or poll
          if (!stopped) {
            on({
              kind: "error",
              error: error instanceof Deno.errors.NotFound
                ? new FleetError(
                  `${action}: "${this.#a.path}" is gone; the keys keep their state ` +
                    `until it is written again (to unset keys, use "cli fleet unset", ` +
                    `not a deletion of the file)`,
                  "EUNREACHABLE",
                  { cause: error },
                )
                : new FleetError(
                  `${action}: cannot read "${this.#a.path}": ${
                    messageOf(error)
                  }`,
                  "EUNREACHABLE",
                  { cause: error },
                ),
            });
          }
          return;
        }
      }
      if (text === last || stopped) return; // nothing new
      try {
        const doc = text === null ? EMPTY : parseDoc(this.#a.path, text);
        last = text;
        on({ kind: "snapshot", snapshot: snapshotOf(doc, scope) });
      } catch (error) {
        last = undefined;
        on({ kind: "error", error: error as Error });
      }
    };
    // Events of one tick are read once.
    let queued = false;
    const kick = () => {
      if (queued) return;
      queued = true;
      queueMicrotask(() => {
        queued = false;
        check();
      });
    };
    kick();
    let watcher: Deno.FsWatcher | undefined;
    try {
      watcher = Deno.watchFs(this.#a.dir, { recursive: false });
    } catch {
      watcher = undefined; // the poll still runs, more often
    }
    const poll = setInterval(kick, watcher ? POLL_MS : POLL_UNWATCHED_MS);
    const events = (async () => {
      if (!watcher) return;
      try {
        for await (const event of watcher) {
          if (
            event.flag === "rescan" || event.paths.includes(this.#a.path)
          ) kick();
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
      },
    };
  }

  /** The status file of one instance. */
  #statusPath(scope: string, instance: string): string {
    return `${this.#a.statusDir}/${scope}.${instance}.json`;
  }

  /**
   * Writes the status whole: a temporary file of its own (one per
   * instance) renamed over the status file, so that a reader sees the old
   * status or the new one, and a folder watcher hears only the rename.
   * The write and the rename are synchronous: a few hundred bytes on a
   * local disk take microseconds, less than handing them to a thread.
   */
  async writeStatus(status: FollowerStatus): Promise<void> {
    if (!this.#statusWritable) {
      const action = `Cannot write the status of "${status.instance}"`;
      needPermission("write", this.#a.statusDir, action);
      this.#statusWritable = true;
    }
    const name = `${status.scope}.${status.instance}.json`;
    const tmp = `${this.#statusTmp}/${name}`;
    const text = JSON.stringify(status);
    try {
      Deno.writeTextFileSync(tmp, text);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      await Deno.mkdir(this.#statusTmp, { recursive: true });
      Deno.writeTextFileSync(tmp, text);
    }
    Deno.renameSync(tmp, `${this.#a.statusDir}/${name}`);
  }

  async removeStatus(scope: string, instance: string): Promise<void> {
    try {
      await Deno.remove(this.#statusPath(scope, instance));
    } catch {
      // already gone
    }
  }

  async statuses(scope: string, maxAge: number): Promise<FollowerStatus[]> {
    const list = new StatusFiles(this.#a.statusDir, scope, maxAge);
    await list.scan();
    return list.live();
  }

  async watchStatuses(
    scope: string,
    maxAge: number,
    on: (statuses: FollowerStatus[]) => void,
  ): Promise<Watch> {
    const list = new StatusFiles(this.#a.statusDir, scope, maxAge);
    let stopped = false;
    let full = true;
    const changed = new Set<string>();
    let queued = false;
    let running: Promise<void> = Promise.resolve();
    const kick = () => {
      if (queued || stopped) return;
      queued = true;
      running = running.then(async () => {
        queued = false;
        if (stopped) return;
        try {
          if (full) {
            full = false;
            changed.clear();
            await list.scan();
          } else {
            const names = [...changed];
            changed.clear();
            for (const name of names) await list.read(name);
          }
          if (!stopped) on(list.live());
        } catch {
          full = true; // read all again at the next event or poll
        }
      });
    };
    await Deno.mkdir(this.#a.statusDir, { recursive: true }).catch(() => {});
    let watcher: Deno.FsWatcher | undefined;
    try {
      watcher = Deno.watchFs(this.#a.statusDir, { recursive: false });
    } catch {
      watcher = undefined;
    }
    kick();
    // Every poll reads all (a missed event, a status gone stale); between
    // polls each event reads the one file it names.
    const poll = setInterval(() => {
      full = true;
      kick();
    }, watcher ? POLL_MS : POLL_UNWATCHED_MS);
    const prefix = `${this.#a.statusDir}/`;
    const events = (async () => {
      if (!watcher) return;
      try {
        for await (const event of watcher) {
          if (event.flag === "rescan") full = true;
          for (const path of event.paths) {
            const name = path.slice(prefix.length);
            if (path.startsWith(prefix) && list.concerns(name)) {
              changed.add(name);
            }
          }
          if (full || changed.size > 0) kick();
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

  async set(
    scope: string,
    layer: LayerId,
    changes: ReadonlyMap<string, DesiredValue | null>,
  ): Promise<number> {
    const action = `Cannot set desired state in "${this.#a.path}"`;
    needPermission("read", this.#a.path, action);
    needPermission("write", this.#a.dir, action);
    await Deno.mkdir(this.#writeDir, { recursive: true });
    const lock = await Deno.open(`${this.#writeDir}/lock`, {
      create: true,
      write: true,
    });
    try {
      await lock.lock(true); // writers one at a time
      const doc: FileDoc = structuredClone(await this.#read(action));
      // A file that was deleted starts again above every revision its
      // followers still report, so that revisions only grow.
      if (doc.revision === 0) doc.revision = await this.#reportedRevision();
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

  /** The highest revision any status file (of any scope) reports; 0: none. */
  async #reportedRevision(): Promise<number> {
    let highest = 0;
    try {
      for await (const entry of Deno.readDir(this.#a.statusDir)) {
        if (!entry.isFile || !entry.name.endsWith(".json")) continue;
        try {
          const { revision } = JSON.parse(
            await Deno.readTextFile(`${this.#a.statusDir}/${entry.name}`),
          );
          if (Number.isSafeInteger(revision) && revision > highest) {
            highest = revision;
          }
        } catch {
          // removed meanwhile, or not a status
        }
      }
    } catch {
      // no status folder, or not readable: start at 1
    }
    return highest;
  }

  /** temp file, fdatasync, rename over the file, fsync of the folder. */
  async #writeAtomically(text: string): Promise<void> {
    const tmp = `${this.#writeDir}/${crypto.randomUUID()}.tmp`;
    const file = await Deno.open(tmp, { create: true, write: true });
    try {
      const bytes = new TextEncoder().encode(text);
      for (let done = 0; done < bytes.length;) {
        done += await file.write(bytes.subarray(done));
      }
      await file.syncData();
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

/**
 * The status files of one scope, as a reader keeps them: a full scan
 * reads every one (and prunes stale ones and leftover temporary files
 * when it may write), read() one that changed; live() lists those younger
 * than `maxAge`, sorted by instance.
 */
class StatusFiles {
  readonly #dir: string;
  readonly #scope: string;
  readonly #maxAge: number;
  readonly #statuses = new Map<
    string,
    { status: FollowerStatus; time: number }
  >();
  /** The file names in the order of their instances; redone when one comes or goes. */
  #order: string[] | undefined;

  constructor(dir: string, scope: string, maxAge: number) {
    this.#dir = dir;
    this.#scope = scope;
    this.#maxAge = maxAge;
  }

  /** Whether a file name is a status of this scope. */
  concerns(name: string): boolean {
    return name.startsWith(`${this.#scope}.`) && name.endsWith(".json") &&
      !name.includes("/");
  }

  #canPrune(): boolean {
    return Deno.permissions.querySync({ name: "write", path: this.#dir })
      .state === "granted";
  }

  async scan(): Promise<void> {
    needPermission(
      "read",
      this.#dir,
      `Cannot read the statuses of "${this.#dir}"`,
    );
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(this.#dir));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) entries = [];
      else throw error;
    }
    const canPrune = this.#canPrune();
    const names = new Set<string>();
    for (const entry of entries) {
      if (entry.isFile && this.concerns(entry.name)) {
        names.add(entry.name);
        await this.read(entry.name, canPrune);
      }
    }
    for (const name of [...this.#statuses.keys()]) {
      if (!names.has(name)) this.#forget(name);
    }
    if (canPrune) await this.#pruneTemporary();
  }

  /** Reads one status file again (gone or unreadable: forgotten). */
  async read(name: string, canPrune = false): Promise<void> {
    const path = `${this.#dir}/${name}`;
    let status: FollowerStatus;
    try {
      // Synchronous: a status is a few hundred bytes of a local file.
      status = JSON.parse(Deno.readTextFileSync(path));
    } catch {
      this.#forget(name); // removed meanwhile, or not a status
      return;
    }
    const time = Date.parse(status?.time);
    if (canPrune && !(Date.now() - time <= this.#maxAge)) {
      await Deno.remove(path).catch(() => {});
      this.#forget(name);
      return;
    }
    if (!this.#statuses.has(name)) this.#order = undefined;
    this.#statuses.set(name, { status, time });
  }

  #forget(name: string): void {
    if (this.#statuses.delete(name)) this.#order = undefined;
  }

  /** Temporary files of writers that died between write and rename. */
  async #pruneTemporary(): Promise<void> {
    const dir = `${this.#dir}/.tmp`;
    try {
      for await (const entry of Deno.readDir(dir)) {
        const path = `${dir}/${entry.name}`;
        const st = await Deno.stat(path).catch(() => null);
        if (st?.mtime && Date.now() - st.mtime.getTime() > this.#maxAge) {
          await Deno.remove(path).catch(() => {});
        }
      }
    } catch {
      // no such folder
    }
  }

  live(): FollowerStatus[] {
    const instance = (name: string) =>
      String(this.#statuses.get(name)!.status?.instance);
    this.#order ??= [...this.#statuses.keys()].sort((a, b) =>
      instance(a).localeCompare(instance(b))
    );
    const now = Date.now();
    const out: FollowerStatus[] = [];
    for (const name of this.#order) {
      const { status, time } = this.#statuses.get(name)!;
      if (now - time <= this.#maxAge) out.push(status);
    }
    return out;
  }
}
