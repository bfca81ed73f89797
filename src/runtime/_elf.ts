// SPDX-License-Identifier: MIT
// The function symbols of an ELF file (.symtab, else .dynsym), to name the
// hidden and static functions the loader cannot: dladdr sees .dynsym only.
// The work is bounded whatever the file says: names are decoded only when
// asked for, once per string-table offset and at most MAX_NAME bytes each,
// and at most MAX_FUNCTIONS symbols are kept. elfShortfall() checks, before
// Deno.dlopen, that the file holds every byte its headers point to.

/** One function symbol: its file address, size and name. */
export interface ElfFunction {
  readonly address: bigint;
  readonly size: bigint;
  /** At most MAX_NAME bytes of UTF-8; a longer name ends with "…". */
  readonly name: string;
  readonly global: boolean;
}

/** A file's functions by address, and where its first segment starts. */
export interface ElfSymbols {
  /** Sorted by address. */
  readonly functions: readonly ElfFunction[];
  /**
   * The page-aligned file address of the first loaded segment: the loader
   * maps it at the image base, so file address = run-time address - base +
   * this.
   */
  readonly firstPage: bigint;
}

/** Counts the bytes of the string table read to make names. */
export interface ElfWork {
  nameBytes: number;
}

/** The longest name kept, in bytes; longer ones are cut and end with "…". */
export const MAX_NAME = 4096;
/** The most function symbols kept; the others are left unnamed. */
export const MAX_FUNCTIONS = 1 << 18;

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const PT_LOAD = 1;
const STT_FUNC = 2;
const STB_LOCAL = 0;

/**
 * Parses the function symbols of an ELF image, or undefined when `bytes`
 * is not ELF or has no symbol table. Never throws on malformed input: a
 * table that lies past the end gives undefined. `work`, when given, counts
 * the string-table bytes read for names (the tests check the bound).
 */
export function readElfSymbols(
  bytes: Uint8Array,
  work?: ElfWork,
): ElfSymbols | undefined {
  try {
    return parse(bytes, work ?? { nameBytes: 0 });
  } catch (error) {
    if (error instanceof RangeError) return undefined;
    throw error;
  }
}

/** A string table: each offset decoded once, on first use. */
class StringTable {
  readonly #bytes: Uint8Array;
  readonly #names = new Map<number, string>();
  readonly #work: ElfWork;
  readonly #decoder = new TextDecoder();

  constructor(bytes: Uint8Array, work: ElfWork) {
    this.#bytes = bytes;
    this.#work = work;
  }

  name(at: number): string {
    let name = this.#names.get(at);
    if (name !== undefined) return name;
    const end = Math.min(this.#bytes.length, at + MAX_NAME);
    const window = this.#bytes.subarray(at, end);
    const nul = window.indexOf(0);
    this.#work.nameBytes += nul < 0 ? window.length : nul + 1;
    name = nul < 0
      ? `${this.#decoder.decode(window)}…`
      : this.#decoder.decode(window.subarray(0, nul));
    this.#names.set(at, name);
    return name;
  }
}

/** A function symbol whose name is read from its string table when asked. */
class LazyFunction implements ElfFunction {
  readonly address: bigint;
  readonly size: bigint;
  readonly global: boolean;
  readonly #strings: StringTable;
  readonly #at: number;

  constructor(
    address: bigint,
    size: bigint,
    global: boolean,
    strings: StringTable,
    at: number,
  ) {
    this.address = address;
    this.size = size;
    this.global = global;
    this.#strings = strings;
    this.#at = at;
  }

  get name(): string {
    return this.#strings.name(this.#at);
  }
}

/** Whether `bytes` start with the ELF magic and a known class. */
function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 5 && bytes[0] === 0x7f && bytes[1] === 0x45 &&
    bytes[2] === 0x4c && bytes[3] === 0x46 &&
    (bytes[4] === 1 || bytes[4] === 2);
}

