// SPDX-License-Identifier: MIT
// A fleet on a 3-node NATS JetStream cluster started here (loopback, R3
// buckets): 20 follower processes, each with the package's library. A set
// converges on all of them; so does one after the bucket's leader node is
// killed, and get(), status() and waitFor() answer while it is down; a
// restarted follower catches up; 1,000 sets in a second end at
// the last revision with coalesced requests; a malformed value and an
// unknown key are refused and reported; a follower's credentials cannot
// change the desired state and an anonymous connection is refused. Each
// check reads the followers' modules (keys, site bytes, requests). Each
// step starts from a whole fleet converged on three nodes, so one failure
// does not fail the steps after it; no follower process may die.

import assert from "node:assert/strict";
import { Kvm } from "@nats-io/kv";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { FleetError, get, set, status, waitFor } from "../fleet.ts";
import { LIB } from "./_helpers.ts";
import {
  FOLLOWER,
  type FollowerProcess,
  type FollowerSpec,
  hasNatsServer,
  keyOf,
  OPERATOR,
  type Report,
  retry,
  startFollower,
  startNats,
  strict,
} from "./_fleet.ts";

const SCOPE = "cksum";
const FOLLOWERS = 20;
const STATUS_TTL = 15_000;
const admin = { ...OPERATOR, maxAge: STATUS_TTL };
/** How long the cluster may take to serve again after losing a node. */
const RECOVERY_MS = 300_000;

/** The desired bucket's stream: its leader's name. */
async function leaderOf(store: string): Promise<string> {
  const nc = await connect({
    servers: store.split(",").map((s) => s.slice("nats://".length)),
    user: OPERATOR.user,
    pass: OPERATOR.password,
  });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info("KV_static_keys_desired");
    return info.cluster?.leader ?? "";
  } finally {
    await nc.close();
  }
}

/** Every follower's report, in order. */
function reports(followers: FollowerProcess[]): Promise<Report[]> {
  return Promise.all(followers.map((f) => f.report()));
}

/**
 * Waits until `count` followers are live and every one applied `revision`;
 * asserts they did. A follower started just before may not have written
 * its first status yet: waitFor() counts only the live ones, so ask again.
 */
