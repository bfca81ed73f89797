// SPDX-License-Identifier: MIT
// StaticKeysModule: the handle open() returns.

import { Batch } from "./_batch.ts";
import type { Library } from "./_library.ts";
import { StaticKey } from "./_key.ts";
import { NativeModule } from "./_native.ts";
import type { Site } from "./_sites.ts";
import type { KeyInfo, RepairReport, Stats, Strategy } from "./_types.ts";

/**
 * The changes `StaticKeysModule.set()` takes: a record of key name to state,
 * or any iterable of `[name, state]` pairs (an array, a `Map`, a
 * generator). Pairs keep their order and may name a key twice, with the
 * same state only.
 *
 * @example Usage
 * ```ts
 * import type { KeyChanges } from "@static-keys/deno";
 *
 * const record: KeyChanges = { tracing: true, checks: false };
 * const pairs: KeyChanges = [["tracing", true], ["checks", false]];
 * const map: KeyChanges = new Map([["tracing", true]]);
 * ```
 */
export type KeyChanges =
  | Readonly<Record<string, boolean>>
  | Iterable<readonly [string, boolean]>;

/**
 * A handle over one loaded module (the package's library, or a user's
 * library that links the static-keys core): its keys by name, batch
 * requests, stats, and the user's own symbols. Close it with `close()` or
 * `using`; any use after that throws `ModuleClosedError`.
 *
 * Every library is loaded once per process: handles over the same path
 * share the keys' states and the strategy.
 *
 * @typeParam S The user's own symbols given to `open()`.
 *
 * @example Usage
 * ```ts
 * import { open } from "@static-keys/deno";
 *
 * using mod = open();
 * for (const { name, enabled } of mod.keys) console.log(name, enabled);
 * mod.key("tracing").enable();
 * mod.key("tracing").disable();
 * ```
 */
export class StaticKeysModule<
  S extends Deno.ForeignLibraryInterface = Record<never, never>,
