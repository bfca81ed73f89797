// SPDX-License-Identifier: MIT
// deno task bench's report: the results' shape, the Markdown tables, the
// checks of what the design promises (one patch per run of pages, the
// default against the per-site baseline, init, the hot path, Deno against
// C), README's block and docs/performance.md's, and the SVG chart.

/** The files one run of `deno task bench` writes, relative to the root. */
export interface BenchOutputs {
  /** The results as JSON. */
  json: string;
  /** The flip-cost chart. */
  chart: string;
  /** The report's Markdown: machine line, tables, checks. */
  report: string;
  /** README.md, whose bench block gets the headline; absent: left alone. */
  readme?: string;
  /**
   * docs/performance.md, whose bench block gets the full table; absent
   * (with `readme`): left alone.
   */
  performance?: string;
}

/**
 * Where a run writes: build/bench/results/ (the clone stays clean), or,
 * with `--update`, the committed bench/results/ and the bench blocks of
 * README and docs/performance.md (`--no-readme` leaves both alone).
 */
export function benchOutputs(args: readonly string[]): BenchOutputs {
  const report = "build/bench/results/report.md";
  if (!args.includes("--update")) {
    return {
      json: "build/bench/results/latest.json",
      chart: "build/bench/results/flip_cost.svg",
      report,
    };
  }
  return {
    json: "bench/results/latest.json",
    chart: "bench/results/flip_cost.svg",
    report,
    ...(args.includes("--no-readme")
      ? {}
      : { readme: "README.md", performance: "docs/performance.md" }),
  };
}

/** One record a benchmark program printed (one JSON object a line). */
export type Row = Record<string, string | number | boolean>;

/** What one run of `deno task bench` measured, as latest.json holds it. */
export interface Results {
  machine: Record<string, string | number>;
  flip: Row[];
  batch: Row[];
  maps: Row[];
  deno: Row[];
  denoBench: Row[];
  hot: Row[];
  callgrind: Record<string, number>;
  init: Row[];
  defaultStrategy: string;
  /**
   * Strategies that run the cross-modification protocol here, with its
   * passes per request (3 on x86): each pass is one patch per run.
   */
  protocolPasses?: Record<string, number>;
  /** Core synchronisations per request of those strategies (2 on x86). */
  protocolSyncs?: Record<string, number>;
  /**
   * The floors, measured in the same run from the Deno process: µs of one
   * pwrite of a code byte to /proc/self/mem, one membarrier(SYNC_CORE),
   * one rt_sigaction query, and that process's thread count (Linux).
   */
  floor?: Row;
  checks: Check[];
}

/** A check of the results: met, or by how much it falls short. */
export interface Check {
  check: string;
  met: boolean | null;
  detail: string;
}

/** Syscalls one run may cost per protocol pass, per strategy. */
const RUN_SYSCALLS: Record<string, number> = {
  remap: 3,
  mprotect: 2,
  procmem: 1,
  alias: 0,
};

const PER_SITE = "per-site";

function find(rows: Row[], match: Row): Row | undefined {
  return rows.find((r) => Object.entries(match).every(([k, v]) => r[k] === v));
}

function us(v: unknown): string {
  if (typeof v !== "number") return "–";
  if (v >= 1000) return `${Math.round(v).toLocaleString("en-US")} µs`;
  return `${v >= 10 ? v.toFixed(1) : v.toFixed(2)} µs`;
}

/** The maps lines a strategy's flip added, signed, or "–". */
function mapsCell(r: Results, strategy: string): string {
  const m = find(r.maps, { strategy });
  return m ? `${Number(m.after_enable) >= 0 ? "+" : ""}${m.after_enable}` : "–";
}

/** Strategies in the order the table and the chart show them. */
export function strategies(r: Results): string[] {
  const seen = [...new Set(r.flip.map((f) => String(f.strategy)))];
  return [PER_SITE, ...seen.filter((s) => s !== PER_SITE)];
}

