// SPDX-License-Identifier: MIT
// What JSR publishes stands on its own: every link and image of the
// published Markdown (and of Markdown links in published TypeScript)
// resolves to a file of the publish set (`deno publish --dry-run`), not
// merely of the repository; and every @example of the published
// TypeScript runs under `deno test --doc` (none is marked ignore).

import assert from "node:assert/strict";
import { publishedFiles } from "../scripts/_publish.ts";

const ROOT = new URL("..", import.meta.url);
const published = await publishedFiles(ROOT);

function dirname(path: string): string {
  return path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "";
}

/** `target` relative to `file`, normalised; undefined when it leaves the root. */
function resolve(file: string, target: string): string | undefined {
  const parts: string[] = [];
  for (const part of `${dirname(file)}${target}`.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.pop() === undefined) return undefined;
    } else parts.push(part);
  }
  return parts.join("/");
}

/** The link and image targets of Markdown text, with their line. */
export function targets(text: string): { target: string; line: number }[] {
  const found: { target: string; line: number }[] = [];
  const patterns = [
    // [x](t), ![x](t), [x](<t with spaces> "title")
    /!?\[[^\]]*\]\(\s*(?:<([^>]+)>|([^)\s]+))(?:\s+"[^"]*")?\s*\)/g,
    /^\s*\[[^\]]+\]:\s*(?:<([^>]+)>|(\S+))/gm, // [x]: t
    /<(?:img|a|source)\b[^>]*?\b(?:src|href|srcset)="([^"]+)"/g, // HTML
  ];
  for (const re of patterns) {
    for (const m of text.matchAll(re)) {
      found.push({
        target: m[1] ?? m[2],
        line: text.slice(0, m.index).split("\n").length,
      });
    }
  }
  return found;
}

/** Whether `target` (relative to `file`) is a file or folder published. */
function isPublished(file: string, target: string): boolean {
  const path = resolve(file, decodeURIComponent(target.replace(/[#?].*$/, "")));
  if (path === undefined) return false;
  if (path === "") return true; // the package root
  return published.includes(path) ||
    published.some((f) => f.startsWith(`${path.replace(/\/$/, "")}/`));
}

Deno.test("every link and image of the published files resolves inside the publish set", () => {
  const broken: string[] = [];
  for (const file of published.filter((f) => /\.(md|ts)$/.test(f))) {
    const text = Deno.readTextFileSync(new URL(file, ROOT));
    for (const { target, line } of targets(text)) {
      if (/^([a-z][a-z0-9+.-]*:|#|\/\/)/i.test(target)) continue; // URLs, anchors
      if (file.endsWith(".ts") && !/\.(md|svg|png|jpe?g|gif)$/i.test(target)) {
        continue; // code that merely looks like a link
      }
      if (!isPublished(file, target)) broken.push(`${file}:${line}: ${target}`);
    }
  }
  assert.deepEqual(
    broken,
    [],
    "linked but not published: publish the file (deno.json publish.include) or link to a published one",
  );
});

Deno.test("targets() finds Markdown links, images, references and HTML", () => {
  assert.deepEqual(
    targets(
      "a [x](docs/a.txt#h) b\n![c](img/c.svg)\n[r]: ./r.txt\n" +
        '<img src="i.png"> [u](https://x.y) [s](<sp ace.txt> "t")\n',
    ).map((t) => `${t.line}:${t.target}`).sort(),
    [
      "1:docs/a.txt#h",
      "2:img/c.svg",
      "3:./r.txt",
      "4:https://x.y",
      "4:i.png",
      "4:sp ace.txt",
    ]
      .sort(),
  );
  assert.equal(resolve("docs/a.txt", "../bench/c.svg"), "bench/c.svg");
  assert.equal(resolve("README.md", "../x"), undefined);
});

Deno.test("every @example of the published TypeScript runs: none is marked ignore", () => {
  const ignored: string[] = [];
  for (const file of published.filter((f) => f.endsWith(".ts"))) {
    const lines = Deno.readTextFileSync(new URL(file, ROOT)).split("\n");
    lines.forEach((line, i) => {
      if (/^\s*\*?\s*```(ts|js|tsx|typescript)\b.*\bignore\b/.test(line)) {
        ignored.push(`${file}:${i + 1}`);
      }
    });
  }
  assert.deepEqual(ignored, []);
});
