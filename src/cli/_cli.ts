// SPDX-License-Identifier: MIT
// The command line of cli.ts: list a library's keys and sites, set keys in
// one all-or-nothing request. Exit codes are part of its interface.

import {
  AbiMismatchError,
  FfiPermissionError,
  LibraryNotFoundError,
  MalformedLibraryError,
  NotAModuleError,
  UnknownKeyError,
} from "../runtime/_errors.ts";
import { resolveLibraryPath } from "../runtime/_library.ts";
import { open } from "../runtime/_open.ts";
import type { StaticKeysModule } from "../runtime/_module.ts";
import type { CodeLocation, Site } from "../runtime/_sites.ts";
import type { KeyInfo } from "../runtime/_types.ts";
import { fleetMain } from "./_fleet.ts";

/** Exit codes of the command line. */
export const EXIT = {
  /** Listed, and set what was asked. */
  ok: 0,
  /**
   * Anything else: no permission (--allow-ffi or --allow-read of the
   * library missing), a flip the native layer refused.
   */
  failed: 1,
  /** Bad arguments. */
  usage: 2,
  /** The library file does not exist. */
  missing: 3,
  /** The file is not a library with the static-keys ABI, or is cut short. */
  noAbi: 4,
  /** A key to set is not in the library. */
  unknownKey: 5,
} as const;

export const USAGE = `Usage: cli.ts [--json] LIBRARY [KEY=on|off ...]
       cli.ts fleet set|unset|get|status STORE SCOPE ...  (fleet --help)

Lists the static keys of LIBRARY and every site (nop/jmp instruction) that
tests them; with KEY=on|off arguments, first sets those keys in one
all-or-nothing request. Needs --allow-ffi=LIBRARY and --allow-read=LIBRARY:
the file is checked before it is loaded (a file cut short would crash the
process), and its symbol table names static and hidden functions.
Keys live in the process that loaded the library: setting them here shows
what a flip writes and costs; it does not reach another running program.

  --json   print {library, version, strategy, keys, sites} as JSON;
           addresses are hex strings
  --help   print this text

Exit codes: 0 ok, 1 other failure, 2 usage, 3 no such file,
4 not a static-keys library or cut short, 5 unknown key.`;

/** What the arguments ask for. */
export interface CliRequest {
  readonly library: string;
  readonly json: boolean;
  readonly changes: Readonly<Record<string, boolean>>;
}

const STATES: Record<string, boolean> = {
  on: true,
  off: false,
  true: true,
  false: false,
  "1": true,
  "0": false,
};

/** Parses the arguments; throws a TypeError whose message is for the user. */
export function parseArgs(args: readonly string[]): CliRequest | "help" {
  let json = false;
  let library: string | undefined;
  const changes: Record<string, boolean> = {};
  for (const arg of args) {
    if (arg === "--help" || arg === "-h") return "help";
    if (arg === "--json") {
      json = true;
    } else if (arg.startsWith("-") && library === undefined) {
      throw new TypeError(`Cannot parse option "${arg}": it is not known`);
    } else if (library === undefined) {
      library = arg;
    } else {
      const m = arg.match(/^([^=]+)=(.*)$/);
      const state = m ? STATES[m[2].toLowerCase()] : undefined;
      if (!m || state === undefined) {
        throw new TypeError(
          `Cannot parse "${arg}": a change is KEY=on or KEY=off`,
        );
      }
      if (m[1] in changes && changes[m[1]] !== state) {
        throw new TypeError(
          `Cannot set key "${m[1]}" both on and off in one request`,
        );
      }
      changes[m[1]] = state;
    }
  }
  if (library === undefined) {
    throw new TypeError("Cannot run without a library: name its path");
  }
  return { library, json, changes };
}

/** `fn+0x40`, or the bare library address when no symbol names it. */
export function formatLocation(where: CodeLocation): string {
  const hex = (n: bigint | number) => `0x${n.toString(16)}`;
  if (where.function !== undefined) {
    const near = where.nearestExport ? "~" : "";
    return `${near}${where.function}+${hex(where.offset ?? 0)}`;
  }
  return hex(where.libraryAddress ?? where.address);
}

/** `jmp +0x130` or `nop`: the instruction as the demo and the table show it. */
export function formatInstruction(site: Site): string {
  if (site.instruction !== "jmp") return site.instruction;
  const d = site.target.address - site.address;
  return `jmp ${d < 0n ? "-" : "+"}0x${(d < 0n ? -d : d).toString(16)}`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) =>
    Math.max(...rows.map((r) => r[c].length))
  );
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join("  "))
    .map((line) => line.trimEnd()).join("\n");
}

function onOff(b: boolean): string {
  return b ? "on" : "off";
}

