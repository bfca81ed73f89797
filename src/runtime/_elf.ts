// SPDX-License-Identifier: MIT
// The function symbols of an ELF file (.symtab, else .dynsym), to name the
// hidden and static functions the loader cannot: dladdr sees .dynsym only.

/** One function symbol: its file address, size and name. */
export interface ElfFunction {
  readonly address: bigint;
  readonly size: bigint;
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

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const PT_LOAD = 1;
const STT_FUNC = 2;
const STB_LOCAL = 0;

/**
 * Parses the function symbols of an ELF image, or undefined when `bytes`
 * is not ELF or has no symbol table. Never throws on malformed input: a
 * read past the end gives undefined.
 */
export function readElfSymbols(bytes: Uint8Array): ElfSymbols | undefined {
  try {
    return parse(bytes);
  } catch (error) {
    if (error instanceof RangeError) return undefined;
    throw error;
  }
}

function parse(bytes: Uint8Array): ElfSymbols | undefined {
  if (
    bytes.length < 52 || bytes[0] !== 0x7f || bytes[1] !== 0x45 ||
    bytes[2] !== 0x4c || bytes[3] !== 0x46
  ) return undefined;
  const wide = bytes[4] === 2;
  const le = bytes[5] === 1;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => view.getUint16(at, le);
  const u32 = (at: number) => view.getUint32(at, le);
  const word = (at: number) =>
    wide ? view.getBigUint64(at, le) : BigInt(view.getUint32(at, le));
  const num = (at: number) => Number(word(at));

  const phoff = num(wide ? 0x20 : 0x1c);
  const shoff = num(wide ? 0x28 : 0x20);
  const phentsize = u16(wide ? 0x36 : 0x2a);
  const phnum = u16(wide ? 0x38 : 0x2c);
  const shentsize = u16(wide ? 0x3a : 0x2e);
  const shnum = u16(wide ? 0x3c : 0x30);

  let first: bigint | undefined;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (u32(ph) !== PT_LOAD) continue;
    const vaddr = word(ph + (wide ? 0x10 : 0x08));
    if (first === undefined || vaddr < first) first = vaddr;
  }

  const section = (i: number) => {
    const sh = shoff + i * shentsize;
    return {
      type: u32(sh + 4),
      offset: num(sh + (wide ? 0x18 : 0x10)),
      size: num(sh + (wide ? 0x20 : 0x14)),
      link: u32(sh + (wide ? 0x28 : 0x18)),
      entsize: num(sh + (wide ? 0x38 : 0x24)),
    };
  };
  const sections = Array.from({ length: shnum }, (_, i) => section(i));
  const table = sections.find((s) => s.type === SHT_SYMTAB) ??
    sections.find((s) => s.type === SHT_DYNSYM);
  if (!table || table.entsize === 0) return undefined;
  const strings = sections[table.link];
  if (!strings) return undefined;
  const decoder = new TextDecoder();
  const name = (at: number) => {
    const start = strings.offset + at;
    let end = start;
    while (bytes[end] !== 0) {
      if (end >= bytes.length) throw new RangeError("string past the end");
      end++;
    }
    return decoder.decode(bytes.subarray(start, end));
  };

  const functions: ElfFunction[] = [];
  for (let at = table.offset; at < table.offset + table.size;) {
    const info = bytes[at + (wide ? 4 : 12)];
    const shndx = u16(at + (wide ? 6 : 14));
    const address = word(at + (wide ? 8 : 4));
    const size = word(at + (wide ? 16 : 8));
    if ((info & 0xf) === STT_FUNC && shndx !== 0 && size > 0n) {
      functions.push({
        address,
        size,
        name: name(u32(at)),
        global: info >> 4 !== STB_LOCAL,
      });
    }
    at += table.entsize;
  }
  functions.sort((a, b) =>
    a.address < b.address ? -1 : a.address > b.address ? 1 : 0
  );
  return { functions, firstPage: (first ?? 0n) & ~0xfffn };
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
