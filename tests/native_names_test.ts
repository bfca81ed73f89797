// SPDX-License-Identifier: MIT
// The names Deno and the C core share are written once on each side and
// held to each other here: the strategies (STATIC_KEYS_STRATEGY_* in
// static_keys.h, the names in native/strategy.c, STRATEGIES in
// src/runtime/_types.ts) and the stats fields (FFI_STATS in native/ffi.c,
// STATS_FIELD_NAMES in src/runtime/_ffi.ts).

import assert from "node:assert/strict";
import { STRATEGIES } from "../mod.ts";
import { STATS_FIELD_NAMES } from "../src/runtime/_ffi.ts";

const read = (path: string) =>
  Deno.readTextFileSync(new URL(`../${path}`, import.meta.url));

/** STATIC_KEYS_STRATEGY_<NAME> <id> of the public header, by id. */
function headerStrategies(): string[] {
  const ids: string[] = [];
  const header = read("native/include/static_keys.h");
  for (
    const m of header.matchAll(/#define STATIC_KEYS_STRATEGY_(\w+) (\d+)/g)
  ) {
    if (m[1] !== "COUNT") ids[Number(m[2])] = m[1].toLowerCase();
  }
  const count = header.match(/#define STATIC_KEYS_STRATEGY_COUNT (\d+)/);
  assert.ok(count, "static_keys.h defines STATIC_KEYS_STRATEGY_COUNT");
  assert.equal(ids.length, Number(count[1]));
  return ids;
}

Deno.test("STRATEGIES lists static_keys.h's STATIC_KEYS_STRATEGY_* by id", () => {
  assert.deepEqual([...STRATEGIES], headerStrategies());
});

Deno.test("native/strategy.c names every strategy as STRATEGIES does", () => {
  const names: string[] = [];
  const source = read("native/strategy.c");
  for (
    const m of source.matchAll(/\[STATIC_KEYS_STRATEGY_(\w+)\] = "(\w+)"/g)
  ) {
    names[headerStrategies().indexOf(m[1].toLowerCase())] = m[2];
  }
  assert.deepEqual(names, [...STRATEGIES]);
});

Deno.test("STATS_FIELD_NAMES is native/ffi.c's FFI_STATS, in order", () => {
  const source = read("native/ffi.c");
  const table = source.match(/#define FFI_STATS\(X\)((?:\s*\\\s*X\(\w+\))+)/);
  assert.ok(table, "native/ffi.c defines the FFI_STATS table");
  const fields = [...table[1].matchAll(/X\((\w+)\)/g)].map((m) => m[1]);
  assert.deepEqual([...STATS_FIELD_NAMES], fields);
});

Deno.test("every FFI_STATS field is a field of struct static_keys_stats", () => {
  const header = read("native/include/static_keys.h");
  const struct = header.match(/struct static_keys_stats \{([^}]*)\}/);
  assert.ok(struct, "static_keys.h declares struct static_keys_stats");
  const fields = [...struct[1].matchAll(/uint\d+_t (\w+);/g)].map((m) => m[1]);
  assert.deepEqual([...STATS_FIELD_NAMES], fields);
});
