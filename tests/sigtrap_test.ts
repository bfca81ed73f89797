// SPDX-License-Identifier: MIT
// The protocol's SIGTRAP handler and Deno's signal listeners
// (docs/concurrency.md, "One handler per process"): a listener hears
// every SIGTRAP whether it was added before or after flips, also after
// close(); a breakpoint that is no site's ends the process as it would
// without static keys, or reaches the listener; two libraries closed in
// either order leave SIGTRAP working. Each case is a fresh process.

import assert from "node:assert/strict";
import { LIB, runDeno } from "./_helpers.ts";

const built = (name: string) =>
  new URL(`../build/tests/${name}`, import.meta.url).pathname;
/** A second static-keys library (tests/conc_lib.c). */
const SECOND = built("libsk_conc.so");
/** A library without static keys whose function runs int3. */
const INT3 = built("libsk_int3.so");
const FIXTURE = new URL("./fixtures/sigtrap_main.ts", import.meta.url).pathname;
const x86 = Deno.build.os === "linux" && Deno.build.arch === "x86_64";

async function run(steps: string) {
  const libs = [LIB, SECOND, INT3];
  return await runDeno([
    `--allow-ffi=${libs.join(",")}`,
    `--allow-read=${libs.join(",")}`,
    FIXTURE,
    ...libs,
    ...steps.split(" "),
  ]);
}

/** The run ended normally and the listener heard `heard` signals. */
async function hears(steps: string, heard: number) {
  const out = await run(steps);
  assert.equal(out.signal, null, `no crash (${steps}): ${out.stderr}`);
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), { heard });
}

/** The run ended with SIGTRAP's default action (exit code 133). */
async function dies(steps: string) {
  const out = await run(steps);
  assert.equal(out.signal, "SIGTRAP", `${steps}: ${out.stderr}`);
  assert.equal(out.code, 133);
  assert.equal(out.stdout, "");
}

Deno.test({
  name:
    "Deno.addSignalListener() hears SIGTRAP when added before or after flips",
  ignore: !x86,
  async fn(t) {
    const cases: [string, string, number][] = [
      ["before the first flip", "listen flip kill", 1],
      ["after flips", "flip listen kill kill", 2],
      ["after flips, then more flips", "flip listen flip flip kill kill", 2],
      ["after flips, then close()", "flip listen close kill", 1],
      ["then close() and a new open()", "flip listen close flip kill", 1],
    ];
    for (const [what, steps, heard] of cases) {
      await t.step(`added ${what}`, () => hears(steps, heard));
    }
  },
});

Deno.test({
  name: "an int3 that is no site ends the process, or reaches a listener",
  ignore: !x86,
  async fn(t) {
    await t.step(
      "no listener, before a flip: SIGTRAP's default action",
      () => dies("int3"),
    );
    await t.step("no listener, after flips", () => dies("flip int3"));
    await t.step("no listener, after close()", () => dies("flip close int3"));
    await t.step(
      "a listener added before flips hears it",
      () => hears("listen flip int3", 1),
    );
    await t.step(
      "a listener added after flips hears it",
      () => hears("flip listen int3 flip int3", 2),
    );
  },
});

Deno.test({
  name: "two libraries closed in either order leave SIGTRAP working",
  ignore: !x86,
  async fn(t) {
    for (const order of ["close close2", "close2 close"]) {
      await t.step(
        `${order}: the listener hears kill and int3`,
        () => hears(`flip flip2 listen ${order} kill int3`, 2),
      );
      await t.step(
        `${order}: a listener added between the closes`,
        () =>
          hears(
            `flip flip2 ${order.split(" ")[0]} listen flip2 flip ${order} kill`,
            1,
          ),
      );
      await t.step(
        `${order}: no listener, int3 ends the process`,
        () => dies(`flip flip2 ${order} int3`),
      );
    }
  },
});
