// SPDX-License-Identifier: MIT
// The file store across processes: two follower processes and the command
// line (cli fleet set --wait, status, get); a malformed file is reported
// and nothing applied; a file rewritten or replaced while followers read
// it never gives a torn state; a follower without the store's permissions
// is told the exact flag.

import assert from "node:assert/strict";
import { follow, set } from "../fleet.ts";
import { FILE_FORMAT } from "../src/fleet/_file.ts";
import { LIB, openDemo } from "./_helpers.ts";
import {
  type FollowerProcess,
  keyOf,
  type Report,
  scratch,
  startFollower,
} from "./_fleet.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** Runs `cli.ts fleet ...args` in a fresh deno with the file store's flags. */
async function cli(dir: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--config=${ROOT}/deno.json`,
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
      `${ROOT}/cli.ts`,
      "fleet",
      ...args,
    ],
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder();
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}

/** Polls `followers` until `ok` holds for each report, or 20 s pass. */
async function until(
  followers: FollowerProcess[],
  ok: (r: Report) => boolean,
): Promise<Report[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const reports = await Promise.all(followers.map((f) => f.report()));
    if (reports.every(ok) || Date.now() > deadline) return reports;
    await new Promise((r) => setTimeout(r, 100));
  }
}

Deno.test({
  name: "two follower processes follow a file the command line writes",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const dir = await scratch("fleet-files");
    const store = `${dir.path}/fleet.json`;
    const followers: FollowerProcess[] = [];
    try {
      for (const instance of ["a", "b"]) {
        followers.push(
          await startFollower({
            lib: LIB,
            store,
            scope: "demo",
            instance,
            host: "h1",
            heartbeat: 500,
          }),
        );
      }
      await t.step("set --wait returns once both applied it", async () => {
        const r = await cli(dir.path, [
          "set",
          store,
          "demo",
          "tracing=on",
          "checks=pin-off",
          "--wait",
          "--timeout",
          "20000",
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /revision 1: applied by 2 live follower\(s\)/);
        for (const f of followers) {
          const report = await f.report();
          assert.equal(report.revision, 1);
          assert.equal(keyOf(report, "tracing").enabled, true);
          assert.equal(keyOf(report, "checks").enabled, false);
          assert.equal(keyOf(report, "checks").pinned, "off");
          assert.equal(report.consistent, true);
        }
      });
      await t.step(
        "status lists both, converged; get shows the layers",
        async () => {
          const r = await cli(dir.path, ["status", store, "demo", "--json"]);
          assert.equal(r.code, 0, r.stderr);
          const report = JSON.parse(r.stdout);
          assert.equal(report.revision, 1);
          assert.deepEqual(
            report.followers.map((
              f: { instance: string; converged: boolean; error: null },
            ) => [f.instance, f.converged, f.error]),
            [["a", true, null], ["b", true, null]],
          );
          const g = await cli(dir.path, ["get", store, "demo"]);
          assert.equal(g.code, 0);
          assert.match(g.stdout, /scope\s+checks\s+pin-off/);
        },
      );
      await t.step(
        "a malformed file is reported and nothing applied",
        async () => {
          const before = await Promise.all(followers.map((f) => f.report()));
          await Deno.writeTextFile(`${store}.new`, '{"format": "static-keys-');
          await Deno.rename(`${store}.new`, store);
          const reports = await until(followers, (r) => r.error !== null);
          for (const [i, report] of reports.entries()) {
            assert.match(report.error ?? "", /is not JSON/);
            assert.deepEqual(report.keys, before[i].keys);
            assert.deepEqual(report.sites, before[i].sites);
            assert.equal(report.revision, 1);
          }
          const r = await cli(dir.path, ["set", store, "demo", "tracing=off"]);
          assert.equal(r.code, 1);
          assert.match(r.stderr, /is not JSON/);
          const fixed = {
            format: FILE_FORMAT,
            revision: 2,
            scopes: { demo: { scope: { tracing: "off" } } },
          };
          await Deno.writeTextFile(`${store}.new`, JSON.stringify(fixed));
          await Deno.rename(`${store}.new`, store);
          const after = await until(followers, (r) => r.revision === 2);
          for (const report of after) {
            assert.equal(report.error, null);
            assert.equal(keyOf(report, "tracing").enabled, false);
            assert.equal(keyOf(report, "checks").pinned, null);
          }
        },
      );
      await t.step(
        "set --wait exits 7 naming the followers that refused it",
        async () => {
          const r = await cli(dir.path, [
            "set",
            store,
            "demo",
            "tarcing=on",
            "--wait",
            "--timeout",
            "5000",
          ]);
          assert.equal(r.code, 7, r.stderr);
          assert.match(
            r.stderr,
            /2 follower\(s\) did not apply it: a \(at 2: .*no key "tarcing".*\), b \(at 2: /,
          );
          const s = await cli(dir.path, ["status", store, "demo"]);
          assert.equal(s.code, 7, "status: followers behind");
          const u = await cli(dir.path, [
            "unset",
            store,
            "demo",
            "tarcing",
            "--wait",
          ]);
          assert.equal(u.code, 0, u.stderr);
        },
      );
      await t.step("a follower that exits leaves the status list", async () => {
        await followers.pop()!.exit();
        const r = await cli(dir.path, ["status", store, "demo", "--json"]);
        assert.deepEqual(
          JSON.parse(r.stdout).followers.map((f: { instance: string }) =>
            f.instance
          ),
          ["a"],
        );
      });
    } finally {
      await Promise.all(followers.map((f) => f.kill()));
      await dir.remove();
    }
  },
});

Deno.test({
  name: "a follower never applies a torn file",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await scratch("fleet-torn");
    const store = `${dir.path}/fleet.json`;
    using mod = openDemo();
    const mixed: string[] = [];
    await set(store, "demo", { tracing: "off", experimental: "off" });
    await using f = await follow(mod, {
      store,
      scope: "demo",
      host: null,
      minInterval: 0,
      onChange: () => {
        // Both keys move together in every state written below.
        const k = Object.fromEntries(mod.keys.map((k) => [k.name, k.enabled]));
        if (k.tracing !== k.experimental) mixed.push(JSON.stringify(k));
      },
    });
    const doc = (on: boolean, revision: number) =>
      JSON.stringify(
        {
          format: FILE_FORMAT,
          revision,
          scopes: {
            demo: {
              scope: {
                tracing: on ? "on" : "off",
                experimental: on ? "on" : "off",
              },
            },
          },
        },
        null,
        2,
      );
    let revision = 1;
    const applied = new Set<number>();
    for (let i = 0; i < 60; i++) {
      const text = doc(i % 2 === 0, ++revision);
      if (i % 3 === 0) {
        // a naive writer: truncate, half, a pause, the rest
        const file = await Deno.open(store, { write: true, truncate: true });
        const bytes = new TextEncoder().encode(text);
        await file.write(bytes.subarray(0, bytes.length >> 1));
        await new Promise((r) => setTimeout(r, 15));
        await file.write(bytes.subarray(bytes.length >> 1));
        file.close();
      } else {
        // replaced while being read: a rename over it
        await Deno.writeTextFile(`${store}.new`, text);
        await Deno.rename(`${store}.new`, store);
      }
      await new Promise((r) => setTimeout(r, 10));
      applied.add(f.state.revision);
    }
    await f.applied(revision, 20_000);
    await dir.remove();
    assert.deepEqual(mixed, [], "no state with one key of a revision applied");
    assert.ok(applied.size > 5, `followed along: ${[...applied]}`);
    assert.equal(mod.key("tracing").enabled, false); // i = 59: off
  },
});

Deno.test({
  name: "a follower without the store's permissions is told the exact flag",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const dir = await scratch("fleet-perm");
    const store = `${dir.path}/fleet.json`;
    try {
      const spec = { lib: LIB, scope: "demo", instance: "p", host: null };
      await t.step("file: --allow-write of the status folder", async () => {
        const f = await startFollower({ ...spec, store }, [
          `--allow-read=${ROOT},${dir.path}`,
        ]);
        assert.equal(f.started.code, "EPERM");
        assert.match(
          String(f.started.error),
          new RegExp(`run again with --allow-write=${store}\\.status`),
        );
        await f.exit();
      });
      await t.step(
        "file: --allow-read of the folder, and the write",
        async () => {
          const f = await startFollower({ ...spec, store }, []);
          assert.equal(f.started.code, "EPERM");
          assert.match(
            String(f.started.error),
            new RegExp(
              `run again with --allow-read=${dir.path} --allow-write=${store}\.status$`,
            ),
          );
          await f.exit();
        },
      );
      await t.step("NATS: --allow-net of each server", async () => {
        const f = await startFollower({
          ...spec,
          store: "nats://127.0.0.1:4999,nats://localhost:5000",
        }, ["--allow-net=localhost:5000"]);
        assert.equal(f.started.code, "EPERM");
        assert.match(
          String(f.started.error),
          /run again with --allow-net=127\.0\.0\.1:4999$/,
        );
        await f.exit();
      });
      await t.step("the host without --allow-sys", async () => {
        const f = await startFollower({
          ...spec,
          store,
          host: undefined,
        });
        assert.equal(f.started.code, "EPERM");
        assert.match(String(f.started.error), /--allow-sys=hostname/);
        await f.exit();
      });
    } finally {
      await dir.remove();
    }
  },
});
