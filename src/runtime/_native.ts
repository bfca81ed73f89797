// SPDX-License-Identifier: MIT
// The state one handle holds over one loaded module, shared by the handle,
// its keys and its batches. Every native call of mod.ts goes through here.

import {
  type KeyContext,
  ModuleClosedError,
  StatusCode,
  UnappliedBatchError,
  unknownKey,
  unwrap,
} from "./_errors.ts";
import {
  KEY_INFO_FIELDS,
  KEY_OP,
  KEY_PIN,
  type NativeSymbols,
  readCString,
  STATS_FIELDS,
} from "./_ffi.ts";
import { assertMainThread, isMainThread } from "./_guards.ts";
import type { Library } from "./_library.ts";
import { type Site, SiteReader } from "./_sites.ts";
import {
  type BatchStep,
  type KeyInfo,
  type Pin,
  type RepairReport,
  type Stats,
  STRATEGIES,
  type Strategy,
} from "./_types.ts";

/** A change a request asks for: key index and state. */
export type Change = readonly [index: number, enabled: boolean];

/** A step of a mixed request: key index and what to do. */
export type Op = readonly [index: number, step: BatchStep];

/** A batch as the module tracks it until it is applied or extended. */
export interface PendingBatch {
  readonly changes: readonly (readonly [string, BatchStep])[];
}

const STEPS: readonly BatchStep[] = [
  true,
  false,
  "inc",
  "dec",
  "pin-on",
  "pin-off",
  "unpin",
];

/** A step as the op byte of static_keys_ffi_apply (bit 7: the state). */
function opByte(step: BatchStep): number {
  switch (step) {
    case true:
      return KEY_OP.set | 0x80;
    case false:
      return KEY_OP.set;
    case "pin-on":
      return KEY_OP.pin | 0x80;
    case "pin-off":
      return KEY_OP.pin;
    default:
      return KEY_OP[step];
  }
}

/** How a step reads in a message: `enable "x"`, `pin-on "x"`. */
export function describeStep(name: string, step: BatchStep): string {
  const verb = step === true ? "enable" : step === false ? "disable" : step;
  return `${verb} "${name}"`;
}

/** @internal */
export class NativeModule<S extends Deno.ForeignLibraryInterface> {
  #lib: Library<S> | null;
  readonly path: string;
  readonly names: readonly string[];
  readonly #index = new Map<string, number>();
  readonly #info = new Int32Array(KEY_INFO_FIELDS);
  readonly #stats = new BigUint64Array(STATS_FIELDS);
  #sites: SiteReader | undefined;
  /** Nonblocking user calls still running on Deno's threads. */
  #inflight = 0;
  /** Set by close() while calls run: unloaded when the last one settles. */
  #unloadWhenIdle: Library<S> | null = null;
  /**
   * Batches with changes that were neither applied nor extended by a step:
   * close() reports them, so a forgotten apply() is never silent.
   */
  readonly pending: Set<PendingBatch> = new Set();
  /** A program that ends without close() still hears of lost batches. */
  readonly #atExit = () => {
    if (this.#lib === null || this.pending.size === 0) return;
    console.error(`Warning: "${this.path}" was never closed: ${this.#lost()}`);
  };

  constructor(lib: Library<S>, path: string) {
    this.#lib = lib;
    this.path = path;
    const sym = lib.native;
    unwrap(sym.static_keys_ffi_init(), sym, `Cannot open "${path}"`);
    const count = unwrap(
      sym.static_keys_ffi_key_count(),
      sym,
      `Cannot list the keys of "${path}"`,
    );
    const names: string[] = [];
    for (let i = 0; i < count; i++) {
      names.push(readCString(sym, sym.static_keys_ffi_key_name(i)));
      this.#index.set(names[i], i);
    }
    this.names = names;
    globalThis.addEventListener("unload", this.#atExit);
  }

  /** Key `index` as unwrap() names it in an ENOKEY error. */
  #key(index: number): KeyContext {
    return { name: this.names[index] ?? `#${index}`, names: this.names };
  }

  get closed(): boolean {
    return this.#lib === null;
  }

  /** The library, or ModuleClosedError naming `action`. */
  library(action: string): Library<S> {
    if (this.#lib === null) {
      throw new ModuleClosedError(
        `${action}: the handle of "${this.path}" is closed`,
      );
    }
    return this.#lib;
  }

  native(action: string): NativeSymbols {
    return this.library(action).native;
  }

