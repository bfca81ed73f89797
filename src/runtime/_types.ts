// SPDX-License-Identifier: MIT
// Plain data types of the public API.

/**
 * Every patch strategy's name, in the order of its native id
 * (`STATIC_KEYS_STRATEGY_*` in `static_keys.h`: `STRATEGIES[id]`). Not
 * every system offers each: `StaticKeysModule.stats().strategies` lists
 * the ones this one does. See {@linkcode Strategy} for what each does.
 *
 * @example Usage
 * ```ts
 * import { STRATEGIES } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * assert.equal(STRATEGIES.indexOf("mprotect"), 2);
 * ```
 */
export const STRATEGIES = [
  "default",
  "remap",
  "mprotect",
  "alias",
  "direct",
  "procmem",
] as const;

/**
 * How pages are rewritten.
 *
 * | strategy | how | W^X |
 * | --- | --- | --- |
 * | `remap` | patch a private copy of the run (of the library's file where it can, so the mapping stays file-backed), make it r-x, `mremap` it over the original (3 syscalls per run of contiguous pages) | never writable and executable |
 * | `mprotect` | make the page rwx, write, make it r-x again (2 syscalls per run and pass) | a brief rwx window |
 * | `alias` | once, move the code pages into a memfd mapped r-x and rw-; a flip is a plain store (0 syscalls) | a writable alias exists while it is chosen |
 * | `direct` | the text is writable (bare metal) | n/a |
 * | `procmem` | one `pwrite` per run through `/proc/self/mem`, once per pass of the protocol (2 on x86) (Linux; refused where the kernel forbids it) | never writable and executable |
 *
 * `default` picks the OS layer's default: a strategy that keeps W^X and
 * is safe while other threads run the sites. On Linux x86 that is
 * `procmem` with the cross-modification protocol where the kernel has
 * membarrier's core synchronisation (4.16 and later), else `remap`; on
 * Linux aarch64 and riscv64 `remap`; `mprotect` on Windows; `remap` on
 * macOS; `direct` freestanding. It is not always the fastest:
 * docs/performance.md compares them. `StaticKeysModule.strategy` names the
 * one in use.
 *
 * @example Usage
 * ```ts
 * import type { Strategy } from "@static-keys/deno";
 *
 * const strategy: Strategy = "mprotect";
 * ```
 */
export type Strategy = typeof STRATEGIES[number];

/**
 * One key of a module, as listed by `StaticKeysModule.keys`.
 *
 * @example Usage
 * ```ts
 * import type { KeyInfo } from "@static-keys/deno";
 *
 * const info: KeyInfo = {
 *   name: "tracing",
 *   enabled: false,
 *   initial: false,
 *   sites: 2,
 *   count: 0,
 *   pinned: null,
 * };
 * ```
 */
export interface KeyInfo {
  /** The key's name (the C identifier unless given). */
  readonly name: string;
  /** Its current state. */
  readonly enabled: boolean;
  /** Its state at build time (`DEFINE_STATIC_KEY_TRUE` is `true`). */
  readonly initial: boolean;
  /** How many sites test it. */
  readonly sites: number;
  /**
   * Its enable count (`inc`/`dec`): how many hold the key on. An unpinned
   * key is on while it is > 0.
   */
  readonly count: number;
  /**
   * The pin that forces the key's state (`"on"` or `"off"`), or `null`.
   * While pinned, `enabled` is the pin's state (what the code does) and
   * `count` still moves with `inc`/`dec`/`enable`/`disable`.
   */
  readonly pinned: Pin | null;
}

/**
 * The state a pin forces a key to; see `StaticKey.pin()`.
 *
 * @example Usage
 * ```ts
 * import type { Pin } from "@static-keys/deno";
 *
 * const pin: Pin = "off";
 * ```
 */
export type Pin = "on" | "off";

/**
 * One step of a `Batch`: `true`/`false` set the key (as
 * `enable()`/`disable()`), `"inc"`/`"dec"` move its count, `"pin-on"`,
 * `"pin-off"` and `"unpin"` set or lift its pin.
 *
 * @example Usage
 * ```ts
 * import type { BatchStep } from "@static-keys/deno";
 *
 * const steps: [string, BatchStep][] = [["tracing", "inc"], ["checks", "pin-off"]];
 * ```
 */
export type BatchStep =
  | boolean
  | "inc"
  | "dec"
  | "pin-on"
  | "pin-off"
  | "unpin";

