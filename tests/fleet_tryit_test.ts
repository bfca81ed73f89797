// SPDX-License-Identifier: MIT
// docs/fleet.md's "Try it on one machine" run as a reader runs it, in the
// clone: its first command starts the example follower, its second sets
// keys with the command line and waits until the follower applied them,
// its third lists that follower. README's Fleet section gives the same
// first two. `deno` is this deno; nothing else of the commands is changed.
// The store file is made in the clone, as the page says, and removed.

import assert from "node:assert/strict";
import { commands } from "./_markdown.ts";
import { spawn } from "./_helpers.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname)
  .replace(/\/$/, "");
const HEADING = "## Try it on one machine (file store)";

/** The words of one command of the page, `deno` made this deno. */
function argv(command: string): [string, string[]] {
  const words = command.split(/\s+/);
  assert.equal(words[0], "deno", `"${command}" starts with deno`);
  return [Deno.execPath(), words.slice(1)];
}

/** Collects a child's lines and lets a test wait for one that matches. */
class Lines {
  text = "";
  #waiters: { re: RegExp; resolve: (line: string) => void }[] = [];
  constructor(stream: ReadableStream<Uint8Array>) {
    (async () => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        this.text += chunk;
        for (const w of [...this.#waiters]) {
          const line = this.text.split("\n").find((l) => w.re.test(l));
          if (line !== undefined) {
            this.#waiters.splice(this.#waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    })();
  }
  /** The first line that matches `re`, or an error after `ms`. */
  wait(re: RegExp, ms: number): Promise<string> {
    const line = this.text.split("\n").find((l) => re.test(l));
    if (line !== undefined) return Promise.resolve(line);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no line matched ${re} in:\n${this.text}`)),
        ms,
      );
      this.#waiters.push({
        re,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }
}

Deno.test("docs/fleet.md's try-it: the example follower applies what the command line sets", async () => {
  const page = Deno.readTextFileSync(`${ROOT}/docs/fleet.md`);
  const steps = commands(page, HEADING);
  assert.equal(steps.length, 3, "a follower, a set and a status line");
  const readme = Deno.readTextFileSync(`${ROOT}/README.md`);
  assert.deepEqual(
    commands(readme, "## Fleet").slice(0, 2),
    steps.slice(0, 2),
    "README's Fleet section gives the same two commands to try it",
  );

  const before = new Set([...Deno.readDirSync(ROOT)].map((e) => e.name));
  const [deno, followArgs] = argv(steps[0]);
  const follower = new Deno.Command(deno, {
    args: followArgs,
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = new Lines(follower.stdout);
  const err = new Lines(follower.stderr);
  try {
    const started = await out.wait(/^following "demo"/, 120_000).catch((e) => {
      throw new Error(`${e.message}\nstderr:\n${err.text}`);
    });
    const instance = started.match(/ as (\S+);/)?.[1];
    assert.ok(instance, `the follower names its instance: ${started}`);

    const [, setArgs] = argv(steps[1]);
    const set = await spawn(deno, setArgs, { cwd: ROOT });
    assert.equal(set.code, 0, `${steps[1]}\n${set.stdout}${set.stderr}`);
    await out.wait(
      /^revision \d+: (?=.*\btracing=on\b)(?=.*\bchecks=off \(pinned off\))/,
      60_000,
    );

    const [, statusArgs] = argv(steps[2]);
    const status = await spawn(deno, statusArgs, { cwd: ROOT });
    assert.equal(status.code, 0, status.stdout + status.stderr);
    assert.ok(
      status.stdout.includes(instance),
      `fleet status lists ${instance}:\n${status.stdout}`,
    );
  } finally {
    try {
      follower.kill("SIGINT");
    } catch { /* already ended */ }
    const end = await follower.status;
    // the suite may write only its scratch folder: sh removes the store
    const made = [...Deno.readDirSync(ROOT)].map((e) => e.name)
      .filter((name) => !before.has(name) && name.startsWith("fleet.json"));
    if (made.length > 0) {
      const rm = await spawn("sh", ["-c", 'rm -rf -- "$@"', "sh", ...made], {
        cwd: ROOT,
      });
      assert.equal(rm.code, 0, rm.stderr);
    }
    assert.equal(end.code, 0, `the follower ends on Ctrl-C:\n${err.text}`);
  }
});
