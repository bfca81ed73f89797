// SPDX-License-Identifier: MIT
// README's "What the suite proves" block shows the figures the suite
// printed in its last run (build/figures.json, written by deno task test
// from ctest's log), never numbers typed by hand; and the parsing behind it
// sums figure lines by name over the tests that passed.

import assert from "node:assert/strict";
import {
  type Figure,
  type FiguresFile,
  parseBlock,
  parseCTestLog,
  readmeBlock,
  replaceBlock,
} from "../scripts/_figures.ts";

const ROOT = new URL("../", import.meta.url);
const README = new URL("README.md", ROOT);
const FIGURES = new URL("build/figures.json", ROOT);

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

Deno.test("readmeBlock() reads back through parseBlock()", () => {
  const figures: Figure[] = [
    { name: "flips survived under threads", value: 100000, tests: { t: 1 } },
    { name: "random operations checked", value: 7, tests: { m: 7 } },
  ];
  const readme = replaceBlock(
    "# x\n\n<!-- figures:begin (deno task figures writes this block from the last deno task test) -->\nold\n<!-- figures:end -->\ntail\n",
    readmeBlock(figures),
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
      ? "README's figures are the numbers the last deno task test printed"
      : "README's figures are the ones the last deno task test printed (names; numbers with STATIC_KEYS_TARGETS=all)")
    : "README's figures are the numbers the last deno task test printed " +
      "(skipped: no build/figures.json; deno task test writes it)",
  ignore: run === null,
  fn() {
    const shown = parseBlock(Deno.readTextFileSync(README));
    assert.ok(shown, "README.md has no figures block: run deno task figures");
    const printed = new Map(run!.figures.map((f) => [f.name, f.value]));
    for (const { name, value } of shown) {
      assert.ok(
        printed.has(name),
        `README shows the figure "${name}", which the last run did not print: run deno task figures`,
      );
      if (!strict) continue; // numbers are this machine's: checked in CI
      assert.equal(
        value,
        printed.get(name),
        `README shows ${value} for "${name}", the last run printed ${
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
      `the last run printed figures README does not show: run deno task figures`,
    );
  },
});
