// SPDX-License-Identifier: MIT
// Sites as data: each site of a key with its function, bytes and target.
// Names come from the loader (dladdr: exported functions), then from the
// library file's own symbol table when --allow-read covers it.

import { AbiMismatchError, unwrap } from "./_errors.ts";
import { type ElfSymbols, findFunction, readElfSymbols } from "./_elf.ts";
import {
  ABI_VERSION,
  type NativeSymbols,
  SITE_FIELDS,
  SYMBOL_FIELDS,
} from "./_ffi.ts";

/**
 * A place in a library's code: its run-time address and, when known, the
 * function that holds it.
 *
 * @example Usage
 * ```ts
 * import type { CodeLocation } from "@static-keys/deno";
 *
 * const where: CodeLocation = {
 *   address: 0x7f00_1000_1290n,
 *   function: "static_keys_demo_work",
 *   offset: 0x40,
 *   libraryAddress: 0x1290n,
 * };
 * ```
 */
export interface CodeLocation {
  /** The run-time address (differs from run to run under ASLR). */
  readonly address: bigint;
  /**
   * The function holding it: an exported name from the loader, else a
   * hidden or static one from the library file's symbol table (with
   * `--allow-read` for the file); absent when neither names it.
   */
  readonly function?: string;
  /** Bytes from the start of `function` to `address`; set with it. */
  readonly offset?: number;
  /**
   * `true` when `function` is only the nearest exported symbol below the
   * address (the loader knows no sizes there and the library file could
   * not be read): the address may lie in a later, unexported function.
   */
  readonly nearestExport?: true;
  /**
   * The address as the library file's tools show it (`nm`, `objdump -d`,
   * `addr2line -e <library> <address>` for the source line).
   */
  readonly libraryAddress?: bigint;
}

/**
 * One site of a key: one `nop`/`jmp` instruction in the code, as
 * `StaticKeysModule.sites()` lists it. Where it is (`address`, and
 * `function`/`offset`/`libraryAddress` from {@linkcode CodeLocation}),
 * what it holds now, and where its jump goes.
 *
 * @example Usage
 * ```ts
 * import { open } from "@static-keys/deno";
 * import assert from "node:assert/strict";
 *
 * using mod = open();
 * for (const site of mod.sites("tracing")) {
 *   console.log(`${site.function}+${site.offset}: ${site.hex} ${site.instruction}`);
 *   assert.equal(site.instruction, site.expected); // nothing else rewrote it
 * }
 * ```
 */
export interface Site extends CodeLocation {
  /** The name of the key that owns the site. */
  readonly key: string;
  /**
   * The path of the library file that holds it, as the loader reports it
   * (`dladdr`); absent when the loader cannot tell.
   */
  readonly library?: string;
  /**
   * Which macro made the site: `"likely"` for `static_branch_likely` (the
   * guarded code is laid out inline, the site jumps away from it while
   * the key is off), `"unlikely"` for `static_branch_unlikely` (the
   * guarded code is out of line, the site jumps to it while the key is
   * on).
   */
  readonly branch: "likely" | "unlikely";
  /**
   * The instruction there now: the arch's `nop` (one that falls through;
   * on x86 `test eax, imm32`, which changes only the flags), its `jmp`
   * to `target`, or `other` when something else rewrote the bytes (a
   * debugger's breakpoint, another patcher): `repair()` leaves those.
   */
  readonly instruction: "nop" | "jmp" | "other";
  /**
   * The instruction the key's current state asks for: `jmp` when the key
   * is on for an unlikely branch or off for a likely one, else `nop`. It
   * differs from `instruction` only while something else holds the site,
   * or after a rollback the OS refused (then `repair()` rewrites it).
   */
  readonly expected: "nop" | "jmp";
  /**
   * A copy of the bytes at `address` now: the arch's jump size (5 on x86,
   * 4 on aarch64, riscv64 and loongarch64).
   */
  readonly bytes: Uint8Array;
  /**
   * `bytes` as hex pairs, e.g. `"a9 3b 01 00 00"` (x86_64's nop: `test eax,
   * imm32`, whose imm32 is the `jmp`'s displacement).
   */
  readonly hex: string;
  /**
   * Where the `jmp` goes (also while the site holds the `nop`: where it
   * would go once flipped). No `library` here: it is the site's.
   */
  readonly target: CodeLocation;
}

const INSNS = ["nop", "jmp", "other"] as const;

interface LoaderSymbol {
  base: bigint;
  start: bigint;
  exact: boolean;
  name: string;
  path: string;
}

const decoder = new TextDecoder();
const elfCache = new Map<string, { mtime: number; symbols?: ElfSymbols }>();

