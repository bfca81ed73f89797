// SPDX-License-Identifier: MIT
// The ELF reader of sites() and cli.ts on hostile copies of the package's
// library: a .symtab whose every function names one long string (the
// library still loads and works), more symbols than are kept, seeded
// mutations; and files cut short, which the loader would crash on
// (SIGBUS), refused before loading.
//
// The copies are made here from the real library and written by a deno
// subprocess (the tests have --allow-read only).

import assert from "node:assert/strict";
import {
  elfShortfall,
  type ElfWork,
  MAX_FUNCTIONS,
  MAX_NAME,
  readElfSymbols,
} from "../src/runtime/_elf.ts";
import { EXIT } from "../src/cli/_cli.ts";
import { LIB, runDeno, runOpen } from "./_helpers.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname)
  .replace(/\/$/, "");
const SCRATCH = `${ROOT}/build/elf-test`;
const CLI = `${ROOT}/cli.ts`;
const ELF64_LE = Deno.build.os === "linux" &&
  ["x86_64", "aarch64"].includes(Deno.build.arch);

/** Writes `bytes` to `path` from a deno subprocess (all permissions). */
async function write(path: string, bytes: Uint8Array): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--no-config",
      `const dir = ${JSON.stringify(path.replace(/\/[^/]*$/, ""))};
       Deno.mkdirSync(dir, { recursive: true });
       const bytes = new Uint8Array(
         await new Response(Deno.stdin.readable).arrayBuffer());
       Deno.writeFileSync(${JSON.stringify(path)}, bytes);`,
    ],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(bytes);
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
}

/** Writes each of `files` to its path, from one deno subprocess. */
async function writeAll(paths: string[], files: Uint8Array[]): Promise<void> {
  const all = new Uint8Array(files.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of files) {
    all.set(f, at);
    at += f.length;
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--no-config",
      `const paths = ${JSON.stringify(paths)};
       const sizes = ${JSON.stringify(files.map((f) => f.length))};
       const all = new Uint8Array(
         await new Response(Deno.stdin.readable).arrayBuffer());
       let at = 0;
       paths.forEach((path, i) => {
         Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), {
           recursive: true,
         });
         Deno.writeFileSync(path, all.subarray(at, at + sizes[i]));
         at += sizes[i];
       });`,
    ],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(all);
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
}

/** One section header of an ELF64 little-endian file, and where it is. */
interface Section {
  at: number;
  type: number;
  offset: number;
  size: number;
  link: number;
}

/** The section headers of an ELF64 LE file, read here on their own. */
function sections(bytes: Uint8Array): Section[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shoff = Number(v.getBigUint64(0x28, true));
  const size = v.getUint16(0x3a, true);
  return Array.from({ length: v.getUint16(0x3c, true) }, (_, i) => {
    const at = shoff + i * size;
    return {
      at,
      type: v.getUint32(at + 4, true),
      offset: Number(v.getBigUint64(at + 0x18, true)),
      size: Number(v.getBigUint64(at + 0x20, true)),
      link: v.getUint32(at + 0x28, true),
    };
  });
}

/**
 * A copy of `lib` whose .symtab is replaced by `count` function symbols
 * (copies of its real ones, so every function is still covered) that all
 * name one string of `long` "A"s (`staggered`: symbol i names the string
 * from byte i % long on, so that no two share an offset). The new tables
 * go after the end of the file; the loader never reads them.
 */
function longNames(
  lib: Uint8Array,
  count: number,
  long: number,
  staggered = false,
): Uint8Array {
  const all = sections(lib);
  const symtab = all.find((s) => s.type === 2);
  assert.ok(symtab, "the library has a .symtab");
  const strtab = all[symtab.link];
  const entries: Uint8Array[] = [];
  for (let at = symtab.offset; at < symtab.offset + symtab.size; at += 24) {
    const info = lib[at + 4];
    const shndx = lib[at + 6] | lib[at + 7] << 8;
    const size = new DataView(lib.buffer, lib.byteOffset + at + 16, 8)
      .getBigUint64(0, true);
    if ((info & 0xf) === 2 && shndx !== 0 && size > 0n) {
      entries.push(lib.slice(at, at + 24));
    }
  }
  assert.ok(entries.length > 10, "the library has function symbols");
  const tableAt = Math.ceil(lib.length / 8) * 8;
  const stringsAt = tableAt + count * 24;
  const out = new Uint8Array(stringsAt + long + 2);
  out.set(lib);
  const v = new DataView(out.buffer);
  for (let i = 1; i < count; i++) {
    out.set(entries[i % entries.length], tableAt + i * 24);
    v.setUint32(tableAt + i * 24, 1 + (staggered ? i % long : 0), true);
  }
  out.fill(0x41, stringsAt + 1, stringsAt + 1 + long);
  v.setBigUint64(symtab.at + 0x18, BigInt(tableAt), true);
  v.setBigUint64(symtab.at + 0x20, BigInt(count * 24), true);
  v.setBigUint64(strtab.at + 0x18, BigInt(stringsAt), true);
  v.setBigUint64(strtab.at + 0x20, BigInt(long + 2), true);
  return out;
}

