// SPDX-License-Identifier: MIT
// The C package from an install: libraries that tests/consumer/readme_build.sh
// built from README's lines (CMake, pkg-config, a plain compiler line, C++)
// are opened from Deno with their own symbols and flipped; a library without
// the core is refused with a "not linked" error. ctest builds them (the
// consumer_* tests); without that build these tests are ignored.

import assert from "node:assert/strict";
import { runOpen } from "./_helpers.ts";

const CONSUMER = new URL("../build/tests/consumer/", import.meta.url);

function built(): boolean {
  try {
    return Deno.statSync(new URL("nocore/", CONSUMER)).isDirectory;
  } catch {
    return false;
  }
}

const path = (rel: string) => new URL(rel, CONSUMER).pathname;

/** Opens `lib` in a fresh deno with --allow-ffi for it only, via the fixture. */
async function flip(lib: string, fn: string) {
  const main = new URL("./fixtures/consumer_main.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--no-config",
      `--allow-ffi=${lib}`,
      main,
      lib,
      fn,
    ],
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const text = new TextDecoder();
  assert.equal(out.code, 0, text.decode(out.stderr));
  return JSON.parse(text.decode(out.stdout));
}

Deno.test({
  name: "a library built against the install flips its own key from Deno",
  ignore: !built(),
  async fn(t) {
    const cxx = Array.from(Deno.readDirSync(new URL("cxx/", CONSUMER)))
      .map((e) => `cxx/${e.name}/libmylib_cxx.so`);
    assert.ok(cxx.length > 0, "no C++ library was built");
    const libs: [string, string][] = [
      ["cmake/libmylib.so", "mylib_compute"],
      ["pkgconfig/libmylib.so", "mylib_compute"],
      ["plain/libmylib.so", "mylib_compute"],
      ...cxx.map((lib): [string, string] => [lib, "mylib_cxx_compute"]),
    ];
    for (const [lib, fn] of libs) {
      await t.step(lib, async () => {
        assert.deepEqual(await flip(path(lib), fn), {
          names: ["fast_path"],
          off: 1,
          on: 2,
          offAgain: 1,
        });
      });
    }
  },
});

Deno.test({
  name: "open() says a library without the core is not linked with it",
  ignore: !built(),
  async fn() {
    const lib = path("nocore/libnocore.so");
    const { result } = await runOpen([`--allow-ffi=${lib}`], [lib]);
    assert.equal(result.name, "StaticKeysError");
    assert.equal(result.code, -9);
    assert.match(
      result.message,
      new RegExp(
        `^Cannot open "${lib}": it is not linked with the static-keys core ` +
          `\\(it does not export static_keys_ffi_\\w+\\); link the core into it: ` +
          `StaticKeys::static_keys with CMake, \\$\\(pkg-config --libs static-keys\\), ` +
          `or <prefix>/lib/libstatic_keys_core\\.a after your objects$`,
      ),
    );
  },
});
