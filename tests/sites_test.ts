// SPDX-License-Identifier: MIT
// Sites as data: mod.sites() against the library's symbol table as nm
// reads it (build/tests/nm/, written by the build), the instruction and
// bytes before and after a flip, and the ELF reader behind the names.

import assert from "node:assert/strict";
import {
  AbiMismatchError,
  ModuleClosedError,
  type Site,
  StaticKeysError,
  UnknownKeyError,
} from "../mod.ts";
import { findFunction, readElfSymbols } from "../src/runtime/_elf.ts";
import {
  ABI_VERSION,
  type NativeSymbols,
  symbols as nativeSymbols,
} from "../src/runtime/_ffi.ts";
import { SiteReader } from "../src/runtime/_sites.ts";
import { INITIAL, LIB, openDemo, taken } from "./_helpers.ts";
import { assertNamedAsNm, nmHolding, nmText } from "./_nm.ts";

Deno.test("sites() names the function and offset nm shows for every site and target", () => {
  using mod = openDemo();
  const nm = nmText("static_keys_module");
  const sites = mod.sites();
  assert.ok(sites.length > 0);
  for (const s of sites) {
    assertNamedAsNm(nm, s, `site of ${s.key} at ${s.libraryAddress}`);
    assertNamedAsNm(nm, s.target, `target of ${s.key} at ${s.libraryAddress}`);
    assert.equal(s.library, LIB);
    // One image: run-time minus file address is the same load bias.
    assert.equal(
      s.address - s.libraryAddress!,
      sites[0].address - sites[0].libraryAddress!,
    );
    assert.equal(
      s.target.address - s.target.libraryAddress!,
      s.address - s.libraryAddress!,
    );
  }
  const fns = new Set(sites.map((s) => s.function));
  for (const fn of ["static_keys_demo_tracing", "static_keys_demo_work"]) {
    assert.ok(fns.has(fn), `no site listed in ${fn}`);
  }
});

Deno.test("sites() lists every site of a key in address order, and none for audit", () => {
  using mod = openDemo();
  const all = mod.sites();
  assert.equal(all.length, mod.stats().entries);
  for (const { name, sites } of mod.keys) {
    const mine = mod.sites(name);
    assert.equal(mine.length, sites, name);
    assert.deepEqual(mine, all.filter((s) => s.key === name));
    for (let i = 1; i < mine.length; i++) {
      assert.ok(mine[i].address > mine[i - 1].address, `${name} in order`);
    }
  }
  assert.deepEqual(mod.sites("audit"), []);
  assert.deepEqual(
    mod.sites("tracing").map((s) => s.branch),
    ["unlikely", "unlikely"],
  );
  assert.ok(mod.sites("checks").every((s) => s.branch === "likely"));
});

Deno.test("sites() shows the instruction a flip writes and the function sees", () => {
  using mod = openDemo();
  const before = mod.sites("tracing");
  assert.ok(
    before.every((s) => s.instruction === "nop" && s.expected === "nop"),
  );
  assert.equal(taken(mod).tracing, false);

  mod.key("tracing").enable();
  const after = mod.sites("tracing");
  assert.equal(taken(mod).tracing, true);
  assert.ok(
    after.every((s) => s.instruction === "jmp" && s.expected === "jmp"),
  );
  after.forEach((s, i) => {
    assert.equal(s.address, before[i].address);
    assert.equal(s.target.address, before[i].target.address);
    assert.notDeepEqual(s.bytes, before[i].bytes);
    assert.equal(s.bytes.length, before[i].bytes.length);
  });
  // checks is likely and on: its sites hold the nop until it turns off.
  assert.ok(mod.sites("checks").every((s) => s.instruction === "nop"));
  mod.set({ checks: false });
  assert.ok(mod.sites("checks").every((s) => s.instruction === "jmp"));

  mod.set(INITIAL);
  assert.deepEqual(mod.sites("tracing"), before);
});

