// SPDX-License-Identifier: MIT
// README and docs/building.md walked as a new user would: the publish set served by a JSR
// registry on 127.0.0.1 (JSR_URL), an empty Deno cache (DENO_DIR) and an
// empty folder outside the repository. First README's quick start, word
// by word: its sh blocks run as written (`deno` is this deno), its files
// written as shown (the first line of a block names the file), the
// output it shows compared with what the program printed; so a key of the
// reader's own library, built with CMake against the build entry's
// install, flips. Then the docs' other commands on the same cache and
// install: docs/building.md's build entry line without --prefix (builds
// nothing, prints the path, also with the narrow flags of
// docs/security.md), a program that opens the package's library with the
// flags that page names, libraries built with docs/building.md's other
// build lines (tests/consumer/readme_build.sh: pkg-config, a plain
// compiler line, C++ with each C++ compiler here), each opened from Deno
// with its own symbols and flipped; and a library whose own version script
// hides the core's exports (tests/consumer/version_script.sh), by CMake and
// by the plain line, which open() names, and the fixes it names, which
// export them again. One build of the package's library in all.
//
// Needs only what scripts/test.ts grants: the registry and the user's
// commands are deno subprocesses, the consumer builds run under sh.

import assert from "node:assert/strict";
import { publishedFiles } from "../scripts/_publish.ts";
import { METADATA_FILE, TARGET, VERSION } from "../src/runtime/_cache.ts";
import { LIBRARY_NAMES } from "../src/runtime/_library.ts";
import { type Run, serveFiles, spawn } from "./_helpers.ts";
import { blocks, commands, section } from "./_markdown.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname)
  .replace(/\/$/, "");
const README = `${ROOT}/README.md`;
const BUILDING = `${ROOT}/docs/building.md`;
const SECURITY = `${ROOT}/docs/security.md`;
const LIBRARY = LIBRARY_NAMES[Deno.build.os][0];

/** Runs `script` under sh; fails the test with its output if it fails. */
async function sh(script: string, ...args: string[]): Promise<string> {
  const run = await spawn("sh", ["-ec", script, "sh", ...args]);
  assert.equal(run.code, 0, `sh -ec ${script}\n${run.stdout}${run.stderr}`);
  return run.stdout;
}

/** One step of README's quick start. */
type Step =
  | { kind: "sh"; line: number; code: string }
  | { kind: "file"; line: number; name: string; code: string }
  | { kind: "output"; line: number; code: string };

/**
 * README's quick start as steps, in order: an sh block is run, a block
 * whose first line is a comment naming a file (`// main.ts`,
 * `# CMakeLists.txt`) is that file, a text block is the output of the sh
 * block before it.
 */
