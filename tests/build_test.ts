// SPDX-License-Identifier: MIT
// The build entry as a user of the published package meets it: the
// publish set served over HTTP, an empty DENO_DIR and an empty cache, then
// build() + open() + a flip; a second run offline that builds nothing; and
// every missing piece refused before anything is written.
//
// Needs only what scripts/test.ts grants (--allow-read of the repository,
// --allow-run of this deno): the server, the users and the scratch
// directory (build/dist-test/) are deno subprocesses with their own flags.

import assert from "node:assert/strict";
import { build, type BuildOptions } from "../build.ts";
import { publishedFiles } from "../scripts/_publish.ts";
import {
  cacheEnvNames,
  METADATA_FILE,
  TARGET,
  VERSION,
} from "../src/runtime/_cache.ts";
import { LIBRARY_NAMES } from "../src/runtime/_library.ts";
import { type Run, serveFiles, spawn } from "./_helpers.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname)
  .replace(/\/$/, "");
const SCRATCH = `${ROOT}/build/dist-test`;
const LIBRARY = LIBRARY_NAMES[Deno.build.os][0];

/**
 * Runs this deno with `args` and `env` added to the environment, or, with
 * `clear`, as the whole environment.
 */
function deno(
  args: string[],
  env: Record<string, string> = {},
  clear = false,
): Promise<Run> {
  return spawn(Deno.execPath(), args, { env, clearEnv: clear });
}

/** Runs `code` in `deno eval` (all permissions): the test's own writes. */
async function evaluate(code: string): Promise<void> {
  const run = await deno(["eval", "--no-config", code]);
  assert.equal(run.code, 0, `deno eval failed: ${run.stderr}`);
}

/** A fresh, empty directory under build/dist-test/. */
async function fresh(name: string): Promise<string> {
  const dir = `${SCRATCH}/${name}`;
  await evaluate(
    `try { Deno.removeSync(${
      JSON.stringify(dir)
    }, { recursive: true }); } catch {}
     Deno.mkdirSync(${JSON.stringify(dir)}, { recursive: true });`,
  );
  return dir;
}