Deno.test({
  name:
    "sites() bytes are the x86_64 jmp rel32 or test eax, imm32 to each site's target",
  ignore: Deno.build.arch !== "x86_64",
  fn() {
    using mod = openDemo();
    // e9 (jmp) or a9 (test eax: the nop), then target - (site + 5)
    const insn = (s: Site, opcode: number) => {
      const rel = Number(
        BigInt.asIntN(32, s.target.address - (s.address + 5n)),
      );
      const b = new Uint8Array(5);
      b[0] = opcode;
      new DataView(b.buffer).setInt32(1, rel, true);
      return b;
    };
    const check = () => {
      for (const s of mod.sites()) {
        assert.deepEqual(
          s.bytes,
          insn(s, s.instruction === "nop" ? 0xa9 : 0xe9),
        );
        assert.equal(
          s.hex,
          Array.from(s.bytes, (b) => b.toString(16).padStart(2, "0")).join(
            " ",
          ),
        );
      }
    };
    check();
    mod.set({ tracing: true, checks: false, experimental: true });
    check();
    mod.set(INITIAL);
  },
});

Deno.test("sites() refuses an unknown key, a bad name and a closed module", () => {
  const mod = openDemo();
  assert.throws(() => mod.sites("tarcing"), (e: unknown) => {
    assert.ok(e instanceof UnknownKeyError);
    assert.match(e.message, /did you mean "tracing"/);
    return true;
  });
  assert.throws(() => mod.sites(42 as unknown as string), TypeError);
  mod.close();
  assert.throws(() => mod.sites(), ModuleClosedError);
  assert.throws(() => mod.sites("tracing"), ModuleClosedError);
  assert.ok(new ModuleClosedError("x") instanceof StaticKeysError);
});

Deno.test("sites() of a library built before static_keys_ffi_sites is an AbiMismatchError", () => {
  // The package's library as a core of the same ABI without that export.
  const lib = Deno.dlopen(LIB, nativeSymbols);
  const older = {
    ...lib.symbols,
    static_keys_ffi_sites: undefined,
  } as unknown as NativeSymbols;
  const reader = new SiteReader(older, LIB);
  assert.throws(() => reader.read(0, "tracing", 2), (e: unknown) => {
    assert.ok(e instanceof AbiMismatchError);
    assert.equal(e.code, -9);
    assert.equal(e.path, LIB);
    assert.deepEqual([e.found, e.expected], [ABI_VERSION, ABI_VERSION]);
    assert.equal(
      e.message,
      `Cannot list the sites of key "tracing" in "${LIB}": the library was ` +
        `built with an older static-keys core, without ` +
        `static_keys_ffi_sites: rebuild it against this version's C package`,
    );
    return true;
  });
  lib.close();
});

Deno.test("readElfSymbols() finds every function nm lists, by address", () => {
  const elf = readElfSymbols(Deno.readFileSync(LIB));
  assert.ok(elf, "the library is ELF with a symbol table");
  assert.equal(elf.firstPage, 0n);
  const nm = nmText("static_keys_module").filter((s) => s.size > 0n);
  assert.ok(nm.length > 10);
  for (const s of nm) {
    for (const at of [s.address, s.address + s.size - 1n]) {
      const fn = findFunction(elf, at);
      assert.ok(fn, `${s.name}: nothing at 0x${at.toString(16)}`);
      assert.ok(
        nmHolding(nm, at).some((n) => n.name === fn.name),
        `${s.name}: found ${fn.name}`,
      );
    }
    // One past the end: the next function, or padding no function holds.
    const end = s.address + s.size;
    const after = findFunction(elf, end);
    const holders = nmHolding(nm, end).map((n) => n.name);
    if (holders.length === 0) {
      assert.equal(after, undefined, `${s.name}: padding after it`);
    } else assert.ok(holders.includes(after?.name ?? ""), `${s.name}: end`);
  }
});

Deno.test("readElfSymbols() gives undefined for what is not ELF or is cut short", () => {
  const lib = Deno.readFileSync(LIB);
  assert.equal(
    readElfSymbols(new TextEncoder().encode("not a library")),
    undefined,
  );
  assert.equal(readElfSymbols(lib.subarray(0, 64)), undefined);
  const cut = lib.subarray(0, lib.length - 64); // section headers cut off
  assert.equal(readElfSymbols(cut), undefined);
});
