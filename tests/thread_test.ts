// SPDX-License-Identifier: MIT
// Keys flip only on the main thread: mod.ts refuses a Worker before any
// native call, and the native layer refuses any thread but the module's
// owner while the owner lives (a Worker's thread that used the raw ABI
// first owns it until that thread ends).

import assert from "node:assert/strict";
import { WrongThreadError } from "../mod.ts";
import { defaultStrategy, LIB, openDemo, runDeno, taken } from "./_helpers.ts";

Deno.test("open() refuses to run inside a Worker", async () => {
  const worker = new Worker(
    new URL("./fixtures/worker.ts", import.meta.url),
    { type: "module" },
  );
  const reply = await new Promise<Record<string, unknown>>(
    (resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(e.message));
      };
    },
  );
  worker.terminate();
  assert.deepEqual(reply, {
    name: "WrongThreadError",
    code: -3,
    message:
      "Cannot open the package's library from a Worker: keys can only be flipped on the main thread",
  });
  // The Worker touched nothing: the main thread still owns the module.
  using mod = openDemo();
  mod.key("tracing").enable();
  assert.equal(taken(mod).tracing, true);
});

Deno.test("static_keys_ffi_set() refuses a call from another thread", async (t) => {
  using mod = openDemo(); // initialises the module on the main thread
  // nonblocking: Deno runs the call on a thread of its blocking pool.
  using lib = Object.assign(
    Deno.dlopen(LIB, {
      static_keys_ffi_set: {
        parameters: ["u32", "i32"],
        result: "i32",
        nonblocking: true,
      },
      static_keys_ffi_set_many: {
        parameters: ["buffer", "buffer", "u32"],
        result: "i32",
        nonblocking: true,
      },
      static_keys_ffi_inc: {
        parameters: ["u32"],
        result: "i32",
        nonblocking: true,
      },
    }),
    { [Symbol.dispose]: () => {} },
  );
  const tracing = mod.key("tracing").index;
  const checks = mod.key("checks").index;
  const before = mod.stats();
  const calls = [
    ["set", () => lib.symbols.static_keys_ffi_set(tracing, 1)],
    ["inc", () => lib.symbols.static_keys_ffi_inc(tracing)],
    [
      "set_many",
      () =>
        lib.symbols.static_keys_ffi_set_many(
          new Uint32Array([tracing, checks]),
          new Uint8Array([1, 0]),
          2,
        ),
    ],
  ] as const;
  for (const [name, call] of calls) {
    await t.step(
      `${name} resolves to ETHREAD and changes nothing`,
      async () => {
        assert.equal(await call(), -3);
        assert.deepEqual(taken(mod), {
          tracing: false,
          checks: true,
          experimental: false,
        });
        assert.equal(mod.key("tracing").enabled, false);
        assert.equal(mod.key("tracing").info().count, 0);
        assert.equal(mod.stats().flips, before.flips);
      },
    );
  }
  lib.close();
  await t.step("the main thread still flips", () => {
    mod.key("tracing").enable();
    assert.equal(taken(mod).tracing, true);
  });
});

Deno.test("StaticKeysModule flips refuse to run inside a Worker", async (t) => {
  using mod = openDemo();
  // A handle cannot reach a Worker, so make this thread look like one: the
  // guard asks `globalThis instanceof WorkerGlobalScope`. On the main thread
  // a native call would succeed, so "nothing changed" shows it was not made.
  const scope = globalThis as { WorkerGlobalScope?: unknown };
  const key = mod.key("tracing");
  const flips: [string, () => unknown][] = [
    ["StaticKey.enable()", () => key.enable()],
    ["StaticKey.disable()", () => mod.key("checks").disable()],
    ["StaticKey.toggle()", () => key.toggle()],
    ["StaticKey.set()", () => key.set(true)],
    ["StaticKey.inc()", () => key.inc()],
    ["StaticKey.dec()", () => mod.key("checks").dec()],
    ["set()", () => mod.set({ tracing: true })],
    ["batch().apply()", () => mod.batch().enable("tracing").apply()],
    ["setStrategy()", () => mod.setStrategy("mprotect")],
  ];
  const before = mod.stats();
  scope.WorkerGlobalScope = class {
    static [Symbol.hasInstance]() {
      return true;
    }
  };
  try {
    for (const [what, flip] of flips) {
      await t.step(`${what} throws WrongThreadError`, () => {
        assert.throws(flip, (error: unknown) => {
          assert.ok(error instanceof WrongThreadError);
          assert.equal(error.code, -3);
          assert.match(
            error.message,
            / from a Worker: keys can only be flipped on the main thread$/,
          );
          return true;
        });
      });
    }
  } finally {
    delete scope.WorkerGlobalScope;
  }
  assert.deepEqual(taken(mod), {
    tracing: false,
    checks: true,
    experimental: false,
  });
  assert.equal(mod.stats().flips, before.flips);
  assert.equal(mod.strategy, defaultStrategy(mod.stats()));
  key.enable(); // the main thread again
  assert.equal(taken(mod).tracing, true);
});

Deno.test("open() owns the module after a nonblocking read came first", async () => {
  // A fresh process: in this one the module is owned already.
  const out = await runDeno([
    `--allow-ffi=${LIB}`,
    `--allow-read=${LIB}`,
    new URL("./fixtures/read_first.ts", import.meta.url).pathname,
    LIB,
  ]);
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), {
    count: 4,
    enabled: true,
  });
});

Deno.test("open() owns the module once a Worker that flipped through the raw ABI has ended", async () => {
  // A fresh process: in this one the main thread owns the module already.
  const worker = new URL("./fixtures/worker_ffi.ts", import.meta.url).pathname;
  const out = await runDeno([
    `--allow-ffi=${LIB}`,
    `--allow-read=${LIB},${worker}`,
    new URL("./fixtures/worker_owner.ts", import.meta.url).pathname,
    LIB,
  ]);
  assert.equal(out.code, 0, out.stderr);
  const result = JSON.parse(out.stdout);
  // the Worker's thread owned the module: its flips went through
  assert.deepEqual(result.worker, { init: 0, on: 0, off: 0 });
  assert.equal(result.opened, true, result.error);
  assert.equal(result.taken, 1);
});
