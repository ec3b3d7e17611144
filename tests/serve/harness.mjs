// Starts the real `muchator serve` binary on a free port for a test file, and small helpers.
// Environment (set by CTest, tests/CMakeLists.txt): MUCHATOR_BIN, MUCHATOR_SERVE_RUN (a tiny
// pipeline run made by the serve_run fixture).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BIN = process.env.MUCHATOR_BIN;
export const RUN = process.env.MUCHATOR_SERVE_RUN;
if (!BIN || !RUN || !existsSync(join(RUN, 'store.sqlite')))
  throw new Error('MUCHATOR_BIN and MUCHATOR_SERVE_RUN must name the binary and a pipeline run (run through ctest)');

// Every temporary directory a test file makes goes when its process exits (stores of a few MB
// each piled up in /tmp otherwise).
const made = [];
process.on('exit', () => { for (const dir of made) rmSync(dir, { recursive: true, force: true }); });
function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

// A private copy of the run's store, so feedback written by one test file does not change
// what another sees.
export function privateStore() {
  const dir = tempDir('muchator-serve-');
  const store = join(dir, 'store.sqlite');
  copyFileSync(join(RUN, 'store.sqlite'), store);
  return store;
}

// `flags` go before the subcommand: -q by default, -v for every log line (tests of what is logged).
// Idle kept-alive connections (fetch keeps them) close after 1 s, not 5: stopping waits for them
// (docs/serving.md), and the test files stop a server ten times.
export async function startServer(args = [], env = {}, flags = ['-q']) {
  const dir = tempDir('muchator-port-');
  const portFile = join(dir, 'port');
  const store = privateStore();
  const proc = spawn(BIN, [...flags, 'serve', '--run', RUN, '--store', store, '--port', '0', '--port-file', portFile,
                           '--threads', '2', '--keep-alive-timeout', '1', ...args],
                     { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (d) => { output += d; });
  proc.stderr.on('data', (d) => { output += d; });
  const deadline = Date.now() + 60000;
  while (!existsSync(portFile) || !readFileSync(portFile, 'utf8').trim()) {
    if (proc.exitCode !== null) throw new Error('the server exited: ' + output);
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error('the server did not start in 60 s: ' + output); }
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = 'http://127.0.0.1:' + readFileSync(portFile, 'utf8').trim();
  const health = await (await fetch(url + '/health')).json();
  return {
    url, store, model: health.model, output: () => output,
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode;
      const done = new Promise((r) => proc.on('exit', (code) => r(code)));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
      const code = await done;
      clearTimeout(timer);
      return code;
    },
    alive() { return proc.exitCode === null; },
  };
}

export async function post(url, body, headers = {}) {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers },
                                 body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON: the test's assertion says so */ }
  return { status: res.status, json, text, headers: res.headers };
}

// Reads a whole SSE response: the data events (parsed), comments, and whether [DONE] came.
export async function readSse(res) {
  const text = await res.text();
  const events = [], comments = [];
  let done = false;
  for (const block of text.split('\n\n')) {
    if (!block.trim()) continue;
    if (block.startsWith(':')) { comments.push(block); continue; }
    if (!block.startsWith('data: ')) throw new Error('not an SSE data event: ' + block);
    const data = block.slice(6);
    if (data === '[DONE]') { done = true; continue; }
    events.push(JSON.parse(data));
  }
  return { events, comments, done };
}

// Rows of an SQL query on a store, through Debian's sqlite3 command-line tool.
export function sql(store, query) {
  const out = execFileSync('sqlite3', ['-json', store, query], { encoding: 'utf8' }).trim();
  return out ? JSON.parse(out) : [];
}

export function feedbackRows(store, user, song) {
  return sql(store, `SELECT e.feedback AS feedback, e.ts AS ts FROM events e JOIN users u ON u.idx = e.user_idx ` +
                    `JOIN songs s ON s.idx = e.song_idx WHERE u.id = '${user}' AND s.id = '${song}' ORDER BY e.ts`);
}

// Numbered lines of an answer's text.
export function listLines(text) {
  return text.split('\n').filter((l) => /^\d+\. /.test(l)).map((l) => l.replace(/^\d+\. /, ''));
}
