// The official `openai` npm client against `muchator serve`, with and without streaming.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer, listLines } from './harness.mjs';

let srv, client;
before(async () => {
  srv = await startServer();
  client = new OpenAI({ baseURL: srv.url + '/v1', apiKey: 'not-needed', maxRetries: 0, timeout: 60000 });
});
after(async () => { await srv.stop(); });

test('models.list', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, [srv.model]);
});

test('chat.completions.create without streaming', async () => {
  const r = await client.chat.completions.create({
    model: srv.model, messages: [{ role: 'user', content: 'just got promoted, hype me up' }], seed: 4, max_tokens: 300,
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(listLines(r.choices[0].message.content).length, 10);
  assert.equal(r.muchator.items.length, 10, 'extra fields pass through the client');
});

test('chat.completions.create with streaming', async () => {
  const stream = await client.chat.completions.create({
    model: srv.model, stream: true, messages: [{ role: 'user', content: 'something for a rainy evening drive' }], seed: 4,
  });
  let text = '', finish = null, chunks = 0;
  for await (const chunk of stream) {
    ++chunks;
    const c = chunk.choices[0];
    if (!c) continue;
    text += c.delta?.content ?? '';
    if (c.finish_reason) finish = c.finish_reason;
  }
  assert.ok(chunks > 3);
  assert.equal(finish, 'stop');
  assert.equal(listLines(text).length, 10);
});

test('errors arrive as the client\'s typed errors', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
                       (e) => e instanceof OpenAI.NotFoundError && /does not exist/.test(e.message));
  await assert.rejects(client.chat.completions.create({ model: srv.model, messages: [] }),
                       (e) => e instanceof OpenAI.BadRequestError);
});