/**
 * Counters of a module, from `StaticKeysModule.stats()`.
 *
 * @example Usage
 * ```ts
 * import { open } from "@static-keys/deno";
 *
 * using mod = open();
 * const { strategy, lastPages, lastSyscalls } = mod.stats();
 * console.log(`${strategy}: ${lastSyscalls} syscalls, ${lastPages} pages`);
 * ```
 */
export interface Stats {
  /** The strategy in use. */
  readonly strategy: Strategy;
  /** The strategies this system offers. */
  readonly strategies: readonly Strategy[];
  /** Keys in the module. */
  readonly keys: number;
  /** Sites (jump entries) in the module. */
  readonly entries: number;
  /** Page size in bytes. */
  readonly pageSize: number;
  /** Key state changes so far. */
  readonly flips: number;
  /** Updates that patched at least one page. */
  readonly requests: number;
  /** Pages rewritten, counted once per request. */
  readonly pagesPatched: number;
  /** Syscalls the strategy made while patching. */
  readonly syscalls: number;
  /** Pages of the last request that patched. */
  readonly lastPages: number;
  /** Syscalls of the last request that patched. */
  readonly lastSyscalls: number;
  /** Patches made: one per run of contiguous pages holding sites. */
  readonly runs: number;
  /** Runs of the last request that patched. */
  readonly lastRuns: number;
  /**
   * Whether the strategy in use is safe while other threads (`nonblocking`
   * FFI calls, native threads) run the sites during a flip.
   */
  readonly concurrentSafe: boolean;
  /** The strategies that are safe for such threads on this system. */
  readonly concurrent: readonly Strategy[];
  /** The strategies that run the cross-modification protocol here. */
  readonly protocol: readonly Strategy[];
  /** Core synchronisations made by flips (membarrier). */
  readonly coreSyncs: number;
  /** Threads sent on from a site's breakpoint during a flip. */
  readonly traps: number;
}

/**
 * Options of `open()`.
 *
 * @typeParam S The user's own symbols.
 *
 * @example Usage
 * ```ts
 * import { open } from "@static-keys/deno";
 *
 * using mod = open(undefined, {
 *   strategy: "default",
 *   symbols: {
 *     static_keys_demo_work: { parameters: ["u32"], result: "u64" },
 *   },
 * });
 * mod.symbols.static_keys_demo_work(10); // typed: (a: number) => bigint
 * ```
 */
export interface OpenOptions<
  S extends Deno.ForeignLibraryInterface = Record<never, never>,
> {
  /**
   * More symbols of the same library, as `Deno.dlopen` takes them; they
   * come back typed as `mod.symbols`, with their exact parameter tuples. A
   * name the package binds itself (`static_keys_ffi_*`) is a `TypeError`.
   *
   * `--allow-ffi=<library>` is enough to call them, but not to read what
   * they point to: a string (or any memory) your function returns as a
   * `"pointer"` is read with `Deno.UnsafePointerView`, which Deno allows
   * only with an unscoped `--allow-ffi`. Copy it into a `"buffer"`
   * parameter instead (the package reads its own strings that way), or run
   * with `--allow-ffi`.
   */
  symbols?: S;
  /**
   * The patch strategy to use from now on, for every handle of the module
   * (as `setStrategy()`); omitted, the strategy in use stays.
   */
  strategy?: Strategy;
}

/**
 * What `StaticKeysModule.repair()` found and did: every site checked
 * against its key's state.
 *
 * @example Usage
 * ```ts
 * import type { RepairReport } from "@static-keys/deno";
 *
 * const report: RepairReport = {
 *   sites: 6,
 *   rewritten: 2,
 *   unknown: 0,
 *   keys: [{ name: "tracing", sites: 4, rewritten: 2, unknown: 0 }],
 * };
 * ```
 */
export interface RepairReport {
  /** Sites checked. */
  readonly sites: number;
  /** Sites that held the other instruction and now agree with their key. */
  readonly rewritten: number;
  /** Sites that held neither instruction; left as they were. */
  readonly unknown: number;
  /** The keys with a site rewritten or unknown, in table order. */
  readonly keys: readonly {
    /** The key's name. */
    readonly name: string;
    /** Its sites. */
    readonly sites: number;
    /** Its sites rewritten. */
    readonly rewritten: number;
    /** Its sites that held neither instruction. */
    readonly unknown: number;
  }[];
}
