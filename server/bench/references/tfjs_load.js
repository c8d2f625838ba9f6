// Load an ORIGINAL TF.js graph model (MODEL.json + its .bin) on the WebAssembly backend: pure
// JavaScript/WebAssembly, no native TensorFlow. Shared by tfjs_rvm.js and tfjs_graph.js, which
// run from a throwaway folder whose node_modules holds @tensorflow/tfjs and tfjs-backend-wasm.
'use strict';

const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const wasm = require('@tensorflow/tfjs-backend-wasm');

async function loadGraph(modelJson, weightsBin) {
  const wasmDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
  wasm.setWasmPaths(wasmDir + path.sep);
  await tf.setBackend('wasm');
  await tf.ready();
  const graph = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  const bin = fs.readFileSync(weightsBin);
  return tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: graph.modelTopology,
    format: graph.format,
    generatedBy: graph.generatedBy,
    convertedBy: graph.convertedBy,
    signature: graph.signature,
    weightSpecs: graph.weightsManifest.flatMap((group) => group.weights),
    weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
  }));
}

module.exports = { loadGraph, tf };
