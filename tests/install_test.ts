// SPDX-License-Identifier: MIT
// README's Installation and "The C package", walked as a new user would:
// the publish set served by a JSR registry on 127.0.0.1 (JSR_URL), then
// README's own commands as written (`deno add`, the build entry with and
// without --prefix), a program that imports the package by name, and
// libraries built against the build entry's install with README's lines
// (tests/consumer/readme_build.sh: CMake find_package, pkg-config, a plain
// compiler line, C++ with each C++ compiler here), each opened from Deno
// with its own symbols and flipped; and a library whose own version script
// hides the core's exports (tests/consumer/version_script.sh), by CMake and
// by the plain line, which open() names, and the fixes it names, which
// export them again. One CMake build of the library in all.
//
// Needs only what scripts/test.ts grants: the registry and the user's
// commands are deno subprocesses, the consumer builds run under sh.

import assert from "node:assert/strict";
import { publishedFiles } from "../scripts/_publish.ts";
import { METADATA_FILE, TARGET, VERSION } from "../src/runtime/_cache.ts";
import { LIBRARY_NAMES } from "../src/runtime/_library.ts";
import { type Run, serveFiles, spawn } from "./_helpers.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname)
  .replace(/\/$/, "");
const SCRATCH = `${ROOT}/build/install-test`;
const README = `${ROOT}/README.md`;
const LIBRARY = LIBRARY_NAMES[Deno.build.os][0];

/** Runs `script` under sh; fails the test with its output if it fails. */
async function sh(script: string, ...args: string[]): Promise<string> {
  const run = await spawn("sh", ["-ec", script, "sh", ...args]);
  assert.equal(run.code, 0, `sh -ec ${script}\n${run.stdout}${run.stderr}`);
  return run.stdout;
}

/**
 * The commands of the sh blocks under README's heading `heading` (to the
 * next heading), continuation lines joined, comments dropped.
 */
