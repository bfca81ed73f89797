// SPDX-License-Identifier: MIT
// Every program block of README.md is type-checked or compiled, so the
// README cannot show code that does not build. How a block is checked
// follows from its info string (see docs/design.md, "README code blocks"):
//
//   ```ts            type-checked by `deno check --doc-only README.md`, which
//                    resolves "@static-keys/deno" (and its other exports) to
//                    this repository through deno.json; a block imports what
//                    it uses. `ignore` is refused: nothing may go unchecked.
//   ```c             a translation unit, compiled as is by cc against
//                    native/include (C11 + GNU extensions, -Wall -Wextra
//                    -Werror, unused things allowed)
//   ```c fragment    statements: compiled as the body of a function placed
//                    after the README's previous complete ```c block, whose
//                    declarations it uses
//   ```cpp           the same as c, compiled by c++ (also with `fragment`)
//
// Blocks of other languages (sh, cmake, ...) are shown, not compiled.

import assert from "node:assert/strict";
import { type Block, blocks, section } from "./_markdown.ts";
import * as runtime from "../mod.ts";
import * as fleet from "../fleet.ts";
import * as builder from "../build.ts";

const root = new URL("..", import.meta.url).pathname;
const README = "README.md";
const readme = blocks(Deno.readTextFileSync(`${root}${README}`));

const TS = ["ts", "typescript"];
/** Compiled languages: the compiler and its flags. */
const COMPILED: Record<string, { cc: string; flags: string[] }> = {
  c: { cc: "cc", flags: ["-std=gnu11", "-x", "c"] },
  cpp: { cc: "c++", flags: ["-std=gnu++17", "-x", "c++"] },
  "c++": { cc: "c++", flags: ["-std=gnu++17", "-x", "c++"] },
};
const ATTRIBUTES = ["fragment"];

Deno.test("README.md shows TypeScript and C blocks, with known attributes", () => {
  assert.ok(readme.some((b) => TS.includes(b.lang)), "no ts block found");
  assert.ok(readme.some((b) => b.lang === "c"), "no c block found");
  for (const block of readme) {
    if (TS.includes(block.lang)) {
      assert.deepEqual(
        block.attrs,
        [],
        `${README}:${block.line}: a ts block is type-checked whole; remove "${
          block.attrs.join(" ")
        }"`,
      );
    } else if (block.lang in COMPILED) {
      const unknown = block.attrs.filter((a) => !ATTRIBUTES.includes(a));
      assert.deepEqual(
        unknown,
        [],
        `${README}:${block.line}: unknown attribute, the known ones are ${
          ATTRIBUTES.join(", ")
        }`,
      );
    }
  }
});

Deno.test("README.md's TypeScript blocks type-check against mod.ts", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--doc-only", README],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const text = new TextDecoder();
  const output = text.decode(out.stdout) + text.decode(out.stderr);
  assert.equal(out.code, 0, `deno check --doc-only ${README}:\n${output}`);
});

/** The source cc sees for `block`: a fragment goes inside a function. */
function source(block: Block, context: Block | undefined): string {
  const at = (line: number) => `#line ${line} "${README}"\n`;
  if (!block.attrs.includes("fragment")) return at(block.line + 1) + block.code;
  assert.ok(
    context,
    `${README}:${block.line}: a fragment needs a complete ${block.lang} block before it`,
  );
  return `${at(context.line + 1)}${context.code}\n` +
    `void readme_fragment_${block.line}(void)\n{\n` +
    `${at(block.line + 1)}${block.code}\n}\n`;
}

Deno.test("README.md's C blocks compile against native/include", async (t) => {
  const context: Record<string, Block> = {};
  for (const block of readme) {
    const compiler = COMPILED[block.lang];
    if (!compiler) continue;
    const code = source(block, context[block.lang]);
    if (!block.attrs.includes("fragment")) context[block.lang] = block;
    const name = `${README}:${block.line} (${
      [block.lang, ...block.attrs].join(" ")
    })`;
    await t.step(name, async () => {
      const run = Deno.permissions.querySync({
        name: "run",
        command: compiler.cc,
      });
      assert.equal(
        run.state,
        "granted",
        `Cannot compile the README's ${block.lang} blocks: run the tests with --allow-run=${compiler.cc}`,
      );
      const child = new Deno.Command(compiler.cc, {
        args: [
          ...compiler.flags,
          "-Wall",
          "-Wextra",
          "-Werror",
          "-Wno-unused",
          "-O2",
          "-fPIC",
          `-I${root}native/include`,
          `-I${root}`,
          "-c",
          "-o",
          "/dev/null",
          "-",
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(code));
      await writer.close();
      const out = await child.output();
      const errors = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, `${compiler.cc} says:\n${errors}`);
    });
  }
});

Deno.test("README's error table names every error class the package exports, and only those", () => {
  const exported = new Set<string>();
  for (const entry of [runtime, fleet, builder]) {
    for (const [name, value] of Object.entries(entry)) {
      if (typeof value === "function" && value.prototype instanceof Error) {
        exported.add(name);
      }
    }
  }
  const table = section(Deno.readTextFileSync(`${root}${README}`), "## Errors")
    .split("\n").map((line) => line.match(/^\|\s*`(\w+)`\s*\|/)?.[1])
    .filter((name): name is string => name !== undefined);
  assert.deepEqual(
    [...table].sort(),
    [...exported].sort(),
    "README's Errors table: one row per exported error class",
  );
  assert.equal(new Set(table).size, table.length, "a class listed twice");
});

Deno.test("README's Security section says what the cache checks, what it does not, and links docs/security.md", () => {
  const text = section(
    Deno.readTextFileSync(`${root}${README}`),
    "## Security",
  );
  for (
    const said of [
      "SHA-256",
      "size",
      "owned by you",
      "writable\nby no one else",
      "Before `Deno.dlopen`",
      "`open(path)`",
      "`STATIC_KEYS_LIB`",
      "a clone's\n`build/lib/`",
      "the folders above the cache root",
      "on Windows",
      "[docs/security.md](docs/security.md)",
    ]
  ) {
    assert.ok(
      text.replaceAll("\n", " ").includes(said.replaceAll("\n", " ")),
      `README's Security section says ${JSON.stringify(said)}`,
    );
  }
});
