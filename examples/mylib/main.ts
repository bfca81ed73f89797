// SPDX-License-Identifier: MIT
// Drives examples/mylib from Deno: its own function and its own key
// through one handle.
//   deno run --allow-ffi=$PWD/build/mylib/libmylib.so examples/mylib/main.ts build/mylib/libmylib.so

import { open } from "../../mod.ts";

using mod = open(Deno.args[0] ?? "build/mylib/libmylib.so", {
  symbols: {
    mylib_compute: { parameters: [], result: "i32" },
  },
});
console.log(mod.keys); // [{ name: "fast_path", enabled: false, ... }]
console.log(mod.symbols.mylib_compute()); // 1
mod.key("fast_path").enable();
console.log(mod.symbols.mylib_compute()); // 2: the site was rewritten
for (const site of mod.sites()) {
  // fast_path mylib_compute+0x0 e9 0b 00 00 00 jmp (bytes differ per arch)
  console.log(
    site.key,
    `${site.function}+0x${site.offset?.toString(16)}`,
    site.hex,
    site.instruction,
  );
}