/** The flip table: figures down, strategies across. */
export function flipTable(r: Results): string {
  const cols = strategies(r);
  const names = cols.map((c) =>
    c === PER_SITE ? "per-site baseline" : `\`${c}\``
  );
  const head = `| figure | ${names.join(" | ")} |`;
  const line = `| --- | ${cols.map(() => "---:").join(" | ")} |`;
  const row = (label: string, cell: (s: string) => string) =>
    `| ${label} | ${cols.map(cell).join(" | ")} |`;
  const flip = (sites: number, spin: boolean) => (s: string) =>
    us(find(r.flip, { strategy: s, sites, spin })?.us);
  const tenk = (field: string) => (s: string) => {
    const v = find(r.flip, { strategy: s, sites: 10000, spin: false })?.[field];
    return v === undefined ? "–" : Number(v).toLocaleString("en-US");
  };
  const maps = (s: string) => mapsCell(r, s);
  const batch = (s: string) => us(find(r.batch, { strategy: s })?.us);
  const deno = (s: string) => {
    const d = find(r.deno, { strategy: s, sites: 1 });
    return d ? `${Number(d.ratio).toFixed(2)}×` : "–";
  };
  return [
    head,
    line,
    row("1 site", flip(1, false)),
    row("100 sites", flip(100, false)),
    row("10,000 sites", flip(10000, false)),
    row("10,000 sites, another thread spinning", flip(10000, true)),
    row("100 keys × 10 sites in one request", batch),
    row("syscalls per flip, 10,000 sites", tenk("syscalls")),
    row("runs (patches) per flip, 10,000 sites", tenk("runs")),
    row("pages per flip, 10,000 sites", tenk("pages")),
    row("`/proc/self/maps` lines after that flip", maps),
    row("a flip from Deno ÷ from C, 1 site", deno),
  ].join("\n");
}

/** The hot-path table. */
export function hotTable(r: Results): string {
  const lines = [
    "| test, 1,000 features all off | ns a test, cached | ns a test, evicted | instructions a test (callgrind) |",
    "| --- | ---: | ---: | ---: |",
  ];
  const label: Record<string, string> = {
    static: "static branch (`static_branch_unlikely`)",
    flag: "relaxed-atomic flag",
    empty: "no test (the floor)",
  };
  for (const kind of ["static", "flag", "empty"]) {
    const c = find(r.hot, { kind, evicted: false });
    const e = find(r.hot, { kind, evicted: true });
    const ir = r.callgrind[kind];
    lines.push(
      `| ${label[kind]} | ${Number(c?.ns ?? NaN).toFixed(2)} | ${
        Number(e?.ns ?? NaN).toFixed(2)
      } | ${ir === undefined ? "–" : ir.toFixed(1)} |`,
    );
  }
  return lines.join("\n");
}

/** Init figures, from bench/init_bench.c when the build has it. */
export function initTable(r: Results): string {
  if (r.init.length === 0) return "";
  const lines = ["| init | entries | time |", "| --- | ---: | ---: |"];
  for (const { name, entries, value, unit } of r.init) {
    const n = Number(entries ?? NaN);
    lines.push(
      `| ${name} | ${isNaN(n) ? "–" : n.toLocaleString("en-US")} | ${
        unit === "us" ? us(Number(value)) : `${value} ${unit ?? ""}`
      } |`,
    );
  }
  return lines.join("\n");
}