function readmeCommands(text: string, heading: string): string[] {
  const commands: string[] = [];
  let inSection = false;
  let fence: string | undefined;
  let pending = "";
  for (const line of text.split("\n")) {
    if (line.startsWith("```")) {
      fence = fence === undefined ? line.slice(3) : undefined;
      continue;
    }
    if (fence === undefined) {
      if (/^#+ /.test(line)) {
        if (inSection) break;
        inSection = line === heading;
      }
      continue;
    }
    if (!inSection || fence !== "sh") continue;
    const code = line.replace(/(^|\s)#.*$/, "").trim();
    if (code === "") continue;
    if (code.endsWith("\\")) {
      pending += code.slice(0, -1).trim() + " ";
      continue;
    }
    commands.push(pending + code);
    pending = "";
  }
  return commands;
}

/** A registry serving the publish set, until stop(). */
async function registry(files: string[]) {
  const server = await serveFiles(
    ROOT,
    `${ROOT}/tests/fixtures/jsr.ts`,
    files,
    "the registry",
  );
  return { ...server, url: `http://127.0.0.1:${server.port}/` };
}

/** The C++ compilers here: g++ and the first clang++ found. */
async function cxxCompilers(): Promise<string[]> {
  const out = await sh(
    `command -v g++ || true
     for c in clang++ clang++-19 clang++-16; do
       command -v "$c" && break
     done || true`,
  );
  return out.split("\n").filter(Boolean);
}

Deno.test({
  name:
    "README's installation as a new user: deno add, the build entry with --prefix, " +
    "then libraries built against that install flip their own keys from Deno",
  ignore: Deno.build.os !== "linux",
  async fn(t) {
    const readme = Deno.readTextFileSync(README);
    const install = readmeCommands(readme, "### Deno");
    const cPackage = readmeCommands(readme, "### The C package")
      .filter((c) => c.startsWith("deno "));
    assert.deepEqual(
      install.filter((c) => !/^deno (add|run) /.test(c)),
      [],
      "every command of README's Installation is one this test runs",
    );
    assert.equal(cPackage.length, 1, "README installs the C package with deno");

    const files = await publishedFiles(new URL("..", import.meta.url));
    const project = `${SCRATCH}/project`;
    const cache = `${SCRATCH}/cache`;
    const prefix = `${SCRATCH}/prefix`;
    const consumers = `${SCRATCH}/consumer`;
    const dir = `${cache}/${VERSION}/${TARGET}`;
    const library = `${dir}/${LIBRARY}`;
    await sh(
      // The project's own deno.json: `deno add` must not reach the
      // repository's.
      `rm -rf "$1" && mkdir -p "$1/project" "$1/deno-dir"
       echo "{}" >"$1/project/deno.json"
       cp "$2" "$1/project/main.ts"`,
      SCRATCH,
      `${ROOT}/tests/fixtures/jsr_user.ts`,
    );
    const server = await registry(files);
    // README's command, as typed: deno for `deno`, this install for
    // /opt/static-keys. An empty Deno cache, an empty static-keys cache.
    const env = {
      JSR_URL: server.url,
      DENO_DIR: `${SCRATCH}/deno-dir`,
      STATIC_KEYS_CACHE: cache,
      STATIC_KEYS_LIB: "",
    };
    const user = (command: string) => {
      const [program, ...args] = command.replaceAll("/opt/static-keys", prefix)
        .split(/\s+/);
      assert.equal(program, "deno", command);
      return spawn(Deno.execPath(), args, { cwd: project, env });
    };
    const program = (flags: string[], ...args: string[]) =>
      spawn(Deno.execPath(), [
        "run",
        "--no-prompt",
        ...flags,
        "main.ts",
        ...args,
      ], {
        cwd: project,
        env,
      });
    const json = (run: Run) => {
      assert.equal(run.code, 0, run.stderr);
      try {
        return JSON.parse(run.stdout);
      } catch {
        throw new Error(`no JSON on stdout: ${run.stdout}\n${run.stderr}`);
      }
    };

    try {
      await t.step("deno add, as README says", async () => {
        const before = Deno.readTextFileSync(`${ROOT}/deno.json`);
        for (
          const command of install.filter((c) => c.startsWith("deno add "))
        ) {
          const run = await user(command);
          assert.equal(run.code, 0, run.stderr);
        }
        const config = JSON.parse(
          Deno.readTextFileSync(`${project}/deno.json`),
        );
        assert.equal(
          config.imports["@static-keys/deno"],
          `jsr:@static-keys/deno@^${VERSION}`,
        );
        assert.equal(Deno.readTextFileSync(`${ROOT}/deno.json`), before);
      });

      await t.step(
        "the build entry with --prefix builds once and installs the C package",
        async () => {
          const run = await user(cPackage[0]);
          assert.equal(run.code, 0, run.stderr);
          assert.equal(run.stdout, `${library}\n`);
          assert.match(run.stderr, /^Building static-keys .* in /m);
          assert.match(run.stderr, /^Installed the C package into /m);
          assert.ok(Deno.statSync(`${dir}/${METADATA_FILE}`).isFile);
          for (
            const file of [
              "include/static_keys/static_keys.h",
              "lib/libstatic_keys_core.a",
              "lib/cmake/StaticKeys/StaticKeysConfig.cmake",
              "lib/pkgconfig/static-keys.pc",
            ]
          ) assert.ok(Deno.statSync(`${prefix}/${file}`).isFile, file);
        },
      );

      await t.step(
        "README's build entry line then builds nothing and prints the path",
        async () => {
          const runs = install.filter((c) => c.startsWith("deno run "));
          assert.equal(runs.length, 1);
          assert.deepEqual(await user(runs[0]), {
            code: 0,
            stdout: `${library}\n`,
            stderr: "",
          });
        },
      );

      await t.step(
        "README's narrow flags: --allow-env=STATIC_KEYS_CACHE, --allow-read=<cache> and --allow-sys=uid once built",
        async () => {
          const line = install.filter((c) => c.startsWith("deno run "))[0];
          const narrow = line.replace(
            "--allow-env --allow-read --allow-write --allow-run=cmake --allow-sys=uid",
            `--allow-env=STATIC_KEYS_CACHE --allow-read=${cache} --allow-sys=uid`,
          );
          assert.notEqual(narrow, line, "README's flags are the ones above");
          const run = await user(narrow);
          assert.deepEqual(run, {
            code: 0,
            stdout: `${library}\n`,
            stderr: "",
          });
        },
      );

      await t.step(
        "a program with README's flags opens the package's library and flips",
        async () => {
          // "the same --allow-env, --allow-read=<cache> --allow-sys=uid to
          // check it, and --allow-ffi= the path printed"
          const out = json(
            await program(
              [
                "--allow-env",
                `--allow-read=${cache}`,
                "--allow-sys=uid",
                `--allow-ffi=${library}`,
              ],
              "",
              "static_keys_demo_tracing",
              "tracing",
            ),
          );
          assert.deepEqual(
            [out.path, out.off, out.on, out.offAgain],
            [library, 0, 1, 0],
          );
          // From code: build() returns at once with --allow-read=<cache>
          // and --allow-sys=uid.
          const fromCode = json(
            await program(
              [
                "--allow-env",
                `--allow-read=${cache}`,
                "--allow-sys=uid",
                `--allow-ffi=${library}`,
              ],
              "",
              "static_keys_demo_tracing",
              "tracing",
              "--build",
            ),
          );
          assert.deepEqual(
            [fromCode.built, fromCode.off, fromCode.on],
            [false, 0, 1],
          );
        },
      );

      const cxx = await cxxCompilers();
      const steps: [string, string, string][] = [
        ["cmake", "cmake/libmylib.so", "mylib_compute"],
        ["pkgconfig", "pkgconfig/libmylib.so", "mylib_compute"],
        ["plain", "plain/libmylib.so", "mylib_compute"],
        ...cxx.map((c): [string, string, string] => {
          const name = c.replace(/^.*\//, "");
          return [
            `cxx ${name}`,
            `cxx/${name}/libmylib_cxx.so`,
            "mylib_cxx_compute",
          ];
        }),
      ];
      assert.ok(
        cxx.length > 0,
        "no C++ compiler on PATH (apt-get install g++)",
      );
      await sh(
        `root=$1 readme=$2 prefix=$3 out=$4
         shift 4
         for step in cmake pkgconfig plain cxx nocore; do
           sh "$root/tests/consumer/readme_build.sh" "$step" "$readme" \\
             "$prefix" "$out" "$root" cc "$@" >"$out.$step.log" 2>&1 ||
             { cat "$out.$step.log"; exit 1; }
         done`,
        ROOT,
        README,
        prefix,
        consumers,
        ...cxx,
      );
      // A library whose own version script hides the core's exports, by
      // CMake and by the plain line, and the two fixes.
      const scripted = [
        "cmake-hidden",
        "cmake-fragment",
        "plain-hidden",
        "plain-fragment",
        "plain-global",
      ];
      await sh(
        `root=$1 prefix=$2 out=$3
         shift 3
         for step in "$@"; do
           sh "$root/tests/consumer/version_script.sh" "$step" "$prefix" \\
             "$out/vscript" "$root" cc >"$out.$step.log" 2>&1 ||
             { cat "$out.$step.log"; exit 1; }
         done`,
        ROOT,
        prefix,
        consumers,
        ...scripted,
      );
      for (const step of scripted.filter((s) => !s.endsWith("-hidden"))) {
        steps.push([
          `${step}: a version script`,
          `vscript/${step}/libmylib.so`,
          "mylib_compute",
        ]);
      }
      for (const step of scripted.filter((s) => s.endsWith("-hidden"))) {
        await t.step(
          `${step}: a version script hides the core's exports, and open() says how to export them`,
          async () => {
            const path = `${consumers}/vscript/${step}/libmylib.so`;
            const out = json(
              await program(
                [`--allow-ffi=${path}`, `--allow-read=${path}`],
                path,
                "mylib_compute",
                "fast_path",
              ),
            );
            assert.equal(
              out.error.name,
              "HiddenExportsError",
              out.error.message,
            );
            assert.equal(out.error.code, -9);
            assert.match(
              out.error.message,
              /^Cannot open ".*": the static-keys core is linked into it but its exports are hidden: .*; add "static_keys_ffi_\*;" under "global:" in the version script, or link with the package's fragment after yours \(-Wl,--version-script=<prefix>\/share\/static-keys\/static_keys\.map/,
            );
          },
        );
      }
      for (const [what, lib, fn] of steps) {
        await t.step(
          `${what}: its own function, its own key, flipped`,
          async () => {
            const path = `${consumers}/${lib}`;
            const out = json(
              await program([`--allow-ffi=${path}`], path, fn, "fast_path"),
            );
            assert.deepEqual(out, {
              path,
              names: ["fast_path"],
              off: 1,
              on: 2,
              offAgain: 1,
            });
          },
        );
      }

      await t.step("a library without the core: not linked", async () => {
        const path = `${consumers}/nocore/libnocore.so`;
        const out = json(
          await program(
            [`--allow-ffi=${path}`, `--allow-read=${path}`],
            path,
            "nocore_answer",
            "x",
          ),
        );
        assert.equal(out.error.name, "NotAModuleError");
        assert.equal(out.error.code, -9);
        assert.match(
          out.error.message,
          new RegExp(
            `^Cannot open "${path}": it is not linked with the static-keys core ` +
              `\\(it does not export static_keys_ffi_\\w+\\); link the core into it: ` +
              `StaticKeys::static_keys with CMake, \\$\\(pkg-config --libs static-keys\\), ` +
              `or <prefix>/lib/libstatic_keys_core\\.a after your objects$`,
          ),
        );
      });
    } finally {
      await server.stop();
    }
  },
});
