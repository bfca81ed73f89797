// SPDX-License-Identifier: MIT
// The publish set and the sources the build entry embeds: src/builder/_sources.ts
// must be the native files of the publish set, byte for byte ("deno task
// sources" regenerates it), and the version must be one everywhere.

import assert from "node:assert/strict";
import { nativeFiles, publishedFiles } from "../scripts/_publish.ts";
import { SOURCES } from "../src/builder/_sources.ts";
import { VERSION } from "../src/runtime/_cache.ts";

const root = new URL("..", import.meta.url);
const published = publishedFiles(root);
published.catch(() => {}); // each test awaits it and reports its error
const read = (file: string) =>
  Deno.readTextFileSync(new URL(file, root)).replaceAll("\r\n", "\n");

Deno.test("the publish set carries the native sources and no test files", async () => {
  const files = await published;
  for (
    const file of [
      "mod.ts",
      "build.ts",
      "deno.json",
      "CMakeLists.txt",
      "cmake/StaticKeysConfig.cmake.in",
      "cmake/static_keys_install.cmake",
      "native/include/static_keys.h",
      "native/demo.c",
      "os/linux.c",
      "os/os.h",
      "arch/x86.h",
    ]
  ) assert.ok(files.includes(file), `${file} is published`);
  // README's example project and its chart are published for its links
  // (tests/publish_test.ts); the rest of examples/ and bench/ is not.
  const testOnly = files.filter((f) =>
    /^(tests|scripts|\.ci|cmake\/toolchains)\/|^bench\/(?!results\/flip_cost\.svg$)|^examples\/(?!mylib\/)|^cmake\/(host\.requires|wine-run\.sh|check_pe_sections\.cmake|static_keys_check_symbols\.cmake)$/
      .test(f)
  );
  assert.deepEqual(testOnly, []);
});

Deno.test("src/builder/_sources.ts holds the native files of the publish set, byte for byte", async () => {
  const expected = nativeFiles(await published);
  assert.deepEqual(
    Object.keys(SOURCES).sort(),
    expected,
    'the set of native files changed: run "deno task sources"',
  );
  const stale = expected.filter((file) => SOURCES[file] !== read(file));
  assert.deepEqual(stale, [], 'these changed: run "deno task sources"');
});

Deno.test("the version is the same in deno.json, static_keys.h and src/runtime/_cache.ts", () => {
  const config = JSON.parse(read("deno.json"));
  const header = read("native/include/static_keys.h")
    .match(/#define STATIC_KEYS_VERSION "([^"]+)"/)?.[1];
  assert.deepEqual([config.version, header], [VERSION, VERSION]);
});
