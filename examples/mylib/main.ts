// SPDX-License-Identifier: MIT
// Drives examples/mylib from Deno: its own function and its own key
// through one handle.
//   deno run --allow-ffi=$PWD/build/mylib/libmylib.so examples/mylib/main.ts build/mylib/libmylib.so

import { open } from "../../mod.ts";

using mod = open(Deno.args[0] ?? "build/mylib/libmylib.so", {
  symbols: {
    mylib_add: { parameters: ["i32", "i32"], result: "i32" },
    mylib_logged_calls: { parameters: [], result: "u64" },
  },
});
console.log(mod.keys);
mod.symbols.mylib_add(1, 2);
mod.key("verbose").enable();
mod.symbols.mylib_add(3, 4);
console.log(`logged calls: ${mod.symbols.mylib_logged_calls()}`); // 1
