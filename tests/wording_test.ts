// SPDX-License-Identifier: MIT
// README, CONTRIBUTING and docs/ speak about the product, for its readers:
// never about how its work was organised (issue numbers, goals, plans) or
// where its authors measured it ("here", "our machines", "the development
// machine"). A reader of the published package sees none of that context.

import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url);

/** [what it is, the pattern that finds it]. */
export const PROCESS_WORDS: readonly [string, RegExp][] = [
  ["an issue number", /\bissues?\s*#?\s*\d+/i],
  ["an issue reference", /\bissues?\s+#/i],
  ["a goal", /\bgoals?\b/i],
  [
    "the authors' machines",
    /\bour\s+(?:own\s+|build\s+|development\s+|test\s+|CI\s+)?(?:machines?|servers?|boxes|runners?|team)\b/i,
  ],
  ["the development machine", /\bdevelopment machines?\b/i],
  // The authors' voice and their timeline: "more than ours", "in one
  // session", "until this release".
  ['"ours"', /\bours\b/i],
  ["a working session", /\b(?:one|this|that|the same) session\b/i],
  [
    "a release of the project",
    /\b(?:this|the last|the next|an earlier) release\b/i,
  ],
  // "here" closing a clause or a parenthesis is where a figure was taken:
  // "(13 µs here)", "took 5 ms here,", "not run here".
  ['"here" for where it was measured', /\bhere\s*[),;.]|\bnot run here\b/i],
  [
    "the team's shared folder",
    /\/work\/shared\b|\bshared\/(?:DESIGN|STYLE)\b/i,
  ],
];

/** The Markdown files written for readers: README, CONTRIBUTING, docs/. */
function documents(): string[] {
  const files = ["README.md", "CONTRIBUTING.md"];
  for (const entry of Deno.readDirSync(new URL("docs/", ROOT))) {
    if (entry.isFile && entry.name.endsWith(".md")) {
      files.push(`docs/${entry.name}`);
    }
  }
  return files.sort();
}

/** Every `file:line: what: "text"` of `text` that a pattern finds. */
export function processWords(file: string, text: string): string[] {
  const found: string[] = [];
  text.split("\n").forEach((line, i) => {
    for (const [what, pattern] of PROCESS_WORDS) {
      const m = line.match(pattern);
      if (m) found.push(`${file}:${i + 1}: ${what}: "${m[0]}"`);
    }
  });
  return found;
}

Deno.test("README, CONTRIBUTING and docs/ do not speak of the project's process", () => {
  const found = documents().flatMap((file) =>
    processWords(file, Deno.readTextFileSync(new URL(file, ROOT)))
  );
  assert.deepEqual(
    found,
    [],
    "write for the package's readers: name the machine a figure comes from, " +
      "say what the code does rather than what was planned",
  );
});

Deno.test("processWords() finds process words and leaves plain prose alone", () => {
  const flagged = [
    "Goals of issue 11:",
    "crate 0.8.1 (quoted from issue #11)",
    "see issues 10 and 13",
    "our build machines reach npm",
    "measured on the development machine",
    "about 10 µs per flip here, against 13 µs",
    "(13.1 here)",
    "the crate itself cannot be built here)",
    "the 500× goal",
    `read ${["", "work", "shared", "DESIGN"].join("/")}.txt`,
    "grows with the machine's load more than ours",
    "both builds in one session",
    "Until this release `remap` copied",
  ];
  for (const line of flagged) {
    assert.equal(processWords("sample", line).length > 0, true, line);
  }
  const plain = [
    "Here is how to build it:",
    "where the code runs (here: the library's text)",
    "an issue with the loader",
    "Pass it to `open()` here and there",
    "our CMake setup builds with hidden visibility",
    "the ISSUE field",
    "the hours it ran",
    "a NATS session token",
    "the login session of the service",
    "the release build (-DCMAKE_BUILD_TYPE=Release)",
    "the pourquoi",
  ];
  for (const line of plain) {
    assert.deepEqual(processWords("sample", line), [], line);
  }
});
