// Compile Solidity with the pinned solc-js: standard-JSON input on stdin, standard-JSON
// output on stdout. Imports (e.g. "@openzeppelin/contracts/...") resolve against
// node_modules/ at the repository root, then against contracts/ itself.
// Driven by ghostproof/chain/compile.py; takes no arguments.
"use strict";
const fs = require("fs");
const path = require("path");
const root = path.resolve(__dirname, "..");
const solc = require(path.join(root, "node_modules", "solc"));

function findImports(name) {
  if (name.includes("..")) {
    return { error: `import path ${name} may not contain '..'` };
  }
  for (const base of [path.join(root, "node_modules"), __dirname]) {
    const file = path.join(base, name);
    if (fs.existsSync(file)) {
      return { contents: fs.readFileSync(file, "utf8") };
    }
  }
  return { error: `import ${name} not found in node_modules/ or contracts/` };
}

const input = fs.readFileSync(0, "utf8");
if (process.env.GHOSTPROOF_SOLC_VERSION_ONLY) {
  process.stdout.write(solc.version());
} else {
  process.stdout.write(solc.compile(input, { import: findImports }));
}
