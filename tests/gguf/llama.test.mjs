// `muchator export-gguf` against the real llama.cpp (node-llama-cpp's prebuilt CPU build, pinned
// to 3.21.1): its tokenizer, greedy continuations and next-token distribution on the exported
// tiny model equal muchator's own. Environment (set by CTest, tests/CMakeLists.txt):
// MUCHATOR_BIN, MUCHATOR_SERVE_RUN (the tiny pipeline run of the tiny_run fixture).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';

const BIN = process.env.MUCHATOR_BIN;
const RUN = process.env.MUCHATOR_SERVE_RUN;
if (!BIN || !RUN || !existsSync(join(RUN, 'sft', 'sft', 'final', 'config.json')))
  throw new Error('MUCHATOR_BIN and MUCHATOR_SERVE_RUN must name the binary and a pipeline run (run through ctest)');
const MODEL = join(RUN, 'sft', 'sft', 'final');
const DIR = mkdtempSync(join(tmpdir(), 'muchator-gguf-'));

function muchator(args, input) {
  return execFileSync(BIN, ['-q', ...args], { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'],
                                            env: { ...process.env, MUCHATOR_THREADS: '1' } });
}

// Prompts as the server renders them (ChatML, the context block, item tokens) and plain text.
const codec = JSON.parse(readFileSync(join(MODEL, 'codec.json'), 'utf8'));
const itemToken = (i) => `<|s_${codec.items[i].id}|>`;
const chat = (body) => `<|im_start|>user\n${body}<|im_end|>\n<|im_start|>assistant\n`;
const PROMPTS = [
  chat('<|state|>evening, weekday, commute, car\n<|query|>something for a rainy evening drive'),
  chat(`<|history|><|state|>morning, weekend, home, phone\n<|item|>${itemToken(0)}<|/item|><|like|>` +
       `<|item|>${itemToken(5)}<|/item|><|skip|>\n<|state|>night, weekday, home, speaker\n<|query|>songs to help me fall asleep`),
  chat('<|query|>just got promoted, hype me up'),
  'The song is a calm piano piece for',
  chat('<|query|>rainy sunday morning jazz') + 'Songs for',
];

const TYPES = ['f32', 'q8_0', 'f16', 'bf16'];
let llama, models = {};
before(async () => {
  for (const type of TYPES) {
    const out = join(DIR, `model.${type}.gguf`);
    muchator(['export-gguf', '--model', MODEL, '--out', out, '--type', type]);
    assert.ok(existsSync(out + '.config.toml'), 'the effective configuration is written beside the file');
  }
  llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  for (const type of TYPES)
    models[type] = await llama.loadModel({ modelPath: join(DIR, `model.${type}.gguf`) });
});
after(async () => {
  for (const m of Object.values(models)) await m.dispose();
  if (llama) await llama.dispose();
  rmSync(DIR, { recursive: true, force: true });  // four GGUF files
});

test('llama.cpp tokenizes 30 strings exactly as muchator does, item and special tokens included', () => {
  const strings = [
    'hello world', 'Hello World!', "it's a rainy day, isn't it?", "I'M SURE YOU'LL LIKE IT", '  leading spaces',
    'trailing spaces   ', 'tabs\tand\ttabs', 'line one\nline two\n\nline four', '\r\nwindows\r\nlines',
    'numbers 1234567 and 3.14159', 'café, naïve, résumé', 'Ärger über Öl', 'москва ночью', '東京の夜の音楽',
    '夜 jazz ☕ and 🎧 vibes', 'mixed123abc 4x4', 'punctuation!!! ??? ... ---', 'emoji only 🎸🎹🥁',
    'a', ' ', '', 'lofi hip-hop / chill beats (2019 remaster)', "rock'n'roll", 'e-mail@example.com',
    `<|im_start|>user\n<|query|>calm songs<|im_end|>`, `${itemToken(0)}${itemToken(1)} ${itemToken(2)}`,
    `<|item|>${itemToken(3)}<|/item|><|like|>`, '<|state|>night, weekday, home, speaker\n', PROMPTS[1],
    'songs like <|s_unknown|> are text',
  ];
  assert.equal(strings.length, 30);
  // All 30 in one process (one JSON string per line): a process per string took ~20 s.
  const ours = muchator(['tokenize', '--tokenizer', MODEL, '--special', '--jsonl'],
                        strings.map((s) => JSON.stringify(s)).join('\n') + '\n').split('\n');
  assert.equal(ours.length, strings.length + 1);  // and the last newline
  strings.forEach((s, i) => {
    const theirs = models.f32.tokenize(s, true).join(' ');
    assert.equal(theirs, ours[i], `tokens of ${JSON.stringify(s)}`);
  });
});

// muchator's greedy continuation of a raw prompt (stops at <|im_end|> or after 64 tokens).
function ourGreedy(prompt) {
  const out = join(DIR, 'greedy.json');
  muchator(['generate', '--model', MODEL, '--raw', '--prompt', prompt, '--constrained=false',
            '--max-tokens', '64', '--out', out, '--threads', '1']);
  return JSON.parse(readFileSync(out, 'utf8'))[0].tokens;
}

// One thread, as ctest gives every test (two threads on a tiny model sync on every token: 64
// tokens took 0.66 s instead of 0.07 s).
async function llamaGreedy(model, prompt, n) {
  const context = await model.createContext({ contextSize: 512, threads: 1 });
  const seq = context.getSequence();
  const out = [];
  for await (const t of seq.evaluate(model.tokenize(prompt, true), { temperature: 0 })) {
    out.push(t);
    if (out.length >= n) break;
  }
  await context.dispose();
  return out;
}

