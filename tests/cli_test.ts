// SPDX-License-Identifier: MIT
// cli.ts: the table and JSON on the package's library, setting keys in one
// request, exit codes; in a fresh `deno run` for a missing file, a library
// without the ABI, and a user's library with a site in a static function.

import assert from "node:assert/strict";
import { EXIT, main, parseArgs } from "../src/cli/_cli.ts";
import { FLEET_EXIT } from "../src/cli/_fleet.ts";
import { ABI_VERSION } from "../src/runtime/_ffi.ts";
import { INITIAL, LIB, openDemo, runDeno } from "./_helpers.ts";
import { assertNamedAsNm, nmText } from "./_nm.ts";

const TESTS = new URL("../build/tests/", import.meta.url).pathname;
const CLI = new URL("../cli.ts", import.meta.url).pathname;

function capture(args: string[]): { code: number; out: string; err: string } {
  let out = "";
  let err = "";
  const code = main(args, {
    out: (t) => out += t + "\n",
    err: (t) => err += t + "\n",
  });
  if (typeof code !== "number") throw new Error("a library command is sync");
  return { code, out, err };
}

/** Runs cli.ts in a fresh deno with exactly `flags`. */
async function runCli(flags: string[], args: string[]) {
  const run = await runDeno([...flags, CLI, ...args]);
  return { code: run.code, out: run.stdout, err: run.stderr };
}

Deno.test("cli prints every key and every site's function, bytes and instruction", () => {
  using mod = openDemo();
  const { code, out, err } = capture([LIB]);
  assert.equal(code, EXIT.ok, err);
  for (const k of mod.keys) {
    assert.match(
      out,
      new RegExp(`^${k.name} +(on|off) +(on|off) +${k.sites}$`, "m"),
    );
  }
  assert.match(out, /^audit: no code tests this key yet/m);
  for (const s of mod.sites()) {
    const row = new RegExp(
      `^${s.function}\\+0x${s.offset!.toString(16)} +0x${
        s.libraryAddress!.toString(16)
      } +${s.key} +${s.branch} +${s.hex} +${s.instruction}`,
      "m",
    );
    assert.match(out, row);
  }
});

Deno.test("cli --json gives the keys and sites mod.sites() gives", () => {
  using mod = openDemo();
  const { code, out } = capture(["--json", LIB]);
  assert.equal(code, EXIT.ok);
  const json = JSON.parse(out);
  assert.equal(json.library, LIB);
  assert.deepEqual(json.keys, mod.keys);
  const sites = mod.sites();
  assert.equal(json.sites.length, sites.length);
  json.sites.forEach((j: Record<string, unknown>, i: number) => {
    const s = sites[i];
    assert.equal(j.key, s.key);
    assert.equal(j.function, s.function);
    assert.equal(j.offset, s.offset);
    assert.equal(j.address, `0x${s.address.toString(16)}`);
    assert.equal(j.bytes, s.hex);
    assert.equal(j.instruction, s.instruction);
    assert.equal(
      (j.target as Record<string, unknown>).function,
      s.target.function,
    );
  });
});

Deno.test("cli KEY=on|off sets the keys in one request, or none of them", () => {
  using mod = openDemo();
  const set = capture([LIB, "tracing=on", "checks=off"]);
  assert.equal(set.code, EXIT.ok, set.err);
  assert.match(set.out, /^Set tracing=on checks=off in one request: \d+ page/m);
  assert.match(set.out, /^tracing +on +off +2$/m);
  assert.equal(mod.key("tracing").enabled, true); // one library per process
  assert.equal(mod.key("checks").enabled, false);
  assert.equal(mod.stats().requests > 0, true);

  mod.set(INITIAL);
  const flips = mod.stats().flips;
  const bad = capture([LIB, "tracing=on", "tarcing=on"]);
  assert.equal(bad.code, EXIT.unknownKey);
  assert.match(bad.err, /Cannot find key "tarcing".*did you mean "tracing"/);
  assert.equal(mod.key("tracing").enabled, false, "nothing was set");
  assert.equal(mod.stats().flips, flips);
});

Deno.test("cli exits 2 with the usage for bad arguments", async (t) => {
  const rows: [string[], RegExp][] = [
    [[], /without a library/],
    [["--bogus", LIB], /option "--bogus"/],
    [[LIB, "tracing"], /KEY=on or KEY=off/],
    [[LIB, "tracing=maybe"], /KEY=on or KEY=off/],
    [[LIB, "tracing=on", "tracing=off"], /both on and off/],
  ];
  for (const [args, message] of rows) {
    await t.step(args.join(" ") || "(none)", () => {
      const { code, err } = capture(args);
      assert.equal(code, EXIT.usage);
      assert.match(err, message);
      assert.match(err, /^Usage: cli\.ts/m);
    });
  }
  const help = capture(["--help"]);
  assert.equal(help.code, EXIT.ok);
  assert.match(help.out, /^Exit codes: 0 ok/m);
});

Deno.test("parseArgs() reads the library, --json and the changes", () => {
  assert.deepEqual(parseArgs(["--json", "x.so", "a=on", "b=0", "c=TRUE"]), {
    library: "x.so",
    json: true,
    changes: { a: true, b: false, c: true },
  });
  assert.equal(parseArgs(["x.so", "-h"]), "help");
});

