// SPDX-License-Identifier: MIT
// What nm reads from a test library's symbol table: the build writes
// `nm -S --defined-only` of each to build/tests/nm/<target>.txt.

import assert from "node:assert/strict";

/** One line of `nm -S --defined-only`: address, size, type, name. */
export interface NmSymbol {
  address: bigint;
  size: bigint;
  type: string;
  name: string;
}

/** The text symbols nm found in the library built as CMake `target`. */
export function nmText(target: string): NmSymbol[] {
  const file = new URL(`../build/tests/nm/${target}.txt`, import.meta.url);
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (error) {
    throw new Error(
      `Cannot read ${file.pathname}: build the tests with "deno task build"`,
      { cause: error },
    );
  }
  return text.split("\n").flatMap((line) => {
    const m = line.match(/^([0-9a-f]+) ([0-9a-f]+) ([tTwW]) (\S+)$/);
    return m
      ? [{
        address: BigInt(`0x${m[1]}`),
        size: BigInt(`0x${m[2]}`),
        type: m[3],
        name: m[4],
      }]
      : [];
  });
}

/** The nm symbols whose extent holds `address` (aliases included). */
export function nmHolding(symbols: NmSymbol[], address: bigint): NmSymbol[] {
  return symbols.filter((s) =>
    s.address <= address && address < s.address + s.size
  );
}

/** Asserts that `where` names the function nm says holds it. */
export function assertNamedAsNm(
  symbols: NmSymbol[],
  where: {
    function?: string;
    offset?: number;
    libraryAddress?: bigint;
    nearestExport?: true;
  },
  what: string,
): void {
  assert.ok(where.libraryAddress !== undefined, `${what}: no libraryAddress`);
  const holding = nmHolding(symbols, where.libraryAddress);
  assert.ok(holding.length > 0, `${what}: nm knows no function there`);
  const match = holding.find((s) => s.name === where.function);
  assert.ok(
    match,
    `${what}: named ${where.function}, nm says ${
      holding.map((s) => s.name).join(" or ")
    }`,
  );
  assert.equal(BigInt(where.offset!), where.libraryAddress - match.address);
  assert.equal(where.nearestExport, undefined);
}
