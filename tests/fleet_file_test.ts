// SPDX-License-Identifier: MIT
// The file store across processes: two follower processes and the command
// line (cli fleet set --wait, status, get); a malformed file is reported
// and nothing applied; a file rewritten or replaced while followers read
// it never gives a torn state; a follower without the store's permissions
// is told the exact flag.

import assert from "node:assert/strict";
import { follow, type Follower, set, status } from "../fleet.ts";
import { FILE_FORMAT } from "../src/fleet/_file.ts";
import { openStore } from "../src/fleet/_store.ts";
import { LIB, openDemo, taken } from "./_helpers.ts";
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
  name:
    "a follower never applies a torn file, and its keys are always those of its revision",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await scratch("fleet-torn");
    const store = `${dir.path}/fleet.json`;
    using mod = openDemo();
    const wrong: string[] = [];
    await set(store, "demo", { tracing: "off", experimental: "off" });
    /** What revision r asked for: revision 1 both off, then on, off, on... */
    const written = (r: number) => r >= 2 && (r - 2) % 2 === 0;
    let previous = 1;
    const f: Follower = await follow(mod, {
      store,
      scope: "demo",
      host: null,
      minInterval: 0,
      onChange: (state) => {
        // On every change (a revision applied, a torn file refused): the
        // keys are exactly what the applied revision says, and the
        // revision never goes back (nor to 0).
        const k = Object.fromEntries(mod.keys.map((k) => [k.name, k.enabled]));
        const want = written(state.revision);
        if (k.tracing !== want || k.experimental !== want) {
          wrong.push(`revision ${state.revision}: ${JSON.stringify(k)}`);
        }
        if (state.revision < previous || state.revision === 0) {
          wrong.push(`revision ${previous} then ${state.revision}`);
        }
        previous = state.revision;
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
    try {
      for (let i = 0; i < 60; i++) {
        ++revision;
        const text = doc(written(revision), revision);
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
    } finally {
      await f.close();
      await dir.remove();
    }
    assert.deepEqual(wrong, [], "every state is its revision's, in order");
    assert.ok(applied.size > 5, `followed along: ${[...applied]}`);
    assert.equal(mod.key("tracing").enabled, written(revision));
    assert.equal(mod.key("experimental").enabled, written(revision));
  },
});

Deno.test({
  name:
    "a deleted file keeps every key as it is, and the follower catches up when the command line writes it again",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await scratch("fleet-deleted");
    const store = `${dir.path}/fleet.json`;
    try {
      using mod = openDemo();
      await using f = await follow(mod, {
        store,
        scope: "demo",
        host: null,
        instance: "d",
        minInterval: 0,
      });
      const first = await set(store, "demo", {
        tracing: "on",
        checks: "pin-off",
      });
      await f.applied(first);
      const before = mod.keys;
      assert.equal(mod.key("checks").pinned, "off");
      await Deno.remove(store);
      const deadline = Date.now() + 20_000;
      while (f.state.error === null && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(f.state.error ?? "", /is gone; the keys keep their state/);
      assert.deepEqual(mod.keys, before, "fail-static: no key moved");
      assert.equal(f.state.revision, first);
      assert.deepEqual(taken(mod), {
        tracing: true,
        checks: false,
        experimental: false,
      });
      // Written again: a revision above every one the followers report
      const r = await cli(dir.path, ["set", store, "demo", "tracing=off"]);
      assert.equal(r.code, 0, r.stderr);
      const revision = Number(r.stdout.match(/revision (\d+)/)?.[1]);
      assert.ok(revision > first, `revision ${revision} after ${first}`);
      await f.applied(revision, 20_000);
      assert.equal(f.state.error, null);
      assert.equal(mod.key("tracing").enabled, false);
      assert.equal(mod.key("checks").pinned, null, "the new state: no pin");
      assert.equal(mod.key("checks").enabled, true);
    } finally {
      await dir.remove();
    }
  },
});

Deno.test({
  name: "a store error reaches the status at once, not at the next heartbeat",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await scratch("fleet-error-status");
    const store = `${dir.path}/fleet.json`;
    try {
      using mod = openDemo();
      await using f = await follow(mod, {
        store,
        scope: "demo",
        host: null,
        instance: "e",
        minInterval: 0,
        heartbeat: 60_000, // far beyond the wait below
      });
      await f.applied(await set(store, "demo", { tracing: "on" }));
      // The statuses as status() reads them (status() itself refuses a
      // store whose desired state does not parse).
      const reader = await openStore(store);
      const error = async () =>
        (await reader.statuses("demo", 120_000))[0]?.error ?? null;
      assert.equal(await error(), null);
      await Deno.writeTextFile(`${store}.new`, '{"format": "static-keys-');
      await Deno.rename(`${store}.new`, store);
      const deadline = Date.now() + 20_000;
      while (await error() === null && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(await error() ?? "", /is not JSON/);
      await reader.close();
      assert.equal(f.state.revision, 1);
    } finally {
      await dir.remove();
    }
  },
});

Deno.test({
  name:
    "a killed follower leaves status() and set --wait once its status is older than the max age",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await scratch("fleet-dead");
    const store = `${dir.path}/fleet.json`;
    const followers: FollowerProcess[] = [];
    const maxAge = 3000;
    try {
      for (const instance of ["a", "b"]) {
        followers.push(
          await startFollower({
            lib: LIB,
            store,
            scope: "demo",
            instance,
            host: null,
            heartbeat: 300,
          }),
        );
      }
      const live = async () =>
        (await status(store, "demo", { maxAge })).followers.map((f) =>
          f.instance
        );
      let deadline = Date.now() + 20_000;
      while ((await live()).length < 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(await live(), ["a", "b"]);
      await followers[1].kill(); // SIGKILL: its status file stays
      deadline = Date.now() + 20_000;
      while ((await live()).length > 1 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.deepEqual(await live(), ["a"]);
      const r = await cli(dir.path, [
        "set",
        store,
        "demo",
        "tracing=on",
        "--wait",
        "--max-age",
        String(maxAge),
        "--timeout",
        "20000",
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /applied by 1 live follower\(s\)/);
    } finally {
      await Promise.all(followers.map((f) => f.kill()));
      await dir.remove();
    }
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
