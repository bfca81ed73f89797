// SPDX-License-Identifier: MIT
// "Did you mean" is bounded: an unknown name of any length is rejected with
// a short, clear message, and the suggestion work never grows with it.

import assert from "node:assert/strict";
import { UnknownKeyError } from "../mod.ts";
import { closest, distance, unknownKey } from "../src/runtime/_errors.ts";
import { INITIAL, openDemo } from "./_helpers.ts";

const KEYS = Object.keys(INITIAL);

Deno.test("distance() keeps its answers", () => {
  const rows: [string, string, number][] = [
    ["tarce", "trace", 1],
    ["tracing", "tracing", 0],
    ["", "abc", 3],
    ["kitten", "sitting", 3],
  ];
  for (const [a, b, d] of rows) {
    assert.equal(distance(a, b), d);
    assert.equal(distance(a, b, 1), Math.min(d, 2));
  }
});

Deno.test("distance() computes no cell when the lengths are too far apart", () => {
  const work = { cells: 0 };
  assert.equal(distance("x".repeat(1_000_000), "trace", 2, work), 3);
  assert.equal(work.cells, 0);
});

Deno.test("distance() computes only the band around the diagonal", () => {
  const work = { cells: 0 };
  const a = "abcdefghijklmnopqrst";
  const b = "abcdefghijklmnopqrsu";
  assert.equal(distance(a, b, 2, work), 1);
  assert.ok(work.cells <= a.length * 5, `${work.cells} cells`); // 2 * 2 + 1 wide
  assert.ok(work.cells < a.length * b.length);
});

Deno.test("closest() compares a name far longer than every key with none", () => {
  let compared = 0;
  const names = new Proxy(KEYS, {
    get(target, prop, receiver) {
      if (prop === "map") compared++;
      return Reflect.get(target, prop, receiver);
    },
  });
  assert.deepEqual(closest("t".repeat(1_000_000), names), []);
  assert.equal(compared, 0);
  assert.deepEqual(closest("tarcing", names), ["tracing"]);
  assert.equal(compared, 1);
});

Deno.test("unknownKey() cuts a long name short in its message", () => {
  const error = unknownKey("q".repeat(100), "/x/lib.so", ["trace"]);
  assert.equal(
    error.message,
    `Cannot find key "${
      "q".repeat(32)
    }..." (100 characters) in "/x/lib.so": the keys are "trace"`,
  );
  assert.equal(error.key.length, 100);
});

Deno.test("StaticKeysModule.key() rejects a 1,000,000-character name clearly", () => {
  using mod = openDemo();
  const name = "tracing".repeat(142_858).slice(0, 1_000_000);
  assert.throws(() => mod.key(name), (error: unknown) => {
    assert.ok(error instanceof UnknownKeyError);
    assert.equal(error.code, -2);
    assert.equal(error.key, name);
    assert.deepEqual(error.suggestions, []);
    assert.equal(
      error.message,
      `Cannot find key "${
        name.slice(0, 32)
      }..." (1000000 characters) in "${mod.path}": the keys are "audit", "checks", "experimental", "tracing"`,
    );
    return true;
  });
});
