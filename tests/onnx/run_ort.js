// Runs every model of a manifest with onnxruntime-node and compares its
// outputs with what traind's POST /v1/jobs/{id}/predict answered.
//
//   node tests/onnx/run_ort.js MANIFEST.json
//
// MANIFEST: [{"name", "onnx": file, "input_shape": [n, ...], "input": flat
// values (null: NaN, a missing value), "output_shape", "expected": flat
// values, "kind": "probabilities" | "values"}, ...].  Probabilities must
// agree within 1e-5 absolute, values within 1e-5 relative plus 1e-6
// absolute; the output's shape must be output_shape.  Prints a line per
// model and "N passed, M failed"; exits 1 when any failed.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

function within(kind, got, want) {
  if (kind === 'probabilities') return Math.abs(got - want) <= 1e-5;
  return Math.abs(got - want) <= 1e-5 * Math.abs(want) + 1e-6;
}

async function runCase(c) {
  const session = await ort.InferenceSession.create(c.onnx);
  const x = Float32Array.from(c.input, (v) => (v === null ? NaN : v));
  const feeds = { input: new ort.Tensor('float32', x, c.input_shape) };
  const y = (await session.run(feeds)).output;
  if (JSON.stringify(Array.from(y.dims)) !== JSON.stringify(c.output_shape))
    return `output shape [${y.dims}], want [${c.output_shape}]`;
  let worst = 0;
  for (let i = 0; i < c.expected.length; i++) {
    const d = Math.abs(y.data[i] - c.expected[i]);
    worst = Math.max(worst, d);
    if (!within(c.kind, y.data[i], c.expected[i]))
      return `output ${i}: ${y.data[i]}, traind predicted ${c.expected[i]} (${c.kind})`;
  }
  return { worst };
}

async function main() {
  const cases = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  let passed = 0, failed = 0;
  for (const c of cases) {
    let r;
    try {
      r = await runCase(c);
    } catch (e) {
      r = `onnxruntime: ${e.message}`;
    }
    if (typeof r === 'string') {
      failed++;
      console.log(`FAIL ${c.name}: ${r}`);
    } else {
      passed++;
      console.log(`ok   ${c.name}: ${c.expected.length} outputs, max |diff| ${r.worst.toExponential(2)}`);
    }
  }
  console.log(`onnxruntime: ${passed} passed, ${failed} failed`);
  process.exit(failed || !cases.length ? 1 : 0);
}

main();
