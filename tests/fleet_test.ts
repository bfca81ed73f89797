// SPDX-License-Identifier: MIT
// The follower's policy, written once, run against both stores (a file and
// a NATS server started here): what on, off, pin-on, pin-off and absent do
// to a key's holders; layers; a revision refused whole; bursts coalesced;
// fail-static. Every check reads the module (mod.keys, the demo functions,
// the sites' bytes), not only what the follower says.

import assert from "node:assert/strict";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import type { StaticKeysModule } from "../mod.ts";
import {
  FleetError,
  follow,
  type Follower,
  get,
  set,
  status,
  type StoreOptions,
  unset,
  waitFor,
} from "../fleet.ts";
import { reconnectBackoff } from "../src/fleet/_nats.ts";
import { RETRY_MAX_MS, RETRY_MIN_MS } from "../src/fleet/_store.ts";
import { type demoSymbols, LIB, openDemo, taken } from "./_helpers.ts";
import {
  FOLLOWER,
  type FollowerProcess,
  hasNatsServer,
  type Nats,
  OPERATOR,
  scratch,
  startFollower,
  startNats,
  strangerCreds,
  strict,
  TLS,
} from "./_fleet.ts";

const nats = hasNatsServer();

/** One store for one test, and the ways a test pokes at it. */
interface Bench {
  readonly store: string;
  readonly admin: StoreOptions;
  readonly follower: StoreOptions;
  /** Writes a layer's raw text, bypassing set()'s checks. */
  putRaw(scope: string, text: string): Promise<void>;
  /** Makes the store unreadable; heal() undoes it. */
  break(): Promise<void>;
  heal(): Promise<void>;
  cleanup(): Promise<void>;
}

const kinds: Record<string, () => Promise<Bench>> = {
  file: async () => {
    const dir = await scratch("fleet-file");
    const store = `${dir.path}/fleet.json`;
    let saved = "";
    return {
      store,
      admin: {},
      follower: {},
      putRaw: async (scope, text) => {
        const doc = JSON.parse(await Deno.readTextFile(store));
        doc.revision++;
        doc.scopes[scope] = { scope: JSON.parse(text) };
        await Deno.writeTextFile(`${store}.raw`, JSON.stringify(doc));
        await Deno.rename(`${store}.raw`, store);
      },
      break: async () => {
        saved = await Deno.readTextFile(store);
        await Deno.writeTextFile(store, '{"format": "static-keys-fl');
      },
      heal: () => Deno.writeTextFile(store, saved),
      cleanup: dir.remove,
    };
  },
  nats: async () => {
    const server: Nats = await startNats(1);
    return {
      store: server.store,
      admin: OPERATOR,
      follower: FOLLOWER,
      putRaw: async (scope, text) => {
        const nc = await connect({
          servers: server.store.slice("nats://".length),
          ...{ user: OPERATOR.user, pass: OPERATOR.password },
        });
        const kv = await new Kvm(nc).open("static_keys_desired");
        await kv.put(`${scope}.scope`, text);
        await nc.close();
      },
      break: () => server.kill(0),
      heal: () => server.start(0),
      cleanup: server.stop,
    };
  },
};

let scopes = 0;

/** Runs `fn` with a fresh store of `kind`, a fresh scope, the demo module. */
function storeTest(
  kind: string,
  name: string,
  fn: (
    b: Bench,
    scope: string,
    mod: StaticKeysModule<typeof demoSymbols>,
  ) => Promise<void>,
) {
  Deno.test({
    name: `${name} (${kind} store)`,
    ignore: kind === "nats" && !nats && !strict,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const b = await kinds[kind]();
      using mod = openDemo();
      try {
        await fn(b, `t${++scopes}`, mod);
      } finally {
        await b.cleanup();
      }
    },
  });
}

/** Follows `scope` of `b` with the demo module as host h1, instance i1. */
function follower(
  b: Bench,
  scope: string,
  mod: StaticKeysModule,
  minInterval = 0,
): Promise<Follower> {
  return follow(mod, {
    store: b.store,
    scope,
    host: "h1",
    instance: "i1",
    minInterval,
    heartbeat: 500,
    ...b.follower,
  });
}