async function converged(store: string, revision: number, count: number) {
  // Generous: on a loaded machine a cluster that lost a node may take
  // minutes to elect its leaders again, and a watch whose node died is
  // noticed by missed heartbeats (10 to 15 s) after that.
  const deadline = performance.now() + RECOVERY_MS;
  for (;;) {
    const { applied, pending } = await waitFor(store, SCOPE, revision, {
      ...admin,
      timeout: Math.max(0, deadline - performance.now()),
    });
    assert.deepEqual(
      pending.map((f) => `${f.instance} at ${f.revision}: ${f.error}`),
      [],
    );
    if (applied.length >= count || performance.now() > deadline) {
      assert.equal(applied.length, count, "every follower is live");
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

Deno.test({
  name: "a fleet of 20 follower processes follows a 3-node NATS cluster",
  ignore: !hasNatsServer() && !strict,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const cluster = await startNats(3);
    const followers: FollowerProcess[] = [];
    const spec = (i: number): FollowerSpec => ({
      lib: LIB,
      store: cluster.store,
      scope: SCOPE,
      instance: `f${String(i).padStart(2, "0")}`,
      host: `h${i % 4}`,
      minInterval: 100,
      heartbeat: 1000,
      ...FOLLOWER,
    });
    /** Follower processes that ended without being asked to. */
    const died: string[] = [];
    /** Follower processes a step ends on purpose. */
    const asked = new Set<FollowerProcess>();
    // Before each step after the first: the three nodes up, every follower
    // process running (one that died is started again, and named at the
    // end), and the whole fleet at a fresh revision: a step that failed
    // leaves nothing the next one trips on. The host h1 layer is emptied
    // (a step gives it values the followers refuse).
    const ready = async () => {
      for (let i = 0; i < cluster.nodes.length; i++) {
        if (!cluster.running(i)) await cluster.start(i);
      }
      for (let i = 0; i < followers.length; i++) {
        if (!followers[i].exited) continue;
        if (!asked.has(followers[i])) died.push(followers[i].instance);
        followers[i] = await startFollower(spec(i));
      }
      const r = await retry(
        () =>
          set(cluster.store, SCOPE, { tracing: null, tarcing: null }, {
            ...OPERATOR,
            host: "h1",
          }),
        RECOVERY_MS,
      );
      await converged(cluster.store, r, FOLLOWERS);
    };
    try {
      // The buckets, replicated on the three nodes, once the cluster has
      // elected its meta leader.
      await retry(() =>
        set(cluster.store, SCOPE, { audit: "on" }, {
          ...OPERATOR,
          replicas: 3,
          statusTtl: STATUS_TTL,
        }), RECOVERY_MS);
      for (let i = 0; i < FOLLOWERS; i += 5) {
        followers.push(
          ...await Promise.all(
            [0, 1, 2, 3, 4].map((j) => startFollower(spec(i + j))),
          ),
        );
      }
      for (const f of followers) {
        assert.equal(f.started.error, null, `${f.instance} started`);
      }

      await t.step("a set converges on every follower", async () => {
        const r = await set(cluster.store, SCOPE, {
          tracing: "on",
          checks: "pin-off",
        }, OPERATOR);
        await converged(cluster.store, r, FOLLOWERS);
        for (const report of await reports(followers)) {
          assert.equal(report.revision, r);
          assert.equal(keyOf(report, "tracing").enabled, true);
          assert.equal(keyOf(report, "tracing").count, 1);
          assert.deepEqual(
            keyOf(report, "checks"),
            {
              name: "checks",
              enabled: false,
              initial: true,
              sites: 2,
              count: 1,
              pinned: "off",
            } as unknown as Report["keys"][number],
          );
          assert.equal(report.consistent, true, "site bytes follow the keys");
        }
      });

      await t.step(
        "a set converges after the bucket's leader node is killed",
        async () => {
          await ready();
          const leader = await leaderOf(cluster.store);
          const index = cluster.nodes.findIndex((n) => n.name === leader);
          assert.ok(index >= 0, `leader ${leader}`);
          await cluster.kill(index);
          try {
            const r = await retry(
              () => set(cluster.store, SCOPE, { tracing: "off" }, OPERATOR),
              RECOVERY_MS,
            );
            await converged(cluster.store, r, FOLLOWERS);
            for (const report of await reports(followers)) {
              assert.equal(keyOf(report, "tracing").enabled, false);
              assert.equal(report.consistent, true);
            }
            // With the node still down, reads answer every time: the
            // server may place a consumer on the dead node, whose request
            // never answers, so get() and status() read without one, and
            // waitFor() tries its watch again rather than wait out its
            // whole timeout on that one request.
            for (let i = 0; i < 6; i++) {
              const state = await get(cluster.store, SCOPE, OPERATOR);
              assert.equal(state.revision, r);
              assert.equal(state.scope.tracing, "off");
              const now = await status(cluster.store, SCOPE, admin);
              assert.equal(now.revision, r);
              assert.deepEqual(
                now.followers.filter((f) => f.converged).map((f) => f.instance),
                followers.map((f) => f.instance),
              );
              const { applied, pending } = await waitFor(
                cluster.store,
                SCOPE,
                r,
                { ...admin, timeout: RECOVERY_MS },
              );
              assert.deepEqual(pending, []);
              assert.equal(applied.length, FOLLOWERS);
            }
          } finally {
            await cluster.start(index); // the next steps have 3 nodes
          }
        },
      );

      await t.step(
        "a follower stopped and started again catches up",
        async () => {
          await ready();
          asked.add(followers[0]);
          await followers[0].exit();
          const r = await retry(
            () => set(cluster.store, SCOPE, { experimental: "on" }, OPERATOR),
            RECOVERY_MS,
          );
          followers[0] = await startFollower(spec(0));
          await converged(cluster.store, r, FOLLOWERS);
          const report = await followers[0].report();
          assert.ok(report.revision >= r, `at ${report.revision}, wanted ${r}`);
          assert.equal(keyOf(report, "experimental").enabled, true);
          assert.equal(keyOf(report, "checks").pinned, "off");
        },
      );

      await t.step(
        "1,000 sets in a second end at the last revision with coalesced requests",
        async () => {
          await ready();
          const before = await reports(followers);
          const nc = await connect({
            servers: cluster.store.split(",").map((s) => s.slice(7)),
            user: OPERATOR.user,
            pass: OPERATOR.password,
          });
          const kv = await new Kvm(nc).open("static_keys_desired");
          const started = performance.now();
          let last = 0;
          for (let i = 0; i < 1000; i += 100) {
            const revisions = await Promise.all(
              Array.from({ length: 100 }, (_, j) =>
                kv.put(
                  `${SCOPE}.scope`,
                  JSON.stringify({
                    tracing: (i + j) % 2 ? "on" : "off",
                    checks: "pin-off",
                    experimental: "on",
                  }),
                )),
            );
            last = Math.max(last, ...revisions);
          }
          const burst = performance.now() - started;
          await nc.close();
          await converged(cluster.store, last, FOLLOWERS);
          const elapsed = performance.now() - started;
          const after = await reports(followers);
          for (let i = 0; i < FOLLOWERS; i++) {
            const requests = after[i].requests - before[i].requests;
            // One request per 100 ms at most, and one at each end.
            assert.ok(
              requests <= Math.ceil(elapsed / 100) + 2,
              `${followers[i].instance}: ${requests} requests in ${
                Math.round(elapsed)
              } ms (burst ${Math.round(burst)} ms)`,
            );
            assert.equal(after[i].revision, last);
            assert.equal(keyOf(after[i], "tracing").enabled, true); // 999: on
          }
        },
      );

      await t.step(
        "a malformed value and an unknown key are refused and reported",
        async () => {
          await ready();
          const before = await reports(followers);
          for (
            const [what, poke, why] of [
              [
                "a malformed value",
                async () => {
                  const nc = await connect({
                    servers: cluster.store.split(",").map((s) => s.slice(7)),
                    user: OPERATOR.user,
                    pass: OPERATOR.password,
                  });
                  const kv = await new Kvm(nc).open("static_keys_desired");
                  const r = await kv.put(`${SCOPE}.host.h1`, '{"tracing": 1}');
                  await nc.close();
                  return r;
                },
                /the value 1 for key "tracing"/,
              ],
              [
                "an unknown key",
                () =>
                  set(cluster.store, SCOPE, { tarcing: "on" }, {
                    ...OPERATOR,
                    host: "h1",
                  }),
                /no key "tarcing"/,
              ],
            ] as const
          ) {
            const r = await poke();
            const h1 = followers.filter((_, i) => i % 4 === 1)
              .map((f) => f.instance);
            // The others apply it, host h1's refuse it: wait (generously,
            // the machine may be loaded) until only h1's are behind, saying
            // why.
            const deadline = performance.now() + 60_000;
            let pending;
            do {
              ({ pending } = await waitFor(cluster.store, SCOPE, r, {
                ...admin,
                timeout: 3000,
              }));
            } while (
              (pending.length !== h1.length ||
                pending.some((f) => !why.test(f.error ?? ""))) &&
              performance.now() < deadline
            );
            assert.deepEqual(
              pending.map((f) => f.instance).sort(),
              h1.sort(),
              `${what}: only host h1's followers refuse it`,
            );
            for (const f of pending) assert.match(f.error ?? "", why);
            const report = await status(cluster.store, SCOPE, admin);
            assert.equal(
              report.followers.filter((f) => !f.converged).length,
              h1.length,
            );
            const now = await reports(followers);
            for (let i = 1; i < FOLLOWERS; i += 4) {
              assert.deepEqual(
                now[i].keys,
                before[i].keys,
                `${what}: unchanged`,
              );
              assert.deepEqual(now[i].sites, before[i].sites);
            }
            const fixed = await set(cluster.store, SCOPE, {
              tracing: null,
              tarcing: null,
            }, { ...OPERATOR, host: "h1" });
            await converged(cluster.store, fixed, FOLLOWERS);
          }
        },
      );

      await t.step(
        "a follower's credentials cannot change the desired state",
        async () => {
          await ready();
          const before = await get(cluster.store, SCOPE, OPERATOR);
          await assert.rejects(
            () => set(cluster.store, SCOPE, { tracing: "off" }, FOLLOWER),
            (e: unknown) => e instanceof FleetError && e.code === "EAUTH",
          );
          // The put itself, past set()'s read: the server refuses it.
          const nc = await connect({
            servers: cluster.store.split(",").map((s) => s.slice(7)),
            user: FOLLOWER.user,
            pass: FOLLOWER.password,
          });
          try {
            await assert.rejects(() =>
              nc.request(`$KV.static_keys_desired.${SCOPE}.scope`, "{}", {
                timeout: 2000,
              })
            );
          } finally {
            await nc.close();
          }
          assert.deepEqual(await get(cluster.store, SCOPE, OPERATOR), before);
        },
      );

      await t.step("an anonymous connection is refused", async () => {
        await ready();
        await assert.rejects(
          () => get(cluster.store, SCOPE),
          (e: unknown) => e instanceof FleetError && e.code === "EAUTH",
        );
        // Several at once: the server's reset after refusing them must not
        // end any of these processes.
        const anonymous = await Promise.all(
          [95, 96, 97, 98, 99].map((i) =>
            startFollower({ ...spec(i), user: undefined, password: undefined })
          ),
        );
        for (const f of anonymous) {
          assert.equal(f.started.code, "EAUTH", JSON.stringify(f.started));
          await f.exit();
        }
      });

      await t.step("no follower process died", () => {
        for (const f of followers) {
          if (f.exited && !asked.has(f)) died.push(f.instance);
        }
        assert.deepEqual(died, []);
      });
    } finally {
      await Promise.all(followers.map((f) => f.kill()));
      await cluster.stop();
    }
  },
});