test('greedy continuations of 5 prompts equal muchator\'s for 64 tokens (f32) and agree closely with q8_0, f16, bf16', async () => {
  const agree = { q8_0: 0, f16: 0, bf16: 0 };
  let total = 0;
  for (const p of PROMPTS) {
    const ours = ourGreedy(p);
    assert.ok(ours.length >= 8, `a continuation of ${JSON.stringify(p)} has ${ours.length} tokens`);
    assert.deepEqual(await llamaGreedy(models.f32, p, ours.length), ours, `f32 continuation of ${JSON.stringify(p)}`);
    for (const type of Object.keys(agree)) {
      // Rounded weights: count the tokens before the first divergence.
      const theirs = await llamaGreedy(models[type], p, ours.length);
      let same = 0;
      while (same < ours.length && theirs[same] === ours[same]) ++same;
      agree[type] += same;
    }
    total += ours.length;
  }
  for (const [type, n] of Object.entries(agree)) console.log(`${type}: ${n}/${total} greedy tokens before the first divergence`);
  // A broken export diverges within the first tokens of every prompt (~0 agreement). A correct
  // one only flips near-ties of this barely trained model: one early flip costs the rest of that
  // prompt (up to a fifth of the total), so q8_0 (8-bit blocks, the coarsest) is held to 60%: the
  // old serve fixture (30 pre-training steps, one thread) agreed on 230 of 320 tokens, a two-thread
  // one passed 75%, the tiny run's SFT model on all 320 (2026-12-07).
  const floor = { q8_0: 0.6, f16: 0.75, bf16: 0.75 };
  for (const [type, n] of Object.entries(agree))
    assert.ok(n >= floor[type] * total, `${type} agreed on only ${n} of ${total} tokens`);
});

test('llama.cpp\'s next-token distribution equals muchator\'s logits to 1e-3 relative (f32)', async () => {
  const logitsFile = join(DIR, 'logits.json');
  muchator(['generate', '--model', MODEL, '--raw', '--prompt', PROMPTS[0], '--constrained=false', '--max-tokens', '1',
            '--logits-out', logitsFile, '--threads', '1', '--bf16=false']);
  const logits = JSON.parse(readFileSync(logitsFile, 'utf8'));
  const max = Math.max(...logits);
  const logZ = max + Math.log(logits.reduce((s, l) => s + Math.exp(l - max), 0));
  // muchator in fp32 (--bf16=false above): its engine multiplies in bf16 on AVX512-BF16 CPUs, and
  // then the log-probabilities differed from llama.cpp's f32 model by up to 0.009 (2026-12-05's
  // tiny model), over the tolerance.
  const context = await models.f32.createContext({ contextSize: 512, threads: 1 });
  const tokens = models.f32.tokenize(PROMPTS[0], true);
  const input = tokens.slice(0, -1);
  input.push([tokens[tokens.length - 1], { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } }]);
  const res = await context.getSequence().controlledEvaluate(input);
  const probs = res[res.length - 1].next.probabilities;
  await context.dispose();
  assert.ok(probs.size >= 100, `only ${probs.size} probabilities came back`);
  let compared = 0;
  for (const [token, p] of probs) {
    if (p < 1e-30) continue;  // near float's smallest normal number: no longer 7 significant digits
    const ours = logits[token] - logZ;  // log-probability: the logits up to their shift
    const theirs = Math.log(p);
    assert.ok(Math.abs(theirs - ours) <= 1e-3 * Math.max(1, Math.abs(ours)),
              `token ${token}: log p ${theirs} (llama.cpp) vs ${ours} (muchator)`);
    ++compared;
  }
  assert.ok(compared >= 100, `compared ${compared} tokens`);
});

test('the chat template makes a plain chat message a request in muchator\'s prompt format', () => {
  const template = models.f32.fileInfo.metadata.tokenizer.chat_template;
  assert.match(template, /<\|im_start\|>/);
  assert.match(template, /<\|query\|>/);
});

test('the exported GBNF grammar makes llama.cpp answer with 10 numbered catalog songs', async () => {
  const grammarFile = join(DIR, 'catalog.gbnf');
  muchator(['export-gguf', '--model', MODEL, '--out', join(DIR, 'with-grammar.gguf'), '--grammar', grammarFile]);
  const model = models.f32;
  const grammar = await llama.createGrammar({ grammar: readFileSync(grammarFile, 'utf8') });
  const { LlamaGrammarEvaluationState } = await import('node-llama-cpp');
  const ids = new Set(codec.items.map((it) => it.id));
  for (const prompt of [PROMPTS[0], PROMPTS[2]]) {
    const context = await model.createContext({ contextSize: 1024, threads: 1 });
    const out = [];
    const state = new LlamaGrammarEvaluationState({ model, grammar });
    for await (const t of context.getSequence().evaluate(model.tokenize(prompt, true),
                                                         { temperature: 0, grammarEvaluationState: state })) {
      if (model.isEogToken(t)) break;
      out.push(t);
      assert.ok(out.length < 400, 'the grammar must end the answer');
    }
    await context.dispose();
    const text = model.detokenize(out, true);
    const songs = [...text.matchAll(/^(\d+)\. <\|item\|><\|s_([^|]+)\|><\|\/item\|>$/gm)];
    assert.deepEqual(songs.map((m) => Number(m[1])), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], text);
    for (const m of songs) assert.ok(ids.has(m[2]), `song ${m[2]} is in the catalog`);
  }
});
