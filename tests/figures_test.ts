// SPDX-License-Identifier: MIT
// Every figure the published and contributor docs show comes from a
// results file, never typed by hand: the performance blocks of README
// (the headline) and docs/performance.md (every strategy) from
// bench/results/latest.json (deno task bench --update), docs/fleet.md's
// block from bench/results/fleet.json (deno task bench:fleet), and
// CONTRIBUTING's "What the suite proves" from the figures the suite printed
// in its last run (build/figures.json, written by deno task test from
// ctest's log); the parsing behind the last sums figure lines by name over
// the tests that passed. deno task figures rewrites them all.

import assert from "node:assert/strict";
import {
  BENCH_BLOCK,
  between,
  type Block,
  type Figure,
  figuresBlock,
  type FiguresFile,
  FLEET_BLOCK,
  markdownText,
  parseBlock,
  parseCTestLog,
  PERFORMANCE_BLOCK,
  replaceBetween,
  replaceBlock,
} from "../scripts/_figures.ts";
import {
  performanceBench,
  readmeBench,
  type Results,
} from "../scripts/_bench_report.ts";
import { fleetBench, type FleetResults } from "../scripts/_fleet_report.ts";

const ROOT = new URL("../", import.meta.url);
const CONTRIBUTING = new URL("CONTRIBUTING.md", ROOT);
const FIGURES = new URL("build/figures.json", ROOT);
const read = (file: string) => Deno.readTextFileSync(new URL(file, ROOT));

/** One test's entry in ctest's LastTest.log. */
function entry(n: number, name: string, output: string, passed: boolean) {
  return [
    `${n}/3 Testing: ${name}`,
    `${n}/3 Test: ${name}`,
    `Command: "/b/tests/${name}"`,
    "Output:",
    "----------------------------------------------------------",
    output,
    "<end of output>",
    "Test time =   0.01 sec",
    "----------------------------------------------------------",
    passed ? "Test Passed." : "Test Failed.",
    "----------------------------------------------------------",
    "",
  ].join("\n");
}

Deno.test("parseCTestLog() sums figures by name over the tests that passed", () => {
  const log = [
    entry(1, "a_test", "figure: faults injected and recovered: 12\nok", true),
    entry(
      2,
      "b_test",
      "noise\nfigure: random operations checked: 500\n" +
        "figure: faults injected and recovered: 30\n",
      true,
    ),
    entry(3, "c_test", "figure: faults injected and recovered: 999", false),
  ].join("");
  assert.deepEqual(parseCTestLog(log), [
    {
      name: "faults injected and recovered",
      value: 42,
      tests: { a_test: 12, b_test: 30 },
    },
    { name: "random operations checked", value: 500, tests: { b_test: 500 } },
  ]);
  assert.deepEqual(parseCTestLog(""), []);
});

Deno.test("figuresBlock() reads back through parseBlock()", () => {
  const figures: Figure[] = [
    { name: "flips survived under threads", value: 100000, tests: { t: 1 } },
    { name: "random operations checked", value: 7, tests: { m: 7 } },
  ];
  const readme = replaceBlock(
    "# x\n\n<!-- figures:begin (deno task figures writes this block from the last deno task test) -->\nold\n<!-- figures:end -->\ntail\n",
    figuresBlock(figures),
  );
  assert.match(readme, /\| flips survived under threads \| 100,000 \| `t` \|/);
  assert.ok(readme.endsWith("<!-- figures:end -->\ntail\n"));
  assert.deepEqual(parseBlock(readme), [
    { name: "flips survived under threads", value: 100000 },
    { name: "random operations checked", value: 7 },
  ]);
  assert.equal(parseBlock("# no block"), null);
  assert.throws(() => replaceBlock("# no block", "x"), /figures:begin/);
});

function lastRun(): FiguresFile | null {
  try {
    return JSON.parse(Deno.readTextFileSync(FIGURES));
  } catch {
    return null;
  }
}

const run = lastRun();
/** Set by deno task test when STATIC_KEYS_TARGETS=all (CI). */
const strict = (() => {
  try {
    return Deno.env.get("STATIC_KEYS_FIGURES_STRICT") === "1";
  } catch {
    return false;
  }
})();
Deno.test({
  name: run
    ? (strict
      ? "CONTRIBUTING's figures are the numbers the last deno task test printed"
      : "CONTRIBUTING's figures are the ones the last deno task test printed (names; numbers with STATIC_KEYS_TARGETS=all)")
    : "CONTRIBUTING's figures are the numbers the last deno task test printed " +
      "(skipped: no build/figures.json; deno task test writes it)",
  ignore: run === null,
  fn() {
    const shown = parseBlock(Deno.readTextFileSync(CONTRIBUTING));
    assert.ok(
      shown,
      "CONTRIBUTING.md has no figures block: run deno task figures",
    );
    const printed = new Map(run!.figures.map((f) => [f.name, f.value]));
    for (const { name, value } of shown) {
      assert.ok(
        printed.has(name),
        `CONTRIBUTING.md shows the figure "${name}", which the last run did not print: run deno task figures`,
      );
      if (!strict) continue; // numbers are this machine's: checked in CI
      assert.equal(
        value,
        printed.get(name),
        `CONTRIBUTING.md shows ${value} for "${name}", the last run printed ${
          printed.get(name)
        }: run deno task figures`,
      );
    }
    const missing = [...printed.keys()].filter((n) =>
      !shown.some((s) => s.name === n)
    );
    assert.deepEqual(
      missing,
      [],
      `the last run printed figures CONTRIBUTING.md does not show: run deno task figures`,
    );
  },
});

/** The block of `block.file`, or a failure naming what to run. */
function shown(block: Block): string {
  const text = between(read(block.file), block);
  assert.ok(
    text !== null,
    `${block.file} has no block "${block.begin}": add it, then run deno task figures`,
  );
  return text;
}

Deno.test("README's and docs/performance.md's figures are bench/results/latest.json's", () => {
  const results: Results = JSON.parse(read("bench/results/latest.json"));
  for (
    const [block, body] of [
      [BENCH_BLOCK, readmeBench(results)],
      [PERFORMANCE_BLOCK, performanceBench(results)],
    ] as const
  ) {
    assert.equal(
      markdownText(shown(block)),
      markdownText(body),
      `${block.file}'s bench block is not what bench/results/latest.json gives: run deno task figures`,
    );
  }
});

Deno.test("docs/fleet.md's figures are bench/results/fleet.json's", () => {
  const results: FleetResults = JSON.parse(read("bench/results/fleet.json"));
  assert.equal(
    markdownText(shown(FLEET_BLOCK)),
    markdownText(fleetBench(results)),
    "docs/fleet.md's fleet block is not what bench/results/fleet.json gives: run deno task figures",
  );
});

Deno.test("replaceBetween() and markdownText(): a block rewritten reads the same, padded or not", () => {
  const block = { file: "notes.txt", begin: "<!-- b -->", end: "<!-- e -->" };
  const text = replaceBetween(
    "# t\n<!-- b -->\nold\n<!-- e -->\n",
    block,
    "| a | b |\n| --- | ---: |",
  );
  assert.equal(
    text,
    "# t\n<!-- b -->\n\n| a | b |\n| --- | ---: |\n\n<!-- e -->\n",
  );
  assert.equal(
    markdownText(between(text, block)!),
    markdownText("|  a  | b |\n| --- | -----: |\n"),
  );
  assert.notEqual(markdownText("| 1.0 |"), markdownText("| 1.5 |"));
  assert.throws(() => replaceBetween("# none", block, "x"), /<!-- b -->/);
});