/** The checks, each met or by how much it falls short. */
export function checkResults(r: Results): Check[] {
  const checks: Check[] = [];
  const flip = (s: string, sites: number, spin = false) =>
    find(r.flip, { strategy: s, sites, spin });
  // One patch per run, and the ratios.
  const passes = (s: string) => r.protocolPasses?.[s] ?? 1;
  const perRun = Object.entries(RUN_SYSCALLS).flatMap(([s, most]) => {
    const f = flip(s, 10000);
    if (!f) return [];
    const ok = Number(f.syscalls) <= most * passes(s) * Number(f.runs) &&
      Number(f.runs) === 1;
    const text = `${s} ${f.syscalls} syscalls in ${f.runs} run` +
      (passes(s) > 1 ? ` (${passes(s)} protocol passes)` : "");
    return [{ s, ok, text }];
  });
  checks.push({
    check: "1. one patch per contiguous run (10,000 sites on contiguous pages)",
    met: perRun.every((p) => p.ok),
    detail: perRun.map((p) => p.text).join(", "),
  });
  const def = flip(r.defaultStrategy, 10000);
  const base = flip(PER_SITE, 10000);
  if (def && base) {
    const ratio = Number(base.us) / Number(def.us);
    checks.push({
      check:
        `1. 10,000-site pair (${r.defaultStrategy}) ≥ 100× faster than the per-site baseline`,
      met: ratio >= 100,
      detail: `${ratio.toFixed(0)}× (${us(def.us)} against ${us(base.us)})` +
        (ratio >= 100 ? "" : `, ${(100 / ratio).toFixed(1)}× short`),
    });
  }
  // The hot path.
  const hf = find(r.hot, { kind: "flag", evicted: true });
  const hs = find(r.hot, { kind: "static", evicted: true });
  if (hf && hs) {
    const win = Number(hf.ns) - Number(hs.ns);
    checks.push({
      check: "4. static keys beat flag checks when the flags are evicted",
      met: win > 0,
      detail:
        `${Number(hs.ns).toFixed(2)} ns against ${
          Number(hf.ns).toFixed(2)
        } ns a test (${win.toFixed(2)} ns saved); ` +
        `cached, the difference is ${
          (Number(find(r.hot, { kind: "flag", evicted: false })?.ns) -
            Number(find(r.hot, { kind: "static", evicted: false })?.ns))
            .toFixed(2)
        } ns`,
    });
  }
  // Deno against C for the strategies that make syscalls.
  const ratios = r.deno.filter((d) => d.strategy !== "alias" && d.sites === 1);
  if (ratios.length) {
    const worst = Math.max(...ratios.map((d) => Number(d.ratio)));
    checks.push({
      check: "5. a flip from Deno ≤ 1.1× the same flip from C (1 site)",
      met: worst <= 1.1,
      detail: "in one process, rounds alternating: " +
        ratios.map((d) => `${d.strategy} ${Number(d.ratio).toFixed(2)}×`)
          .join(", ") +
        (worst <= 1.1 ? "" : `; ${(worst - 1.1).toFixed(2)} over`),
    });
  }
  if (!r.flip.some((f) => f.strategy === "procmem")) {
    checks.push({
      check: "2. procmem: one syscall per run",
      met: null,
      detail: "this build's library does not offer procmem",
    });
  } else {
    const p = flip("procmem", 10000);
    checks.push({
      check: "2. procmem: one syscall per run, no mapping added",
      met: !!p && Number(p.syscalls) <= passes("procmem") * Number(p.runs) &&
        Number(find(r.maps, { strategy: "procmem" })?.after_enable ?? 1) === 0,
      detail: p
        ? `${p.syscalls} syscalls in ${p.runs} run${
          passes("procmem") > 1
            ? ` (one per protocol pass, ${passes("procmem")} passes)`
            : ""
        }, ${
          find(r.maps, { strategy: "procmem" })?.after_enable ?? "?"
        } maps lines added`
        : "not measured",
    });
  }
  // Init, from init_bench's lines "init.<layout> <entries> <us> us".
  const initUs = (layout: string) =>
    find(r.init, { name: `init.${layout}`, entries: 100000 })?.value;
  const inter = initUs("interleaved"), sorted = initUs("sorted");
  // The crate is compared side by side only, in one run of both (README);
  // this bench cannot build it, and a figure from another run is no measure.
  const initCheck = "3. init: presorted 100,000 entries ≤ 500 µs";
  if (inter === undefined || sorted === undefined) {
    checks.push({
      check: initCheck,
      met: null,
      detail: r.init.length === 0
        ? "no bench/init_bench in this build"
        : "init_bench printed no 100,000-entry sorted and interleaved lines",
    });
  } else {
    checks.push({
      check: initCheck,
      met: Number(sorted) <= 500,
      detail: `presorted ${us(Number(sorted))}` +
        (Number(sorted) <= 500
          ? ""
          : `, ${(Number(sorted) - 500).toFixed(0)} µs over`) +
        `; interleaved (sorted by init) ${us(Number(inter))}`,
    });
  }
  return checks.sort((a, b) => parseInt(a.check) - parseInt(b.check));
}