function symbolsOf(path: string): ElfSymbols | undefined {
  const read = Deno.permissions.querySync({ name: "read", path });
  if (read.state !== "granted") return undefined;
  try {
    const mtime = Deno.statSync(path).mtime?.getTime() ?? 0;
    const cached = elfCache.get(path);
    if (cached && cached.mtime === mtime) return cached.symbols;
    const symbols = readElfSymbols(Deno.readFileSync(path));
    elfCache.set(path, { mtime, symbols });
    return symbols;
  } catch {
    return undefined; // unreadable now: the loader's names stay
  }
}

/** Reads a module's sites; one per NativeModule (it holds the buffers). */
export class SiteReader {
  readonly #sym: NativeSymbols;
  readonly #path: string;
  readonly #out = new BigUint64Array(SYMBOL_FIELDS);
  #name = new Uint8Array(256);
  #file = new Uint8Array(1024);

  constructor(sym: NativeSymbols, path: string) {
    this.#sym = sym;
    this.#path = path;
  }

  #loader(address: bigint): LoaderSymbol | undefined {
    const symbolize = this.#sym.static_keys_ffi_symbolize;
    if (!symbolize) return undefined;
    const call = () =>
      symbolize(
        address,
        this.#out,
        this.#name,
        this.#name.length,
        this.#file,
        this.#file.length,
      );
    if (call() !== 0) return undefined; // ENOTSUP, ENOKEY: a bare address
    const [, , , nameLength, pathLength] = Array.from(this.#out, Number);
    if (nameLength > this.#name.length || pathLength > this.#file.length) {
      this.#name = new Uint8Array(Math.max(nameLength, this.#name.length));
      this.#file = new Uint8Array(Math.max(pathLength, this.#file.length));
      if (call() !== 0) return undefined;
    }
    const [base, start, exact] = this.#out;
    return {
      base,
      start,
      exact: exact === 1n,
      name: decoder.decode(this.#name.subarray(0, nameLength)),
      path: decoder.decode(this.#file.subarray(0, pathLength)),
    };
  }

  /** Names `address` as well as the loader and the library file allow. */
  locate(address: bigint): CodeLocation & { library?: string } {
    const loader = this.#loader(address);
    if (!loader) return { address };
    const elf = symbolsOf(loader.path);
    const libraryAddress = address - loader.base + (elf?.firstPage ?? 0n);
    const where = { address, library: loader.path, libraryAddress };
    if (loader.exact && loader.name) {
      return {
        ...where,
        function: loader.name,
        offset: Number(address - loader.start),
      };
    }
    const fn = elf && findFunction(elf, libraryAddress);
    if (fn) {
      return {
        ...where,
        function: fn.name,
        offset: Number(libraryAddress - fn.address),
      };
    }
    if (loader.name) {
      return {
        ...where,
        function: loader.name,
        offset: Number(address - loader.start),
        nearestExport: true,
      };
    }
    return where;
  }

  /** The sites of key `index` (named `key`, with `count` sites). */
  read(index: number, key: string, count: number): Site[] {
    const action = `Cannot list the sites of key "${key}" in "${this.#path}"`;
    const sites = this.#sym.static_keys_ffi_sites;
    if (!sites) {
      // Same ABI number, older core: the export came later.
      throw new AbiMismatchError(
        `${action}: the library was built with an older static-keys core, ` +
          `without static_keys_ffi_sites: rebuild it against this ` +
          `version's C package`,
        this.#path,
        this.#sym.static_keys_ffi_abi_version(),
        ABI_VERSION,
      );
    }
    const out = new BigUint64Array(Math.max(1, count) * SITE_FIELDS);
    const total = unwrap(sites(index, 0, out, count), this.#sym, action, {
      name: key,
      names: [],
    });
    const list: Site[] = [];
    for (let i = 0; i < Math.min(total, count); i++) {
      const [code, target, flags, packed] = out.subarray(
        i * SITE_FIELDS,
        (i + 1) * SITE_FIELDS,
      );
      const f = Number(flags);
      const size = (f >> 24) & 0xff;
      const bytes = new Uint8Array(size);
      for (let b = 0; b < size; b++) {
        bytes[b] = Number((packed >> BigInt(8 * b)) & 0xffn);
      }
      const { library, ...where } = this.locate(code);
      const { library: _, ...to } = this.locate(target);
      list.push({
        key,
        ...where,
        library,
        branch: f & 1 ? "likely" : "unlikely",
        instruction: INSNS[(f >> 8) & 0xff] ?? "other",
        expected: (f >> 16) & 0xff ? "jmp" : "nop",
        bytes,
        hex: Array.from(bytes, (b) => b.toString(16).padStart(2, "0"))
          .join(" "),
        target: to,
      });
    }
    return list;
  }
}
