// SPDX-License-Identifier: MIT
// The Deno tests themselves: when they cannot use the package's library,
// they stop with one message that says how to build it or run them.

import assert from "node:assert/strict";
import { LIB, spawn } from "./_helpers.ts";

const root = new URL("..", import.meta.url).pathname;

/** Runs `deno test tests/batch_test.ts` with `flags` and `env`. */
async function denoTest(
  flags: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; output: string }> {
  const out = await spawn(
    Deno.execPath(),
    ["test", "--no-prompt", ...flags, "tests/batch_test.ts"],
    { cwd: root, env },
  );
  return { code: out.code, output: out.stdout + out.stderr };
}

Deno.test("deno test stops with one message when the library is not built", async () => {
  const missing = "/tmp/static-keys-unbuilt/libstatic_keys.so";
  const { code, output } = await denoTest([
    "--allow-env=STATIC_KEYS_LIB",
    `--allow-read=${root},${missing}`,
    `--allow-ffi=${missing}`,
  ], { STATIC_KEYS_LIB: missing });
  assert.notEqual(code, 0);
  assert.ok(
    output.includes(
      `Cannot run the Deno tests: the package's library "${missing}" is not built, build it with "deno task build"`,
    ),
    output,
  );
  assert.doesNotMatch(output, /passed \(|FfiPermissionError/);
});

Deno.test("deno test without permissions names the command that runs the tests", async () => {
  const { code, output } = await denoTest([]);
  assert.notEqual(code, 0);
  assert.ok(
    output.includes(
      `Cannot run the Deno tests without their permissions: run "deno task test" (it builds the library with "deno task build" first), or run: deno test --allow-ffi=${LIB} --allow-read=${root} `,
    ),
    output,
  );
});
