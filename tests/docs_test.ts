// SPDX-License-Identifier: MIT
// Docs that are true: no file of the repository cites a Markdown document
// or links to a path that the repository does not hold, and the license
// deno.json names is there; the error texts docs/ quotes are the ones
// native/ writes.

import assert from "node:assert/strict";

const root = new URL("..", import.meta.url).pathname;

/** Directories that hold no sources of ours. */
const SKIP = /^(build($|-)|\.git$|node_modules$)/;

/** Every file of the repository, as paths relative to its root. */
function files(dir = ""): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(`${root}${dir}`)) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory && !SKIP.test(entry.name)) {
      out.push(...files(`${path}/`));
    } else if (entry.isFile) out.push(path);
  }
  return out.sort();
}

function exists(path: string): boolean {
  try {
    Deno.statSync(`${root}${path}`);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

function dirname(path: string): string {
  return path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "";
}

const all = files();
const TEXT =
  /\.(c|h|ts|md|cmake|txt|sh|json|in|ld)$|(^|\/)(CMakeLists\.txt|run)$/;

Deno.test("no file cites a Markdown document the repository does not hold", () => {
  const names = new Set(all.map((f) => f.slice(f.lastIndexOf("/") + 1)));
  const missing: string[] = [];
  for (const file of all.filter((f) => TEXT.test(f))) {
    const text = Deno.readTextFileSync(`${root}${file}`);
    for (const m of text.matchAll(/(?<![\w:/.-])([\w./-]*[\w-]+\.md)\b/g)) {
      const cited = m[1];
      if (cited.startsWith("build/")) continue; // a build output, not a doc
      const found = cited.includes("/")
        ? exists(cited) || exists(`${dirname(file)}${cited}`)
        : names.has(cited);
      if (!found) {
        const line = text.slice(0, m.index).split("\n").length;
        missing.push(`${file}:${line}: ${cited}`);
      }
    }
  }
  assert.deepEqual(missing, [], "cited but not in the repository");
});

Deno.test("Markdown links point at files the repository holds", () => {
  const broken: string[] = [];
  for (const file of all.filter((f) => f.endsWith(".md"))) {
    const text = Deno.readTextFileSync(`${root}${file}`);
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1].replace(/#.*$/, "");
      if (!target || /^[a-z]+:/i.test(target)) continue; // anchors, URLs
      if (!exists(`${dirname(file)}${target}`)) {
        broken.push(`${file}: ${m[1]}`);
      }
    }
  }
  assert.deepEqual(broken, []);
});

Deno.test("the license deno.json names is in LICENSE", () => {
  const config = JSON.parse(Deno.readTextFileSync(`${root}deno.json`));
  assert.equal(config.license, "MIT");
  const license = Deno.readTextFileSync(`${root}LICENSE`);
  assert.match(license, /^MIT License\n/);
  assert.match(
    license,
    /Copyright \(c\) 2026 the static-keys for Deno authors/,
  );
});

/**
 * The string literals of each `err_str(...)` call in `body`, in order (a call
 * with a `?:` gives its alternatives): the fixed parts of a message.
 */
export function errStrParts(body: string): string[][] {
  const parts: string[][] = [];
  for (const call of body.matchAll(/err_str\(\s*&?eb,([\s\S]*?)\);/g)) {
    // adjacent literals ("a" "b") are one string; a ?: gives alternatives
    const alternatives = [""];
    for (const token of call[1].matchAll(/"((?:[^"\\]|\\.)*)"|([?:])/g)) {
      if (token[2]) alternatives.push("");
      else {alternatives[alternatives.length - 1] += token[1].replace(
          /\\"/g,
          '"',
        );}
    }
    const fixed = alternatives.filter((a) => a !== "");
    if (fixed.length) parts.push(fixed); // err_str(&eb, k->name): no fixed part
  }
  return parts;
}

/** Whether `text` holds one alternative of each part, in order. */
export function holdsInOrder(text: string, parts: string[][]): string | null {
  let at = 0;
  for (const alternatives of parts) {
    const found = alternatives
      .map((a) => ({ a, i: text.indexOf(a, at) }))
      .filter((f) => f.i >= 0)
      .sort((x, y) => x.i - y.i)[0];
    if (!found) return alternatives.join(" | ");
    at = found.i + found.a.length;
  }
  return null;
}

/** The body of C function `name` in `source` (from its name to the next "\n}"). */
function cBody(source: string, name: string): string {
  const start = source.search(new RegExp(`^[a-z].*\\b${name}\\(`, "m"));
  assert.ok(start >= 0, `${name} is defined`);
  return source.slice(start, source.indexOf("\n}", start));
}

Deno.test("docs/reliability.md quotes the disagreeing-site text as native/ writes it", () => {
  const doc = Deno.readTextFileSync(`${root}docs/reliability.md`);
  const example = doc.match(
    /`([^`\n]*disagree with their keys \(the first[^`\n]*)`/,
  );
  assert.ok(example, "the example of sites that disagree is in the table");
  const runs = Deno.readTextFileSync(`${root}native/runs.c`);
  const patchError = cBody(runs, "patch_error");
  // patch_error's text from "no key changed, but" to the end
  const tail = patchError.slice(
    patchError.indexOf("if (bad) {"),
    patchError.indexOf("} else if"),
  );
  const mismatch = cBody(
    Deno.readTextFileSync(`${root}native/site.c`),
    "site_mismatch",
  );
  const at = tail.indexOf("site_mismatch(");
  const parts = [
    ...errStrParts(tail.slice(0, at)),
    ...errStrParts(mismatch),
    ...errStrParts(tail.slice(at)),
  ];
  assert.ok(
    parts.length >= 8,
    `the format's fixed parts are found (${parts.length})`,
  );
  assert.equal(
    holdsInOrder(example[1], parts),
    null,
    `the example: ${example[1]}`,
  );
});

Deno.test("holdsInOrder() finds a format's fixed parts in order, and misses a changed one", () => {
  const parts = errStrParts(
    'err_str(&eb, "the site at ");\nerr_str(&eb, x ? " (jmp, " : " (nop, ");\nerr_str(&eb, " bytes)");',
  );
  assert.deepEqual(parts, [["the site at "], [" (jmp, ", " (nop, "], [
    " bytes)",
  ]]);
  assert.equal(holdsInOrder("the site at 0x1 (nop, 5 bytes)", parts), null);
  assert.equal(
    holdsInOrder("the site at 0x1 (jmp 5 bytes)", parts),
    " (jmp,  |  (nop, ",
  );
  assert.equal(
    holdsInOrder(" bytes) the site at 0x1 (jmp, 5", parts),
    " bytes)",
  );
});
