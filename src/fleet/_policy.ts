// SPDX-License-Identifier: MIT
// The follower's policy, written once for every store: names a store key
// can hold, layers (scope, host, instance; the most specific wins), the
// values, and the transition from what the follower holds now to what a
// revision asks for, as the steps of one batch.

import type { BatchStep, KeyInfo } from "../runtime/_types.ts";
import { FleetError } from "./_errors.ts";
import { DESIRED_VALUES, type DesiredValue } from "./_types.ts";

/** A layer's place: the scope, or one host, or one instance. */
export type LayerId =
  | { readonly kind: "scope" }
  | { readonly kind: "host"; readonly name: string }
  | { readonly kind: "instance"; readonly name: string };

/** One layer as a store holds it: its revision and raw JSON (null: none). */
export interface RawLayer {
  readonly id: LayerId;
  readonly revision: number;
  readonly json: string | null;
}

/** A scope's desired state as a store hands it over, not yet checked. */
export interface Snapshot {
  /** The highest revision of the scope the store has shown. */
  readonly revision: number;
  readonly layers: readonly RawLayer[];
}

/** A name the stores can hold: a scope, a host or an instance. */
const NAME = /^[A-Za-z0-9_-][A-Za-z0-9_=-]*$/;

/**
 * Throws ESCOPE unless `name` fits a NATS key token (and a file name):
 * letters, digits, `_`, `-`, `=`; at most 128 characters.
 */
export function checkName(what: string, name: unknown): string {
  if (typeof name !== "string" || !NAME.test(name) || name.length > 128) {
    throw new FleetError(
      `Cannot use ${what} ${JSON.stringify(name) ?? String(name)}: ` +
        `a ${what} is 1 to 128 letters, digits, "_", "-" or "=" ` +
        `(a NATS key token and a file name)`,
      "ESCOPE",
    );
  }
  return name;
}

/** A host or instance name made to fit checkName (dots and the rest to "_"). */
export function toName(raw: string): string {
  const name = raw.replace(/[^A-Za-z0-9_=-]/g, "_").slice(0, 128);
  return name === "" ? "_" : name;
}

/** Throws EVALUE unless `value` is a DesiredValue. */
export function checkValue(key: string, value: unknown): DesiredValue {
  if (!DESIRED_VALUES.includes(value as DesiredValue)) {
    throw new FleetError(
      `Cannot use the value ${
        JSON.stringify(value) ?? String(value)
      } for key "${key}": a value is ${
        DESIRED_VALUES.map((v) => `"${v}"`).join(", ")
      } (or unset the key)`,
      "EVALUE",
    );
  }
  return value as DesiredValue;
}

/** Parses one layer's JSON: an object of key to value; EVALUE otherwise. */
export function parseLayer(
  where: string,
  json: string,
): Record<string, DesiredValue> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new FleetError(
      `Cannot read ${where}: it is not JSON (${(error as Error).message})`,
      "EVALUE",
    );
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new FleetError(
      `Cannot read ${where}: it must be a JSON object of key to value, got ${
        json.slice(0, 40)
      }`,
      "EVALUE",
    );
  }
  const out: Record<string, DesiredValue> = {};
  for (const [key, value] of Object.entries(parsed)) {
    try {
      out[key] = checkValue(key, value);
    } catch (error) {
      throw new FleetError(
        `Cannot read ${where}: ${(error as Error).message}`,
        "EVALUE",
      );
    }
  }
  return out;
}

/** How a layer reads in messages. */
export function describeLayer(id: LayerId): string {
  return id.kind === "scope"
    ? "the scope-wide layer"
    : `the layer of ${id.kind} "${id.name}"`;
}

/** Who a follower is, for picking its layers. */
export interface Identity {
  readonly host: string | null;
  readonly instance: string;
}

/**
 * The values that apply to `who`: scope-wide, then its host's, then its
 * instance's, the most specific winning per key. Layers of other hosts and
 * instances are not read (a malformed one does not concern this follower).
 * EVALUE when one of its own layers is malformed.
 */
