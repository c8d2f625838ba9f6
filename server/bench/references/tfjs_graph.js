// Run an ORIGINAL TF.js graph model (MODEL.json + MODEL.bin) on the WebAssembly backend:
// pure JavaScript/WebAssembly, no native TensorFlow.
//
// Called by server/bench/references/tfjs_centernet.py, from a throwaway folder whose node_modules
// holds @tensorflow/tfjs and @tensorflow/tfjs-backend-wasm:
//   node tfjs_graph.js MODEL_JSON OUT_DIR OUTPUTS JOB...
// OUTPUTS is a comma-separated list of node names; each JOB is NAME:DTYPE:D0xD1x... where
// OUT_DIR/NAME.in holds the input tensor (float32 or int32, little-endian). Writes
// OUT_DIR/NAME.K.out (float32) for the K-th output and prints one JSON line per job with
// the shapes and the wall seconds the graph took (after a warm-up run).
'use strict';

const fs = require('fs');
const path = require('path');
const { loadGraph, tf } = require('./tfjs_load.js');

async function main() {
  const [modelJson, outDir, outputs, ...jobs] = process.argv.slice(2);
  const model = await loadGraph(modelJson, modelJson.replace(/\.json$/, '.bin'));
  const names = outputs.split(',');
  const run = async (input) => {
    const result = await model.executeAsync(input, names);
    return Array.isArray(result) ? result : [result];
  };

  let warmedUp = false;
  for (const job of jobs) {
    const [name, dtype, shapeText] = job.split(':');
    const shape = shapeText.split('x').map(Number);
    const raw = fs.readFileSync(path.join(outDir, `${name}.in`));
    const Type = dtype === 'int32' ? Int32Array : Float32Array;
    const input = tf.tensor(new Type(raw.buffer, raw.byteOffset, raw.byteLength / 4), shape, dtype);
    if (!warmedUp) { // the first run compiles kernels: keep it out of the timings
      (await run(input)).forEach((t) => t.dispose());
      warmedUp = true;
    }
    const start = process.hrtime.bigint();
    const results = await run(input);
    const data = [];
    for (const t of results) data.push(Float32Array.from(await t.data()));
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    data.forEach((values, k) => {
      fs.writeFileSync(path.join(outDir, `${name}.${k}.out`), Buffer.from(values.buffer, values.byteOffset, values.byteLength));
    });
    console.log(JSON.stringify({ name, seconds, shapes: results.map((t) => t.shape) }));
    [input, ...results].forEach((t) => t.dispose());
  }
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : error);
  process.exit(1);
});
