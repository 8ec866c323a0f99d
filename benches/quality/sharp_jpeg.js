#!/usr/bin/env node
// JPEG encoder of sharp for benches/quality/jpeg_bytes.py: one job per line of standard
// input, `RAW WIDTH HEIGHT QUALITY OUT` (RAW: packed RGB), encoded with sharp's defaults
// except the quality (4:2:0, optimised Huffman coding, baseline, no trellis). The quality
// `default` leaves that at sharp's default too. sharp is loaded from the folder given as
// the first argument (benches/peers/run.sh installs it in target/peers/node).
'use strict';
const fs = require('fs');
const path = require('path');
const readline = require('readline');

const sharp = require(path.join(process.argv[2], 'node_modules', 'sharp'));
sharp.cache(false);

(async () => {
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const [raw, width, height, quality, out] = line.trim().split(/\s+/);
    const options = quality === 'default' ? {} : { quality: parseInt(quality, 10) };
    await sharp(fs.readFileSync(raw), {
      raw: { width: parseInt(width, 10), height: parseInt(height, 10), channels: 3 },
    })
      .jpeg(options)
      .toFile(out);
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
