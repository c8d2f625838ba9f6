// Run the ORIGINAL TF.js graph of Robust Video Matting (rvm.json + rvm.bin) on the
// WebAssembly backend: pure JavaScript/WebAssembly, no native TensorFlow.
//
// Called by server/bench/references/tfjs_rvm.py, from a throwaway folder whose node_modules
// holds @tensorflow/tfjs and @tensorflow/tfjs-backend-wasm:
//   node tfjs_rvm.js MODEL_DIR OUT_DIR JOB...
// where each JOB is NAME:HEIGHT:WIDTH:RATIO and OUT_DIR/NAME.rgb holds HEIGHT×WIDTH×3
// uint8 RGB. Writes OUT_DIR/NAME.pha (float32 H×W) and OUT_DIR/NAME.fgr (float32 H×W×3)
// and prints one JSON line per photo with the wall and CPU seconds the graph took (after a warm-up).
//   node tfjs_rvm.js --serve MODEL_DIR OUT_DIR JOB...
// times jobs on request instead, for a benchmark that alternates with another runtime: it loads
// the graph, runs the first job (warm-up) and prints {"first": [wall, cpu]} (loading included),
// then for each line K read from stdin runs the K-th job and prints {"wall": s, "cpu": s}.
'use strict';

const fs = require('fs');
const path = require('path');
const { loadGraph, tf } = require('./tfjs_load.js');

async function main() {
  const serve = process.argv[2] === '--serve';
  const [modelDir, outDir, ...jobs] = process.argv.slice(serve ? 3 : 2);
  const loadStart = process.hrtime.bigint();
  const loadCpu = process.cpuUsage();
  const model = await loadGraph(path.join(modelDir, 'rvm.json'), path.join(modelDir, 'rvm.bin'));

  const run = async (src, ratio) => {
    const zero = () => tf.scalar(0);
    const inputs = { src, r1i: zero(), r2i: zero(), r3i: zero(), r4i: zero(), downsample_ratio: tf.scalar(ratio) };
    const [fgr, pha] = await model.executeAsync(inputs, ['Identity:0', 'Identity_1:0']);
    Object.values(inputs).filter((t) => t !== src).forEach((t) => t.dispose());
    return [fgr, pha];
  };

  const readSource = (job) => {
    const [name, height, width, ratio] = job.split(':');
    const h = Number(height);
    const w = Number(width);
    const rgb = fs.readFileSync(path.join(outDir, `${name}.rgb`));
    if (rgb.length !== h * w * 3) throw new Error(`${name}.rgb has ${rgb.length} bytes, expected ${h * w * 3}`);
    const pixels = new Float32Array(rgb.length);
    for (let i = 0; i < rgb.length; i++) pixels[i] = rgb[i] / 255;
    return { name, ratio: Number(ratio), src: tf.tensor4d(pixels, [1, h, w, 3]) };
  };
  const seconds = (start, cpuStart) => {
    const cpu = process.cpuUsage(cpuStart);
    return [Number(process.hrtime.bigint() - start) / 1e9, (cpu.user + cpu.system) / 1e6];
  };
  // the graph and the download of its outputs, timed; returns [wall, cpu, fgr data, pha data, pha shape]
  const timedRun = async (src, ratio) => {
    const start = process.hrtime.bigint();
    const cpuStart = process.cpuUsage();
    const [fgr, pha] = await run(src, ratio);
    const phaData = await pha.data();
    const fgrData = await fgr.data();
    const [wall, cpu] = seconds(start, cpuStart);
    const shape = pha.shape;
    [fgr, pha].forEach((t) => t.dispose());
    return [wall, cpu, fgrData, phaData, shape];
  };

  if (serve) {
    const sources = jobs.map(readSource);
    await timedRun(sources[0].src, sources[0].ratio); // the first run compiles kernels
    console.log(JSON.stringify({ first: seconds(loadStart, loadCpu) }));
    const lines = require('readline').createInterface({ input: process.stdin });
    for await (const line of lines) {
      const { src, ratio } = sources[Number(line)];
      const [wall, cpu] = await timedRun(src, ratio);
      console.log(JSON.stringify({ wall, cpu }));
    }
    sources.forEach(({ src }) => src.dispose());
    return;
  }

  let warmedUp = false;
  for (const job of jobs) {
    const { name, ratio, src } = readSource(job);
    if (!warmedUp) { // the first run compiles kernels: keep it out of the timings
      await timedRun(src, ratio);
      warmedUp = true;
    }
    const [wall, cpuSeconds, fgrData, phaData, shape] = await timedRun(src, ratio);
    fs.writeFileSync(path.join(outDir, `${name}.pha`), Buffer.from(phaData.buffer, phaData.byteOffset, phaData.byteLength));
    fs.writeFileSync(path.join(outDir, `${name}.fgr`), Buffer.from(fgrData.buffer, fgrData.byteOffset, fgrData.byteLength));
    src.dispose();
    console.log(JSON.stringify({ name, seconds: wall, cpuSeconds, shape }));
  }
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : error);
  process.exit(1);
});