/** The size of the ELF header of `bytes`' class. */
function headerSize(bytes: Uint8Array): number {
  return bytes[4] === 2 ? 64 : 52;
}

/**
 * Reads the fields of an ELF file's header; undefined when it is not ELF
 * or is shorter than its header.
 */
function header(bytes: Uint8Array) {
  if (!isElf(bytes) || bytes.length < headerSize(bytes)) return undefined;
  const wide = bytes[4] === 2;
  const le = bytes[5] === 1;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const word = (at: number) =>
    wide ? view.getBigUint64(at, le) : BigInt(view.getUint32(at, le));
  const u16 = (at: number) => view.getUint16(at, le);
  return {
    wide,
    le,
    phoff: word(wide ? 0x20 : 0x1c),
    shoff: word(wide ? 0x28 : 0x20),
    phentsize: u16(wide ? 0x36 : 0x2a),
    phnum: u16(wide ? 0x38 : 0x2c),
    shentsize: u16(wide ? 0x3a : 0x2e),
    shnum: u16(wide ? 0x3c : 0x30),
  };
}

/** `at + length` as a number, or a RangeError past `limit`. */
function within(at: bigint | number, length: number, limit: number): number {
  const end = BigInt(at) + BigInt(length);
  if (end > BigInt(limit)) throw new RangeError("past the end");
  return Number(at);
}

function parse(bytes: Uint8Array, work: ElfWork): ElfSymbols | undefined {
  const h = header(bytes);
  if (!h) return undefined;
  const { wide, le } = h;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => view.getUint16(at, le);
  const u32 = (at: number) => view.getUint32(at, le);
  const word = (at: number) =>
    wide ? view.getBigUint64(at, le) : BigInt(view.getUint32(at, le));

  const phoff = within(h.phoff, h.phnum * h.phentsize, bytes.length);
  let first: bigint | undefined;
  for (let i = 0; i < h.phnum; i++) {
    const ph = phoff + i * h.phentsize;
    if (u32(ph) !== PT_LOAD) continue;
    const vaddr = word(ph + (wide ? 0x10 : 0x08));
    if (first === undefined || vaddr < first) first = vaddr;
  }

  const shoff = within(h.shoff, h.shnum * h.shentsize, bytes.length);
  const section = (i: number) => {
    const sh = shoff + i * h.shentsize;
    return {
      type: u32(sh + 4),
      offset: word(sh + (wide ? 0x18 : 0x10)),
      size: word(sh + (wide ? 0x20 : 0x14)),
      link: u32(sh + (wide ? 0x28 : 0x18)),
      entsize: word(sh + (wide ? 0x38 : 0x24)),
    };
  };
  const sections = Array.from({ length: h.shnum }, (_, i) => section(i));
  const table = sections.find((s) => s.type === SHT_SYMTAB) ??
    sections.find((s) => s.type === SHT_DYNSYM);
  const entry = wide ? 24 : 16;
  if (!table || table.entsize < BigInt(entry)) return undefined;
  const strtab = sections[table.link];
  if (!strtab) return undefined;
  const strAt = within(strtab.offset, Number(strtab.size), bytes.length);
  const strings = new StringTable(
    bytes.slice(strAt, strAt + Number(strtab.size)),
    work,
  );
  const start = within(table.offset, Number(table.size), bytes.length);
  const end = start + Number(table.size);
  const step = Number(table.entsize);

  const functions: ElfFunction[] = [];
  for (let at = start; at + entry <= end; at += step) {
    const info = bytes[at + (wide ? 4 : 12)];
    const shndx = u16(at + (wide ? 6 : 14));
    const address = word(at + (wide ? 8 : 4));
    const size = word(at + (wide ? 16 : 8));
    const name = u32(at);
    if (
      (info & 0xf) === STT_FUNC && shndx !== 0 && size > 0n &&
      name < strtab.size
    ) {
      functions.push(
        new LazyFunction(address, size, info >> 4 !== STB_LOCAL, strings, name),
      );
      if (functions.length === MAX_FUNCTIONS) break;
    }
  }
  functions.sort((a, b) =>
    a.address < b.address ? -1 : a.address > b.address ? 1 : 0
  );
  return { functions, firstPage: (first ?? 0n) & ~0xfffn };
}