export function desiredFor(
  snapshot: Snapshot,
  who: Identity,
): Map<string, DesiredValue> {
  const rank = (id: LayerId) =>
    id.kind === "scope"
      ? 0
      : id.kind === "host" && id.name === who.host
      ? 1
      : id.kind === "instance" && id.name === who.instance
      ? 2
      : -1;
  const mine = snapshot.layers.filter((l) => rank(l.id) >= 0)
    .sort((a, b) => rank(a.id) - rank(b.id));
  const out = new Map<string, DesiredValue>();
  for (const layer of mine) {
    if (layer.json === null) continue;
    const values = parseLayer(describeLayer(layer.id), layer.json);
    for (const [key, value] of Object.entries(values)) out.set(key, value);
  }
  return out;
}

/** What the follower holds on one key. */
export interface Holding {
  /** The follower's own reference (an inc). */
  readonly held: boolean;
  /** The compiled default's reference, dropped by the follower (a dec). */
  readonly dropped: boolean;
  /**
   * The value asked to drop the compiled default's reference, but local
   * code had taken it away already (the count was 0): nothing was dropped,
   * so nothing is given back when the value changes.
   */
  readonly spent?: boolean;
  /** The pin the follower set, if any. */
  readonly pin: "on" | "off" | null;
}

export const NOTHING: Holding = { held: false, dropped: false, pin: null };

/**
 * What a value needs the follower to hold on a key whose compiled default
 * is `initial`: on = one reference; off = none, and the compiled default's
 * dropped (a TRUE key's count starts at 1: that is its default's
 * reference); pin-* = the pin and no reference; absent = nothing.
 */
export function holdingFor(
  value: DesiredValue | undefined,
  initial: boolean,
): Holding {
  switch (value) {
    case "on":
      return { held: true, dropped: false, pin: null };
    case "off":
      return { held: false, dropped: initial, pin: null };
    case "pin-on":
      return { held: false, dropped: false, pin: "on" };
    case "pin-off":
      return { held: false, dropped: false, pin: "off" };
    default:
      return NOTHING;
  }
}

/**
 * The steps that move key `info` from `now` to `next`, and the holding it
 * ends with. Incs come before decs, so the count never dips below what
 * local code holds. A reference local code already took away (disable()
 * sets the count to 0, dropping every holder's) is not taken again: the
 * dec is left out, and the holding records only the steps issued. A
 * compiled default's reference the follower did not drop is not given
 * back later (that would turn on a key local code disabled).
 */
export function transition(
  info: KeyInfo,
  now: Holding,
  next: Holding,
): { steps: BatchStep[]; holding: Holding } {
  const steps: BatchStep[] = [];
  let count = info.count;
  const incs = Number(next.held && !now.held) +
    Number(now.dropped && !next.dropped);
  for (let i = 0; i < incs; i++) steps.push("inc");
  count += incs;
  // The follower's own reference first: it is gone either way.
  if (now.held && !next.held && count > 0) {
    steps.push("dec");
    count--;
  }
  let holding = next;
  if (next.dropped && !now.dropped) {
    if (now.spent || count === 0) {
      // nothing left to drop, so nothing to give back later
      holding = { ...next, dropped: false, spent: true };
    } else {
      steps.push("dec");
      count--;
    }
  }
  if (next.pin !== now.pin) {
    steps.push(next.pin === null ? "unpin" : `pin-${next.pin}`);
  }
  return { steps, holding };
}

/** The steps for every key, as [name, step] pairs of one batch. */
export function plan(
  keys: readonly KeyInfo[],
  holdings: ReadonlyMap<string, Holding>,
  desired: ReadonlyMap<string, DesiredValue>,
): { steps: [string, BatchStep][]; holdings: Map<string, Holding> } {
  const names = new Set(keys.map((k) => k.name));
  const unknown = [...desired.keys()].filter((k) => !names.has(k));
  if (unknown.length > 0) {
    throw new FleetError(
      `Cannot apply: the library has no key ${
        unknown.map((k) => `"${k}"`).join(", ")
      } (its keys are ${[...names].map((k) => `"${k}"`).join(", ")})`,
      "EKEY",
    );
  }
  const steps: [string, BatchStep][] = [];
  const out = new Map<string, Holding>();
  for (const info of keys) {
    const now = holdings.get(info.name) ?? NOTHING;
    const next = holdingFor(desired.get(info.name), info.initial);
    const t = transition(info, now, next);
    for (const step of t.steps) steps.push([info.name, step]);
    if (t.holding !== NOTHING) out.set(info.name, t.holding);
  }
  return { steps, holdings: out };
}