> implements Disposable {
  readonly #native: NativeModule<S>;
  readonly #keys = new Map<number, StaticKey>();
  readonly #symbols: Deno.StaticForeignLibraryInterface<S>;

  /**
   * Used by `open()`; not meant to be called directly.
   *
   * @param lib The loaded library.
   * @param path Its absolute path.
   * @param symbols The names of the user's own symbols.
   * @internal
   */
  constructor(lib: Library<S>, path: string, symbols: readonly string[]) {
    this.#native = new NativeModule(lib, path);
    // Functions are handed out guarded: after close() they throw instead of
    // calling into an unloaded library.
    const own: Record<string, unknown> = {};
    for (const name of symbols) {
      const value = (lib.user as Record<string, unknown>)[name];
      own[name] = typeof value === "function"
        ? this.#native.guard(name, value as (...args: unknown[]) => unknown)
        : value;
    }
    this.#symbols = own as Deno.StaticForeignLibraryInterface<S>;
  }

  /**
   * The absolute path of the library.
   *
   * @returns The path.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   * import assert from "node:assert/strict";
   *
   * using mod = open();
   * assert.match(mod.path, /static_keys\.(so|dylib|dll)$/);
   * ```
   */
  get path(): string {
    return this.#native.path;
  }

  /**
   * Whether `close()` was called.
   *
   * @returns `true` once closed.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   * import assert from "node:assert/strict";
   *
   * const mod = open();
   * mod.close();
   * assert.equal(mod.closed, true);
   * ```
   */
  get closed(): boolean {
    return this.#native.closed;
  }

  /**
   * The native core's version and architecture, e.g. `"0.1.0 x86_64"`.
   *
   * @returns The version string.
   * @throws {ModuleClosedError} If the module is closed.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   * import assert from "node:assert/strict";
   *
   * using mod = open();
   * assert.match(mod.version, /^\d+\.\d+\.\d+ \w+$/);
   * ```
   */
  get version(): string {
    return this.#native.version();
  }

  /**
   * The names of the module's keys, in table order.
   *
   * @returns The names.
   * @throws {ModuleClosedError} If the module is closed.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   * import assert from "node:assert/strict";
   *
   * using mod = open();
   * assert.ok(mod.names.includes("tracing"));
   * ```
   */
  get names(): readonly string[] {
    this.#native.library("Cannot list keys");
    return this.#native.names;
  }

  /**
   * Every key of the module with its current state, in table order.
   *
   * @returns A snapshot per key.
   * @throws {ModuleClosedError} If the module is closed.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * console.table(mod.keys);
   * ```
   */
  get keys(): KeyInfo[] {
    this.#native.library("Cannot list keys");
    return this.#native.names.map((_, i) => this.#native.info(i));
  }

  /**
   * The symbols given in `options.symbols`, typed as `Deno.dlopen` types
   * them (with `open()`'s exact parameter tuples). They live in the same
   * library as the keys. Functions are guarded: one kept and called after
   * `close()` throws `ModuleClosedError` instead of calling into an unloaded
   * library, and a `nonblocking` call still running at `close()` keeps the
   * library loaded until it settles.
   *
   * @returns The user's symbols.
   * @throws {ModuleClosedError} If the module is closed.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   *
   * using mod = open(undefined, {
   *   symbols: { static_keys_demo_work: { parameters: ["u32"], result: "u64" } },
   * });
   * console.log(mod.symbols.static_keys_demo_work(100)); // a bigint
   * ```
   */
  get symbols(): Deno.StaticForeignLibraryInterface<S> {
    this.#native.library("Cannot use symbols");
    return this.#symbols;
  }

  /**
   * The underlying `Deno.DynamicLibrary`, with the package's native symbols
   * and the user's. Calls through it bypass every guard of this module.
   *
   * @returns The library.
   * @throws {ModuleClosedError} If the module is closed.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * // Typed loosely: say what a symbol is before calling it.
   * const raw = mod.unsafeLibrary.symbols as unknown as {
   *   static_keys_ffi_abi_version(): number;
   * };
   * console.log(raw.static_keys_ffi_abi_version()); // 1
   * ```
   */
  get unsafeLibrary(): Deno.DynamicLibrary<Deno.ForeignLibraryInterface> {
    return this.#native.library("Cannot use the library").raw;
  }

  /**
   * Every site of key `name` (or of every key, in table order), in address
   * order: where the `nop`/`jmp` is, the function that holds it and the
   * offset into it, the bytes there now, and where its `jmp` goes. Reading
   * changes nothing and needs no ownership of the module.
   *
   * Function names come from the loader (exported functions), then from
   * the library file's symbol table (hidden and static functions too) when
   * `--allow-read` covers the library; without either, a site has its
   * addresses only. Source lines are not read: pass `libraryAddress` to
   * `addr2line -e <library>`.
   *
   * @param name A key's name; omitted, every key's sites.
   * @returns The sites.
   * @throws {TypeError} If `name` is not a string.
   * @throws {UnknownKeyError} If there is no such key.
   * @throws {ModuleClosedError} If the module is closed.
   * @throws {AbiMismatchError} If the library was built with an older
   *   core, without `static_keys_ffi_sites`.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * for (const s of mod.sites("tracing")) {
   *   console.log(`${s.function}+0x${s.offset?.toString(16)}: ${s.hex}  ${s.instruction}`);
   * }
   * ```
   */
  sites(name?: string): Site[] {
    if (name === undefined) {
      this.#native.library("Cannot list sites");
      return this.#native.names.flatMap((_, i) => this.#native.sites(i));
    }
    const action = `Cannot list the sites of key "${name}"`;
    return this.#native.sites(this.#native.indexOf(name, action));
  }

  /**
   * Whether the module has a key named exactly `name` (case matters): the
   * check to make before `key()` when a name comes from outside and a
   * missing key is not an error. Reads the names `open()` listed; no
   * native call.
   *
   * @param name The key's name.
   * @returns `true` if it has one, `false` otherwise (also for a name that
   *   is not a string).
   * @throws {ModuleClosedError} If the module is closed.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   * import assert from "node:assert/strict";
   *
   * using mod = open();
   * assert.equal(mod.has("tracing"), true);
   * assert.equal(mod.has("Tracing"), false);
   * ```
   */
  has(name: string): boolean {
    return this.names.includes(name);
  }

  /**
   * The key named `name`.
   *
   * @param name The key's name.
   * @returns The key.
   * @throws {TypeError} If `name` is not a string.
   * @throws {UnknownKeyError} If there is no such key; the message names the
   *   closest ones.
   * @throws {ModuleClosedError} If the module is closed.
   *
   * @example Usage
   * ```ts
   * import { open, UnknownKeyError } from "@static-keys/deno";
   * import assert from "node:assert/strict";
   *
   * using mod = open();
   * assert.equal(mod.key("tracing"), mod.key("tracing")); // one per handle
   * assert.throws(() => mod.key("tracng"), UnknownKeyError);
   * ```
   */
  key(name: string): StaticKey {
    const index = this.#native.indexOf(name, `Cannot find key "${name}"`);
    let key = this.#keys.get(index);
    if (!key) {
      key = new StaticKey(
        this.#native as NativeModule<Deno.ForeignLibraryInterface>,
        index,
      );
      this.#keys.set(index, key);
    }
    return key;
  }

  /**
   * Sets several keys in one all-or-nothing request: one native call,
   * each touched page patched once. Names are checked before the call; if
   * any change fails, nothing changes.
   *
   * @param changes A record of name to state, or an iterable of
   *   `[name, state]` pairs (see {@linkcode KeyChanges}): pairs keep their
   *   order, and a key may appear twice only with the same state.
   * @throws {TypeError} If a state is not a boolean.
   * @throws {UnknownKeyError} If a name is not a key of the module.
   * @throws {InvalidArgumentError} If a key is given both states.
   * @throws {WrongThreadError} Inside a Worker, or from a foreign thread.
   * @throws {ModuleClosedError} If the module is closed.
   * @throws {StaticKeysError} If the native layer refuses the request
   *   (`PatchRefusedError`, `BadSiteError`, ...); nothing changed then.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   * import assert from "node:assert/strict";
   *
   * using mod = open();
   * const before = mod.keys.map(({ name, enabled }) => [name, enabled] as const);
   * mod.set({ tracing: true, checks: false }); // a record
   * assert.equal(mod.key("tracing").enabled, true);
   * mod.set(before); // [name, state] pairs: back as they were
   * ```
   */
  set(changes: KeyChanges): void {
    if (changes === null || typeof changes !== "object") {
      throw new TypeError(
        `Cannot set keys: changes must be a record or pairs, got ${
          changes === null ? "null" : typeof changes
        }`,
      );
    }
    const pairs = Symbol.iterator in changes
      ? changes as Iterable<readonly [string, boolean]>
      : Object.entries(changes);
    const action = "Cannot set keys";
    this.#native.setMany(this.#native.resolve(pairs, action), action);
  }

  /**
   * An empty batch builder over this module; see {@linkcode Batch}.
   *
   * @returns An empty batch.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * mod.batch().enable("tracing").disable("checks").apply();
   * mod.batch().disable("tracing").enable("checks").apply();
   * ```
   */
  batch(): Batch {
    return new Batch(
      this.#native as NativeModule<Deno.ForeignLibraryInterface>,
    );
  }

  /**
   * The strategy that rewrites pages; see {@linkcode Strategy}. The module
   * keeps one for all its handles. Until `setStrategy()` it is the OS
   * layer's default: on Linux x86 `procmem` with the cross-modification
   * protocol where the kernel has membarrier's core synchronisation, else
   * `remap`; `mprotect` on Windows; `remap` on macOS.
   *
   * @returns The strategy in use (never `"default"`).
   * @throws {ModuleClosedError} If the module is closed.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   * import assert from "node:assert/strict";
   *
   * using mod = open();
   * const { strategies, concurrent } = mod.stats();
   * assert.ok(strategies.includes(mod.strategy));
   * assert.ok(concurrent.includes(mod.strategy)); // the default is safe
   * ```
   */
  get strategy(): Strategy {
    return this.#native.stats().strategy;
  }

  /**
   * Picks the strategy for later flips, for every handle of the module.
   * `"default"` goes back to the OS layer's pick: a strategy that keeps
   * W^X and is safe while other threads run the sites (see
   * {@linkcode Strategy}).
   *
   * @param strategy The strategy.
   * @throws {TypeError} If `strategy` is not one of {@linkcode STRATEGIES}.
   * @throws {UnsupportedStrategyError} If this system does not offer it.
   * @throws {WrongThreadError} Inside a Worker.
   * @throws {ModuleClosedError} If the module is closed.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * if (mod.stats().strategies.includes("remap")) mod.setStrategy("remap");
   * mod.key("tracing").toggle();
   * mod.key("tracing").toggle();
   * mod.setStrategy("default");
   * ```
   */
  setStrategy(strategy: Strategy): void {
    this.#native.setStrategy(strategy);
  }

  /**
   * Verifies every site of every key against the key's state, and rewrites
   * each one that holds the other instruction (as a failed rollback leaves
   * them), through the strategy in use and all or nothing, like a flip. A
   * site that holds neither instruction belongs to something else now (a
   * debugger's breakpoint, another patcher): it is never overwritten.
   *
   * @returns What was checked and rewritten, per key.
   * @throws {BadSiteError} If a site holds neither instruction; the others
   *   were repaired and the message says how many.
   * @throws {WrongThreadError} Inside a Worker, or from a foreign thread.
   * @throws {ModuleClosedError} If the module is closed.
   * @throws {StaticKeysError} If the OS refused to rewrite a page (nothing
   *   was rewritten then).
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * const { sites, rewritten } = mod.repair();
   * console.log(`${rewritten} of ${sites} sites repaired`);
   * ```
   */
  repair(): RepairReport {
    return this.#native.repair();
  }

  /**
   * The module's counters: strategy, sites, flips, pages and syscalls.
   *
   * @returns The counters now.
   * @throws {ModuleClosedError} If the module is closed.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   *
   * using mod = open();
   * mod.key("tracing").toggle();
   * const { strategy, lastPages, lastSyscalls } = mod.stats();
   * console.log(`${strategy}: ${lastSyscalls} syscalls, ${lastPages} pages`);
   * mod.key("tracing").toggle();
   * ```
   */
  stats(): Stats {
    return this.#native.stats();
  }

  /**
   * Closes the library; a no-op when already closed. Keys, batches and
   * symbols of this handle throw `ModuleClosedError` afterwards. If a batch
   * of this handle was built but never applied, `close()` closes the handle
   * and then throws `UnappliedBatchError` listing the lost changes.
   *
   * @throws {UnappliedBatchError} If a batch was never applied.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   *
   * const mod = open();
   * mod.close();
   * mod.close(); // no-op
   * ```
   */
  close(): void {
    this.#native.close();
  }

  /**
   * Closes the library at the end of a `using` block; see `close()`.
   *
   * @throws {UnappliedBatchError} If a batch was never applied.
   *
   * @example Usage
   * ```ts
   * import { open } from "@static-keys/deno";
   * import assert from "node:assert/strict";
   *
   * let seen;
   * {
   *   using mod = open();
   *   seen = mod;
   * } // closed here
   * assert.equal(seen.closed, true);
   * ```
   */
  [Symbol.dispose](): void {
    this.close();
  }
}
