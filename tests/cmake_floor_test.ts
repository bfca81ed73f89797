// SPDX-License-Identifier: MIT
// The CMake version each part declares is the lowest one it needs: the
// CMake files use no command, generator expression or variable newer than
// their part's floor (a table of when each appeared in CMake), and each
// floor is the newest of the features its part uses. The parts: the
// library and the C package (CMakeLists.txt, cmake/, examples/, the
// consumer project of tests/consumer/: what users build), the C tests
// (tests/), the benchmarks (bench/); the build entry also runs
// `cmake --install` (3.15). CI has one CMake only, so this table is what
// keeps a newer feature from slipping in unseen.

import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url);
const read = (file: string) => Deno.readTextFileSync(new URL(file, ROOT));

/** [what, pattern, the CMake version it appeared in]. */
const FEATURES: readonly [string, RegExp, string][] = [
  ["$<LINK_LIBRARY:...>", /\$<LINK_LIBRARY:/, "3.24"],
  ["$<LINK_GROUP:...>", /\$<LINK_GROUP:/, "3.24"],
  ["$<PATH:...>", /\$<PATH:/, "3.24"],
  ["$<LIST:...>", /\$<LIST:/, "3.27"],
  ["$<TARGET_RUNTIME_DLLS:...>", /\$<TARGET_RUNTIME_DLLS:/, "3.21"],
  ["$<LINK_LANGUAGE:...>", /\$<LINK_LANGUAGE[:>]/, "3.18"],
  ["$<TARGET_FILE_BASE_NAME:...>", /\$<TARGET_FILE_BASE_NAME:/, "3.15"],
  ["$<REMOVE_DUPLICATES:...>", /\$<REMOVE_DUPLICATES:/, "3.15"],
  ["$<FILTER:...>", /\$<FILTER:/, "3.15"],
  ["$<COMPILE_LANG_AND_ID:...>", /\$<COMPILE_LANG_AND_ID:/, "3.15"],
  ["$<TARGET_EXISTS:...>", /\$<TARGET_EXISTS:/, "3.12"],
  ["block()", /^\s*block\s*\(/m, "3.25"],
  ["return(PROPAGATE)", /\breturn\s*\(\s*PROPAGATE/, "3.25"],
  ["cmake_path()", /\bcmake_path\s*\(/, "3.20"],
  ["cmake_language()", /\bcmake_language\s*\(/, "3.18"],
  ["string(JSON)", /\bstring\s*\(\s*JSON\b/, "3.19"],
  ["string(HEX)", /\bstring\s*\(\s*HEX\b/, "3.18"],
  ["string(REPEAT)", /\bstring\s*\(\s*REPEAT\b/, "3.15"],
  ["file(REAL_PATH)", /\bfile\s*\(\s*REAL_PATH\b/, "3.19"],
  ["file(CHMOD)", /\bfile\s*\(\s*CHMOD/, "3.19"],
  ["file(ARCHIVE_*)", /\bfile\s*\(\s*ARCHIVE_/, "3.18"],
  ["file(CONFIGURE)", /\bfile\s*\(\s*CONFIGURE\b/, "3.18"],
  ["file(GET_RUNTIME_DEPENDENCIES)", /GET_RUNTIME_DEPENDENCIES/, "3.16"],
  ["file(CREATE_LINK)", /\bfile\s*\(\s*CREATE_LINK\b/, "3.14"],
  ["file(SIZE)", /\bfile\s*\(\s*SIZE\b/, "3.14"],
  ["list(POP_*)", /\blist\s*\(\s*POP_/, "3.15"],
  ["list(TRANSFORM)", /\blist\s*\(\s*TRANSFORM\b/, "3.12"],
  ["foreach(IN ZIP_LISTS)", /\bIN\s+ZIP_LISTS\b/, "3.17"],
  ["CMAKE_CURRENT_FUNCTION_LIST_DIR", /CMAKE_CURRENT_FUNCTION/, "3.17"],
  ["check_linker_flag()", /\bcheck_linker_flag\s*\(|CheckLinkerFlag/, "3.18"],
  ["CMAKE_REQUIRED_LINK_OPTIONS", /CMAKE_REQUIRED_LINK_OPTIONS/, "3.14"],
  ["target_sources(FILE_SET)", /\bFILE_SET\b/, "3.23"],
  ["target_precompile_headers()", /target_precompile_headers/, "3.16"],
  ["target_link_options()", /\btarget_link_options\s*\(/, "3.13"],
  ["target_link_directories()", /\btarget_link_directories\s*\(/, "3.13"],
  ["LINKER: in link options", /["\s(]LINKER:/, "3.13"],
  ["install(RUNTIME_DEPENDENCIES)", /\bRUNTIME_DEPENDENC(Y_SET|IES)\b/, "3.21"],
  ["install(IMPORTED_RUNTIME_ARTIFACTS)", /IMPORTED_RUNTIME_ARTIFACTS/, "3.21"],
  ["ENVIRONMENT_MODIFICATION", /ENVIRONMENT_MODIFICATION/, "3.22"],
  ["COMPILE_WARNING_AS_ERROR", /COMPILE_WARNING_AS_ERROR/, "3.24"],
  ["CMAKE_LINK_LIBRARY_USING_*", /CMAKE_LINK_LIBRARY_USING_/, "3.24"],
  ["$CACHE{...}", /\$CACHE\{/, "3.13"],
  ["if(DEFINED CACHE{...})", /DEFINED\s+CACHE\{/, "3.14"],
  [
    "write_basic_package_version_file(SameMinorVersion)",
    /SameMinorVersion/,
    "3.11",
  ],
  ["include_guard()", /\binclude_guard\s*\(/, "3.10"],
];

/** The text of a CMake file without its comments (# and #[[ ]]). */
function code(text: string): string {
  let out = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === "\\") {
        out += c + (text[i + 1] ?? "");
        i++;
        continue;
      }
      if (c === '"') quoted = false;
      out += c;
    } else if (c === '"') {
      quoted = true;
      out += c;
    } else if (c === "#") {
      const bracket = text.slice(i).match(/^#\[(=*)\[/);
      const close = bracket ? `]${bracket[1]}]` : "\n";
      const at = text.indexOf(close, i);
      // A line comment keeps its newline; a bracket comment goes whole.
      const end = at < 0 ? text.length : bracket ? at + close.length : at;
      i = end - 1;
    } else out += c;
  }
  return out;
}

/** The repository's CMake files under `dir`, relative to the root. */
function cmakeFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(new URL(dir, ROOT))) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory) out.push(...cmakeFiles(`${path}/`));
    else if (/^CMakeLists\.txt$|\.cmake(\.in)?$/.test(entry.name)) {
      out.push(path);
    }
  }
  return out;
}

const compare = (a: string, b: string) => {
  const [x, y] = [a, b].map((v) => v.split(".").map(Number));
  return x[0] - y[0] || x[1] - y[1];
};
const newest = (versions: string[]) =>
  versions.reduce((a, b) => compare(a, b) >= 0 ? a : b, "3.0");

/** The features `file` uses: [what, version]. */
function uses(file: string): [string, string][] {
  const text = code(read(file));
  return FEATURES.filter(([, re]) => re.test(text)).map((
    [what, , version],
  ) => [what, version]);
}

const top = read("CMakeLists.txt");
const floor = top.match(
  /cmake_minimum_required\(VERSION (\d+\.\d+)\.\.\.3\.28\)/,
)
  ?.[1];
const testsFloor = code(top).match(
  /if\(STATIC_KEYS_TEST[^\n]*\n\s*if\(CMAKE_VERSION VERSION_LESS (\d+\.\d+)\)/,
)?.[1];

const PARTS = {
  "the library and the C package": [
    "CMakeLists.txt",
    ...cmakeFiles("cmake/").filter((f) => !f.startsWith("cmake/toolchains/")),
    ...cmakeFiles("examples/"),
    ...cmakeFiles("tests/consumer/"),
  ],
  "the C tests": cmakeFiles("tests/").filter((f) =>
    !f.startsWith("tests/consumer/")
  ),
  "the benchmarks": cmakeFiles("bench/"),
};

Deno.test("CMakeLists.txt declares its floor as x...3.28, and the C tests theirs", () => {
  assert.ok(
    floor,
    "CMakeLists.txt has no cmake_minimum_required(VERSION x...3.28)",
  );
  assert.ok(
    testsFloor,
    "CMakeLists.txt checks no CMAKE_VERSION for the C tests",
  );
  assert.ok(compare(testsFloor!, floor!) >= 0);
});

Deno.test("the CMake files use nothing newer than their part's floor, and each floor is what its part needs", async (t) => {
  const floors: Record<keyof typeof PARTS, string> = {
    "the library and the C package": floor!,
    "the C tests": testsFloor!,
    "the benchmarks": floor!,
  };
  for (const [part, files] of Object.entries(PARTS)) {
    const limit = floors[part as keyof typeof PARTS];
    await t.step(`${part} (CMake ${limit})`, () => {
      const found = files.flatMap((file) =>
        uses(file).map(([what, version]) => ({ file, what, version }))
      );
      const newer = found.filter((f) => compare(f.version, limit) > 0)
        .map((f) => `${f.file}: ${f.what} needs CMake ${f.version}`);
      assert.deepEqual(newer, [], `newer than ${limit}`);
      // Each file's own cmake_minimum_required / cmake_policy stays within.
      for (const file of files) {
        for (
          const m of code(read(file)).matchAll(
            /(?:cmake_minimum_required|cmake_policy)\(VERSION (\d+\.\d+)(?:\.\.\.(\d+\.\d+))?/g,
          )
        ) {
          assert.ok(compare(m[1], limit) <= 0, `${file}: ${m[0]} > ${limit}`);
          if (m[2]) assert.equal(m[2], "3.28", `${file}: ${m[0]}`);
        }
      }
      if (part !== "the benchmarks") {
        const needed = newest(found.map((f) => f.version));
        assert.equal(
          limit,
          needed,
          `${part} declares CMake ${limit}, its files need ${needed} ` +
            `(${found.map((f) => `${f.what}: ${f.version}`).join(", ")})`,
        );
      }
    });
  }
});

Deno.test("the CMake package and the build entry ask for the CMake they need", () => {
  const config = read("cmake/StaticKeysConfig.cmake.in");
  assert.match(
    config,
    new RegExp(`VERSION_LESS ${floor!.replace(".", "\\.")}\\)`),
    "StaticKeysConfig.cmake refuses a CMake below the floor, saying so",
  );
  assert.match(config, /StaticKeys needs CMake \$\{?|needs CMake \d/);
  // The build entry runs `cmake --install` (3.15) when given a prefix.
  const entry = read("src/builder/_cmake.ts");
  assert.ok(entry.includes('"--install"'));
  const probe = entry.match(/major === 3 && minor < (\d+)/)?.[1];
  assert.equal(`3.${probe}`, newest([floor!, "3.15"]));
  assert.ok(entry.includes(`install CMake 3.${probe} or newer`));
});

Deno.test("the comment stripper keeps strings and drops comments", () => {
  assert.equal(
    code('set(a "#x") # block()\n#[[ block() ]]b()\n'),
    'set(a "#x") \nb()\n',
  );
  assert.deepEqual(
    FEATURES.filter(([, re]) =>
      re.test(code("# $<LINK_LIBRARY:WHOLE_ARCHIVE,x>\n"))
    ),
    [],
  );
});
