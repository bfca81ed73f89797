// SPDX-License-Identifier: MIT
// Docs that are true: no file of the repository cites a Markdown document
// or links to a path that the repository does not hold, and the license
// deno.json names is there.

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