Deno.test("cli exits 3 for a missing file and 4 for a library without the ABI, naming the fix", async () => {
  const missing = `${TESTS}no-such-library.so`;
  const r3 = await runCli(
    [`--allow-ffi=${missing}`, `--allow-read=${missing}`],
    [missing],
  );
  assert.equal(r3.code, EXIT.missing, r3.err);
  assert.match(
    r3.err,
    /Cannot find library ".*no-such-library\.so": no such file/,
  );

  const noAbi = `${TESTS}libsk_noabi.so`;
  const r4 = await runCli([`--allow-ffi=${noAbi}`, `--allow-read=${noAbi}`], [
    noAbi,
  ]);
  assert.equal(r4.code, EXIT.noAbi, r4.err);
  assert.match(r4.err, /it is not linked with the static-keys core/);

  // The core linked, its exports hidden: the fix is the version script's.
  const hidden = `${TESTS}libsk_hidden.so`;
  const r4h = await runCli(
    [`--allow-ffi=${hidden}`, `--allow-read=${hidden}`],
    [
      hidden,
    ],
  );
  assert.equal(r4h.code, EXIT.noAbi, r4h.err);
  assert.match(
    r4h.err,
    /its exports are hidden: .*"static_keys_ffi_\*;" under "global:"/,
  );
  const next = `${TESTS}libsk_abi_next.so`;
  const r4a = await runCli([`--allow-ffi=${next}`, `--allow-read=${next}`], [
    next,
  ]);
  assert.equal(r4a.code, EXIT.noAbi, r4a.err);
  assert.match(
    r4a.err,
    new RegExp(
      `its C ABI is version ${
        ABI_VERSION + 1
      }, this module needs version ${ABI_VERSION}`,
    ),
  );

  const r1 = await runCli([], [LIB]);
  assert.equal(r1.code, EXIT.failed);
  assert.match(r1.err, /--allow-ffi=/);
});

Deno.test("cli names a user's static function from the file's symbol table with --allow-read", async () => {
  const lib = `${TESTS}libsk_sites.so`;
  const nm = nmText("sk_sites");
  const read = await runCli(
    [`--allow-ffi=${lib}`, `--allow-read=${lib}`],
    ["--json", lib],
  );
  assert.equal(read.code, EXIT.ok, read.err);
  const sites = JSON.parse(read.out).sites as {
    key: string;
    function?: string;
    offset?: number;
    libraryAddress: string;
    target: { function?: string; offset?: number; libraryAddress: string };
  }[];
  assert.deepEqual(sites.map((s) => s.key).sort(), ["fast", "verbose"]);
  for (const s of sites) {
    assertNamedAsNm(
      nm,
      { ...s, libraryAddress: BigInt(s.libraryAddress) },
      `site of ${s.key}`,
    );
    assertNamedAsNm(
      nm,
      { ...s.target, libraryAddress: BigInt(s.target.libraryAddress) },
      `target of ${s.key}`,
    );
  }
  const verbose = sites.find((s) => s.key === "verbose")!;
  assert.match(verbose.function!, /^sites_lib_inner/);
});

Deno.test("cli refuses a library without --allow-read of it, before loading it", async () => {
  const lib = `${TESTS}libsk_sites.so`;
  for (const args of [["--json", lib], [lib, "fast=on"]]) {
    const bare = await runCli([`--allow-ffi=${lib}`], args);
    assert.equal(bare.code, EXIT.failed, bare.err);
    assert.equal(bare.out, "");
    assert.equal(
      bare.err,
      `Cannot open "${lib}": the command line checks the file before ` +
        `loading it (a file cut short would crash the process) and needs ` +
        `--allow-read=${lib} for that: run again with --allow-ffi=${lib} ` +
        `--allow-read=${lib}\n`,
    );
  }
});

/** Runs `cli fleet ...args` in this process, capturing its output. */
async function fleet(args: string[]) {
  let out = "";
  let err = "";
  const code = await main(["fleet", ...args], {
    out: (t) => out += t + "\n",
    err: (t) => err += t + "\n",
  });
  return { code, out, err };
}

// [arguments, exit code, what stderr says]
const fleetRefusals: [string[], number, RegExp][] = [
  [[], FLEET_EXIT.usage, /without a command/],
  [["frobnicate", "x", "s"], FLEET_EXIT.usage, /commands are set, unset/],
  [["set", "./f.json"], FLEET_EXIT.usage, /give STORE and SCOPE/],
  [["set", "./f.json", "s"], FLEET_EXIT.usage, /at least one KEY=VALUE/],
  [["set", "./f.json", "s", "tracing=maybe"], FLEET_EXIT.usage, /"maybe"/],
  [["get", "./f.json", "s", "--wait"], FLEET_EXIT.usage, /--wait with/],
  [["get", "./f.json", "s", "--timeout", "soon"], FLEET_EXIT.usage, /number/],
  [["get", "ftp://x/f", "s"], FLEET_EXIT.usage, /Cannot parse store/],
  [["get", "./f.json", "a.b"], FLEET_EXIT.usage, /Cannot use scope "a.b"/],
];

Deno.test("cli fleet exits 2 with the reason for bad arguments", async (t) => {
  for (const [args, code, why] of fleetRefusals) {
    await t.step(args.join(" ") || "(nothing)", async () => {
      const r = await fleet(args);
      assert.equal(r.code, code, r.err);
      assert.match(r.err, why);
    });
  }
});

Deno.test({
  name: "cli fleet exits 6 when the store cannot be reached",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close(); // nothing listens there now
    const r = await fleet(["get", `nats://127.0.0.1:${port}`, "demo"]);
    assert.equal(r.code, FLEET_EXIT.unreachable, r.err);
    assert.match(
      r.err,
      new RegExp(`Cannot connect to "nats://127.0.0.1:${port}"`),
    );
  },
});
