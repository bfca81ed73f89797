// SPDX-License-Identifier: MIT
// The publish set, as `deno publish --dry-run` reports it, and the part of
// it the build entry embeds (src/builder/_sources.ts).

/** The files the build entry compiles: these roots of the publish set. */
export const NATIVE_ROOTS = [
  "CMakeLists.txt",
  "cmake/",
  "native/",
  "os/",
  "arch/",
] as const;

/**
 * The files `deno publish` would publish from `root`, relative and
 * "/"-separated, sorted. Runs `deno publish --dry-run --allow-dirty`
 * (offline is fine) and reads its file list.
 */
export async function publishedFiles(root: URL): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty"],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout) +
    new TextDecoder().decode(out.stderr);
  if (out.code !== 0) {
    throw new Error(`deno publish --dry-run failed:\n${text}`);
  }
  const base = root.href.endsWith("/") ? root.href : `${root.href}/`;
  const files = text.split(/\r?\n/)
    .map((line) => line.match(/^\s+(file:\/\/\S+) \([\d.]+\w*B\)$/)?.[1])
    .filter((url): url is string => url !== undefined && url.startsWith(base))
    .map((url) => decodeURIComponent(url.slice(base.length)))
    .sort();
  if (files.length === 0) {
    throw new Error(`deno publish --dry-run listed no files:\n${text}`);
  }
  return files;
}

/** The files of `published` that the build entry embeds. */
export function nativeFiles(published: readonly string[]): string[] {
  return published.filter((file) =>
    NATIVE_ROOTS.some((r) => r.endsWith("/") ? file.startsWith(r) : file === r)
  );
}
