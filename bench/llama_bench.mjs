// Our engine against llama.cpp on the same exported weights (bench/llama_bench.sh runs it):
// batch-1 decode tokens/s, prompt (pre-fill) tokens/s and time to the first token, both with
// the same threads and the same prompt text, runs interleaved so both see the same machine load.
// Ours is `muchator generate` (its own timings, without process start and model load; each run
// a fresh process, so no warm-up); llama.cpp's is bench/llama_decode.cc (llama_decode of the
// prompt, then greedy decoding token by token, after one warm-up run), built by the script
// against the llama.cpp that node-llama-cpp ships. Prints one JSON line on stdout, progress on
// stderr.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: a } = parseArgs({ options: {
  bin: { type: 'string', default: join(root, 'build', 'muchator') },
  model: { type: 'string' }, gguf: { type: 'string' }, 'llama-decode': { type: 'string' }, backends: { type: 'string' },
  runs: { type: 'string', default: '5' }, threads: { type: 'string', default: '2' },
  tokens: { type: 'string', default: '128' }, 'long-words': { type: 'string', default: '45' },
} });
if (!a.model || !a.gguf || !a['llama-decode'] || !a.backends)
  throw new Error('usage: node bench/llama_bench.mjs --model CKPT --gguf FILE --llama-decode BIN --backends DIR [--runs 5] [--threads 2] [--tokens 128]');
const runs = Number(a.runs), threads = Number(a.threads), tokens = Number(a.tokens);
const dir = mkdtempSync(join(tmpdir(), 'llama-bench-'));
const median = (xs) => { const s = [...xs].sort((x, y) => x - y); return s[Math.floor((s.length - 1) / 2)]; };

// Prompts: a demo request in ChatML, and a long one (the same words repeated) for pre-fill.
const shortPrompt = '<|im_start|>user\n<|state|>evening, weekday, commute, car\n<|query|>something for a rainy evening drive<|im_end|>\n<|im_start|>assistant\n';
const long = '<|im_start|>user\n<|query|>' + 'calm piano music for a quiet rainy night, '.repeat(Number(a['long-words'])) +
             '<|im_end|>\n<|im_start|>assistant\n';
const prompts = { short: shortPrompt, long };

function ours(prompt) {
  const out = join(dir, 'ours.json');
  execFileSync(a.bin, ['-q', 'generate', '--model', a.model, '--raw', '--prompt', prompt, '--constrained=false',
                       '--ignore-eos', '--max-tokens', String(tokens), '--threads', String(threads), '--out', out],
               { stdio: ['ignore', 'ignore', 'pipe'] });
  const r = JSON.parse(readFileSync(out, 'utf8'))[0];
  return { prompt_tokens: r.prompt_tokens, ttft_ms: r.first_token_s * 1e3,
           decode_tps: (r.completion_tokens - 1) / (r.total_s - r.first_token_s) };
}

function theirs(promptFile) {
  return JSON.parse(execFileSync(a['llama-decode'], [a.gguf, a.backends, String(threads), String(tokens), '1', promptFile],
                                 { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
}

const result = { model: a.model, threads, runs, tokens };
for (const [name, prompt] of Object.entries(prompts)) {
  const promptFile = join(dir, name + '.txt');
  writeFileSync(promptFile, prompt);
  const o = [], t = [];
  for (let i = 0; i < runs; ++i) {
    o.push(ours(prompt)), t.push(theirs(promptFile));
    process.stderr.write(`${name} run ${i + 1}/${runs}: ours ${o[i].decode_tps.toFixed(0)} tok/s, TTFT ${o[i].ttft_ms.toFixed(1)} ms; ` +
                         `llama.cpp ${t[i].decode_tps.toFixed(0)} tok/s, TTFT ${t[i].ttft_ms.toFixed(1)} ms\n`);
  }
  const m = (xs, k) => median(xs.map((x) => x[k]));
  const r = { prompt_tokens: o[0].prompt_tokens, llama_prompt_tokens: t[0].prompt_tokens,
              ours_decode_tps: m(o, 'decode_tps'), llama_decode_tps: m(t, 'decode_tps'),
              ours_ttft_ms: m(o, 'ttft_ms'), llama_ttft_ms: m(t, 'ttft_ms') };
  r.ours_prefill_tps = r.prompt_tokens / (r.ours_ttft_ms / 1e3);
  r.llama_prefill_tps = r.llama_prompt_tokens / (r.llama_ttft_ms / 1e3);
  r.decode_ratio = r.ours_decode_tps / r.llama_decode_tps;  // > 1: ours faster
  r.prefill_ratio = r.ours_prefill_tps / r.llama_prefill_tps;
  result[name] = r;
}
console.log(JSON.stringify(result));