const CAPPED = `${"A".repeat(MAX_NAME)}…`;

Deno.test({
  name:
    "readElfSymbols() decodes each name once, at most 4 KiB of it, however many symbols name it",
  ignore: !ELF64_LE,
  fn() {
    const lib = Deno.readFileSync(LIB);
    const count = 4000;
    const same: ElfWork = { nameBytes: 0 };
    const one = readElfSymbols(longNames(lib, count, 200_000), same);
    assert.ok(one);
    assert.equal(one.functions.length, count - 1);
    for (const fn of one.functions) assert.equal(fn.name, CAPPED);
    assert.equal(same.nameBytes, MAX_NAME, "one offset, read once");

    const staggered: ElfWork = { nameBytes: 0 };
    const each = readElfSymbols(
      longNames(lib, count, 200_000, true),
      staggered,
    );
    assert.ok(each);
    for (const fn of each.functions) assert.equal(fn.name, CAPPED);
    assert.ok(
      staggered.nameBytes <= (count - 1) * MAX_NAME,
      `${staggered.nameBytes} bytes read for ${count - 1} names`,
    );
    // Nothing is read before a name is asked for.
    const lazy: ElfWork = { nameBytes: 0 };
    readElfSymbols(longNames(lib, count, 200_000, true), lazy);
    assert.equal(lazy.nameBytes, 0);
    // A short name stays whole.
    const real = readElfSymbols(lib);
    assert.ok(real?.functions.some((f) => f.name === "static_keys_init"));
  },
});

Deno.test({
  name: "readElfSymbols() keeps at most MAX_FUNCTIONS function symbols",
  ignore: !ELF64_LE,
  fn() {
    const lib = Deno.readFileSync(LIB);
    const elf = readElfSymbols(longNames(lib, MAX_FUNCTIONS + 1000, 16));
    assert.ok(elf);
    assert.equal(elf.functions.length, MAX_FUNCTIONS);
  },
});

Deno.test({
  name:
    "cli names sites from a .symtab of 20,000 symbols on one long name, in bounded memory",
  ignore: !ELF64_LE,
  async fn() {
    // tests/sites_lib.c: the "verbose" site is in a static function, which
    // only the file's .symtab names.
    const path = `${SCRATCH}/liblongnames.so`;
    const sitesLib = `${ROOT}/build/tests/libsk_sites.so`;
    await write(path, longNames(Deno.readFileSync(sitesLib), 20_000, 100_000));
    // Decoding the name per symbol took 2 GB here (20,000 x 100 KB).
    const run = await runDeno([
      "--v8-flags=--max-old-space-size=128",
      `--allow-ffi=${path}`,
      `--allow-read=${path}`,
      CLI,
      "--json",
      path,
    ]);
    assert.equal(run.code, EXIT.ok, run.stderr);
    const sites = JSON.parse(run.stdout).sites as {
      key: string;
      function?: string;
    }[];
    assert.deepEqual(sites.map((s) => s.key).sort(), ["fast", "verbose"]);
    const verbose = sites.find((s) => s.key === "verbose");
    assert.equal(verbose?.function, CAPPED);
  },
});

/** A small seeded generator (xorshift32), so a failure repeats. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

Deno.test({
  name:
    "readElfSymbols() and elfShortfall() never throw on 2,000 mutated copies",
  ignore: !ELF64_LE,
  fn: mutatedCopies,
});

function mutatedCopies(): void {
  const lib = Deno.readFileSync(LIB);
  const next = random(0x5eed);
  const regions: [number, number][] = [[0, 64], [64, 64 + 13 * 56]];
  const headers = sections(lib);
  const shoff = headers[0].at;
  regions.push([shoff, lib.length]);
  const symtab = headers.find((s) => s.type === 2 || s.type === 11);
  if (symtab) regions.push([symtab.offset, symtab.offset + symtab.size]);
  let parsed = 0;
  for (let i = 0; i < 2000; i++) {
    const cut = mutate(lib, next, regions, 8);
    const elf = readElfSymbols(cut);
    if (elf) {
      parsed++;
      for (const fn of elf.functions.slice(0, 50)) {
        assert.ok(fn.name.length <= MAX_NAME + 1);
      }
    }
    const why = elfShortfall(
      (offset, length) => cut.subarray(offset, offset + length),
      cut.length,
    );
    assert.ok(why === undefined || typeof why === "string");
  }
  assert.ok(parsed > 100, `${parsed} of 2,000 copies still parse`);
}

/**
 * A copy of `lib` with 1 to `most` random bytes of `regions` changed, cut
 * short at a random length one time in four.
 */
