// SPDX-License-Identifier: MIT
// The fenced code blocks of a Markdown file, for the tests that check or
// run the blocks of README and docs/ (readme_test, install_test,
// fleet_tryit_test).

/** One fenced block of a Markdown file. */
export interface Block {
  /** The language: the first word of the info string, lower case. */
  lang: string;
  /** The other words of the info string. */
  attrs: string[];
  /** The line of the opening fence, from 1. */
  line: number;
  /** The block's text, without the fence's indentation. */
  code: string;
}

/** The fenced code blocks of `markdown`, in order (``` and ~~~ fences). */
export function blocks(markdown: string): Block[] {
  const lines = markdown.split(/\r?\n/);
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = lines[i].match(/^( {0,3}|\s*)(`{3,}|~{3,})\s*([^\s`]*)(.*)$/);
    if (!open) continue;
    const [, indent, fence, lang, rest] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const close = lines[j].match(/^\s*(`{3,}|~{3,})\s*$/);
      if (
        close && close[1][0] === fence[0] && close[1].length >= fence.length
      ) {
        break;
      }
      body.push(
        lines[j].startsWith(indent)
          ? lines[j].slice(indent.length)
          : lines[j].trimStart(),
      );
    }
    out.push({
      lang: lang.toLowerCase(),
      attrs: rest.split(/[\s,]+/).filter(Boolean),
      line: i + 1,
      code: body.join("\n"),
    });
    i = j;
  }
  return out;
}

/**
 * The text under `heading` (a whole line, such as "## Quick start") up to
 * the next heading of its level or above outside a code block, or "" when
 * there is no such heading.
 */
export function section(markdown: string, heading: string): string {
  const level = heading.match(/^#+/)?.[0].length ?? 0;
  const out: string[] = [];
  let inside = false;
  let fence: string | undefined;
  for (const line of markdown.split(/\r?\n/)) {
    const mark = line.match(/^\s*(`{3,}|~{3,})/)?.[1];
    if (mark && (fence === undefined || mark.startsWith(fence))) {
      fence = fence === undefined ? mark : undefined;
    } else if (fence === undefined) {
      const h = line.match(/^(#+) /);
      if (h && inside && h[1].length <= level) break;
      if (line === heading) {
        inside = true;
        continue;
      }
    }
    if (inside) out.push(line);
  }
  return out.join("\n");
}

/**
 * The commands of the sh blocks of `markdown` under `heading` (to the
 * next heading), continuation lines joined, comments dropped.
 */
export function commands(markdown: string, heading: string): string[] {
  const out: string[] = [];
  let pending = "";
  for (const block of blocks(section(markdown, heading))) {
    if (block.lang !== "sh") continue;
    for (const line of block.code.split("\n")) {
      const code = line.replace(/(^|\s)#.*$/, "").trim();
      if (code === "") continue;
      if (code.endsWith("\\")) {
        pending += code.slice(0, -1).trim() + " ";
        continue;
      }
      out.push(pending + code);
      pending = "";
    }
  }
  return out;
}
