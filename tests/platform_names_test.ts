// SPDX-License-Identifier: MIT
// The library's file name and the cache paths per OS, without those OSes:
// the names open() and the build entry look for are the ones CMake gives the
// module on Linux, macOS, Windows (MSVC) and mingw-w64, and the cache is
// where Deno's cache directory is on each.

import assert from "node:assert/strict";
import {
  cacheEnvNames,
  cacheRoot,
  type EnvReader,
  normalize,
  type Os,
  VERSION,
} from "../src/runtime/_cache.ts";
import {
  cachedLibraryPaths,
  cacheLibraryName,
  LIBRARY_NAMES,
} from "../src/runtime/_library.ts";
import { builtLibraryPaths } from "../src/builder/_cmake.ts";
import { absolute } from "../src/builder/_build.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname)
  .replace(/\/$/, "");

/** An environment of `vars` in which every variable may be read. */
const env = (vars: Record<string, string>): EnvReader => (name) => vars[name];

Deno.test("LIBRARY_NAMES are the names CMake gives the module on each OS", async () => {
  // The module's OUTPUT_NAME, and each platform's shared-library prefix and
  // suffix as CMake's own platform files set them (no compiler needed).
  const cmakeLists = Deno.readTextFileSync(`${ROOT}/CMakeLists.txt`);
  const output = cmakeLists.match(
    /add_library\(static_keys_module SHARED[^]*?OUTPUT_NAME (\w+)/,
  )?.[1];
  assert.equal(output, "static_keys");
  const out = await new Deno.Command("sh", {
    args: [
      "-ec",
      `dir=$1/build/names-test; rm -rf "$dir"; mkdir -p "$dir"
       cat >"$dir/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.13...3.28)
project(names NONE)
if(MINGW_NAMES)
  include(Platform/Windows-GNU)
endif()
message(STATUS "name=\${CMAKE_SHARED_LIBRARY_PREFIX}\${OUT}\${CMAKE_SHARED_LIBRARY_SUFFIX}")
EOF
       for system in Linux Darwin Windows Windows-GNU; do
         name=\${system%-GNU}
         opt=""; [ "$system" = Windows-GNU ] && opt=-DMINGW_NAMES=ON
         cmake -S "$dir" -B "$dir/$system" -DCMAKE_SYSTEM_NAME=$name "-DOUT=$2" $opt |
           sed -n "s/^-- name=/$system /p"
       done`,
      "sh",
      ROOT,
      output,
    ],
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const cmake = Object.fromEntries(
    text.trim().split("\n").map((l) => l.split(" ")),
  );
  assert.deepEqual(cmake, {
    Linux: "libstatic_keys.so",
    Darwin: "libstatic_keys.dylib",
    Windows: "static_keys.dll",
    "Windows-GNU": "libstatic_keys.dll",
  });
  assert.deepEqual(LIBRARY_NAMES.linux, [cmake.Linux]);
  assert.deepEqual(LIBRARY_NAMES.darwin, [cmake.Darwin]);
  assert.deepEqual(LIBRARY_NAMES.windows, [
    cmake.Windows,
    cmake["Windows-GNU"],
  ]);
});

Deno.test("the cache is in Deno's cache directory of each OS", () => {
  const rows: [Os, Record<string, string>, string][] = [
    ["linux", { HOME: "/home/u" }, "/home/u/.cache/deno/static-keys"],
    [
      "linux",
      { HOME: "/home/u", XDG_CACHE_HOME: "/x/cache" },
      "/x/cache/deno/static-keys",
    ],
    [
      "darwin",
      { HOME: "/Users/u", XDG_CACHE_HOME: "/x/cache" },
      "/Users/u/Library/Caches/deno/static-keys",
    ],
    [
      "windows",
      { LOCALAPPDATA: "C:\\Users\\u\\AppData\\Local", HOME: "C:\\Users\\u" },
      "C:\\Users\\u\\AppData\\Local\\deno\\static-keys",
    ],
    ["windows", { DENO_DIR: "D:\\deno\\" }, "D:\\deno\\static-keys"],
    ["darwin", { DENO_DIR: "/d", HOME: "/Users/u" }, "/d/static-keys"],
    ["linux", { STATIC_KEYS_CACHE: "/c/", DENO_DIR: "/d" }, "/c"],
  ];
  for (const [os, vars, root] of rows) {
    assert.deepEqual(cacheRoot(os, env(vars)), { root }, `${os} ${vars}`);
  }
  assert.deepEqual(cacheEnvNames("linux"), [
    "STATIC_KEYS_CACHE",
    "DENO_DIR",
    "XDG_CACHE_HOME",
    "HOME",
  ]);
  assert.deepEqual(cacheEnvNames("darwin"), [
    "STATIC_KEYS_CACHE",
    "DENO_DIR",
    "HOME",
  ]);
  assert.deepEqual(cacheEnvNames("windows"), [
    "STATIC_KEYS_CACHE",
    "DENO_DIR",
    "LOCALAPPDATA",
  ]);
  // A variable that may not be read stops the search there.
  const denied: EnvReader = (n) => n === "STATIC_KEYS_CACHE" ? undefined : null;
  assert.deepEqual(cacheRoot("windows", denied), {
    needsEnv: cacheEnvNames("windows"),
  });
  assert.deepEqual(cacheRoot("darwin", env({})), {
    unset: cacheEnvNames("darwin"),
  });
});

Deno.test("open() and the build entry look for each OS's file names", () => {
  // The cache holds one name per OS, whichever compiler built it.
  assert.equal(cacheLibraryName("linux"), "libstatic_keys.so");
  assert.equal(cacheLibraryName("darwin"), "libstatic_keys.dylib");
  assert.equal(cacheLibraryName("windows"), "static_keys.dll");
  const win = "C:\\Users\\u\\AppData\\Local\\deno\\static-keys";
  assert.deepEqual(cachedLibraryPaths(win, "windows", "x86_64"), [
    `${win}\\${VERSION}\\windows-x86_64\\static_keys.dll`,
    `${win}\\${VERSION}\\windows-x86_64\\libstatic_keys.dll`,
  ]);
  const mac = "/Users/u/Library/Caches/deno/static-keys";
  assert.deepEqual(cachedLibraryPaths(mac, "darwin", "aarch64"), [
    `${mac}/${VERSION}/darwin-aarch64/libstatic_keys.dylib`,
  ]);
  assert.deepEqual(cachedLibraryPaths("/c", "linux", "x86_64"), [
    `/c/${VERSION}/linux-x86_64/libstatic_keys.so`,
  ]);
  // lib/ of the build tree, or lib/Release/ under Visual Studio or Xcode.
  assert.deepEqual(builtLibraryPaths("C:\\w\\build", "windows"), [
    "C:\\w\\build\\lib\\static_keys.dll",
    "C:\\w\\build\\lib\\libstatic_keys.dll",
    "C:\\w\\build\\lib\\Release\\static_keys.dll",
    "C:\\w\\build\\lib\\Release\\libstatic_keys.dll",
  ]);
  assert.deepEqual(builtLibraryPaths("/w/build", "darwin"), [
    "/w/build/lib/libstatic_keys.dylib",
    "/w/build/lib/Release/libstatic_keys.dylib",
  ]);
});

Deno.test("the build entry's prefix is absolute, without . and .. segments", () => {
  assert.equal(normalize("/work/proj/../prefix/./x/", "/"), "/work/prefix/x");
  assert.equal(normalize("/../a", "/"), "/a");
  assert.equal(normalize("C:\\p\\..\\opt/sk", "\\"), "C:\\opt\\sk");
  assert.equal(absolute("/opt//static-keys/."), "/opt/static-keys");
});