/** Every path under `dir`, relative and sorted; [] when it does not exist. */
function tree(dir: string, sub = ""): string[] {
  let entries: Deno.DirEntry[];
  try {
    entries = Array.from(Deno.readDirSync(`${dir}${sub}`));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  return entries.flatMap((e) => {
    const path = `${sub}/${e.name}`;
    return [path.slice(1), ...(e.isDirectory ? tree(dir, path) : [])];
  }).sort();
}

/** The JSON a fixture printed on stdout. */
function json(run: Run): Record<string, unknown> {
  try {
    return JSON.parse(run.stdout);
  } catch {
    throw new Error(`no JSON on stdout: ${run.stdout}\n${run.stderr}`);
  }
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(
    new Uint8Array(hash),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/** The publish set served from 127.0.0.1 by a subprocess, until stop(). */
async function serve(files: string[]) {
  const server = await serveFiles(
    ROOT,
    `${ROOT}/tests/fixtures/serve.ts`,
    files,
    "the server",
  );
  return { ...server, base: `http://127.0.0.1:${server.port}/` };
}

Deno.test("build() from the served publish set: an empty cache, a build, open() flips; a second run builds nothing", async (t) => {
  const files = await publishedFiles(new URL("..", import.meta.url));
  const scratch = await fresh("served");
  const denoDir = await fresh("served/deno-dir");
  const cache = await fresh("served/cache");
  const dir = `${cache}/${VERSION}/${TARGET}`;
  const library = `${dir}/${LIBRARY}`;
  const lock = `${scratch}/deno.lock`;
  const prefix = `${scratch}/prefix`;
  const main = `${ROOT}/tests/fixtures/build_main.ts`;
  const marker = `${scratch}/marker`;
  const server = await serve(files);
  // Under umask 000 when `loose`: what the build writes must not depend
  // on it. STATIC_KEYS_TEST_MARKER is for the planted library's constructor.
  const user = (extra: string[], ...args: string[]) =>
    deno([
      "run",
      "--no-config",
      "--no-prompt",
      `--lock=${lock}`,
      `--allow-import=127.0.0.1:${server.port}`,
      "--allow-env=STATIC_KEYS_CACHE,STATIC_KEYS_LIB",
      `--allow-read=${cache}`,
      "--allow-sys=uid",
      `--allow-ffi=${library}`,
      ...extra,
      main,
      server.base,
      ...args,
    ], {
      DENO_DIR: denoDir,
      STATIC_KEYS_CACHE: cache,
      STATIC_KEYS_TEST_MARKER: marker,
    });
  const loose = (extra: string[], ...args: string[]) =>
    spawn("sh", [
      "-c",
      'umask 000 && exec "$@"',
      "sh",
      Deno.execPath(),
      "run",
      "--no-config",
      "--no-prompt",
      `--lock=${lock}`,
      `--allow-import=127.0.0.1:${server.port}`,
      "--allow-env=STATIC_KEYS_CACHE,STATIC_KEYS_LIB",
      `--allow-read=${cache}`,
      "--allow-sys=uid",
      `--allow-ffi=${library}`,
      ...extra,
      main,
      server.base,
      ...args,
    ], {
      env: {
        DENO_DIR: denoDir,
        STATIC_KEYS_CACHE: cache,
        STATIC_KEYS_TEST_MARKER: marker,
      },
    });
  try {
    await t.step("open() before any build names the build entry", async () => {
      const run = await user([], "--no-build");
      assert.deepEqual(json(run).error, {
        name: "LibraryNotFoundError",
        code: -9,
        message:
          `Cannot find the package's library: mod.ts was loaded from "http://127.0.0.1:${server.port}" ` +
          `and "${library}" does not exist: build it with "deno run --allow-env --allow-read ` +
          `--allow-write --allow-run=cmake --allow-sys=uid jsr:@static-keys/deno@${VERSION}/build", ` +
          `or set STATIC_KEYS_LIB to the path of ${LIBRARY}`,
      });
      for (const file of ["mod.ts", "build.ts", "src/builder/_sources.ts"]) {
        assert.ok(run.stderr.includes(`Download ${server.base}${file}`), file);
      }
      assert.deepEqual(tree(cache), [], "nothing was written");
      const noEnv = await deno([
        "run",
        "--no-config",
        "--no-prompt",
        `--allow-import=127.0.0.1:${server.port}`,
        main,
        server.base,
        "--no-build",
      ], { DENO_DIR: denoDir });
      const envNames = cacheEnvNames().join(",");
      assert.deepEqual(json(noEnv).error, {
        name: "LibraryNotFoundError",
        code: -9,
        message:
          `Cannot find the package's library: mod.ts was loaded from "http://127.0.0.1:${server.port}" ` +
          `and finding the cache needs --allow-env=${envNames}: ` +
          `run again with --allow-env=${envNames} (and build it with ` +
          `"deno run --allow-env --allow-read --allow-write --allow-run=cmake ` +
          `--allow-sys=uid jsr:@static-keys/deno@${VERSION}/build", if it is not built yet), ` +
          `or set STATIC_KEYS_LIB to the path of ${LIBRARY}; ` +
          `STATIC_KEYS_LIB could not be read without --allow-env, if it is set run again with ` +
          `--allow-env=STATIC_KEYS_LIB`,
      });
    });

    // What a killed build left: removed by the next build, once stale.
    const leftover = `${cache}/${VERSION}/.build-${TARGET}-killed`;
    await evaluate(
      `Deno.mkdirSync(${
        JSON.stringify(`${leftover}/src`)
      }, { recursive: true });
       const old = new Date(Date.now() - 2 * 24 * 3600 * 1000);
       Deno.utimeSync(${JSON.stringify(leftover)}, old, old);`,
    );

    await t.step(
      "the first run downloads, builds, installs, and flips a key (under umask 000)",
      async () => {
        const run = await loose(
          [`--allow-write=${cache},${prefix}`, "--allow-run=cmake"],
          `--prefix=${prefix}`,
        );
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(json(run), {
          result: {
            version: VERSION,
            target: TARGET,
            directory: dir,
            library,
            built: true,
            prefix,
          },
          path: library,
          seen: [0, 1, 0],
        });
        assert.match(run.stderr, /Building static-keys .* for /);
        assert.match(run.stderr, /\[100%\] Built target static_keys_module/);
        // The library and its metadata, nothing half-written beside them.
        assert.deepEqual(tree(cache), [
          VERSION,
          `${VERSION}/${TARGET}`,
          `${VERSION}/${TARGET}/${LIBRARY}`,
          `${VERSION}/${TARGET}/${METADATA_FILE}`,
        ]);
        // The same build installed the C package (its layout is for the
        // C package's tests to check).
        const installed = tree(prefix);
        for (
          const file of [
            "include/static_keys/static_keys.h",
            "lib/libstatic_keys_core.a",
            "lib/cmake/StaticKeys/StaticKeysConfig.cmake",
          ]
        ) assert.ok(installed.includes(file), `${file} in ${installed}`);
        const meta = JSON.parse(
          Deno.readTextFileSync(`${dir}/${METADATA_FILE}`),
        );
        assert.equal(meta.version, VERSION);
        assert.equal(meta.target, TARGET);
        assert.equal(meta.library, LIBRARY);
        assert.match(meta.sources, /^[0-9a-f]{64}$/);
        const bytes = Deno.readFileSync(library);
        assert.equal(meta.sha256, await sha256(bytes));
        assert.equal(meta.size, bytes.length);
        // Writable by its owner only, whatever the umask: 0755 and 0644.
        const mode = (path: string) =>
          (Deno.statSync(path).mode! & 0o7777).toString(8);
        assert.deepEqual(
          [
            `${cache}/${VERSION}`,
            dir,
            library,
            `${dir}/${METADATA_FILE}`,
            prefix,
            `${prefix}/lib/cmake/StaticKeys`,
            `${prefix}/include/static_keys/static_keys.h`,
          ].map(mode),
          ["755", "755", "755", "644", "755", "755", "644"],
        );
      },
    );

    await t.step("the lockfile pins the embedded C sources", async () => {
      const remote = JSON.parse(Deno.readTextFileSync(lock)).remote;
      for (const file of ["build.ts", "mod.ts", "src/builder/_sources.ts"]) {
        const bytes = Deno.readFileSync(`${ROOT}/${file}`);
        assert.equal(
          remote[`${server.base}${file}`],
          await sha256(bytes),
          file,
        );
      }
    });

    await server.stop();
    const metaBefore = Deno.readTextFileSync(`${dir}/${METADATA_FILE}`);
    const mtimeBefore = Deno.statSync(library).mtime?.getTime();

    await t.step(
      "offline, from Deno's cache: build() builds nothing, open() flips",
      async () => {
        const run = await user(["--cached-only", "--frozen"]);
        assert.equal(run.code, 0, run.stderr);
        const out = json(run);
        assert.deepEqual(out.result, {
          version: VERSION,
          target: TARGET,
          directory: dir,
          library,
          built: false,
        });
        assert.deepEqual(out.seen, [0, 1, 0]);
        assert.doesNotMatch(run.stderr, /Building|Download/);
        assert.equal(
          Deno.readTextFileSync(`${dir}/${METADATA_FILE}`),
          metaBefore,
        );
        assert.equal(Deno.statSync(library).mtime?.getTime(), mtimeBefore);
      },
    );

    await t.step(
      "the command line prints the library's path and nothing else",
      async () => {
        const run = await deno([
          "run",
          "--no-config",
          "--no-prompt",
          "--cached-only",
          `--allow-import=127.0.0.1:${server.port}`,
          "--allow-env=STATIC_KEYS_CACHE,STATIC_KEYS_LIB",
          `--allow-read=${cache}`,
          "--allow-sys=uid",
          `${server.base}build.ts`,
        ], { DENO_DIR: denoDir, STATIC_KEYS_CACHE: cache });
        assert.deepEqual(run, { code: 0, stdout: `${library}\n`, stderr: "" });
      },
    );
    await t.step(
      "a swapped library is rebuilt, not reported as built, and never runs",
      async () => {
        const planted = `${ROOT}/build/tests/libsk_planted.so`;
        await evaluate(
          `Deno.copyFileSync(${JSON.stringify(planted)}, ${
            JSON.stringify(library)
          })`,
        );
        const size = Deno.statSync(planted).size;
        const run = await loose([
          "--cached-only",
          "--frozen",
          `--allow-write=${cache}`,
          "--allow-run=cmake",
        ]);
        assert.equal(run.code, 0, run.stderr);
        const out = json(run);
        assert.deepEqual(out.result, {
          version: VERSION,
          target: TARGET,
          directory: dir,
          library,
          built: true,
        });
        assert.deepEqual(out.seen, [0, 1, 0]);
        assert.match(
          run.stderr,
          new RegExp(
            `^Rebuilding static-keys ${VERSION} for ${TARGET} in ${dir}: "${library}" has ${size} bytes, its metadata recorded \\d+$`,
            "m",
          ),
        );
        const meta = JSON.parse(
          Deno.readTextFileSync(`${dir}/${METADATA_FILE}`),
        );
        assert.equal(meta.sha256, await sha256(Deno.readFileSync(library)));
        assert.equal(
          (Deno.statSync(dir).mode! & 0o7777).toString(8),
          "755",
          "the new folder, under umask 000",
        );
        assert.deepEqual(tree(cache), [
          VERSION,
          `${VERSION}/${TARGET}`,
          `${VERSION}/${TARGET}/${LIBRARY}`,
          `${VERSION}/${TARGET}/${METADATA_FILE}`,
        ]);
        assert.ok(
          tree(scratch).every((path) => path !== "marker"),
          "the planted library's constructor never ran",
        );
      },
    );

    await t.step("a build of other sources is not reused", async () => {
      const local = () =>
        deno([
          "run",
          "--no-config",
          "--no-prompt",
          "--allow-env=STATIC_KEYS_CACHE,STATIC_KEYS_LIB",
          `--allow-read=${cache}`,
          "--allow-sys=uid",
          `${ROOT}/tests/fixtures/build_error.ts`,
        ], { STATIC_KEYS_CACHE: cache });
      const reused = json(await local()) as { result: { built: boolean } };
      assert.equal(reused.result.built, false, "the same sources: reused");
      const file = `${dir}/${METADATA_FILE}`;
      const meta = JSON.parse(metaBefore);
      meta.sources = "0".repeat(64);
      await evaluate(
        `Deno.writeTextFileSync(${JSON.stringify(file)}, ${
          JSON.stringify(JSON.stringify(meta))
        })`,
      );
      // Only read access: a rebuild is needed, and refused for want of flags.
      assert.deepEqual(json(await local()).error, {
        name: "BuildError",
        reason: "permission",
        code: -9,
        message:
          `Cannot build the static-keys library: building into the cache requires more permissions, run again with --allow-write=${cache} --allow-run=cmake`,
      });
    });
  } finally {
    await server.stop();
    await evaluate(
      `Deno.removeSync(${JSON.stringify(scratch)}, { recursive: true })`,
    );
  }
});

/** Absolute paths of `names` on the test's PATH (found by `deno eval`). */
async function which(...names: string[]): Promise<Record<string, string>> {
  const run = await deno([
    "eval",
    "--no-config",
    `const dirs = (Deno.env.get("PATH") ?? "").split(":");
     const found = {};
     for (const name of ${JSON.stringify(names)}) {
       for (const dir of dirs) {
         try {
           if (Deno.statSync(dir + "/" + name).isFile) {
             found[name] = dir + "/" + name;
             break;
           }
         } catch {}
       }
     }
     console.log(JSON.stringify(found));`,
  ]);
  const found = json(run) as Record<string, string>;
  for (const name of names) assert.ok(found[name], `${name} is not on PATH`);
  return found;
}

Deno.test("build() refuses a missing piece before writing anything", async (t) => {
  const scratch = await fresh("misuse");
  const tools = await which("cmake", "make", "cc");
  const dirOf = (path: string) => path.replace(/\/[^/]*$/, "");
  // PATH with cmake and make but no C compiler, and PATH with nothing.
  const noCompiler = `${scratch}/no-cc-bin`;
  const noMake = `${scratch}/no-make-bin`;
  const empty = `${scratch}/empty-bin`;
  const notADir = `${scratch}/a-file`;
  await evaluate(
    `Deno.mkdirSync(${JSON.stringify(noCompiler)});
     Deno.mkdirSync(${JSON.stringify(empty)});
     Deno.symlinkSync(${JSON.stringify(tools.cmake)}, ${
      JSON.stringify(`${noCompiler}/cmake`)
    });
     Deno.symlinkSync(${JSON.stringify(tools.make)}, ${
      JSON.stringify(`${noCompiler}/make`)
    });
     Deno.mkdirSync(${JSON.stringify(noMake)});
     Deno.symlinkSync(${JSON.stringify(tools.cmake)}, ${
      JSON.stringify(`${noMake}/cmake`)
    });
     Deno.symlinkSync(${JSON.stringify(tools.cc)}, ${
      JSON.stringify(`${noMake}/cc`)
    });
     Deno.writeTextFileSync(${JSON.stringify(notADir)}, "");`,
  );
  const cache = `${scratch}/cache`;
  const prefix = `${scratch}/prefix`;
  const all = [
    "--allow-env",
    `--allow-read=${cache}`,
    `--allow-write=${cache}`,
    "--allow-run=cmake",
    "--allow-sys=uid",
  ];
  const PATH = dirOf(tools.cmake);
  const head = "Cannot build the static-keys library: ";
  // [case, flags, PATH, cache, prefix, reason, message]
  const rows: [
    string,
    string[],
    string,
    string,
    string | undefined,
    string,
    string,
  ][] = [
    [
      "no --allow-env",
      [],
      PATH,
      cache,
      undefined,
      "permission",
      `${head}finding the cache directory requires --allow-env, run again with --allow-env=${
        cacheEnvNames().join(",")
      }`,
    ],
    [
      "no --allow-read",
      ["--allow-env"],
      PATH,
      cache,
      undefined,
      "permission",
      `${head}looking for it in the cache requires --allow-read=${cache} --allow-sys=uid, run again with --allow-read=${cache} --allow-sys=uid --allow-write=${cache} --allow-run=cmake (only --allow-read=${cache} --allow-sys=uid once it is built)`,
    ],
    [
      "no --allow-sys=uid",
      ["--allow-env", `--allow-read=${cache}`],
      PATH,
      cache,
      undefined,
      "permission",
      `${head}looking for it in the cache requires --allow-sys=uid, run again with --allow-sys=uid --allow-write=${cache} --allow-run=cmake (only --allow-read=${cache} --allow-sys=uid once it is built)`,
    ],
    [
      "no --allow-write",
      ["--allow-env", `--allow-read=${cache}`, "--allow-sys=uid"],
      PATH,
      cache,
      undefined,
      "permission",
      `${head}building into the cache requires more permissions, run again with --allow-write=${cache} --allow-run=cmake`,
    ],
    [
      "no --allow-run",
      [
        "--allow-env",
        `--allow-read=${cache}`,
        `--allow-write=${cache}`,
        "--allow-sys=uid",
      ],
      PATH,
      cache,
      undefined,
      "permission",
      `${head}building into the cache requires more permissions, run again with --allow-run=cmake`,
    ],
    [
      "no --allow-write for the prefix",
      all,
      PATH,
      cache,
      prefix,
      "permission",
      `${head}building into the cache and installing into "${prefix}" requires more permissions, run again with --allow-write=${prefix}`,
    ],
    [
      "no cmake on PATH",
      all,
      empty,
      cache,
      undefined,
      "cmake",
      `${head}cmake is not on PATH: install CMake 3.15 or newer (Debian/Ubuntu: apt install cmake; macOS: brew install cmake; Windows: winget install Kitware.CMake)`,
    ],
    [
      "no build program (make) on PATH",
      all,
      noMake,
      cache,
      undefined,
      "compiler",
      `${head}CMake finds no build program (make or ninja): install a build program (Debian/Ubuntu: apt install make; macOS: xcode-select --install; Windows: the Visual Studio Build Tools)`,
    ],
    [
      "no C compiler on PATH",
      all,
      noCompiler,
      cache,
      undefined,
      "compiler",
      `${head}CMake finds no C compiler: install a C compiler (Debian/Ubuntu: apt install gcc; macOS: xcode-select --install; Windows: the Visual Studio Build Tools, winget install Microsoft.VisualStudio.2022.BuildTools)`,
    ],
  ];
  for (const [what, flags, path, root, prefixArg, reason, message] of rows) {
    await t.step(what, async () => {
      const run = await deno(
        [
          "run",
          "--no-config",
          "--no-prompt",
          ...flags,
          `${ROOT}/tests/fixtures/build_error.ts`,
          ...(prefixArg === undefined ? [] : [prefixArg]),
        ],
        { PATH: path, STATIC_KEYS_CACHE: root },
        true,
      );
      assert.deepEqual(json(run), {
        error: { name: "BuildError", reason, code: -9, message },
      });
      assert.deepEqual(tree(root), [], "the cache is as it was: absent");
      assert.deepEqual(tree(prefix), [], "the prefix is untouched");
    });
  }

  await t.step("a cache directory that cannot be written", async () => {
    const root = `${notADir}/cache`;
    const run = await deno(
      [
        "run",
        "--no-config",
        "--no-prompt",
        "--allow-env",
        `--allow-read=${root}`,
        `--allow-write=${root}`,
        "--allow-run=cmake",
        "--allow-sys=uid",
        `${ROOT}/tests/fixtures/build_error.ts`,
      ],
      { PATH, STATIC_KEYS_CACHE: root },
      true,
    );
    const { error } = json(run) as { error: Record<string, unknown> };
    assert.equal(error.name, "BuildError");
    assert.equal(error.reason, "cache");
    assert.match(
      String(error.message),
      new RegExp(
        `^Cannot write the cache directory "${root}/${VERSION}": .*Not a directory.*: set STATIC_KEYS_CACHE to a writable directory$`,
      ),
    );
    assert.equal(Deno.readTextFileSync(notADir), "", "the file is untouched");
  });

  await t.step("no cache directory: every variable unset", async () => {
    const run = await deno(
      [
        "run",
        "--no-config",
        "--no-prompt",
        "--allow-env",
        `${ROOT}/tests/fixtures/build_error.ts`,
      ],
      { PATH },
      true,
    );
    assert.deepEqual(json(run), {
      error: {
        name: "BuildError",
        reason: "cache",
        code: -9,
        message: `${head}there is no cache directory (${
          cacheEnvNames().join(", ")
        } are all unset): set STATIC_KEYS_CACHE`,
      },
    });
  });

  await t.step("a prefix that cannot be written", async () => {
    const bad = `${notADir}/prefix`;
    const run = await deno(
      [
        "run",
        "--no-config",
        "--no-prompt",
        ...all,
        `--allow-write=${bad}`,
        `${ROOT}/tests/fixtures/build_error.ts`,
        bad,
      ],
      { PATH, STATIC_KEYS_CACHE: cache },
      true,
    );
    const { error } = json(run) as { error: Record<string, unknown> };
    assert.equal(error.name, "BuildError");
    assert.equal(error.reason, "prefix");
    assert.match(
      String(error.message),
      new RegExp(
        `^Cannot write the install directory "${bad}": .*Not a directory.*: choose a writable prefix$`,
      ),
    );
    assert.deepEqual(tree(cache), [], "nothing was written in the cache");
  });

  await t.step("the command line says the same, and exits with 1", async () => {
    const run = await deno(
      [
        "run",
        "--no-config",
        "--no-prompt",
        "--allow-env",
        `${ROOT}/build.ts`,
      ],
      { PATH, STATIC_KEYS_CACHE: cache },
      true,
    );
    assert.deepEqual(run, {
      code: 1,
      stdout: "",
      stderr:
        `error: ${head}looking for it in the cache requires --allow-read=${cache} --allow-sys=uid, run again with --allow-read=${cache} --allow-sys=uid --allow-write=${cache} --allow-run=cmake (only --allow-read=${cache} --allow-sys=uid once it is built)\n`,
    });
  });

  await t.step("the command line refuses an unknown argument", async () => {
    const run = await deno([
      "run",
      "--no-config",
      `${ROOT}/build.ts`,
      "--prefx",
    ]);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, "");
    assert.match(
      run.stderr,
      /^error: Cannot read argument "--prefx"\nUsage: deno run .* \[--prefix DIR\] \[--quiet\]\n$/,
    );
  });

  await t.step(
    "options of the wrong type are TypeErrors, before anything else",
    async () => {
      const bad = [null, { prefix: 42 }, { prefix: "" }, { quiet: "yes" }];
      for (const options of bad) {
        await assert.rejects(
          () => build(options as unknown as BuildOptions),
          (e: Error) =>
            e instanceof TypeError && /^Cannot build: /.test(e.message),
          JSON.stringify(options),
        );
      }
    },
  );

  await evaluate(
    `Deno.removeSync(${JSON.stringify(scratch)}, { recursive: true })`,
  );
});

Deno.test("the embedded sources configure with CMake's defaults, without tests/ and bench/", async () => {
  const scratch = await fresh("defaults");
  // deno eval writes src/builder/_sources.ts out and runs a plain configure.
  const run = await deno([
    "eval",
    "--no-config",
    `import { SOURCES } from ${
      JSON.stringify(`${ROOT}/src/builder/_sources.ts`)
    };
     const src = ${JSON.stringify(`${scratch}/src`)};
     for (const [path, text] of Object.entries(SOURCES)) {
       const file = src + "/" + path;
       Deno.mkdirSync(file.replace(/\\/[^/]*$/, ""), { recursive: true });
       Deno.writeTextFileSync(file, text);
     }
     const out = await new Deno.Command("cmake", {
       args: ["-S", src, "-B", ${JSON.stringify(`${scratch}/build`)}],
     }).output();
     const text = new TextDecoder().decode(out.stdout) +
       new TextDecoder().decode(out.stderr);
     console.log(JSON.stringify({ code: out.code, text }));`,
  ]);
  const { code, text } = json(run) as { code: number; text: string };
  await evaluate(
    `Deno.removeSync(${JSON.stringify(scratch)}, { recursive: true })`,
  );
  assert.equal(code, 0, text);
});
