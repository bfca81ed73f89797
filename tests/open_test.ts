// SPDX-License-Identifier: MIT
// open(): permission, missing library, argument types; close() and `using`.

import assert from "node:assert/strict";
import {
  ModuleClosedError,
  open,
  type StaticKeysModule,
  UnappliedBatchError,
  UnknownKeyError,
} from "../mod.ts";
import {
  type demoSymbols,
  LIB,
  openDemo,
  runDeno,
  runOpen,
  spawn,
} from "./_helpers.ts";
import { cacheEnvNames, TARGET, VERSION } from "../src/runtime/_cache.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname)
  .replace(/\/$/, "");
const BUILD_COMMAND =
  "deno run --allow-env --allow-read --allow-write --allow-run=cmake " +
  `--allow-sys=uid jsr:@static-keys/deno@${VERSION}/build`;

/** What open() adds when it could not read STATIC_KEYS_LIB. */
const ENV_NOTE =
  "; STATIC_KEYS_LIB could not be read without --allow-env, if it is set run again with --allow-env=STATIC_KEYS_LIB";

/** The error open() gives for LIB without --allow-ffi; `note` ends it. */
function ffiRefused(note = "") {
  return {
    name: "FfiPermissionError",
    code: -9,
    path: LIB,
    message:
      `Cannot open "${LIB}": loading native code requires --allow-ffi, run again with --allow-ffi=${LIB}${note}`,
  };
}

Deno.test("open() refuses a path without --allow-ffi", async (t) => {
  const variants = [
    ["without the flag", []],
    ["with the flag for another path", ["--allow-ffi=/tmp/other/libx.so"]],
  ] as const;
  for (const [what, flags] of variants) {
    await t.step(what, async () => {
      const { result } = await runOpen([...flags]);
      assert.deepEqual(result, ffiRefused(ENV_NOTE));
    });
  }
  await t.step("given as a path", async () => {
    const { result } = await runOpen([], [LIB]);
    assert.deepEqual(result, ffiRefused());
  });
});

Deno.test("open() loads the library with --allow-ffi for its path only", async () => {
  const { result } = await runOpen([`--allow-ffi=${LIB}`]);
  assert.deepEqual(result, { name: "opened", message: LIB });
});

Deno.test("open() says what to do about a missing library, by where its path came from", async (t) => {
  const missing = "/tmp/static-keys-missing/libstatic_keys.so";
  const notFound = (hint: string) => ({
    name: "LibraryNotFoundError",
    code: -9,
    path: missing,
    message: `Cannot find library "${missing}": ${hint}`,
  });
  await t.step("a path given to open(): check it, no build hint", async () => {
    const { result } = await runOpen([`--allow-ffi=${missing}`], [missing]);
    assert.deepEqual(
      result,
      notFound("no such file, check the path given to open()"),
    );
    assert.doesNotMatch(result.message, /deno task build/);
  });
  await t.step("a path from STATIC_KEYS_LIB: check the variable", async () => {
    const { result } = await runOpen(
      [`--allow-ffi=${missing}`, "--allow-env=STATIC_KEYS_LIB"],
      [],
      { STATIC_KEYS_LIB: missing },
    );
    assert.deepEqual(
      result,
      notFound(
        "no such file, check STATIC_KEYS_LIB or unset it to use the package's library",
      ),
    );
  });
  await t.step("the package's own library, in a clone: build it", async () => {
    const { result } = await runOpen([
      `--allow-ffi=${missing}`,
      `--allow-read=${ROOT}/scripts/build.ts`,
    ], ["--load", missing]);
    assert.deepEqual(
      result,
      notFound(`build the package's library with "deno task build"`),
    );
  });
  await t.step(
    "the package's own library, not known to be a clone: both ways",
    async () => {
      const { result } = await runOpen([`--allow-ffi=${missing}`], [
        "--load",
        missing,
      ]);
      assert.deepEqual(
        result,
        notFound(
          `build the package's library with "deno task build" in a clone of the repository, ` +
            `else with "${BUILD_COMMAND}"`,
        ),
      );
    },
  );
});