/** The checks as a Markdown list. */
export function checkList(checks: Check[]): string {
  const mark = (m: boolean | null) =>
    m === null ? "not measured" : m ? "met" : "short";
  return checks.map((g) => `- **${g.check}**: ${mark(g.met)}: ${g.detail}`)
    .join("\n");
}

const COLORS = [
  "#888888",
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#9467bd",
  "#ff7f0e",
];

/**
 * Flip cost against site count per strategy, both axes log10: a solid line
 * with the other core idle, dashed with another thread spinning.
 */
export function chart(r: Results): string {
  const W = 720, H = 440, L = 70, R = 170, T = 40, B = 50;
  const points = r.flip.filter((f) => typeof f.us === "number");
  const ys = points.map((p) => Math.log10(Number(p.us)));
  const y0 = Math.floor(Math.min(...ys)), y1 = Math.ceil(Math.max(...ys));
  const x = (sites: number) => L + (Math.log10(sites) / 4) * (W - L - R);
  const y = (v: number) =>
    T + (1 - (Math.log10(v) - y0) / (y1 - y0 || 1)) * (H - T - B);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${L}" y="22" font-size="14">Flip cost (enable+disable pair) against sites on one key</text>`,
  ];
  for (let d = y0; d <= y1; d++) {
    const v = 10 ** d;
    out.push(
      `<line x1="${L}" x2="${W - R}" y1="${y(v).toFixed(1)}" y2="${
        y(v).toFixed(1)
      }" stroke="#ddd"/>`,
      `<text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${
        v >= 1e6 ? `${v / 1e6} s` : v >= 1000 ? `${v / 1000} ms` : `${v} µs`
      }</text>`,
    );
  }
  for (const s of [1, 10, 100, 1000, 10000]) {
    out.push(
      `<line x1="${x(s)}" x2="${x(s)}" y1="${T}" y2="${H - B}" stroke="#eee"/>`,
      `<text x="${x(s)}" y="${H - B + 16}" text-anchor="middle">${
        s.toLocaleString("en-US")
      }</text>`,
    );
  }
  out.push(
    `<text x="${(L + W - R) / 2}" y="${
      H - 12
    }" text-anchor="middle">sites (log scale)</text>`,
    `<text x="16" y="${(T + H - B) / 2}" transform="rotate(-90 16 ${
      (T + H - B) / 2
    })" text-anchor="middle">time per pair (log scale)</text>`,
  );
  strategies(r).forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    for (const spin of [false, true]) {
      const pts = points.filter((p) => p.strategy === s && p.spin === spin)
        .sort((a, b) => Number(a.sites) - Number(b.sites));
      if (pts.length === 0) continue;
      const path = pts.map((p) =>
        `${x(Number(p.sites)).toFixed(1)},${y(Number(p.us)).toFixed(1)}`
      );
      out.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2"${
          spin ? ' stroke-dasharray="6 4"' : ""
        } points="${path.join(" ")}"/>`,
      );
      for (const p of path) {
        const [px, py] = p.split(",");
        out.push(`<circle cx="${px}" cy="${py}" r="3" fill="${color}"/>`);
      }
    }
    const ly = T + 16 + i * 20;
    out.push(
      `<line x1="${W - R + 14}" x2="${W - R + 40}" y1="${ly - 4}" y2="${
        ly - 4
      }" stroke="${color}" stroke-width="2"/>`,
      `<text x="${W - R + 46}" y="${ly}">${
        s === PER_SITE ? "per-site baseline" : s
      }</text>`,
    );
  });
  const ly = T + 16 + strategies(r).length * 20 + 10;
  out.push(
    `<text x="${
      W - R + 14
    }" y="${ly}" fill="#555">solid: other core idle</text>`,
    `<text x="${W - R + 14}" y="${
      ly + 16
    }" fill="#555">dashed: a thread spinning</text>`,
    `<text x="${L}" y="${H - B + 34}" fill="#555" font-size="10">${
      machineLine(r)
    }</text>`,
    "</svg>",
  );
  return out.join("\n") + "\n";
}

