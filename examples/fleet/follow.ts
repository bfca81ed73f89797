// SPDX-License-Identifier: MIT
// A follower to try the fleet on one machine: the package's library (its
// demo keys) follows scope "demo" of the store given as first argument,
// and every change is printed. See docs/fleet.md.
//
//   deno run --allow-ffi=build/lib --allow-read=. --allow-write=. \
//     examples/fleet/follow.ts ./fleet.json

import { open } from "../../mod.ts";
import { follow } from "../../fleet.ts";

const store = Deno.args[0] ?? "./fleet.json";
using mod = open();
await using follower = await follow(mod, {
  store,
  scope: "demo",
  host: null, // no host layer; or a name, or omit it with --allow-sys=hostname
  onChange: ({ revision, error, keys }) => {
    const states = Object.entries(keys).map(([name, k]) =>
      `${name}=${k.enabled ? "on" : "off"}${
        k.pinned ? ` (pinned ${k.pinned})` : ""
      }`
    );
    console.log(
      `revision ${revision}: ${states.join(" ")}${error ? `\n  ${error}` : ""}`,
    );
  },
});
console.log(
  `following "demo" in ${store} as ${follower.instance}; Ctrl-C to stop`,
);
await new Promise<void>((resolve) => Deno.addSignalListener("SIGINT", resolve));
