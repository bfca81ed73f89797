// SPDX-License-Identifier: MIT
// Init's table checks as Deno meets them: open() of a module whose key
// section holds junk (tests/junk_keys.c, built by CMake next to the tests)
// throws the native refusal instead of crashing the process. The C side
// (tests/tables_test.c) covers the checks one by one and the fuzzing.

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { LIB, runOpen } from "./_helpers.ts";

const JUNK = join(
  dirname(dirname(LIB)),
  "tests",
  Deno.build.os === "windows" ? "libsk_junk_keys.dll" : "libsk_junk_keys.so",
);

Deno.test("open() refuses a module with junk in its key section instead of crashing", async () => {
  const { code, result, stderr } = await runOpen([`--allow-ffi=${JUNK}`], [
    JUNK,
  ]);
  assert.equal(code, 0, `the subprocess died: ${stderr}`);
  assert.equal(result.name, "ModuleInitError");
  assert.equal(result.code, -9);
  assert.match(
    result.message,
    /^Cannot init module: key record 0 at 0x[0-9a-f]+ has a name that is not a string in this module/,
  );
});
