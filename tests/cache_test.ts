// SPDX-License-Identifier: MIT
// The build entry's cache is trusted only when it can be: open() without a
// path and the build entry, on caches laid out as an attacker or an
// accident would leave them. The library planted there
// (tests/planted.c) creates a marker file from its constructor, so each
// refusal also proves that none of its code ran.
//
// Each case runs in fresh `deno run`s with exactly the flags a user gives
// (open() from a vendored copy of the package, as build_test's users do;
// the build entry from tests/fixtures/build_error.ts); the caches are laid
// out by tests/fixtures/cache_plan.ts, which as root also gives files to
// an unused uid (4242).

import assert from "node:assert/strict";
import { sha256Hex } from "../src/runtime/_sha256.ts";
import {
  BUILD_COMMAND,
  cacheRoot,
  METADATA_FILE,
  TARGET,
  VERSION,
} from "../src/runtime/_cache.ts";
import { sourcesDigest } from "../src/builder/_build.ts";
import type { Metadata } from "../src/runtime/_trust.ts";
import { LIB, type Run, runOpen, spawn } from "./_helpers.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname)
  .replace(/\/$/, "");
const SCRATCH = `${ROOT}/build/cache-test`;
const PLANTED = `${ROOT}/build/tests/libsk_planted.so`;
const NAME = "libstatic_keys.so";
const OTHER = 4242;
const REBUILD = `rebuild it with "${BUILD_COMMAND}"`;

/** A step of tests/fixtures/cache_plan.ts. */
type Step =
  | { mkdir: string; mode: number }
  | { copy: string; to: string; mode: number }
  | { write: string; text: string; mode: number }
  | { pad: string; size: number }
  | { chmod: string; mode: number }
  | { chown: string; uid: number }
  | { symlink: string; path: string }
  | { remove: string };

async function plan(steps: Step[]): Promise<void> {
  const run = await spawn(Deno.execPath(), [
    "run",
    "--no-config",
    "--allow-read",
    "--allow-write",
    `${ROOT}/tests/fixtures/cache_plan.ts`,
    JSON.stringify(steps),
  ]);
  assert.equal(run.code, 0, run.stderr);
}

