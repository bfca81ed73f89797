// SPDX-License-Identifier: MIT
// Why a library could not be used, as an error that says what to do: a
// missing file, a directory, a file the loader cannot load, a library
// without the static-keys core, one whose linker version script hides the
// core's exports, or one of another C ABI version.

import {
  AbiMismatchError,
  HiddenExportsError,
  LibraryNotFoundError,
  NotAModuleError,
  StaticKeysError,
  StatusCode,
} from "./_errors.ts";
import { readerOf } from "./_elf.ts";

/** How to link the core, for a library that lacks it. */
const LINK_CORE = "StaticKeys::static_keys with CMake, " +
  "$(pkg-config --libs static-keys), " +
  "or <prefix>/lib/libstatic_keys_core.a after your objects";

/** How to export the core's functions through a version script. */
const EXPORT_CORE = `add "static_keys_ffi_*;" under "global:" in the ` +
  `version script, or link with the package's fragment after yours ` +
  `(-Wl,--version-script=<prefix>/share/static-keys/static_keys.map, ` +
  `for a script with named versions: StaticKeys_VERSION_SCRIPT in CMake, ` +
  `pkg-config --variable=versionscript static-keys), or name the archives ` +
  `to hide instead of --exclude-libs,ALL`;

/** What the file at `path` is, or undefined without --allow-read. */
function kind(path: string): "file" | "directory" | "missing" | undefined {
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
    return undefined;
  }
  try {
    return Deno.statSync(path).isDirectory ? "directory" : "file";
  } catch (error) {
    return error instanceof Deno.errors.NotFound ? "missing" : undefined;
  }
}

/**
 * The loader's own words: Deno says "Could not open library: " twice and
 * the loader repeats the path; neither tells the user anything.
 */
export function loaderText(path: string, error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/^(Could not open library: )+/, "")
    .replace(`${path}: `, "");
}

/**
 * The error for a `Deno.dlopen` of `path` that failed with `error`;
 * `missingHint` says what to do about a missing file, `abi` lists the C
 * ABI's functions that open() binds.
 */
export function loadError(
  path: string,
  error: unknown,
  missingHint: string,
  abi: readonly string[],
): Error {
  if (error instanceof Deno.errors.PermissionDenied) return error;
  const text = loaderText(path, error);
  const what = kind(path);
  const missing = what === "missing" ||
    /no such file|cannot open shared object|image not found|could not be found|cannot find the file/i
        .test(text) && what === undefined;
  if (missing) {
    return new LibraryNotFoundError(
      `Cannot find library "${path}": ${missingHint}`,
      path,
      { cause: error },
    );
  }
  if (what === "directory" || /Is a directory/i.test(text)) {
    return new NotAModuleError(
      `Cannot open "${path}": it is a directory, not a library: ` +
        `give open() the path of the library file in it`,
      path,
      "directory",
      { cause: error },
    );
  }
  // Deno names the first symbol it could not bind.
  const symbol = text.match(/register symbol (\w+)/)?.[1];
  if (symbol && abi.includes(symbol)) {
    return notExported(path, symbol, abi, error);
  }
  if (symbol) {
    return new StaticKeysError(
      `Cannot open "${path}": it does not export "${symbol}", which ` +
        `options.symbols names: check the name, and that the library ` +
        `exports it (STATIC_KEYS_EXPORT, or __attribute__((visibility("default"))))`,
      { code: StatusCode.EINIT, cause: error },
    );
  }
  if (
    /file too short|invalid ELF header|wrong ELF class|ELF file|not a dynamic|Exec format|not a valid Win32|not a mach-o|mach-o file/i
      .test(text)
  ) {
    return new NotAModuleError(
      `Cannot open "${path}": it is not a shared library this system can ` +
        `load (${text}): give open() the path of a shared library built for ` +
        `${Deno.build.os} ${Deno.build.arch}`,
      path,
      "not-a-library",
      { cause: error },
    );
  }
  return new StaticKeysError(
    `Cannot open "${path}": the loader refused it: ${text}`,
    { code: StatusCode.EINIT, cause: error },
  );
}

/**
 * The error for a library that does not export `symbol` of the C ABI:
 * without the core, or with the core's exports hidden. The file's own
 * tables tell which when --allow-read covers it.
 */
function notExported(
  path: string,
  symbol: string,
  abi: readonly string[],
  cause: unknown,
): NotAModuleError {
  const evidence = what(path);
  if (evidence === undefined) {
    return new NotAModuleError(
      `Cannot open "${path}": it does not export ${symbol}: either the ` +
        `static-keys core is not linked into it (link it: ${LINK_CORE}), ` +
        `or a linker version script or -Wl,--exclude-libs hides the ` +
        `core's exports (${EXPORT_CORE}); run again with ` +
        `--allow-read=${path} for open() to tell which`,
      path,
      "no-exports",
      { cause },
    );
  }
  if (evidence.symbols.length === 0 && evidence.sections.length === 0) {
    return new NotAModuleError(
      `Cannot open "${path}": it is not linked with the static-keys core ` +
        `(it does not export ${symbol}); link the core into it: ${LINK_CORE}`,
      path,
      "no-core",
      { cause },
    );
  }
  const hidden = abi.filter((name) => !evidence.exported.includes(name));
  const seen = evidence.symbols.length > 0
    ? `its symbol table holds ${evidence.symbols.length} static_keys_ffi_* ` +
      `functions of the core`
    : `it has the core's sections (${evidence.sections.join(", ")})`;
  const missing = hidden.length === abi.length
    ? "none of the C ABI's functions"
    : `${hidden.length} of the ${abi.length} functions of the C ABI ` +
      `(${hidden.slice(0, 3).join(", ")}${hidden.length > 3 ? ", ..." : ""})`;
  return new HiddenExportsError(
    `Cannot open "${path}": the static-keys core is linked into it but its ` +
      `exports are hidden: ${seen}, its dynamic symbol table ${missing} ` +
      `(a linker version script ending in "local: *;", or ` +
      `-Wl,--exclude-libs,ALL, hides them); ${EXPORT_CORE}`,
    path,
    hidden,
    { cause },
  );
}

