#!/usr/bin/env node
// Steady-state harness for the sharp peer: loads ../shared/bench/peers/sharp.js (its copy in
// target/peers/peers/, so that it finds sharp in ../node/node_modules) as a module and calls
// its make-set function, `once(src, outdir)`, repeatedly in this one warm process.
// sharp.js runs its own main at the end and exports nothing, so its source is compiled here
// without that final `(async () => { ... })()` block, with `once` exported instead.
//
// usage: node steady_sharp.js SHARP_JS INPUT OUTDIR WARMUP REPS
// Prints one JSON line: {"ms": [per-set wall ms of the REPS timed sets]}.
'use strict';
const fs = require('fs');
const path = require('path');
const Module = require('module');

function loadPeer(file) {
  const abs = path.resolve(file);
  let src = fs.readFileSync(abs, 'utf8');
  const cut = src.lastIndexOf('\n(async () => {');
  if (cut < 0) throw new Error(`${abs}: cannot find its main block "(async () => {"`);
  src = src.slice(0, cut) + '\nmodule.exports = { once };\n';
  const m = new Module(abs, module);
  m.filename = abs;
  m.paths = Module._nodeModulePaths(path.dirname(abs));
  m._compile(src, abs);
  if (typeof m.exports.once !== 'function') throw new Error(`${abs}: no once() function`);
  return m.exports;
}

(async () => {
  const [script, src, outdir, warmup, reps] = process.argv.slice(2);
  const peer = loadPeer(script);
  fs.mkdirSync(outdir, { recursive: true });
  for (let i = 0; i < parseInt(warmup, 10); i++) await peer.once(src, outdir);
  const ms = [];
  for (let i = 0; i < parseInt(reps, 10); i++) {
    const t = process.hrtime.bigint();
    await peer.once(src, outdir);
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  console.log(JSON.stringify({ ms }));
})().catch((e) => { console.error(e); process.exit(1); });
