// The server's security review, each point through the real binary: API keys are compared in
// constant time (src/serve/server.h ApiKeyMatches, unit-tested in serve_test) and never logged,
// CORS is off unless origins are configured, the default bind is 127.0.0.1, slow and oversized
// requests are cut off, and rate limits apply per key and per client address.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { startServer, post, BIN } from './harness.mjs';

const ask = (srv, headers = {}) =>
  post(srv.url + '/v1/chat/completions', { model: srv.model, messages: [{ role: 'user', content: 'hello' }], muchator: { songs: 2 } }, headers);

test('API keys are never logged, even at the most verbose level', async () => {
  const srv = await startServer([], { MUCHATOR_API_KEYS: 'sk-secret-one,sk-secret-two' }, ['-v']);
  try {
    assert.equal((await ask(srv, { Authorization: 'Bearer sk-secret-one' })).status, 200);
    assert.equal((await ask(srv, { Authorization: 'Bearer sk-wrong-guess' })).status, 401);
    assert.equal((await ask(srv, { Authorization: 'Bearer sk-secret-on' })).status, 401, 'a prefix of a key is not the key');
    assert.equal((await ask(srv, { Authorization: 'Bearer sk-secret-one-and-more' })).status, 401, 'nor is a longer string');
  } finally {
    await srv.stop();
  }
  const log = srv.output();
  assert.ok(log.length > 100, 'the verbose log has lines');
  for (const secret of ['sk-secret-one', 'sk-secret-two', 'sk-wrong-guess', 'sk-secret-on'])
    assert.ok(!log.includes(secret), `the log shows ${secret}`);
});

test('CORS is off unless configured, then only for the configured origins', async () => {
  const plain = await startServer();
  try {
    const r = await fetch(plain.url + '/v1/models', { headers: { Origin: 'https://evil.example' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    const pre = await fetch(plain.url + '/v1/chat/completions', { method: 'OPTIONS', headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(pre.headers.get('access-control-allow-origin'), null);
    assert.equal(pre.headers.get('access-control-allow-methods'), null);
  } finally {
    await plain.stop();
  }
  const cors = await startServer(['--cors-origin', 'https://app.example']);
  try {
    const ok = await fetch(cors.url + '/v1/models', { headers: { Origin: 'https://app.example' } });
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.equal(ok.headers.get('vary'), 'Origin');
    const pre = await fetch(cors.url + '/v1/chat/completions', { method: 'OPTIONS', headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(pre.status, 204);
    assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
    assert.match(pre.headers.get('access-control-allow-headers'), /Authorization/);
    const other = await fetch(cors.url + '/v1/models', { headers: { Origin: 'https://evil.example' } });
    assert.equal(other.headers.get('access-control-allow-origin'), null, 'another origin gets no header');
    const otherPre = await fetch(cors.url + '/v1/models', { method: 'OPTIONS', headers: { Origin: 'https://evil.example' } });
    assert.equal(otherPre.headers.get('access-control-allow-methods'), null);
  } finally {
    await cors.stop();
  }
});

test('the default bind address is 127.0.0.1, and --help says so', () => {
  const help = execFileSync(BIN, ['serve', '--help'], { encoding: 'utf8' });
  assert.match(help, /--host TEXT=127\.0\.0\.1/);
});

// Sends `bytes` and waits until the server closes the connection; resolves with the seconds it
// took and what the server sent.
function holdOpen(url, bytes, limitMs) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const start = Date.now();
    let got = '';
    const sock = net.connect(Number(port), hostname, () => sock.write(bytes));
    sock.on('data', (d) => { got += d; });
    sock.on('error', () => {});
    // The guard timer goes with the socket: left pending it kept the test file alive 15 s more.
    const guard = setTimeout(() => { sock.destroy(); reject(new Error(`still open after ${limitMs} ms`)); }, limitMs);
    sock.on('close', () => { clearTimeout(guard); resolve({ seconds: (Date.now() - start) / 1000, got }); });
  });
}

test('a slow client is disconnected after the read timeout; an oversized header is refused', async () => {
  const srv = await startServer(['--read-timeout', '1']);
  try {
    // Half a request line, then silence (slowloris).
    const slow = await holdOpen(srv.url, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n', 15000);
    assert.ok(slow.seconds < 4, `closed after ${slow.seconds} s (read time-out 1 s)`);
    // A body announced but never sent.
    const body = await holdOpen(srv.url, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"mo', 15000);
    assert.ok(body.seconds < 4, `closed after ${body.seconds} s (read time-out 1 s)`);
    // One 64 KB header line: refused with an error status, the connection closed.
    const big = await holdOpen(srv.url, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(65536)}\r\n\r\n`, 15000);
    assert.ok(!/^HTTP\/1\.1 200/.test(big.got), `a 64 KB header was served: ${big.got.slice(0, 80)}`);
    assert.equal((await fetch(srv.url + '/health')).status, 200, 'and the server keeps serving');
  } finally {
    await srv.stop();
  }
});

test('rate limits apply per API key and per client address', async () => {
  const srv = await startServer(['--rate-limit', '3', '--address-rate-limit', '4'], { MUCHATOR_API_KEYS: 'k-one,k-two' });
  try {
    const one = { Authorization: 'Bearer k-one' }, two = { Authorization: 'Bearer k-two' };
    for (let i = 0; i < 3; ++i) assert.equal((await ask(srv, one)).status, 200);
    const keyLimited = await ask(srv, one);
    assert.equal(keyLimited.status, 429, 'k-one has used its 3');
    assert.match(keyLimited.json.error.message, /per API key/);
    assert.equal((await ask(srv, two)).status, 200, 'k-two has its own 3; the address its 4th');
    const addressLimited = await ask(srv, two);
    assert.equal(addressLimited.status, 429, 'this address has used its 4');
    assert.match(addressLimited.json.error.message, /per client address/);
    assert.ok(Number(addressLimited.headers.get('retry-after')) >= 1);
    // A kept-alive connection left idle after its answer is closed after --keep-alive-timeout (the
    // harness gives 1 s; the default 5 s, which this server's 10 s read time-out would allow).
    const idle = await holdOpen(srv.url, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n', 15000);
    assert.match(idle.got, /^HTTP\/1\.1 200/);
    assert.ok(idle.seconds < 3, `an idle kept-alive connection closed after ${idle.seconds} s`);
  } finally {
    await srv.stop();
  }
});