/** The key as the module has it, with its sites checked against its state. */
function key(mod: StaticKeysModule, name: string) {
  const info = mod.key(name).info();
  for (const site of mod.sites(name)) {
    assert.equal(site.instruction, site.expected, `a site of ${name}`);
  }
  return { on: info.enabled, count: info.count, pinned: info.pinned };
}

for (const kind of Object.keys(kinds)) {
  storeTest(
    kind,
    "follow() applies on, off, pin-on, pin-off and absent as holders of the count",
    async (b, scope, mod) => {
      await using f = await follower(b, scope, mod);
      const put = async (values: Record<string, string | null>) =>
        await f.applied(await set(b.store, scope, values as never, b.admin));
      await put({ tracing: "on" });
      assert.deepEqual(key(mod, "tracing"), {
        on: true,
        count: 1,
        pinned: null,
      });
      assert.equal(taken(mod).tracing, true);
      mod.key("tracing").inc(); // local code holds it too
      await put({ tracing: "off" });
      assert.deepEqual(
        key(mod, "tracing"),
        { on: true, count: 1, pinned: null },
        "off: on while local code holds it",
      );
      mod.key("tracing").dec();
      assert.equal(taken(mod).tracing, false);

      await put({ checks: "off" }); // a TRUE key: the default's hold dropped
      assert.deepEqual(key(mod, "checks"), {
        on: false,
        count: 0,
        pinned: null,
      });
      assert.equal(taken(mod).checks, false);
      await put({ checks: null });
      assert.deepEqual(key(mod, "checks"), {
        on: true,
        count: 1,
        pinned: null,
      });

      await put({ checks: "pin-off" });
      assert.deepEqual(key(mod, "checks"), {
        on: false,
        count: 1,
        pinned: "off",
      });
      mod.key("checks").inc(); // counted, not flipped
      assert.equal(taken(mod).checks, false);
      await put({ checks: null });
      assert.deepEqual(key(mod, "checks"), {
        on: true,
        count: 2,
        pinned: null,
      });
      mod.key("checks").dec();

      await put({ experimental: "pin-on" });
      mod.key("experimental").disable();
      assert.deepEqual(key(mod, "experimental"), {
        on: true,
        count: 0,
        pinned: "on",
      });
      await put({ experimental: "on" }); // lifts the pin, holds one reference
      assert.deepEqual(key(mod, "experimental"), {
        on: true,
        count: 1,
        pinned: null,
      });
      await put({ experimental: null });
      assert.deepEqual(key(mod, "experimental"), {
        on: false,
        count: 0,
        pinned: null,
      });
      assert.equal(f.state.error, null);
      assert.equal(f.state.keys.checks.desired, null);
    },
  );

  storeTest(
    kind,
    "follow() takes the most specific layer per key",
    async (b, scope, mod) => {
      await using f = await follower(b, scope, mod);
      await set(b.store, scope, { tracing: "on", experimental: "on" }, b.admin);
      await set(b.store, scope, { tracing: "off" }, { ...b.admin, host: "h1" });
      await set(b.store, scope, { tracing: "on" }, { ...b.admin, host: "h2" });
      let r = await set(b.store, scope, { experimental: "pin-off" }, {
        ...b.admin,
        instance: "i1",
      });
      await f.applied(r);
      assert.deepEqual(taken(mod), {
        tracing: false,
        checks: true,
        experimental: false,
      });
      assert.equal(f.state.keys.experimental.desired, "pin-off");
      r = await unset(b.store, scope, ["experimental"], {
        ...b.admin,
        instance: "i1",
      });
      await f.applied(r);
      assert.equal(taken(mod).experimental, true, "the scope's on again");
      r = await unset(b.store, scope, ["tracing"], { ...b.admin, host: "h1" });
      await f.applied(r);
      assert.equal(taken(mod).tracing, true);
      const desired = await get(b.store, scope, b.admin);
      assert.deepEqual(desired.scope, { tracing: "on", experimental: "on" });
      assert.deepEqual(desired.hosts, { h2: { tracing: "on" } });
      assert.equal(desired.revision, r);
    },
  );

  storeTest(
    kind,
    "follow() refuses a revision whole when a value or a key is wrong",
    async (b, scope, mod) => {
      await using f = await follower(b, scope, mod);
      await f.applied(await set(b.store, scope, { tracing: "on" }, b.admin));
      for (
        const [what, poke, why] of [
          [
            "a value that is not a value",
            () => b.putRaw(scope, '{"tracing": "off", "checks": "maybe"}'),
            /"maybe" for key "checks"/,
          ],
          [
            "a layer that is not JSON",
            () => b.putRaw(scope, "{tracing: off"),
            b.store.startsWith("nats") ? /not JSON/ : /not JSON|JSON/,
          ],
          [
            "a key the library does not have",
            () =>
              set(b.store, scope, { tracing: "off", tarcing: "on" }, b.admin),
            /no key "tarcing"/,
          ],
        ] as const
      ) {
        if (
          what === "a layer that is not JSON" && !b.store.startsWith("nats")
        ) {
          continue; // the file store holds layers as JSON: see the file test
        }
        const good = f.state.revision;
        const before = mod.keys;
        const bytes = mod.sites().map((s) => s.hex);
        await poke();
        const deadline = Date.now() + 10_000;
        while (!f.state.error && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.match(f.state.error ?? "", why, what);
        assert.equal(f.state.revision, good, `${what}: not applied`);
        assert.deepEqual(mod.keys, before, `${what}: no key changed`);
        assert.deepEqual(mod.sites().map((s) => s.hex), bytes);
        if (what !== "a key the library does not have") {
          await b.putRaw(scope, '{"tracing": "on"}');
        }
        const fixed = await set(b.store, scope, {
          tracing: "on",
          checks: null,
          tarcing: null,
        }, b.admin);
        await f.applied(fixed);
        assert.equal(f.state.error, null);
      }
    },
  );

  storeTest(
    kind,
    "follow() coalesces a burst into one request per interval and ends at the last revision",
    async (b, scope, mod) => {
      await using f = await follower(b, scope, mod, 100);
      await f.applied(await set(b.store, scope, { tracing: "on" }, b.admin));
      const before = mod.stats().requests;
      const started = performance.now();
      let last = 0;
      for (let i = 0; i < 200; i++) {
        last = await set(b.store, scope, {
          tracing: i % 2 ? "on" : "off",
          experimental: i % 3 ? "on" : "pin-off",
        }, b.admin);
      }
      await f.applied(last);
      const elapsed = performance.now() - started;
      const requests = mod.stats().requests - before;
      // one request per 100 ms at most, plus the one at each end
      assert.ok(
        requests <= Math.ceil(elapsed / 100) + 2,
        `${requests} requests in ${Math.round(elapsed)} ms`,
      );
      assert.equal(f.state.revision, last);
      assert.deepEqual(taken(mod), {
        tracing: true, // i = 199
        checks: true,
        experimental: true,
      });
    },
  );

  storeTest(
    kind,
    "follow() keeps the keys as they are while the store cannot be read",
    async (b, scope, mod) => {
      await using f = await follower(b, scope, mod);
      const r = await set(
        b.store,
        scope,
        { tracing: "on", checks: "pin-off" },
        b.admin,
      );
      await f.applied(r);
      const before = mod.keys;
      await b.break();
      const deadline = Date.now() + 15_000;
      while (f.state.error === null && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.notEqual(f.state.error, null, "the follower says why");
      assert.deepEqual(mod.keys, before, "fail-static");
      assert.deepEqual(taken(mod), {
        tracing: true,
        checks: false,
        experimental: false,
      });
      await b.heal();
      const next = await set(b.store, scope, { tracing: "off" }, b.admin);
      await f.applied(next, 20_000);
      assert.equal(taken(mod).tracing, false);
      assert.equal(f.state.error, null);
    },
  );
}

Deno.test({
  name: "follow() resolves within readyTimeout when the store is unreachable",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    using mod = openDemo();
    const started = performance.now();
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port; // accepts, never answers
    try {
      await using f = await follow(mod, {
        store: `nats://127.0.0.1:${port}`,
        scope: "x",
        host: null,
        readyTimeout: 800,
        timeout: 500,
      });
      assert.ok(performance.now() - started < 5000);
      assert.equal(f.state.revision, 0);
      assert.deepEqual(taken(mod), {
        tracing: false,
        checks: true,
        experimental: false,
      }, "the compiled defaults");
    } finally {
      listener.close();
    }
  },
});

Deno.test({
  name:
    "a follower whose watch cannot be made keeps trying, says why, and converges once it can",
  ignore: !nats && !strict,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // The bucket's stream deleted under a running follower: its watch ends
    // and making it again fails (the stream is missing) while the
    // connection stays up, as when a cluster has no leader. The follower
    // must stay, report it, and come back on the state as it is then.
    const server = await startNats(1);
    using mod = openDemo();
    try {
      const r = await set(server.store, "retry", { tracing: "on" }, OPERATOR);
      const errors: string[] = [];
      await using f = await follow(mod, {
        store: server.store,
        scope: "retry",
        host: null,
        heartbeat: 500,
        onChange: (state) => {
          if (state.error) errors.push(state.error);
        },
        ...FOLLOWER,
      });
      await f.applied(r, 30_000);
      assert.equal(taken(mod).tracing, true);
      const nc = await connect({
        servers: server.store.slice("nats://".length),
        user: OPERATOR.user,
        pass: OPERATOR.password,
      });
      try {
        const jsm = await jetstreamManager(nc);
        await jsm.streams.delete("KV_static_keys_desired");
      } finally {
        await nc.close();
      }
      // The watch ends at once (its consumer is deleted) or after two
      // missed heartbeats; each try to make it again fails.
      const deadline = performance.now() + 60_000;
      while (errors.length < 2 && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(errors.length >= 2, `tried again: ${JSON.stringify(errors)}`);
      assert.match(
        errors.at(-1)!,
        /^Cannot (watch "nats:|open bucket "static_keys_desired").*not found/,
      );
      assert.equal(f.state.connected, false);
      assert.equal(taken(mod).tracing, true, "fail-static meanwhile");
      assert.equal(f.closed, false);
      // The bucket made again: the follower reads what it holds now.
      await set(server.store, "retry", { tracing: "off" }, OPERATOR);
      await set(server.store, "retry", { checks: "pin-off" }, OPERATOR);
      const back = performance.now() + 60_000;
      while (
        (f.state.error !== null || taken(mod).checks !== false ||
          taken(mod).tracing !== false) && performance.now() < back
      ) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(f.state.error, null);
      assert.equal(f.state.connected, true);
      assert.deepEqual(taken(mod), {
        tracing: false,
        checks: false,
        experimental: false,
      });
      assert.equal(key(mod, "checks").pinned, "off");
    } finally {
      await server.stop();
    }
  },
});

Deno.test("follow(), set() and get() refuse bad stores, scopes and values", async (t) => {
  using mod = openDemo();
  const cases = [
    ["a URL of another scheme", () => get("http://x:1", "s"), "EURL"],
    ["a URL with a path", () => get("nats://x:1/a", "s"), "EURL"],
    ["credentials in the URL", () => get("nats://u:p@x:1", "s"), "EURL"],
    ["a scope with a dot", () => get("nats://x:1", "a.b"), "ESCOPE"],
    ["a scope with a wildcard", () => get("nats://x:1", "a>"), "ESCOPE"],
    [
      "a value that is not a value",
      () => set("nats://x:1", "s", { tracing: "yes" as "on" }),
      "EVALUE",
    ],
    [
      "both a host and an instance",
      () => set("nats://x:1", "s", { a: "on" }, { host: "h", instance: "i" }),
      "ESCOPE",
    ],
    [
      "follow() of a scope with a space",
      () => follow(mod, { store: "nats://x:1", scope: "a b", host: null }),
      "ESCOPE",
    ],
  ] as const;
  for (const [what, fn, code] of cases) {
    await t.step(what, async () => {
      await assert.rejects(fn, (error: unknown) => {
        assert.ok(error instanceof FleetError, String(error));
        assert.equal(error.code, code);
        assert.match(error.message, /^Cannot /);
        return true;
      });
    });
  }
});

Deno.test({
  name: "get() with refused credentials never ends the process",
  ignore: !nats && !strict,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // The server resets each refused connection; the NATS client has
    // dropped the socket's listeners by then (the store guards that).
    const server = await startNats(1);
    let refused = 0;
    try {
      for (let i = 0; i < 40; i++) {
        await Promise.all(
          [1, 2, 3, 4, 5].map(() =>
            get(server.store, "x").catch((error) => {
              if (error instanceof FleetError && error.code === "EAUTH") {
                refused++;
              }
            })
          ),
        );
      }
    } finally {
      await server.stop();
    }
    assert.equal(refused, 200);
  },
});

Deno.test({
  name: "a socket error of other code is not swallowed while a follower runs",
  ignore: !nats && !strict,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // A program with a follower whose own node:net socket, without an
    // "error" listener, is reset by its peer: that must end it, as it
    // would without the fleet.
    const server = await startNats(1);
    try {
      await set(server.store, "stray", { tracing: "on" }, OPERATOR);
      const root = new URL("..", import.meta.url).pathname;
      const { code, stdout, stderr } = await new Deno.Command(
        Deno.execPath(),
        {
          args: [
            "run",
            "--no-prompt",
            `--config=${root}deno.json`,
            `--allow-ffi=${LIB}`,
            `--allow-read=${root}`,
            "--allow-net=127.0.0.1",
            `${root}tests/fixtures/fleet_stray_reset.ts`,
            JSON.stringify({ lib: LIB, store: server.store, ...FOLLOWER }),
          ],
          stdin: "null",
          env: { NO_COLOR: "1" },
        },
      ).output();
      const out = new TextDecoder().decode(stdout);
      const err = new TextDecoder().decode(stderr);
      assert.match(out, /following/, err);
      assert.doesNotMatch(out, /survived/, "the reset was swallowed");
      assert.notEqual(code, 0);
      assert.match(err, /ECONNRESET/);
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: "a follower reaches a NATS server that requires TLS",
  ignore: !nats && !strict,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const server = await startNats(1, { tls: true });
    const root = new URL("..", import.meta.url).pathname;
    const trusted = [
      `--cert=${TLS.ca}`,
      `--allow-read=${root}`,
      "--allow-net=127.0.0.1",
    ];
    try {
      await t.step(
        "a client that does not trust the CA is told how to",
        async () => {
          await assert.rejects(
            () => get(server.store, "tls", OPERATOR),
            (error: unknown) => {
              assert.ok(error instanceof FleetError, String(error));
              assert.equal(error.code, "EUNREACHABLE");
              assert.match(error.message, /TLS handshake with 127\.0\.0\.1/);
              assert.match(error.message, /--cert=FILE or DENO_CERT=FILE/);
              return true;
            },
          );
        },
      );

      await t.step(
        "a follower that trusts it applies the desired state",
        async () => {
          const set = await new Deno.Command(Deno.execPath(), {
            args: [
              "run",
              "--no-prompt",
              `--config=${root}deno.json`,
              ...trusted,
              `${root}cli.ts`,
              "fleet",
              "set",
              server.store,
              "tls",
              "tracing=on",
              "--user",
              OPERATOR.user,
              "--password",
              OPERATOR.password,
            ],
            stdin: "null",
            env: { NO_COLOR: "1" },
          }).output();
          assert.equal(
            set.code,
            0,
            new TextDecoder().decode(set.stderr) +
              new TextDecoder().decode(set.stdout),
          );
          const f = await startFollower({
            lib: LIB,
            store: server.store,
            scope: "tls",
            instance: "tls1",
            host: null,
            ...FOLLOWER,
          }, trusted);
          try {
            assert.equal(f.started.error, null, JSON.stringify(f.started));
            const report = await f.report();
            assert.ok(report.revision >= 1, `at ${report.revision}`);
            assert.equal(
              report.keys.find((k) => k.name === "tracing")?.enabled,
              true,
            );
            assert.equal(report.consistent, true);
          } finally {
            await f.exit();
          }
        },
      );
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: "creds files: a follower's and an operator's JWTs and nkeys are used",
  ignore: !nats && !strict,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const server = await startNats(1, { jwt: true });
    const creds = server.creds!;
    const dir = await scratch("creds");
    try {
      await t.step("a follower applies what an operator set", async () => {
        using mod = openDemo();
        const r = await set(server.store, "creds", { tracing: "on" }, {
          creds: creds.operator,
        });
        await using f = await follow(mod, {
          store: server.store,
          scope: "creds",
          host: null,
          creds: creds.follower,
        });
        await f.applied(r);
        assert.equal(f.state.error, null);
        assert.equal(taken(mod).tracing, true);
        assert.equal(key(mod, "tracing").count, 1);
      });

      await t.step("the follower's creds cannot set", async () => {
        await assert.rejects(
          () =>
            set(server.store, "creds", { tracing: "off" }, {
              creds: creds.follower,
            }),
          (e: unknown) => e instanceof FleetError && e.code === "EAUTH",
        );
        const { scope } = await get(server.store, "creds", {
          creds: creds.operator,
        });
        assert.deepEqual(scope, { tracing: "on" });
      });

      await t.step(
        "a user of an account the server does not know is refused",
        async () => {
          const stranger = `${dir.path}/stranger.creds`;
          await strangerCreds(stranger);
          await assert.rejects(
            () => get(server.store, "creds", { creds: stranger }),
            (e: unknown) => e instanceof FleetError && e.code === "EAUTH",
          );
        },
      );

      await t.step("a missing or malformed creds file is named", async () => {
        const missing = `${dir.path}/missing.creds`;
        const garbled = `${dir.path}/garbled.creds`;
        await Deno.writeTextFile(garbled, "-----BEGIN NATS USER JWT-----\nx\n");
        for (
          const [path, why] of [[missing, /No such file/], [
            garbled,
            /not a creds file/,
          ]] as const
        ) {
          await assert.rejects(
            () => get(server.store, "creds", { creds: path }),
            (e: unknown) => {
              assert.ok(e instanceof FleetError, String(e));
              assert.equal(e.code, "EAUTH");
              assert.ok(e.message.includes(`"${path}"`), e.message);
              assert.match(e.message, /--creds/);
              assert.match(e.message, why);
              return true;
            },
          );
        }
        using mod = openDemo();
        await assert.rejects(
          () =>
            follow(mod, {
              store: server.store,
              scope: "creds",
              host: null,
              creds: missing,
            }),
          (e: unknown) => e instanceof FleetError && e.code === "EAUTH",
        );
      });

      const unreadable = "/nonexistent/x.creds";
      await t.step({
        name: "a creds file outside --allow-read names the flag",
        // Under -A every path is granted: the suite's flags grant the
        // project's folder only.
        ignore: Deno.permissions.querySync({ name: "read", path: unreadable })
          .state ===
          "granted",
        fn: async () => {
          await assert.rejects(
            () => get(server.store, "creds", { creds: unreadable }),
            (e: unknown) => {
              assert.ok(e instanceof FleetError, String(e));
              assert.equal(e.code, "EPERM");
              assert.match(e.message, /--allow-read=\/nonexistent\/x\.creds/);
              return true;
            },
          );
        },
      });
    } finally {
      await dir.remove();
      await server.stop();
    }
  },
});

Deno.test("the NATS client's reconnection wait doubles from 250 ms to 5 s with jitter, and starts again once connected", () => {
  const b = reconnectBackoff();
  /** The wait asked before the next try: between half and all of `cap`. */
  const within = (cap: number, what: string) => {
    const d = b.delay();
    assert.ok(d >= cap / 2 && d <= cap, `${what}: ${d} ms, cap ${cap}`);
    assert.equal(b.delay(), d, `${what}: one draw per try`);
  };
  within(RETRY_MIN_MS, "before the first try");
  const caps: number[] = [];
  for (let tries = 1; tries <= 8; tries++) {
    b.tried(); // the client's "reconnecting" event
    const cap = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (tries - 1));
    within(cap, `after ${tries} tries`);
    caps.push(cap);
  }
  assert.deepEqual(caps, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
  b.connected();
  within(RETRY_MIN_MS, "after a reconnection");
});

Deno.test({
  name:
    "NATS: status() on a store without buckets says no followers, and a killed follower's status expires with the bucket's TTL",
  ignore: !nats && !strict,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const server = await startNats(1);
    const followers: FollowerProcess[] = [];
    try {
      await t.step("no buckets: revision 0, no followers", async () => {
        assert.deepEqual(await status(server.store, "demo", OPERATOR), {
          revision: 0,
          followers: [],
        });
        const root = new URL("..", import.meta.url).pathname;
        const out = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--no-prompt",
            `--config=${root}deno.json`,
            "--allow-net=127.0.0.1",
            `${root}cli.ts`,
            "fleet",
            "status",
            server.store,
            "demo",
            "--user",
            OPERATOR.user,
            "--password",
            OPERATOR.password,
          ],
          stdin: "null",
          env: { NO_COLOR: "1" },
        }).output();
        const stdout = new TextDecoder().decode(out.stdout);
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        assert.match(stdout, /revision 0, 0 live follower\(s\)/);
        assert.match(stdout, /no live follower/);
      });
      await t.step("a SIGKILLed follower's status expires", async () => {
        // The first set creates the buckets: statuses live 2 s
        await set(server.store, "demo", { tracing: "on" }, {
          ...OPERATOR,
          statusTtl: 2000,
        });
        for (const instance of ["a", "b"]) {
          followers.push(
            await startFollower({
              lib: LIB,
              store: server.store,
              scope: "demo",
              instance,
              host: null,
              heartbeat: 300,
              ...FOLLOWER,
            }),
          );
        }
        // A max age far above the TTL: only the bucket removes a status.
        const live = async () =>
          (await status(server.store, "demo", { ...OPERATOR, maxAge: 60_000 }))
            .followers.map((f) => f.instance);
        let deadline = Date.now() + 20_000;
        while ((await live()).length < 2 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.deepEqual(await live(), ["a", "b"]);
        await followers[1].kill();
        deadline = Date.now() + 20_000;
        while ((await live()).length > 1 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 200));
        }
        assert.deepEqual(await live(), ["a"]);
        const revision = await set(server.store, "demo", { tracing: "off" }, {
          ...OPERATOR,
        });
        const { applied, pending } = await waitFor(
          server.store,
          "demo",
          revision,
          { ...OPERATOR, maxAge: 60_000, timeout: 20_000 },
        );
        assert.deepEqual(applied.map((f) => f.instance), ["a"]);
        assert.deepEqual(pending, []);
      });
    } finally {
      await Promise.all(followers.map((f) => f.kill()));
      await server.stop();
    }
  },
});