Deno.test("open() in a local copy of the published package (vendor/) names the build entry", async () => {
  const scratch = `${ROOT}/build/vendor-test`;
  const copy = await new Deno.Command("sh", {
    args: [
      "-ec",
      `rm -rf "$2" && mkdir -p "$2/pkg/tests/fixtures" "$2/cache"
       cp -R "$1/mod.ts" "$1/src" "$1/deno.json" "$2/pkg/"
       cp "$1/tests/fixtures/open_main.ts" "$2/pkg/tests/fixtures/"`,
      "sh",
      ROOT,
      scratch,
    ],
  }).output();
  assert.equal(copy.code, 0, new TextDecoder().decode(copy.stderr));
  const main = `${scratch}/pkg/tests/fixtures/open_main.ts`;
  const cache = `${scratch}/cache`;
  const out = await runDeno([
    "--allow-env=STATIC_KEYS_LIB,STATIC_KEYS_CACHE",
    `--allow-read=${scratch}`,
    main,
  ], { STATIC_KEYS_CACHE: cache, STATIC_KEYS_LIB: "" });
  const result = JSON.parse(out.stdout);
  assert.deepEqual(result, {
    name: "LibraryNotFoundError",
    code: -9,
    path: `${cache}/${VERSION}/${TARGET}/libstatic_keys.so`,
    message:
      `Cannot find the package's library: mod.ts was loaded from "file://${scratch}/pkg" ` +
      `and "${cache}/${VERSION}/${TARGET}/libstatic_keys.so" does not exist: ` +
      `build it with "${BUILD_COMMAND}", or set STATIC_KEYS_LIB to the path of libstatic_keys.so`,
  });
  // No variable that could locate a cache (a service without HOME).
  const bare = await spawn(Deno.execPath(), [
    "run",
    "--no-prompt",
    "--no-config",
    "--allow-env",
    `--allow-read=${scratch}`,
    main,
  ], { clearEnv: true });
  // No cache to try: the path tried is the local build/lib/ one.
  assert.equal(
    JSON.parse(bare.stdout).path,
    `${scratch}/pkg/build/lib/libstatic_keys.so`,
  );
  assert.deepEqual(
    JSON.parse(bare.stdout).message,
    `Cannot find the package's library: mod.ts was loaded from "file://${scratch}/pkg" ` +
      `and no cache directory is set (${
        cacheEnvNames().join(", ")
      } are unset): ` +
      `set STATIC_KEYS_CACHE and build it with "${BUILD_COMMAND}", ` +
      `or set STATIC_KEYS_LIB to the path of libstatic_keys.so`,
  );
});

Deno.test("open() names --allow-env=STATIC_KEYS_LIB when it cannot read the variable", async (t) => {
  const mine = "/tmp/static-keys-mine/libmine.so";
  await t.step("--allow-ffi for the variable's path only", async () => {
    const { result } = await runOpen([`--allow-ffi=${mine}`], [], {
      STATIC_KEYS_LIB: mine,
    });
    assert.deepEqual(result, ffiRefused(ENV_NOTE));
  });
  await t.step("no note once --allow-env is given", async () => {
    const { result } = await runOpen(
      [`--allow-ffi=${LIB}`, "--allow-env=STATIC_KEYS_LIB"],
      [],
      { STATIC_KEYS_LIB: LIB },
    );
    assert.deepEqual(result, { name: "opened", message: LIB });
  });
  await t.step(
    "--allow-ffi for the package's library: that one opens",
    async () => {
      const { result } = await runOpen([`--allow-ffi=${LIB}`], [], {
        STATIC_KEYS_LIB: mine,
      });
      assert.deepEqual(result, { name: "opened", message: LIB });
    },
  );
  // An unscoped --allow-ffi names no library: the package's would load in
  // place of the variable's, set or not, so open() refuses both ways.
  const unseen = {
    name: "FfiPermissionError",
    code: -9,
    path: LIB,
    message:
      `Cannot open the package's library: STATIC_KEYS_LIB cannot be read ` +
      `without --allow-env, and with --allow-ffi for every library the one ` +
      `it may name would be passed over unseen: run again with ` +
      `--allow-env=STATIC_KEYS_LIB, or with --allow-ffi=${LIB} for the ` +
      `package's library`,
  };
  for (
    const [what, env] of [["set", { STATIC_KEYS_LIB: mine }], [
      "unset",
      {},
    ]] as const
  ) {
    await t.step(
      `an unscoped --allow-ffi, the variable ${what}: refused`,
      async () => {
        const { result } = await runOpen(["--allow-ffi"], [], env);
        assert.deepEqual(result, unseen);
      },
    );
  }
  await t.step(
    "an unscoped --allow-ffi with --allow-env: the variable's",
    async () => {
      const { result } = await runOpen(
        ["--allow-ffi", "--allow-env=STATIC_KEYS_LIB"],
        [],
        { STATIC_KEYS_LIB: LIB },
      );
      assert.deepEqual(result, { name: "opened", message: LIB });
    },
  );
  await t.step(
    "an unscoped --allow-ffi, a path given: no variable involved",
    async () => {
      const { result } = await runOpen(["--allow-ffi"], [LIB]);
      assert.deepEqual(result, { name: "opened", message: LIB });
    },
  );
});