function mutate(
  lib: Uint8Array,
  next: () => number,
  regions: [number, number][],
  most: number,
): Uint8Array {
  const copy = lib.slice();
  const flips = 1 + next() % most;
  for (let f = 0; f < flips; f++) {
    const [lo, hi] = regions[next() % regions.length];
    copy[lo + next() % (hi - lo)] = next() & 0xff;
  }
  return next() % 4 === 0 ? copy.subarray(0, next() % copy.length) : copy;
}

/**
 * The exit codes cli.ts documents for a library it cannot list: 1 (the
 * loader refused it), 4 (not a static-keys library, or cut short); 0 when
 * the change did not matter.
 */
const MUTANT_EXITS: readonly number[] = [EXIT.ok, EXIT.failed, EXIT.noAbi];

Deno.test({
  name:
    "cli on 30 seeded mutated copies: a documented exit code, never a signal",
  ignore: !ELF64_LE,
  async fn() {
    const lib = Deno.readFileSync(LIB);
    const next = random(0xc11);
    const headers = sections(lib);
    // The ELF header, the program headers (what the loader reads first),
    // and the section header table; a quarter are also cut short.
    const regions: [number, number][] = [
      [0, 64],
      [64, 64 + 13 * 56],
      [headers[0].at, lib.length],
    ];
    const seen = new Map<number, number>();
    const copies: Uint8Array[] = [];
    for (let i = 0; i < 30; i++) copies.push(mutate(lib, next, regions, 4));
    await writeAll(
      copies.map((_, i) => `${SCRATCH}/libmutant-${i}.so`),
      copies,
    );
    for (const [i, cut] of copies.entries()) {
      const path = `${SCRATCH}/libmutant-${i}.so`;
      const run = await runDeno([
        `--allow-ffi=${path}`,
        `--allow-read=${path}`,
        CLI,
        "--json",
        path,
      ]);
      const what = `copy ${i} (${cut.length} bytes): ${run.stderr}`;
      assert.equal(run.signal, null, `no signal ended it: ${what}`);
      assert.ok(MUTANT_EXITS.includes(run.code), `exit ${run.code}: ${what}`);
      seen.set(run.code, (seen.get(run.code) ?? 0) + 1);
    }
    assert.ok(
      (seen.get(EXIT.noAbi) ?? 0) + (seen.get(EXIT.failed) ?? 0) > 0,
      `some copies are refused: ${JSON.stringify([...seen])}`,
    );
  },
});

Deno.test({
  name:
    "cli and open() refuse a library cut short before loading it (no SIGBUS)",
  ignore: Deno.build.os !== "linux",
  async fn(t) {
    const lib = Deno.readFileSync(LIB);
    const segment = `${SCRATCH}/libcut-segment.so`;
    const headers = `${SCRATCH}/libcut-headers.so`;
    // Inside the code segment; and after every segment, in the section
    // header table at the end.
    await write(segment, lib.subarray(0, Math.floor(lib.length / 2)));
    await write(headers, lib.subarray(0, lib.length - 64));
    const rows: [string, string, RegExp][] = [
      [
        "cut inside a loadable segment",
        segment,
        /its loadable segment \d+ ends at byte \d+, past the end of the file/,
      ],
      [
        "cut inside the section headers",
        headers,
        /its section header table ends at byte \d+, past the end of the file/,
      ],
    ];
    for (const [what, path, why] of rows) {
      await t.step(`cli: ${what}`, async () => {
        const run = await runDeno([
          `--allow-ffi=${path}`,
          `--allow-read=${path}`,
          CLI,
          path,
        ]);
        assert.equal(run.signal, null, "no signal ended it");
        assert.equal(run.code, EXIT.noAbi, run.stderr);
        assert.match(
          run.stderr,
          new RegExp(
            `^Cannot open "${path}": the file is cut short or corrupt, ` +
              `loading it would crash the process: ${why.source} ` +
              `\\(the file has \\d+ bytes\\): build or copy it again\\n$`,
          ),
        );
      });
      await t.step(`cli without --allow-read: ${what}`, async () => {
        const run = await runDeno([`--allow-ffi=${path}`, CLI, path]);
        assert.equal(run.signal, null, "no signal ended it");
        assert.equal(run.code, EXIT.failed, run.stderr);
        assert.match(
          run.stderr,
          new RegExp(
            `^Cannot open "${path}": the command line checks the file ` +
              `before loading it .* needs --allow-read=${path} for that`,
          ),
        );
      });
      await t.step(`open(): ${what}`, async () => {
        const { result } = await runOpen(
          [`--allow-ffi=${path}`, `--allow-read=${path}`],
          [path],
        );
        assert.equal(result.name, "MalformedLibraryError");
        assert.equal(result.code, -9);
        assert.equal(result.path, path);
        assert.match(result.message, why);
      });
    }
    await t.step("the whole library opens", async () => {
      const { result } = await runOpen(
        [`--allow-ffi=${LIB}`, `--allow-read=${LIB}`],
        [LIB],
      );
      assert.deepEqual(result, { name: "opened", message: LIB });
    });
  },
});