/** One line naming the machine and the run. */
export function machineLine(r: Results): string {
  const m = r.machine;
  return `${m.cpu}, ${m.cores} cores, Linux ${m.kernel}, ${m.deno}, load ${m.load} at start, ${m.date}`;
}

/** The syscalls cell of a strategy's 10,000-site flip, membarriers added. */
function syscallsCell(r: Results, s: string): string {
  const v = find(r.flip, { strategy: s, sites: 10000, spin: false })?.syscalls;
  if (v === undefined) return "–";
  const syncs = r.protocolSyncs?.[s] ?? r.protocolPasses?.[s];
  return Number(v).toLocaleString("en-US") +
    (syncs ? ` + ${syncs} membarrier` : "");
}

/** The hot path in one sentence (with a leading space), or "". */
function hotSentence(r: Results, empty: boolean): string {
  const ns = (kind: string, evicted: boolean) =>
    Number(find(r.hot, { kind, evicted })?.ns ?? NaN).toFixed(2);
  return r.hot.length === 0 ? "" : " A static branch costs " +
    `${ns("static", true)} ns a test against ${ns("flag", true)} ns for a ` +
    "relaxed-atomic flag when the working set evicts the flags " +
    `(${ns("static", false)} against ${ns("flag", false)} ns while they ` +
    `stay cached${empty ? `; no test at all: ${ns("empty", false)} ns` : ""}).`;
}

/** Deno against C in one sentence (with a leading space), or "". */
function denoSentence(r: Results): string {
  const ratios = r.deno.filter((d) => d.sites === 1)
    .map((d) => Number(d.ratio));
  return ratios.length === 0 ? "" : " A flip from Deno takes " +
    `${Math.min(...ratios).toFixed(2)}× to ${
      Math.max(...ratios).toFixed(2)
    }× the time of the same flip from C (1 site, one process).`;
}

/**
 * README's performance block, the headline of one run: the machine, the
 * default strategy against the per-site baseline at 1 and 10,000 sites,
 * and the hot path and Deno against C in one sentence each. Every number
 * comes from `r`, so README shows the results file
 * (tests/figures_test.ts checks that it does).
 */
export function readmeBench(r: Results): string {
  const d = r.defaultStrategy;
  const flip = (s: string, sites: number) =>
    us(find(r.flip, { strategy: s, sites, spin: false })?.us);
  const ratios = r.deno.filter((x) => x.sites === 1)
    .map((x) => Number(x.ratio));
  const deno = ratios.length === 0
    ? ""
    : ` A flip from Deno takes ${Math.min(...ratios).toFixed(2)}× to ${
      Math.max(...ratios).toFixed(2)
    }× its time from C.`;
  return `Measured by \`deno task bench\` on ${machineLine(r)}, medians ` +
    `from C: an enable+disable pair of the default strategy, \`${d}\`, ` +
    `takes ${flip(d, 1)} on 1 site and ${flip(d, 10000)} on 10,000 ` +
    `(${syscallsCell(r, d)} system calls); patching each site on its own, ` +
    `as the Rust crate static-keys does, ${flip(PER_SITE, 1)} and ` +
    `${flip(PER_SITE, 10000)} (${syscallsCell(r, PER_SITE)}).${
      hotSentence(r, false)
    }${deno}`;
}