Deno.test("open() refuses arguments of the wrong type", async (t) => {
  await t.step("a path that is not a string or URL", () => {
    assert.throws(() => open(42 as unknown as string), TypeError);
  });
  await t.step("an unknown strategy", () => {
    assert.throws(
      () => open(undefined, { strategy: "fast" as unknown as "remap" }),
      TypeError,
    );
  });
  await t.step("a symbol the package binds itself", () => {
    assert.throws(
      () =>
        open(undefined, {
          symbols: { static_keys_ffi_set: { parameters: [], result: "void" } },
        }),
      TypeError,
    );
  });
  await t.step("a URL that is not a file: URL", () => {
    assert.throws(
      () => open(new URL("https://example.com/libstatic_keys.so")),
      TypeError,
    );
  });
  await t.step("a file: URL is accepted", () => {
    using mod = open(new URL(`file://${LIB}`));
    assert.equal(mod.path, LIB);
  });
});

Deno.test("StaticKeysModule refuses every use after close()", async (t) => {
  const mod = openDemo();
  const key = mod.key("tracing");
  const batch = mod.batch().enable("tracing");
  await t.step("close() closes, and reports the batch never applied", () => {
    assert.throws(() => mod.close(), UnappliedBatchError);
    assert.equal(mod.closed, true);
  });
  await t.step("close() again is a no-op", () => {
    mod.close();
    assert.equal(mod.closed, true);
  });
  const uses: [string, () => unknown][] = [
    ["keys", () => mod.keys],
    ["names", () => mod.names],
    ["key()", () => mod.key("tracing")],
    ["set()", () => mod.set({ tracing: true })],
    ["batch().apply()", () => batch.apply()],
    ["stats()", () => mod.stats()],
    ["strategy", () => mod.strategy],
    ["setStrategy()", () => mod.setStrategy("mprotect")],
    ["symbols", () => mod.symbols],
    ["unsafeLibrary", () => mod.unsafeLibrary],
    ["version", () => mod.version],
    ["StaticKey.enabled", () => key.enabled],
    ["StaticKey.enable()", () => key.enable()],
    ["StaticKey.inc()", () => key.inc()],
  ];
  for (const [what, use] of uses) {
    await t.step(`${what} throws ModuleClosedError`, () => {
      assert.throws(use, (error: unknown) => {
        assert.ok(error instanceof ModuleClosedError);
        assert.equal(error.code, -1);
        assert.match(error.message, /: the handle of ".*" is closed$/);
        return true;
      });
    });
  }
  await t.step("path and closed still answer", () => {
    assert.equal(mod.path, LIB);
  });
  await t.step("other handles stay open", () => {
    using other = openDemo();
    assert.equal(other.key("tracing").enabled, false);
    assert.throws(() => other.key("nope"), UnknownKeyError);
  });
});

Deno.test("open() handles close at the end of a using block", () => {
  let seen: StaticKeysModule<typeof demoSymbols> | undefined;
  {
    using mod = openDemo();
    seen = mod;
    assert.equal(mod.closed, false);
  }
  assert.equal(seen.closed, true);
  assert.throws(() => seen.keys, ModuleClosedError);
});