Deno.test({
  name:
    "NATS: a user limited to its instance's status key cannot overwrite another follower's status",
  ignore: !nats && !strict,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const fa = { scope: "demo", instance: "a", user: "fa", password: "fa-pw" };
    const fb = { scope: "demo", instance: "b", user: "fb", password: "fb-pw" };
    const server = await startNats(1, { instances: [fa, fb] });
    try {
      const r = await set(server.store, "demo", { tracing: "on" }, OPERATOR);
      using mod = openDemo();
      await using f = await follow(mod, {
        store: server.store,
        scope: "demo",
        host: null,
        instance: "a",
        heartbeat: 60_000, // nothing rewrites a's status during the test
        user: fa.user,
        password: fa.password,
      });
      await f.applied(r);
      const statusOf = async (instance: string) =>
        (await status(server.store, "demo", OPERATOR)).followers.find((s) =>
          s.instance === instance
        );
      let deadline = Date.now() + 20_000;
      while (!await statusOf("a") && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal((await statusOf("a"))?.revision, r, "a wrote its own");
      const forge = async (as: { user: string; password: string }) => {
        const nc = await connect({
          servers: server.store.slice("nats://".length),
          user: as.user,
          pass: as.password,
        });
        const forged = (instance: string) =>
          JSON.stringify({
            instance,
            host: null,
            pid: 1,
            library: "",
            scope: "demo",
            revision: 999,
            keys: {},
            error: `forged by ${as.user}`,
            time: new Date().toISOString(),
          });
        nc.publish("$KV.static_keys_status.demo.a", forged("a"));
        nc.publish("$KV.static_keys_status.demo.b", forged("b"));
        await nc.flush().catch(() => {});
        await nc.close().catch(() => {});
      };
      await t.step("fb writes its own key, not a's", async () => {
        await forge(fb);
        deadline = Date.now() + 20_000;
        while (!await statusOf("b") && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(
          (await statusOf("b"))?.error,
          "forged by fb",
          "its own key: allowed",
        );
        const a = await statusOf("a");
        assert.equal(a?.revision, r, "a's status is a's");
        assert.equal(a?.error, null);
      });
      await t.step("the shared follower user can write a's key", async () => {
        await forge(FOLLOWER);
        deadline = Date.now() + 20_000;
        while (
          (await statusOf("a"))?.revision !== 999 && Date.now() < deadline
        ) {
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(
          (await statusOf("a"))?.error,
          `forged by ${FOLLOWER.user}`,
        );
      });
    } finally {
      await server.stop();
    }
  },
});