/**
 * docs/performance.md's block: the machine, flips per strategy (the
 * default first, the per-site baseline last), the hot path and Deno
 * against C in one sentence each, and the floors. Every number comes from
 * `r` (tests/figures_test.ts checks the page against the results file).
 */
export function performanceBench(r: Results): string {
  const cols = [
    r.defaultStrategy,
    ...strategies(r).filter((s) => s !== PER_SITE && s !== r.defaultStrategy),
    PER_SITE,
  ].filter((s) => r.flip.some((f) => f.strategy === s));
  const names = cols.map((c) =>
    c === PER_SITE ? "per-site baseline" : `\`${c}\``
  );
  const row = (label: string, cell: (s: string) => string) =>
    `| ${label} | ${cols.map(cell).join(" | ")} |`;
  const flip = (sites: number, spin: boolean) => (s: string) =>
    us(find(r.flip, { strategy: s, sites, spin })?.us);
  const syscalls = (s: string) => syscallsCell(r, s);
  const maps = (s: string) => mapsCell(r, s);
  const batch = (s: string) => us(find(r.batch, { strategy: s })?.us);
  const table = [
    `| enable + disable | ${names.join(" | ")} |`,
    `| --- | ${cols.map(() => "---:").join(" | ")} |`,
    row("1 site", flip(1, false)),
    row("100 sites", flip(100, false)),
    row("10,000 sites", flip(10000, false)),
    row("10,000 sites, another thread spinning", flip(10000, true)),
    row("100 keys × 10 sites, one request", batch),
    row("system calls, 10,000 sites", syscalls),
    row("`/proc/self/maps` lines added", maps),
  ].join("\n");
  return [
    `Measured by \`deno task bench\` on ${machineLine(r)}: medians of ` +
    `enable+disable pairs from C. Default strategy: \`${r.defaultStrategy}\`.`,
    "",
    table,
    "",
    `System calls are the strategy's own, per request.${hotSentence(r, true)}${
      denoSentence(r)
    }`,
    ...(r.floor ? ["", floorLine(r)] : []),
  ].join("\n");
}

/**
 * The floors of a flip in place, one sentence: what one of each system
 * call the default strategy makes costs alone, from the Deno process.
 */
export function floorLine(r: Results): string {
  const f = r.floor!;
  const one = find(r.flip, {
    strategy: r.defaultStrategy,
    sites: 1,
    spin: false,
  });
  // A 1-site flip in place: one pwrite per pass, one membarrier per sync,
  // one rt_sigaction (the handler's check); a pair is two flips.
  const passes = r.protocolPasses?.[r.defaultStrategy];
  const syncs = r.protocolSyncs?.[r.defaultStrategy] ?? passes ?? 0;
  const floor = passes === undefined ? undefined : 2 * (
    passes * Number(f.pwrite_us) + syncs * Number(f.membarrier_us) +
    Number(f.sigaction_us)
  );
  const pair = !one
    ? ""
    : floor === undefined
    ? ` A 1-site pair of \`${r.defaultStrategy}\` takes ${us(one.us)}.`
    : ` A 1-site flip of \`${r.defaultStrategy}\` makes ${passes} ` +
      `\`pwrite\`, ${syncs} \`membarrier\` and 1 \`rt_sigaction\`: a ` +
      `pair's floor is ${us(floor)}, and it takes ${us(one.us)}.`;
  return `Floors, measured in the same run from the Deno process ` +
    `(${f.threads} threads): one \`pwrite\` of a code byte to ` +
    `\`/proc/self/mem\` takes ${us(f.pwrite_us)}, one ` +
    `\`membarrier(SYNC_CORE)\` ${us(f.membarrier_us)}, one ` +
    `\`rt_sigaction\` ${us(f.sigaction_us)}.${pair}`;
}
