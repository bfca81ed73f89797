// SPDX-License-Identifier: MIT
// deno task test reads ctest's and deno test's own reports: the counts in
// the closing line, and the names of what failed, which it repeats next to
// that line (CI keeps only the tail of a long run). The samples are the
// formats ctest 3.25 and deno 2 print.

import assert from "node:assert/strict";
import {
  ctestCounts,
  ctestFailures,
  denoCounts,
  denoFailures,
} from "../scripts/_results.ts";

const CTEST_FAILED = [
  "4/4 Test #4: slow .............................***Timeout   1.00 sec",
  "",
  "50% tests passed, 2 tests failed out of 4",
  "",
  "Total Test time (real) =   1.03 sec",
  "",
  "The following tests did not run:",
  "\t  3 - skip (Skipped)",
  "",
  "The following tests FAILED:",
  "\t  2 - bad (Failed)",
  "\t  4 - slow (Timeout)",
  "Errors while running CTest",
].join("\n");

const CTEST_PASSED = [
  "100% tests passed, 0 tests failed out of 3",
  "",
  "The following tests did not run:",
  "\t  3 - skip (Skipped)",
].join("\n");

const DENO_FAILED = [
  " FAILURES ",
  "",
  "bad one => ./a_test.ts:2:6",
  "steps ... inner bad => ./a_test.ts:3:43",
  "",
  "FAILED | 1 passed | 2 failed (1 step) (72ms)",
  "",
  "error: Test failed",
].join("\n");

Deno.test("ctest: skipped tests are not counted as passed", () => {
  assert.deepEqual(ctestCounts(CTEST_FAILED, 8), [1, 2, 1]);
  assert.deepEqual(ctestCounts(CTEST_PASSED, 0), [2, 0, 1]);
});

Deno.test("ctest: no summary, or a failing exit code, is a failure", () => {
  assert.deepEqual(ctestCounts("Segmentation fault", 139), [0, 1, 0]);
  assert.deepEqual(ctestCounts(CTEST_PASSED, 8), [2, 1, 1]);
});

Deno.test("ctest: the failed tests are named with their reason", () => {
  assert.deepEqual(ctestFailures(CTEST_FAILED), [
    "bad (Failed)",
    "slow (Timeout)",
  ]);
  assert.deepEqual(ctestFailures(CTEST_PASSED), []);
});

Deno.test("deno test: steps count, the failed tests are named", () => {
  assert.deepEqual(denoCounts(DENO_FAILED, 1), [1, 3, 0]);
  assert.deepEqual(denoFailures(DENO_FAILED), [
    "bad one => ./a_test.ts:2:6",
    "steps ... inner bad => ./a_test.ts:3:43",
  ]);
  assert.deepEqual(denoCounts("ok | 5 passed | 0 failed (1s)", 0), [5, 0, 0]);
  assert.deepEqual(denoFailures("ok | 5 passed | 0 failed (1s)"), []);
});

Deno.test("deno test: no closing line is a failure", () => {
  assert.deepEqual(denoCounts("error: Module not found", 1), [0, 1, 0]);
});