export function quickStart(readme: string): Step[] {
  const heading = "## Quick start";
  const at = readme.split("\n").indexOf(heading) + 1;
  return blocks(section(readme, heading)).map((b): Step => {
    const line = at + b.line;
    if (b.lang === "sh") return { kind: "sh", line, code: b.code };
    if (b.lang === "text") return { kind: "output", line, code: b.code };
    const name = b.code.split("\n")[0].match(/^(?:\/\/|#)\s*([\w.-]+)$/)
      ?.[1];
    assert.ok(
      name,
      `README.md:${line}: a ${b.lang} block of the quick start names its ` +
        `file on its first line ("// main.ts", "# CMakeLists.txt")`,
    );
    return { kind: "file", line, name, code: `${b.code}\n` };
  });
}

/**
 * Whether `printed` is the output README shows: the same lines, where a
 * hex offset (`+0x4`) may be any (it depends on the compiler).
 */
export function sameOutput(printed: string, shown: string): boolean {
  const pattern = shown.trim().replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
    .replace(/\\\+0x[0-9a-f]+/g, "\\+0x[0-9a-f]+");
  return new RegExp(`^${pattern}$`).test(printed.trim());
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

Deno.test("quickStart() and sameOutput() read README's quick start as steps", () => {
  const steps = quickStart(
    "# x\n\n## Quick start\n\n```sh\nmkdir a\n```\n\n```c\n// a.c\nint x;\n```\n\n" +
      "```text\nf+0x4 jmp\n```\n\n## Next\n\n```sh\nnot this\n```\n",
  );
  assert.deepEqual(steps, [
    { kind: "sh", line: 5, code: "mkdir a" },
    { kind: "file", line: 9, name: "a.c", code: "// a.c\nint x;\n" },
    { kind: "output", line: 14, code: "f+0x4 jmp" },
  ]);
  assert.throws(
    () => quickStart("## Quick start\n```c\nint x;\n```\n"),
    /names its file/,
  );
  assert.ok(sameOutput("false 0\nf+0x1f jmp\n", "false 0\nf+0x4 jmp"));
  assert.ok(!sameOutput("false 1\nf+0x1f jmp\n", "false 0\nf+0x4 jmp"));
  assert.ok(!sameOutput("f+0x4 nop", "f+0x4 jmp"));
});

Deno.test({
  name:
    "README's quick start as a new user, word by word: a key of the reader's own " +
    "CMake-built library flips; then the docs' other commands, flags and build lines",
  ignore: Deno.build.os !== "linux",
  async fn(t) {
    const steps = quickStart(Deno.readTextFileSync(README));
    const own = commands(
      Deno.readTextFileSync(BUILDING),
      "## The package's own library",
    );
    const security = Deno.readTextFileSync(SECURITY);
    assert.equal(
      own.length,
      1,
      "docs/building.md builds the package's library with one command",
    );
    assert.match(own[0], /^deno run .* jsr:@static-keys\/deno\/build$/);

    const files = await publishedFiles(new URL("..", import.meta.url));
    // Outside the repository, where `deno add` finds no deno.json; made
    // and written by sh, as the tests may write nothing themselves.
    const scratch = (await sh(
      `mktemp -d "\${TMPDIR:-/tmp}/static-keys-install-XXXXXX"`,
    )).trim();
    const home = `${scratch}/myapp`;
    const denoDir = `${scratch}/deno-dir`;
    const cache = `${denoDir}/static-keys`;
    const consumers = `${scratch}/consumer`;
    const dir = `${cache}/${VERSION}/${TARGET}`;
    const library = `${dir}/${LIBRARY}`;
    await sh(
      `mkdir -p "$1/bin" "$1/myapp" && ln -s "$2" "$1/bin/deno"`,
      scratch,
      Deno.execPath(),
    );
    /** Whether `path` is a regular file (the tests may not read there). */
    const isFile = async (path: string) =>
      (await spawn("sh", ["-c", 'test -f "$1"', "sh", path])).code === 0;
    const server = await registry(files);
    // The user's shell: `deno` is this deno, an empty Deno cache, no
    // static-keys variables.
    const env = {
      JSR_URL: server.url,
      DENO_DIR: denoDir,
      STATIC_KEYS_CACHE: "",
      STATIC_KEYS_LIB: "",
    };
    const user = (command: string, extra: Record<string, string> = {}) => {
      const [program, ...args] = command.split(/\s+/);
      assert.equal(program, "deno", command);
      return spawn(Deno.execPath(), args, {
        cwd: home,
        env: { ...env, ...extra },
      });
    };
    const program = (flags: string[], ...args: string[]) =>
      spawn(Deno.execPath(), [
        "run",
        "--no-prompt",
        ...flags,
        "user.ts",
        ...args,
      ], { cwd: home, env });
    const json = (run: Run) => {
      assert.equal(run.code, 0, run.stderr);
      try {
        return JSON.parse(run.stdout);
      } catch {
        throw new Error(`no JSON on stdout: ${run.stdout}\n${run.stderr}`);
      }
    };

    // A failed step does not throw: the steps after it run all the same.
    let failed = false;
    const step = async (name: string, fn: () => Promise<void> | void) => {
      if (!await t.step(name, fn)) failed = true;
    };
    try {
      await step("README's quick start, every block in order", async () => {
        assert.ok(
          steps.some((s) => s.kind === "output"),
          "the quick start shows what its program prints",
        );
        let cwd = home;
        let last: Run | undefined;
        for (const step of steps) {
          const where = `README.md:${step.line}`;
          if (step.kind === "file") {
            await sh(
              `printf '%s' "$2" >"$1"`,
              `${cwd}/${step.name}`,
              step.code,
            );
          } else if (step.kind === "sh") {
            // The user's shell finds this deno first on PATH.
            const run = await spawn("sh", [
              "-ec",
              `PATH="$1:$PATH"\n${step.code}\nprintf '\\n@@cwd %s\\n' "$(pwd)"`,
              "sh",
              `${scratch}/bin`,
            ], { cwd, env });
            assert.equal(
              run.code,
              0,
              `${where}: ${step.code}\n${run.stdout}${run.stderr}`,
            );
            const at = run.stdout.lastIndexOf("\n@@cwd ");
            cwd = run.stdout.slice(at + "\n@@cwd ".length).trim();
            last = { ...run, stdout: run.stdout.slice(0, at) };
          } else {
            assert.ok(last, `${where}: output shown before any command`);
            assert.ok(
              sameOutput(last.stdout, step.code),
              `${where}: README shows\n${step.code}\nthe program printed\n${last.stdout}${last.stderr}`,
            );
          }
        }
        assert.equal(cwd, home, "the quick start stays in its folder");
      });

      await step(
        "the quick start built the package's library once and installed the C package",
        async () => {
          assert.ok(await isFile(`${dir}/${METADATA_FILE}`));
          assert.ok(await isFile(library));
          for (
            const file of [
              "include/static_keys/static_keys.h",
              "lib/libstatic_keys_core.a",
              "lib/cmake/StaticKeys/StaticKeysConfig.cmake",
              "lib/pkgconfig/static-keys.pc",
              "share/static-keys/static_keys.map",
            ]
          ) {
            assert.ok(
              await isFile(`${home}/static-keys/${file}`),
              file,
            );
          }
        },
      );

      await step(
        "docs/building.md's build entry line then builds nothing and prints the path",
        async () => {
          assert.deepEqual(await user(own[0]), {
            code: 0,
            stdout: `${library}\n`,
            stderr: "",
          });
        },
      );

      await step(
        "docs/security.md's narrow flags: --allow-env=STATIC_KEYS_CACHE, --allow-read=<cache> and --allow-sys=uid once built",
        async () => {
          const narrow = own[0].replace(
            "--allow-env --allow-read --allow-write --allow-run=cmake --allow-sys=uid",
            `--allow-env=STATIC_KEYS_CACHE --allow-read=${cache} --allow-sys=uid`,
          );
          assert.notEqual(
            narrow,
            own[0],
            "docs/building.md's flags are the ones above",
          );
          assert.ok(
            security.includes(
              "`--allow-env --allow-read=<cache> --allow-sys=uid`",
            ),
            "docs/security.md names the narrow flags",
          );
          assert.deepEqual(await user(narrow, { STATIC_KEYS_CACHE: cache }), {
            code: 0,
            stdout: `${library}\n`,
            stderr: "",
          });
        },
      );

      await step(
        "a program with docs/security.md's flags opens the package's library and flips",
        async () => {
          const flags =
            "--allow-env --allow-read=<cache> --allow-sys=uid --allow-ffi=<library>";
          assert.ok(
            security.includes(`\`${flags}\``),
            "docs/security.md names these flags",
          );
          await sh(
            `cp "$1" "$2"`,
            `${ROOT}/tests/fixtures/jsr_user.ts`,
            `${home}/user.ts`,
          );
          const granted = flags.replace("<cache>", cache)
            .replace("<library>", library).split(" ");
          const out = json(
            await program(granted, "", "static_keys_demo_tracing", "tracing"),
          );
          assert.deepEqual(
            [out.path, out.off, out.on, out.offAgain],
            [library, 0, 1, 0],
          );
          // From code: build() returns at once with the same flags.
          const fromCode = json(
            await program(
              granted,
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

      const prefix = `${home}/static-keys`;
      const cxx = await cxxCompilers();
      const built: [string, string, string][] = [
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
         for step in pkgconfig plain cxx without-core nocore; do
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
      for (const name of scripted.filter((s) => !s.endsWith("-hidden"))) {
        built.push([
          `${name}: a version script`,
          `vscript/${name}/libmylib.so`,
          "mylib_compute",
        ]);
      }
      for (const name of scripted.filter((s) => s.endsWith("-hidden"))) {
        await step(
          `${name}: a version script hides the core's exports, and open() says how to export them`,
          async () => {
            const path = `${consumers}/vscript/${name}/libmylib.so`;
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
      for (const [what, lib, fn] of built) {
        await step(
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

      await step("a library without the core: not linked", async () => {
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
      // Kept for a look when a step failed.
      if (!failed) await sh(`rm -rf "$1"`, scratch);
      else console.error(`left ${scratch} as the failed step left it`);
    }
  },
});