/** The error for a library of C ABI version `found`, not `expected`. */
export function abiMismatch(
  path: string,
  found: number,
  expected: number,
): AbiMismatchError {
  const fix = found < expected
    ? `the library was built with an older static-keys core: rebuild it ` +
      `against this version's C package (the build entry's --prefix)`
    : `the library was built with a newer static-keys core: import the ` +
      `version of @static-keys/deno it was built with, or rebuild it ` +
      `against this version's C package (the build entry's --prefix)`;
  return new AbiMismatchError(
    `Cannot open "${path}": its C ABI is version ${found}, this module ` +
      `needs version ${expected}: ${fix}`,
    path,
    found,
    expected,
  );
}

/** What an ELF file shows of the static-keys core. */
export interface CoreEvidence {
  /** Its `__static_keys*` sections. */
  readonly sections: readonly string[];
  /** `static_keys_ffi_*` functions defined in `.symtab`. */
  readonly symbols: readonly string[];
  /** `static_keys_ffi_*` functions defined in `.dynsym`. */
  readonly exported: readonly string[];
}

/** The core's traces in the file at `path`, or undefined if unreadable. */
function what(path: string): CoreEvidence | undefined {
  if (kind(path) !== "file") return undefined;
  try {
    using file = Deno.openSync(path, { read: true });
    return coreEvidence(readerOf(file), file.statSync().size);
  } catch {
    return undefined;
  }
}

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
/** Tables larger than this are not read (a symbol table this big is not ours). */
const MAX_TABLE = 64 << 20;
const PREFIX = new TextEncoder().encode("static_keys_ffi_");

/**
 * Reads the core's traces from an ELF file through `read(offset, length)`
 * (which may return fewer bytes at the end), or undefined when it is not
 * ELF. Reads the headers, the section names and the symbol tables only,
 * each at most MAX_TABLE bytes.
 */
export function coreEvidence(
  read: (offset: number, length: number) => Uint8Array,
  size: number,
): CoreEvidence | undefined {
  const head = read(0, 64);
  if (
    head.length < 52 || head[0] !== 0x7f || head[1] !== 0x45 ||
    head[2] !== 0x4c || head[3] !== 0x46
  ) return undefined;
  const wide = head[4] === 2;
  const le = head[5] === 1;
  const view = (b: Uint8Array) =>
    new DataView(b.buffer, b.byteOffset, b.byteLength);
  const h = view(head);
  const shoff = Number(
    wide ? h.getBigUint64(0x28, le) : BigInt(h.getUint32(0x20, le)),
  );
  const shentsize = h.getUint16(wide ? 0x3a : 0x2e, le);
  const shnum = h.getUint16(wide ? 0x3c : 0x30, le);
  const shstrndx = h.getUint16(wide ? 0x3e : 0x32, le);
  const table = (offset: number, length: number) =>
    offset + length > size || length > MAX_TABLE
      ? new Uint8Array(0)
      : read(offset, length);
  const headers = view(table(shoff, shnum * shentsize));
  if (headers.byteLength < shnum * shentsize || shentsize < 40) {
    return undefined;
  }
  const word = (d: DataView, at: number) =>
    Number(wide ? d.getBigUint64(at, le) : BigInt(d.getUint32(at, le)));
  const sections = Array.from({ length: shnum }, (_, i) => {
    const at = i * shentsize;
    return {
      name: headers.getUint32(at, le),
      type: headers.getUint32(at + 4, le),
      offset: word(headers, at + (wide ? 0x18 : 0x10)),
      size: word(headers, at + (wide ? 0x20 : 0x14)),
      link: headers.getUint32(at + (wide ? 0x28 : 0x18), le),
      entsize: word(headers, at + (wide ? 0x38 : 0x24)),
    };
  });
  const decoder = new TextDecoder();
  const cString = (bytes: Uint8Array, at: number) => {
    const end = bytes.indexOf(0, at);
    return decoder.decode(bytes.subarray(at, end < 0 ? bytes.length : end));
  };
  const names = sections[shstrndx]
    ? table(sections[shstrndx].offset, sections[shstrndx].size)
    : new Uint8Array(0);
  const ours = sections.map((s) => cString(names, s.name))
    .filter((name) => name.startsWith("__static_keys"));

  const functions = (type: number): string[] => {
    const symtab = sections.find((s) => s.type === type);
    if (!symtab || symtab.entsize === 0 || !sections[symtab.link]) return [];
    const strings = table(
      sections[symtab.link].offset,
      sections[symtab.link].size,
    );
    const syms = view(table(symtab.offset, symtab.size));
    const found: string[] = [];
    for (let at = 0; at + symtab.entsize <= syms.byteLength;) {
      const name = syms.getUint32(at, le);
      const shndx = syms.getUint16(at + (wide ? 6 : 14), le);
      at += symtab.entsize;
      if (shndx === 0 || !startsWithPrefix(strings, name)) continue;
      found.push(cString(strings, name));
    }
    return found;
  };
  return {
    sections: ours,
    symbols: functions(SHT_SYMTAB),
    exported: functions(SHT_DYNSYM),
  };
}

function startsWithPrefix(bytes: Uint8Array, at: number): boolean {
  if (at + PREFIX.length > bytes.length) return false;
  return PREFIX.every((b, i) => bytes[at + i] === b);
}