/** The text table of keys and sites. */
export function formatTable(
  mod: StaticKeysModule,
  keys: readonly KeyInfo[],
  sites: readonly Site[],
): string {
  const out = [
    `${mod.path} (static-keys ${mod.version}), strategy ${mod.strategy}`,
    "",
    table([
      ["key", "state", "initial", "sites"],
      ...keys.map((k) => [
        k.name,
        onOff(k.enabled),
        onOff(k.initial),
        String(k.sites),
      ]),
    ]),
  ];
  const empty = keys.filter((k) => k.sites === 0).map((k) => k.name);
  if (empty.length > 0) {
    out.push(
      "",
      `${empty.join(", ")}: no code tests ${
        empty.length > 1 ? "these keys" : "this key"
      } yet; a flip changes its state and patches nothing.`,
    );
  }
  if (sites.length > 0) {
    const wrong = sites.filter((s) => s.instruction !== s.expected);
    out.push(
      "",
      table([
        [
          "site",
          "address",
          "key",
          "branch",
          "bytes",
          "instruction",
          "jumps to",
        ],
        ...sites.map((s) => [
          formatLocation(s),
          `0x${(s.libraryAddress ?? s.address).toString(16)}`,
          s.key,
          s.branch,
          s.hex,
          formatInstruction(s) + (s.instruction === s.expected ? "" : " (!)"),
          formatLocation(s.target),
        ]),
      ]),
      "",
      "address: as in the library file (nm, objdump -d, addr2line -e LIBRARY).",
    );
    if (sites.some((s) => s.function === undefined)) {
      out.push(
        "0x...: no function symbol of the file holds it (its symbol table is stripped).",
      );
    }
    if (sites.some((s) => s.nearestExport)) {
      out.push(
        "~fn: the nearest exported function below; the site may be in a later one.",
      );
    }
    if (wrong.length > 0) {
      out.push(
        `(!): ${wrong.length} site(s) hold another instruction than the key's state asks for: something else rewrote the code.`,
      );
    }
  }
  return out.join("\n");
}

function jsonSite(s: Site): unknown {
  const hex = (n?: bigint) =>
    n === undefined ? undefined : `0x${n.toString(16)}`;
  const where = (w: CodeLocation) => ({
    address: hex(w.address),
    libraryAddress: hex(w.libraryAddress),
    function: w.function,
    offset: w.offset,
    nearestExport: w.nearestExport,
  });
  return {
    key: s.key,
    ...where(s),
    library: s.library,
    branch: s.branch,
    instruction: s.instruction,
    expected: s.expected,
    bytes: s.hex,
    target: where(s.target),
  };
}

/** Why `path` failed to open, as an exit code and a message. */
function openFailure(path: string, error: unknown): [number, string] {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof LibraryNotFoundError) {
    return [EXIT.missing, `Cannot find library "${path}": no such file`];
  }
  if (error instanceof FfiPermissionError) return [EXIT.failed, message];
  // Cut short: loading it again to look for the ABI would crash (SIGBUS).
  if (error instanceof MalformedLibraryError) return [EXIT.noAbi, message];
  if (error instanceof TypeError) return [EXIT.usage, message];
  // Not a module, or another C ABI: open()'s message says why and what
  // to do (link the core, or export what a version script hides).
  if (error instanceof NotAModuleError || error instanceof AbiMismatchError) {
    return [EXIT.noAbi, message];
  }
  return [EXIT.failed, message];
}

/**
 * Why `path` cannot be loaded safely, or undefined: without --allow-read
 * of the file open() cannot check its length against its headers, and
 * loading a file cut short ends the process (SIGBUS) before any error can
 * be reported.
 */
function unreadable(path: string): string | undefined {
  if (Deno.permissions.querySync({ name: "read", path }).state === "granted") {
    return undefined;
  }
  return `Cannot open "${path}": the command line checks the file before ` +
    `loading it (a file cut short would crash the process) and needs ` +
    `--allow-read=${path} for that: run again with ` +
    `--allow-ffi=${path} --allow-read=${path}`;
}

/** Where the command line writes. */
export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
}

const console_: CliOutput = {
  out: (text) => console.log(text),
  err: (text) => console.error(text),
};

/**
 * Runs the command line on `args` and returns the exit code (see EXIT);
 * `fleet ...` returns a promise of it (see FLEET_EXIT).
 */
export function main(
  args: readonly string[],
  io: CliOutput = console_,
): number | Promise<number> {
  if (args[0] === "fleet") return fleetMain(args.slice(1), io);
  return library(args, io);
}

function library(args: readonly string[], io: CliOutput): number {
  let request: CliRequest | "help";
  try {
    request = parseArgs(args);
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  if (request === "help") {
    io.out(USAGE);
    return EXIT.ok;
  }
  let path = request.library;
  let mod: StaticKeysModule;
  try {
    path = resolveLibraryPath(request.library);
    const refused = unreadable(path);
    if (refused !== undefined) {
      io.err(refused);
      return EXIT.failed;
    }
    mod = open(path);
  } catch (error) {
    const [code, message] = openFailure(path, error);
    io.err(message);
    return code;
  }
  try {
    const names = Object.keys(request.changes);
    if (names.length > 0) {
      mod.set(request.changes);
      if (!request.json) {
        const s = mod.stats();
        io.out(
          `Set ${
            names.map((n) => `${n}=${onOff(request.changes[n])}`).join(" ")
          } in one request: ${s.lastPages} page(s), ${s.lastSyscalls} syscall(s) (${s.strategy})\n`,
        );
      }
    }
    const keys = mod.keys;
    const sites = mod.sites();
    if (request.json) {
      io.out(JSON.stringify(
        {
          library: mod.path,
          version: mod.version,
          strategy: mod.strategy,
          keys,
          sites: sites.map(jsonSite),
        },
        null,
        2,
      ));
    } else {
      io.out(formatTable(mod, keys, sites));
    }
    return EXIT.ok;
  } catch (error) {
    io.err(error instanceof Error ? error.message : String(error));
    return error instanceof UnknownKeyError ? EXIT.unknownKey : EXIT.failed;
  } finally {
    mod.close();
  }
}
