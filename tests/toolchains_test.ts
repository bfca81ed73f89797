// SPDX-License-Identifier: MIT
// The requirements files (cmake/host.requires, cmake/toolchains/*.cmake)
// against what they look up and against the Debian packages that own what
// this machine has installed: a tool installed by hand cannot hide a
// package missing from an "# apt:" line.

import assert from "node:assert/strict";
import {
  parseRequirements,
  programsLookedUp,
  readRequirements,
  type Requirements,
} from "../scripts/_requires.ts";

const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const files = readRequirements(root);
const host = files.find((f) => f.name === "host")!;

/**
 * Runs a program and returns its standard output, whatever its exit status
 * (dpkg -S fails when one of many paths is unowned); null when the program
 * cannot be started (not installed).
 */
function run(cmd: string, args: string[]): string | null {
  try {
    const out = new Deno.Command(cmd, { args, stderr: "null" }).outputSync();
    return new TextDecoder().decode(out.stdout);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

const hasDpkg = run("dpkg-query", ["--version"]) !== null;

interface Installed {
  depends: Map<string, string[][]>; // package -> alternatives per dependency
  providers: Map<string, string[]>; // virtual name -> installed packages
}

/** Every installed package with its Depends/Pre-Depends and Provides. */
function installedPackages(): Installed {
  const text = run("dpkg-query", [
    "-W",
    "-f=${Package}\t${db:Status-Abbrev}\t${Depends}, ${Pre-Depends}\t${Provides}\n",
  ]) ?? "";
  const names = (s: string) =>
    s.split(",").map((d) =>
      d.split("|").map((a) =>
        a.trim().replace(/\s*\(.*\)$/, "").replace(/:\w+$/, "")
      )
        .filter(Boolean)
    ).filter((alts) => alts.length > 0);
  const depends = new Map<string, string[][]>();
  const providers = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const [pkg, status, deps, provides] = line.split("\t");
    if (!pkg || !status?.startsWith("ii")) continue;
    depends.set(pkg, names(deps ?? ""));
    for (const [virt] of names(provides ?? "")) {
      providers.set(virt, [...(providers.get(virt) ?? []), pkg]);
    }
  }
  return { depends, providers };
}

/**
 * The installed packages that installing `roots` brings: the roots and,
 * recursively, whatever installed package satisfies one of their
 * Depends/Pre-Depends (Recommends do not count: .ci/run installs without
 * them).
 */
function closure(db: Installed, roots: string[]): Set<string> {
  const seen = new Set<string>();
  const todo = [...roots];
  while (todo.length > 0) {
    const pkg = todo.pop()!;
    if (seen.has(pkg)) continue;
    seen.add(pkg);
    for (const alts of db.depends.get(pkg) ?? []) {
      for (const alt of alts) {
        for (const p of [alt, ...(db.providers.get(alt) ?? [])]) {
          if (db.depends.has(p) && !seen.has(p)) todo.push(p);
        }
      }
    }
  }
  return seen;
}

/**
 * For each program: null when it is not installed, else the packages that
 * own its path or the path it resolves to ([] when none does). One sh and
 * one dpkg call for all of them (dpkg -S costs about 0.3 s a call).
 */
function owners(programs: string[]): Map<string, string[] | null> {
  const script = `for p in "$@"; do
  q=$(command -v "$p") || { printf '%s\\n' "$p"; continue; }
  printf '%s\\t%s\\t%s\\n' "$p" "$q" "$(readlink -f "$q")"
done`;
  const out = run("sh", ["-c", script, "sh", ...programs]) ?? "";
  const paths = new Map<string, string[]>();
  for (const line of out.split("\n").filter(Boolean)) {
    const [program, ...found] = line.split("\t");
    // Debian 12 merges /bin into /usr/bin; dpkg may know either spelling.
    paths.set(
      program,
      found.flatMap((f) => [f, `/usr${f}`, f.replace(/^\/usr/, "")]),
    );
  }
  const all = [...new Set([...paths.values()].flat())];
  const owned = new Map<string, string[]>();
  const dpkg = all.length > 0 ? run("dpkg", ["-S", ...all]) ?? "" : "";
  for (const line of dpkg.split("\n")) {
    const m = line.match(/^([^:][^/]*?): (\/.*)$/);
    if (!m || line.startsWith("diversion")) continue;
    owned.set(m[2], m[1].split(",").map((s) => s.trim().replace(/:\w+$/, "")));
  }
  const result = new Map<string, string[] | null>();
  for (const program of programs) {
    const found = paths.get(program);
    if (!found || found.length === 0) result.set(program, null);
    else {result.set(program, [
        ...new Set(found.flatMap((f) => owned.get(f) ?? [])),
      ]);}
  }
  return result;
}

/**
 * What is wrong with one file's "# apt:" line on this machine: one line per
 * installed required program whose owning package neither the apt line (with
 * its dependencies) nor a fresh machine provides.
 */
function aptProblems(db: Installed, file: Requirements): string[] {
  const allowed = closure(db, [...file.apt, ...host.fresh]);
  const problems: string[] = [];
  const owning = owners(file.requires);
  for (const program of file.requires) {
    const own = owning.get(program) ?? null;
    if (own === null) continue; // not installed here: nothing to check
    if (own.length === 0) {
      problems.push(
        `${program}: no Debian package owns it (installed by hand?)`,
      );
      continue;
    }
    if (own.some((p) => allowed.has(p))) continue;
    problems.push(
      `${program} comes from ${own.join(", ")}, which "# apt: ${
        file.apt.join(" ")
      }" does not install (nor a fresh machine): add it to that line`,
    );
  }
  return problems;
}

Deno.test("programsLookedUp() finds find_program names, compilers, emulator and linker", () => {
  const text = [
    "# apt: x",
    "set(_t aarch64-linux-gnu)",
    "set(CMAKE_C_COMPILER ${_t}-gcc)",
    "find_program(_lld NAMES ld.lld-19 REQUIRED)",
    'set(CMAKE_EXE_LINKER_FLAGS_INIT "--ld-path=${_lld} -nostdlib")',
    "find_program(CMAKE_AR NAMES llvm-ar-16 llvm-ar REQUIRED)",
    "find_program(_q qemu-x HINTS /opt/bin)",
    "set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/x)",
    'set(CMAKE_CROSSCOMPILING_EMULATOR "${CMAKE_CURRENT_LIST_DIR}/run.sh")',
  ].join("\n");
  assert.deepEqual(programsLookedUp(text), [
    "ld.lld-19",
    "llvm-ar-16",
    "llvm-ar",
    "qemu-x",
    "aarch64-linux-gnu-gcc",
    "qemu-aarch64",
  ]);
});

Deno.test("requirements files name an apt line and a requires line", () => {
  assert.ok(files.length >= 2, "expected cmake/host.requires and toolchains");
  for (const f of files) {
    assert.ok(f.apt.length > 0, `${f.path}: no "# apt:" line`);
    assert.ok(f.requires.length > 0, `${f.path}: no "# requires:" line`);
  }
  assert.ok(host.fresh.length > 0, `${host.path}: no "# fresh:" line`);
});

Deno.test("every program a toolchain file looks up is on its # requires: line", async (t) => {
  for (const f of files.filter((f) => f.name !== "host")) {
    await t.step(f.name, () => {
      const unlisted = f.looksUp.filter((p) => !f.requires.includes(p));
      assert.deepEqual(
        unlisted,
        [],
        `${f.path} looks up ${
          unlisted.join(", ")
        } but its "# requires:" line does not name it`,
      );
    });
  }
});

Deno.test({
  name:
    "every installed required program comes from its file's # apt: packages",
  ignore: !hasDpkg,
  fn: async (t) => {
    const db = installedPackages();
    for (const f of files) {
      await t.step(f.name, () => {
        assert.deepEqual(aptProblems(db, f), [], `${f.path}`);
      });
    }
  },
});

// The two packages that once went missing, taken out again: the check must
// notice (where the programs are installed, so it has something to check).
const mutations: [string, string, string][] = [
  ["loongarch64-none", "llvm-16", "llvm-ar-16"],
  ["x86_64-windows", "wine", "wine"],
];
for (const [target, pkg, program] of mutations) {
  const file = files.find((f) => f.name === target);
  Deno.test({
    name: `the apt check fails for ${target} without ${pkg}`,
    ignore: !hasDpkg || !file || owners([program]).get(program) === null,
    fn: () => {
      const broken = parseRequirements(
        target,
        file!.path,
        Deno.readTextFileSync(file!.path).replace(
          /^# apt:.*$/m,
          (line) => line.split(/\s+/).filter((w) => w !== pkg).join(" "),
        ),
      );
      assert.ok(!broken.apt.includes(pkg));
      const problems = aptProblems(installedPackages(), broken);
      assert.ok(
        problems.some((p) => p.startsWith(`${program} `)),
        `expected a problem for ${program}, got ${JSON.stringify(problems)}`,
      );
    },
  });
}