/** This user's id, from a subprocess (the tests have no --allow-sys). */
async function uid(): Promise<number> {
  const run = await spawn(Deno.execPath(), [
    "eval",
    "--no-config",
    "console.log(Deno.uid())",
  ]);
  return Number(run.stdout.trim());
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Where one case lays out its cache. */
interface Paths {
  base: string;
  root: string;
  version: string;
  dir: string;
  library: string;
  metadata: string;
  marker: string;
}

function paths(name: string, shared = false): Paths {
  const base = `${SCRATCH}/${name}`;
  const root = shared ? `${base}/shared/cache` : `${base}/cache`;
  const version = `${root}/${VERSION}`;
  const dir = `${version}/${TARGET}`;
  return {
    base,
    root,
    version,
    dir,
    library: `${dir}/${NAME}`,
    metadata: `${dir}/${METADATA_FILE}`,
    marker: `${base}/marker`,
  };
}

/** A cache of `from`, with `meta` as its metadata (none when undefined). */
function layout(
  p: Paths,
  from: string,
  meta: Partial<Metadata> | string | undefined,
  shared = false,
): Step[] {
  return [
    { remove: p.base },
    { mkdir: p.base, mode: 0o755 },
    ...(shared ? [{ mkdir: `${p.base}/shared`, mode: 0o777 }] : []),
    { mkdir: p.root, mode: 0o755 },
    { mkdir: p.version, mode: 0o755 },
    { mkdir: p.dir, mode: 0o755 },
    { copy: from, to: p.library, mode: 0o755 },
    ...(meta === undefined ? [] : [{
      write: p.metadata,
      text: typeof meta === "string" ? meta : JSON.stringify(meta),
      mode: 0o644,
    }]),
  ];
}

/** The package copied beside the caches: mod.ts not in a clone. */
async function vendor(): Promise<string> {
  const pkg = `${SCRATCH}/pkg`;
  const run = await spawn("sh", [
    "-ec",
    `rm -rf "$2" && mkdir -p "$2/tests/fixtures"
     cp -R "$1/mod.ts" "$1/src" "$1/deno.json" "$2/"
     cp "$1/tests/fixtures/open_main.ts" "$2/tests/fixtures/"`,
    "sh",
    ROOT,
    pkg,
  ]);
  assert.equal(run.code, 0, run.stderr);
  return `${pkg}/tests/fixtures/open_main.ts`;
}

function json(run: Run): Record<string, unknown> {
  try {
    return JSON.parse(run.stdout);
  } catch {
    throw new Error(`no JSON on stdout: ${run.stdout}\n${run.stderr}`);
  }
}

/** open() without a path, in a fresh deno with `flags`, from `main`. */
async function openCached(
  main: string,
  p: Paths,
  flags = [
    `--allow-read=${p.root}`,
    "--allow-sys=uid",
    `--allow-ffi=${p.library}`,
  ],
  cwd?: string,
  cache = p.root,
): Promise<Record<string, unknown>> {
  return json(
    await spawn(Deno.execPath(), [
      "run",
      "--no-prompt",
      "--no-config",
      "--allow-env=STATIC_KEYS_CACHE,STATIC_KEYS_LIB",
      ...flags,
      main,
    ], {
      cwd,
      env: {
        STATIC_KEYS_CACHE: cache,
        STATIC_KEYS_LIB: "",
        STATIC_KEYS_TEST_MARKER: p.marker,
      },
    }),
  );
}

/**
 * The build entry, allowed only to look (read the cache, know the uid):
 * what it reports without building anything.
 */
async function buildLooking(
  p: Paths,
  cwd?: string,
  cache = p.root,
): Promise<Record<string, unknown>> {
  return json(
    await spawn(Deno.execPath(), [
      "run",
      "--no-prompt",
      "--no-config",
      "--allow-env=STATIC_KEYS_CACHE",
      `--allow-read=${p.root}`,
      "--allow-sys=uid",
      `${ROOT}/tests/fixtures/build_error.ts`,
    ], {
      cwd,
      env: { STATIC_KEYS_CACHE: cache, STATIC_KEYS_TEST_MARKER: p.marker },
    }),
  );
}

/** A refused open(), as open_main.ts prints it. */
function refused(
  p: Paths,
  reason: string,
  what: string,
  fix = REBUILD,
) {
  return {
    name: "UntrustedLibraryError",
    code: -9,
    path: p.library,
    reason,
    message:
      `Cannot open the package's library "${p.library}": ${what}: ${fix}`,
  };
}

/** The build entry's refusal of a cache folder. */
function untrusted(what: string, fix: string) {
  return {
    error: {
      name: "BuildError",
      reason: "cache",
      code: -9,
      message:
        `Cannot build the static-keys library: the cache cannot be trusted: ${what}: ${fix}`,
    },
  };
}

/** The build entry's report that it would rebuild, were it allowed to. */
function mustRebuild(p: Paths, why: string) {
  return {
    error: {
      name: "BuildError",
      reason: "permission",
      code: -9,
      message:
        `Cannot build the static-keys library: the library in the cache must be rebuilt (${why}), ` +
        `and building into the cache requires more permissions, run again with ` +
        `--allow-write=${p.root} --allow-run=cmake`,
    },
  };
}

Deno.test("sha256Hex() gives what crypto.subtle gives", async () => {
  const lengths = [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 70_001];
  for (const length of lengths) {
    const bytes = new Uint8Array(length).map((_, i) => (i * 131 + 7) & 0xff);
    const hash = await crypto.subtle.digest("SHA-256", bytes);
    const hex = Array.from(
      new Uint8Array(hash),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    assert.equal(sha256Hex(bytes), hex, `${length} bytes`);
  }
});

Deno.test({
  name:
    "open() refuses a library in the cache it cannot trust, before any of its code runs",
  ignore: Deno.build.os !== "linux",
  async fn(t) {
    const me = await uid();
    const root = me === 0;
    const main = await vendor();
    const real = Deno.readFileSync(LIB);
    const planted = Deno.readFileSync(PLANTED);
    assert.ok(planted.length < real.length, "the planted library is smaller");
    const digest = await sourcesDigest();
    const meta = (bytes: Uint8Array, extra: Partial<Metadata> = {}) => ({
      version: VERSION,
      target: TARGET,
      sources: digest,
      library: NAME,
      sha256: sha256Hex(bytes),
      size: bytes.length,
      cmake: "3.25.1",
      compiler: "GNU 12.2.0",
      built: "2025-01-01T00:00:00.000Z",
      ...extra,
    });
    const padded = new Uint8Array(real.length);
    padded.set(planted);
    const by = `not by you (uid ${me}) or root`;

    await t.step(
      "the marker works: the planted library, opened by path, runs",
      async () => {
        const p = paths("control");
        await plan(layout(p, PLANTED, meta(planted)));
        const { result } = await runOpen(
          [`--allow-ffi=${p.library}`],
          [p.library],
          { STATIC_KEYS_TEST_MARKER: p.marker },
        );
        assert.deepEqual(result, { name: "opened", message: p.library });
        assert.ok(exists(p.marker), "its constructor ran");
      },
    );

    await t.step("the library the build entry would write opens", async () => {
      const p = paths("genuine");
      await plan(layout(p, LIB, meta(real)));
      assert.deepEqual(await openCached(main, p), {
        name: "opened",
        message: p.library,
      });
      assert.deepEqual(await buildLooking(p), {
        result: {
          version: VERSION,
          target: TARGET,
          directory: p.dir,
          library: p.library,
          built: false,
        },
      });
    });

    // [case, root only, shared folder, library, metadata, more steps,
    //  open()'s reason, what it says, its fix, the build entry's answer]
    type Row = [
      string,
      boolean,
      boolean,
      string,
      (p: Paths) => Partial<Metadata> | string | undefined,
      (p: Paths) => Step[],
      string,
      (p: Paths) => string,
      ((p: Paths) => string) | undefined,
      ((p: Paths) => unknown) | undefined,
    ];
    const rows: Row[] = [
      [
        "planted by uid 4242 in a world-writable folder, with honest metadata",
        true,
        true,
        PLANTED,
        () => meta(planted),
        (p) =>
          [p.root, p.version, p.dir, p.library, p.metadata].map((path) => ({
            chown: path,
            uid: OTHER,
          })),
        "owner",
        (p) =>
          `"${p.root}" is owned by uid ${OTHER}, ${by}, so its owner could have put anything there`,
        () => `set STATIC_KEYS_CACHE to a folder of your own, then ${REBUILD}`,
        (p) =>
          untrusted(
            `"${p.root}" is owned by uid ${OTHER}, ${by}, so its owner could have put anything there`,
            "set STATIC_KEYS_CACHE to a folder of your own, then run the build again",
          ),
      ],
      [
        "a planted library, with the metadata of the real one (other size)",
        false,
        false,
        PLANTED,
        () => meta(real),
        () => [],
        "hash",
        (p) =>
          `"${p.library}" has ${planted.length} bytes, its metadata recorded ${real.length}`,
        undefined,
        (p) =>
          mustRebuild(
            p,
            `"${p.library}" has ${planted.length} bytes, its metadata recorded ${real.length}`,
          ),
      ],
      [
        "a planted library of the real one's size, with its metadata",
        false,
        false,
        PLANTED,
        () => meta(real),
        (p) => [{ pad: p.library, size: real.length }],
        "hash",
        (p) =>
          `the SHA-256 of "${p.library}" is ${
            sha256Hex(padded)
          }, its metadata recorded ${sha256Hex(real)}`,
        undefined,
        (p) =>
          mustRebuild(
            p,
            `the SHA-256 of "${p.library}" is ${
              sha256Hex(padded)
            }, its metadata recorded ${sha256Hex(real)}`,
          ),
      ],
      [
        "a version folder writable by others",
        false,
        false,
        PLANTED,
        () => meta(planted),
        (p) => [{ chmod: p.version, mode: 0o777 }],
        "mode",
        (p) =>
          `"${p.version}" is writable by group or others (mode 0777), so anyone in them could have replaced what it holds`,
        (p) => `remove "${p.version}", then ${REBUILD}`,
        (p) =>
          untrusted(
            `"${p.version}" is writable by group or others (mode 0777), so anyone in them could have replaced what it holds`,
            `remove "${p.version}", then run the build again`,
          ),
      ],
      [
        "a cache root writable by its group",
        false,
        false,
        PLANTED,
        () => meta(planted),
        (p) => [{ chmod: p.root, mode: 0o775 }],
        "mode",
        (p) =>
          `"${p.root}" is writable by group or others (mode 0775), so anyone in them could have replaced what it holds`,
        (p) =>
          `make it writable only by its owner (chmod go-w "${p.root}") or set STATIC_KEYS_CACHE to a folder only you can write, then ${REBUILD}`,
        (p) =>
          untrusted(
            `"${p.root}" is writable by group or others (mode 0775), so anyone in them could have replaced what it holds`,
            `make it writable only by its owner (chmod go-w "${p.root}") or set STATIC_KEYS_CACHE to a folder only you can write, then run the build again`,
          ),
      ],
      [
        "a library writable by others",
        false,
        false,
        PLANTED,
        () => meta(planted),
        (p) => [{ chmod: p.library, mode: 0o777 }],
        "mode",
        (p) =>
          `"${p.library}" is writable by group or others (mode 0777), so anyone in them could have replaced what it holds`,
        undefined,
        (p) =>
          mustRebuild(
            p,
            `"${p.library}" is writable by group or others (mode 0777), so anyone in them could have replaced what it holds`,
          ),
      ],
      [
        "metadata owned by uid 4242",
        true,
        false,
        PLANTED,
        () => meta(planted),
        (p) => [{ chown: p.metadata, uid: OTHER }],
        "owner",
        (p) =>
          `"${p.metadata}" is owned by uid ${OTHER}, ${by}, so its owner could have put anything there`,
        undefined,
        undefined,
      ],
      [
        "the library a symbolic link to a planted one",
        false,
        false,
        PLANTED,
        () => meta(planted),
        (p) => [
          { copy: PLANTED, to: `${p.base}/elsewhere.so`, mode: 0o755 },
          { remove: p.library },
          { symlink: `${p.base}/elsewhere.so`, path: p.library },
        ],
        "file",
        (p) => `"${p.library}" is a symbolic link, not a regular file`,
        undefined,
        undefined,
      ],
      [
        'metadata naming "../../../evil.so" as the library',
        false,
        false,
        PLANTED,
        () => meta(planted, { library: "../../../evil.so" }),
        (p) => [{ copy: PLANTED, to: `${p.base}/evil.so`, mode: 0o755 }],
        "metadata",
        (p) =>
          `its metadata "${p.metadata}" names "../../../evil.so" as the library, not "${NAME}" in the same folder`,
        undefined,
        (p) =>
          mustRebuild(
            p,
            `its metadata "${p.metadata}" names "../../../evil.so" as the library, not "${NAME}" in the same folder`,
          ),
      ],
      [
        "metadata naming an absolute path as the library",
        false,
        false,
        PLANTED,
        (p) => meta(planted, { library: `${p.base}/evil.so` }),
        (p) => [{ copy: PLANTED, to: `${p.base}/evil.so`, mode: 0o755 }],
        "metadata",
        (p) =>
          `its metadata "${p.metadata}" names "${p.base}/evil.so" as the library, not "${NAME}" in the same folder`,
        undefined,
        undefined,
      ],
      [
        "no metadata",
        false,
        false,
        PLANTED,
        () => undefined,
        () => [],
        "metadata",
        (p) =>
          `its metadata "${p.metadata}" is missing, so there is nothing to check it against`,
        undefined,
        (p) =>
          mustRebuild(
            p,
            `its metadata "${p.metadata}" is missing, so there is nothing to check it against`,
          ),
      ],
      [
        "metadata of an older build entry, without hash and size",
        false,
        false,
        PLANTED,
        () => {
          const { sha256: _, size: __, ...old } = meta(planted);
          return old;
        },
        () => [],
        "metadata",
        (p) =>
          `its metadata "${p.metadata}" records no SHA-256 and size of the library (an older build entry wrote it)`,
        undefined,
        undefined,
      ],
    ];
    for (
      const [
        what,
        rootOnly,
        shared,
        from,
        metaOf,
        more,
        reason,
        text,
        fix,
        build,
      ] of rows
    ) {
      await t.step({
        name: what,
        ignore: rootOnly && !root,
        fn: async () => {
          const p = paths(what.replace(/\W+/g, "-"), shared);
          await plan([...layout(p, from, metaOf(p), shared), ...more(p)]);
          assert.deepEqual(
            await openCached(main, p),
            refused(p, reason, text(p), fix?.(p)),
          );
          assert.ok(!exists(p.marker), "none of the library's code ran");
          if (build) assert.deepEqual(await buildLooking(p), build(p));
          assert.ok(!exists(p.marker), "the build entry ran none of it");
        },
      });
    }

    await t.step({
      name:
        "the command line of the build entry refuses the planted cache and exits 1",
      ignore: !root,
      fn: async () => {
        const p = paths("command-line", true);
        await plan([
          ...layout(p, PLANTED, meta(planted), true),
          ...[p.root, p.version, p.dir, p.library, p.metadata].map((path) => ({
            chown: path,
            uid: OTHER,
          })),
        ]);
        const run = await spawn(Deno.execPath(), [
          "run",
          "--no-prompt",
          "--no-config",
          "--allow-env",
          `--allow-read=${p.root}`,
          `--allow-write=${p.root}`,
          "--allow-run=cmake",
          "--allow-sys=uid",
          `${ROOT}/build.ts`,
        ], { env: { STATIC_KEYS_CACHE: p.root } });
        assert.equal(run.code, 1, run.stdout);
        assert.equal(run.stdout, "");
        assert.match(
          run.stderr,
          /^error: Cannot build the static-keys library: the cache cannot be trusted: .* is owned by uid 4242/,
        );
      },
    });

    await t.step(
      "without the flags to check it, open() names them",
      async () => {
        const p = paths("flags");
        await plan(layout(p, PLANTED, meta(planted)));
        const rows: [string[], string][] = [
          [
            ["--allow-sys=uid", `--allow-ffi=${p.library}`],
            `--allow-read=${p.root}`,
          ],
          [
            [`--allow-read=${p.root}`, `--allow-ffi=${p.library}`],
            "--allow-sys=uid",
          ],
          [
            [],
            `--allow-read=${p.root} --allow-sys=uid --allow-ffi=${p.library}`,
          ],
        ];
        for (const [flags, missing] of rows) {
          assert.deepEqual(await openCached(main, p, flags), {
            name: "UntrustedLibraryError",
            code: -9,
            path: p.library,
            reason: "permission",
            message:
              `Cannot open the package's library "${p.library}": checking it before loading it ` +
              `requires more permissions, run again with ${missing}`,
          });
        }
        assert.ok(!exists(p.marker));
      },
    );
  },
});

Deno.test({
  name:
    "open() of a copied package ignores a build/lib/ planted beside its mod.ts: only a clone's is loaded unchecked",
  ignore: Deno.build.os !== "linux",
  async fn(t) {
    const main = await vendor();
    const pkg = `${SCRATCH}/pkg`;
    const plantedLib = `${pkg}/build/lib/${NAME}`;
    const real = Deno.readFileSync(LIB);
    const flags = (p: Paths) => [
      `--allow-read=${p.root},${pkg}`,
      "--allow-sys=uid",
      `--allow-ffi=${p.library},${plantedLib}`,
    ];
    const plant = (p: Paths): Step[] => [
      { mkdir: `${pkg}/build`, mode: 0o755 },
      { mkdir: `${pkg}/build/lib`, mode: 0o755 },
      { copy: PLANTED, to: plantedLib, mode: 0o755 },
      { remove: p.marker },
    ];
    await t.step("the cache's library is checked and loaded", async () => {
      const p = paths("planted-beside");
      await plan([
        ...layout(p, LIB, {
          version: VERSION,
          target: TARGET,
          sources: await sourcesDigest(),
          library: NAME,
          sha256: sha256Hex(real),
          size: real.length,
          cmake: "3.25.1",
          compiler: "GNU 12.2.0",
          built: "2025-01-01T00:00:00.000Z",
        }),
        ...plant(p),
      ]);
      assert.deepEqual(await openCached(main, p, flags(p)), {
        name: "opened",
        message: p.library,
      });
      assert.ok(!exists(p.marker), "the planted library never ran");
    });
    await t.step(
      "with no cache: not found, the planted one not loaded",
      async () => {
        const p = paths("planted-no-cache");
        await plan([
          { remove: p.base },
          { mkdir: p.base, mode: 0o755 },
          { mkdir: p.root, mode: 0o755 },
          ...plant(p),
        ]);
        const result = await openCached(main, p, flags(p));
        assert.equal(
          result.name,
          "LibraryNotFoundError",
          String(result.message),
        );
        assert.ok(!exists(p.marker), "the planted library never ran");
      },
    );
  },
});

Deno.test({
  name:
    "a relative STATIC_KEYS_CACHE is taken from the current directory once, as an absolute path",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const main = await vendor();
    const real = Deno.readFileSync(LIB);
    const p = paths("relative");
    await plan(layout(p, LIB, {
      version: VERSION,
      target: TARGET,
      sources: await sourcesDigest(),
      library: NAME,
      sha256: sha256Hex(real),
      size: real.length,
      cmake: "3.25.1",
      compiler: "GNU 12.2.0",
      built: "2025-01-01T00:00:00.000Z",
    }));
    for (const relative of ["cache", "./x/../cache/"]) {
      assert.deepEqual(
        await openCached(main, p, undefined, p.base, relative),
        { name: "opened", message: p.library },
        relative,
      );
      const built = await buildLooking(p, p.base, relative);
      assert.deepEqual(built, {
        result: {
          version: VERSION,
          target: TARGET,
          directory: p.dir,
          library: p.library,
          built: false,
        },
      });
    }
    assert.deepEqual(
      cacheRoot("linux", (v) => ({ DENO_DIR: "./d/../deno" })[v], () => "/w"),
      { root: "/w/deno/static-keys" },
    );
    assert.deepEqual(
      cacheRoot(
        "windows",
        (v) => ({ STATIC_KEYS_CACHE: "c\\..\\sk" })[v],
        () => "C:\\w",
      ),
      { root: "C:\\w\\sk" },
    );
  },
});
