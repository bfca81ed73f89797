// SPDX-License-Identifier: MIT
// The requirements files: cmake/host.requires and cmake/toolchains/*.cmake.
// Each opens with "# apt:" (the Debian packages .ci/run installs) and
// "# requires:" (every program its build and tests look up). Shared by the
// test task (which targets can run here) and tests/toolchains_test.ts (the
// cross-check that keeps both lines honest).

/** One requirements file, parsed. */
export interface Requirements {
  /** "host" for cmake/host.requires, else the toolchain file's base name. */
  name: string;
  /** The file's path. */
  path: string;
  /** Packages on the "# apt:" line. */
  apt: string[];
  /** Programs on the "# requires:" line. */
  requires: string[];
  /** Packages on the "# fresh:" line: what a fresh CI machine already has. */
  fresh: string[];
  /** Every program the file itself names (compilers, emulator, find_program). */
  looksUp: string[];
}

/** The words after `# FIELD:` on the first such line, or []. */
export function headerField(text: string, field: string): string[] {
  const line = text.split("\n").find((l) => l.startsWith(`# ${field}:`));
  return line
    ? line.slice(`# ${field}:`.length).trim().split(/\s+/).filter(Boolean)
    : [];
}

/**
 * The programs a CMake toolchain file looks up: every name given to
 * find_program, the compilers it sets, the first word of the emulator and
 * the linker named by --ld-path. Simple `set(VAR value)` variables are
 * expanded; a path (containing "/") or a name still holding "${" is not a
 * program to look up on PATH and is left out.
 */
export function programsLookedUp(text: string): string[] {
  const body = text.split("\n").filter((l) => !l.trimStart().startsWith("#"))
    .join("\n");
  const vars = new Map<string, string>();
  for (const m of body.matchAll(/set\(\s*(\w+)\s+([^\s)"]+)\s*\)/g)) {
    vars.set(m[1], m[2]);
  }
  const expand = (word: string) =>
    word.replace(/\$\{(\w+)\}/g, (all, v) => vars.get(v) ?? all);
  const found: string[] = [];
  const add = (word: string) => {
    const w = expand(word);
    if (!w.includes("/") && !w.includes("${") && !found.includes(w)) {
      found.push(w);
    }
  };
  for (const m of body.matchAll(/find_program\(([^)]*)\)/g)) {
    const words = m[1].trim().split(/\s+/).slice(1);
    const keywords = new Set([
      "NAMES",
      "NAMES_PER_DIR",
      "REQUIRED",
      "NO_DEFAULT_PATH",
      "NO_CACHE",
    ]);
    const stop = words.findIndex((w) =>
      ["HINTS", "PATHS", "PATH_SUFFIXES", "DOC", "VALIDATOR"].includes(w)
    );
    for (const w of stop < 0 ? words : words.slice(0, stop)) {
      if (!keywords.has(w)) add(w);
    }
  }
  for (
    const m of body.matchAll(
      /set\(\s*CMAKE_(?:C|CXX|RC|ASM)_COMPILER\s+"?([^\s)"]+)/g,
    )
  ) add(m[1]);
  for (
    const m of body.matchAll(
      /set\(\s*CMAKE_CROSSCOMPILING_EMULATOR\s+"?([^\s)"]+)/g,
    )
  ) add(m[1]);
  for (const m of body.matchAll(/--ld-path=([^\s)"]+)/g)) add(m[1]);
  return found;
}

/** Parses one requirements file's text. */
export function parseRequirements(
  name: string,
  path: string,
  text: string,
): Requirements {
  return {
    name,
    path,
    apt: headerField(text, "apt"),
    requires: headerField(text, "requires"),
    fresh: headerField(text, "fresh"),
    looksUp: name === "host" ? [] : programsLookedUp(text),
  };
}

/**
 * Every requirements file under the repository root `root` (a directory
 * path): host first, then the toolchains sorted by name.
 */
export function readRequirements(root: string): Requirements[] {
  const out: Requirements[] = [];
  const host = `${root}/cmake/host.requires`;
  out.push(parseRequirements("host", host, Deno.readTextFileSync(host)));
  const dir = `${root}/cmake/toolchains`;
  const names = Array.from(Deno.readDirSync(dir))
    .filter((e) => e.isFile && e.name.endsWith(".cmake"))
    .map((e) => e.name).sort();
  for (const file of names) {
    const path = `${dir}/${file}`;
    out.push(
      parseRequirements(
        file.replace(/\.cmake$/, ""),
        path,
        Deno.readTextFileSync(path),
      ),
    );
  }
  return out;
}