/**
 * A `read(offset, length)` over an open file, as `elfShortfall` and the
 * loader's checks take it: the bytes at `offset`, fewer at the file's end.
 */
export function readerOf(
  file: Deno.FsFile,
): (offset: number, length: number) => Uint8Array {
  return (offset, length) => {
    const bytes = new Uint8Array(length);
    file.seekSync(offset, Deno.SeekMode.Start);
    let done = 0;
    while (done < length) {
      const n = file.readSync(bytes.subarray(done));
      if (!n) break;
      done += n;
    }
    return bytes.subarray(0, done);
  };
}

/**
 * Why an ELF file cannot be mapped whole, or undefined when it can (or is
 * not ELF: the loader refuses that cleanly). `read(offset, length)` reads
 * the file (fewer bytes at its end); `size` is its size. The loader maps
 * each loadable segment from the file, and a page past the end of the file
 * kills the process with SIGBUS when touched: every segment, and the header
 * tables, must lie inside the file.
 */
export function elfShortfall(
  read: (offset: number, length: number) => Uint8Array,
  size: number,
): string | undefined {
  const head = read(0, 64);
  if (!isElf(head)) return undefined;
  const h = header(head);
  if (!h) return `its ELF header needs ${headerSize(head)} bytes`;
  const cut = (what: string, end: bigint) =>
    `${what} ends at byte ${end}, past the end of the file`;
  const phEnd = h.phoff + BigInt(h.phnum * h.phentsize);
  if (h.phnum > 0 && phEnd > BigInt(size)) {
    return cut("its program header table", phEnd);
  }
  if (h.phnum > 0) {
    if (h.phentsize < (h.wide ? 56 : 32)) {
      return `its program headers are ${h.phentsize} bytes each, too short`;
    }
    const table = read(Number(h.phoff), h.phnum * h.phentsize);
    if (table.length < h.phnum * h.phentsize) {
      return cut("its program header table", phEnd);
    }
    const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
    const word = (at: number) =>
      h.wide ? view.getBigUint64(at, h.le) : BigInt(view.getUint32(at, h.le));
    for (let i = 0; i < h.phnum; i++) {
      const ph = i * h.phentsize;
      if (view.getUint32(ph, h.le) !== PT_LOAD) continue;
      const offset = word(ph + (h.wide ? 0x08 : 0x04));
      const filesz = word(ph + (h.wide ? 0x20 : 0x10));
      if (offset + filesz > BigInt(size)) {
        return cut(`its loadable segment ${i}`, offset + filesz);
      }
    }
  }
  const shEnd = h.shoff + BigInt(h.shnum * h.shentsize);
  if (h.shnum > 0 && h.shoff > 0n && shEnd > BigInt(size)) {
    return cut("its section header table", shEnd);
  }
  return undefined;
}

/**
 * The function whose extent holds file address `address` (a global name
 * wins over a local alias at the same address), or undefined.
 */
export function findFunction(
  symbols: ElfSymbols,
  address: bigint,
): ElfFunction | undefined {
  const fns = symbols.functions;
  let lo = 0;
  let hi = fns.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (fns[mid].address <= address) lo = mid + 1;
    else hi = mid;
  }
  let best: ElfFunction | undefined;
  for (let i = lo - 1; i >= 0 && i >= lo - 8; i--) {
    const fn = fns[i];
    if (address >= fn.address + fn.size) continue;
    if (!best || fn.address > best.address) best = fn;
    else if (fn.address === best.address && fn.global && !best.global) {
      best = fn;
    }
  }
  return best;
}