  /**
   * Closes the handle, and unloads the library once no nonblocking call of
   * it runs any more (unloading under a running call would crash). Throws
   * UnappliedBatchError afterwards if batches were lost.
   */
  close(): void {
    const lib = this.#lib;
    if (lib === null) return;
    this.#lib = null;
    globalThis.removeEventListener("unload", this.#atExit);
    if (this.#inflight === 0) lib.raw.close();
    else this.#unloadWhenIdle = lib;
    if (this.pending.size === 0) return;
    const error = new UnappliedBatchError(
      `Cannot close "${this.path}" cleanly: ${this.#lost()}; ` +
        `the handle is closed now`,
      [...this.pending].map((batch) => batch.changes),
    );
    this.pending.clear();
    throw error;
  }

  /** What was lost: the pending batches and what to do. */
  #lost(): string {
    const list = [...this.pending].map(({ changes }) =>
      changes.map(([name, step]) => describeStep(name, step)).join(", ")
    ).join("; ");
    const batches = this.pending.size === 1
      ? "1 batch was"
      : `${this.pending.size} batches were`;
    return `${batches} built but never applied (${list}): ` +
      `call apply() on a batch to make its request`;
  }

  /**
   * Wraps a user's function so that a call after close() throws
   * ModuleClosedError instead of jumping into an unloaded library, and a
   * nonblocking call keeps the library loaded until it settles.
   */
  guard(name: string, fn: (...args: unknown[]) => unknown): typeof fn {
    const action = `Cannot call "${name}"`;
    return (...args: unknown[]) => {
      this.library(action);
      const result = fn(...args);
      if (!(result instanceof Promise)) return result;
      this.#inflight++;
      return result.finally(() => {
        if (--this.#inflight > 0 || this.#unloadWhenIdle === null) return;
        this.#unloadWhenIdle.raw.close();
        this.#unloadWhenIdle = null;
      });
    };
  }

  /** The index of key `name`; TypeError or UnknownKeyError otherwise. */
  indexOf(name: string, action: string): number {
    if (typeof name !== "string") {
      throw new TypeError(
        `${action}: a key name must be a string, got ${typeof name}`,
      );
    }
    this.library(action);
    const index = this.#index.get(name);
    if (index === undefined) throw unknownKey(name, this.path, this.names);
    return index;
  }

  info(index: number): KeyInfo {
    const name = this.names[index];
    const sym = this.native(`Cannot read key "${name}"`);
    unwrap(
      sym.static_keys_ffi_key_info(index, this.#info),
      sym,
      `Cannot read key "${name}"`,
      this.#key(index),
    );
    const [enabled, initial, sites, count, pin] = this.#info;
    const pinned: Pin | null = pin === KEY_PIN.on
      ? "on"
      : pin === KEY_PIN.off
      ? "off"
      : null;
    return {
      name,
      enabled: !!enabled,
      initial: !!initial,
      sites,
      count,
      pinned,
    };
  }

  /** Pins key `index` to `pin`, or lifts its pin (`null`). */
  pin(index: number, pin: Pin | null): void {
    const name = this.names[index];
    const action = pin === null
      ? `Cannot unpin key "${name}"`
      : `Cannot pin key "${name}" ${pin}`;
    assertMainThread(action);
    const sym = this.native(action);
    const state = pin === null ? -1 : pin === "on" ? 1 : 0;
    unwrap(sym.static_keys_ffi_pin!(index, state), sym, action);
  }

  /** One all-or-nothing request of counts, sets and pins: one native call. */
  apply(ops: readonly Op[], action: string): void {
    assertMainThread(action);
    const sym = this.native(action);
    const indices = new Uint32Array(ops.length);
    const bytes = new Uint8Array(ops.length);
    ops.forEach(([index, step], i) => {
      indices[i] = index;
      bytes[i] = opByte(step);
    });
    unwrap(sym.static_keys_ffi_apply!(indices, bytes, ops.length), sym, action);
  }

  /** Resolves names and checks steps, before any native call. */
  resolveSteps(
    steps: Iterable<readonly [string, BatchStep]>,
    action: string,
  ): Op[] {
    const out: Op[] = [];
    for (const [name, step] of steps) {
      if (!STEPS.includes(step)) {
        throw new TypeError(
          `${action}: the step for key "${name}" must be one of ${
            STEPS.map((s) => JSON.stringify(s)).join(", ")
          }, got ${JSON.stringify(step) ?? typeof step}`,
        );
      }
      out.push([this.indexOf(name, action), step]);
    }
    return out;
  }

  /** The sites of key `index`, in address order. */
  sites(index: number): Site[] {
    const name = this.names[index];
    const sym = this.native(`Cannot list the sites of key "${name}"`);
    this.#sites ??= new SiteReader(sym, this.path);
    return this.#sites.read(index, name, this.info(index).sites);
  }

  enabled(index: number): boolean {
    // One native call and nothing built: toggle() reads this before a flip.
    const lib = this.#lib;
    if (lib !== null) {
      const code = lib.native.static_keys_ffi_key_info(index, this.#info);
      if (code >= 0) return this.#info[0] !== 0;
    }
    return this.info(index).enabled;
  }

  /** Flips one key; `verb` names the action in messages. */
  set(index: number, enabled: boolean, verb: string): void {
    // The common case is one native call and no message built: a flip
    // from Deno should cost what the same flip costs from C.
    const lib = this.#lib;
    if (lib !== null && isMainThread()) {
      const code = lib.native.static_keys_ffi_set(index, enabled ? 1 : 0);
      if (code < 0) {
        unwrap(
          code,
          lib.native,
          `Cannot ${verb} key "${this.names[index]}"`,
          this.#key(index),
        );
      }
      return;
    }
    const action = `Cannot ${verb} key "${this.names[index]}"`;
    assertMainThread(action);
    const sym = this.native(action);
    const code = sym.static_keys_ffi_set(index, enabled ? 1 : 0);
    unwrap(code, sym, action, this.#key(index));
  }

  count(index: number, inc: boolean): void {
    const action = `Cannot ${inc ? "inc" : "dec"} key "${this.names[index]}"`;
    assertMainThread(action);
    const sym = this.native(action);
    const code = inc
      ? sym.static_keys_ffi_inc(index)
      : sym.static_keys_ffi_dec(index);
    unwrap(code, sym, action, this.#key(index));
  }

  /** One all-or-nothing request: one native call. */
  setMany(changes: readonly Change[], action: string): void {
    assertMainThread(action);
    const sym = this.native(action);
    const indices = new Uint32Array(changes.length);
    const states = new Uint8Array(changes.length);
    changes.forEach(([index, enabled], i) => {
      indices[i] = index;
      states[i] = enabled ? 1 : 0;
    });
    unwrap(
      sym.static_keys_ffi_set_many(indices, states, changes.length),
      sym,
      action,
    );
  }

  /** Resolves names and checks states, before any native call. */
  resolve(
    changes: Iterable<readonly [string, boolean]>,
    action: string,
  ): Change[] {
    const out: Change[] = [];
    for (const [name, enabled] of changes) {
      if (typeof enabled !== "boolean") {
        throw new TypeError(
          `${action}: the state of key "${name}" must be a boolean, got ${typeof enabled}`,
        );
      }
      out.push([this.indexOf(name, action), enabled]);
    }
    return out;
  }

  setStrategy(strategy: Strategy): void {
    const action = `Cannot use strategy "${strategy}" for "${this.path}"`;
    const id = STRATEGIES.indexOf(strategy);
    if (id < 0) {
      throw new TypeError(
        `${action}: the strategies are ${
          STRATEGIES.map((s) => `"${s}"`).join(", ")
        }`,
      );
    }
    assertMainThread(action);
    const sym = this.native(action);
    unwrap(sym.static_keys_ffi_set_strategy(id), sym, action);
  }

  /** Verify and repair: one native call; BadSiteError if a site holds neither. */
  repair(): RepairReport {
    const action = `Cannot repair the keys of "${this.path}"`;
    assertMainThread(action);
    const sym = this.native(action);
    const out = new Uint32Array(3 + 3 * this.names.length);
    const code = sym.static_keys_ffi_repair(out, out.length);
    if (code !== StatusCode.EBADSITE) unwrap(code, sym, action);
    const keys = this.names.map((name, i) => ({
      name,
      sites: out[3 + 3 * i],
      rewritten: out[4 + 3 * i],
      unknown: out[5 + 3 * i],
    })).filter((k) => k.rewritten || k.unknown);
    const report = { sites: out[0], rewritten: out[1], unknown: out[2], keys };
    if (code === StatusCode.EBADSITE) unwrap(code, sym, action);
    return report;
  }

  stats(): Stats {
    const action = `Cannot read the stats of "${this.path}"`;
    const sym = this.native(action);
    this.#stats.fill(0n); // an older core writes 11 or 13
    unwrap(sym.static_keys_ffi_stats(this.#stats, STATS_FIELDS), sym, action);
    const f = Array.from(this.#stats, Number);
    const concurrent = STRATEGIES.filter((_, id) => f[13] & (1 << id));
    return {
      strategy: STRATEGIES[f[0]] ?? "default",
      strategies: STRATEGIES.filter((_, id) => f[1] & (1 << id)),
      keys: f[2],
      entries: f[3],
      pageSize: f[4],
      flips: f[5],
      requests: f[6],
      pagesPatched: f[7],
      syscalls: f[8],
      lastPages: f[9],
      lastSyscalls: f[10],
      runs: f[11],
      lastRuns: f[12],
      concurrentSafe: concurrent.includes(STRATEGIES[f[0]]),
      concurrent,
      protocol: STRATEGIES.filter((_, id) => f[14] & (1 << id)),
      coreSyncs: f[15],
      traps: f[16],
    };
  }

  version(): string {
    const sym = this.native(`Cannot read the version of "${this.path}"`);
    return readCString(sym, sym.static_keys_ffi_version());
  }
}
