// The MuChator chat page: streams answers from /v1/chat/completions, shows the songs as cards,
// sends like / skip / dislike to /v1/feedback. No external assets or network.
'use strict';

const $ = (id) => document.getElementById(id);
let model = null;
let messages = [];  // the conversation sent with every request (multi-turn refinement)

function headers() {
  const h = { 'Content-Type': 'application/json' };
  const key = $('api_key').value.trim();
  if (key) h['Authorization'] = 'Bearer ' + key;
  return h;
}

function setStatus(text, isError) {
  $('status').textContent = text;
  $('status').className = isError ? 'error' : 'muted';
}

async function api(path, body) {
  const res = await fetch(path, body ? { method: 'POST', headers: headers(), body: JSON.stringify(body) }
                                     : { headers: headers() });
  const data = await res.json();
  if (!res.ok) throw new Error(data.error ? data.error.message : 'HTTP ' + res.status);
  return data;
}

async function init() {
  try {
    const models = await api('/v1/models');
    model = models.data[0].id;
    $('model').textContent = model;
    const users = await api('/v1/users');
    for (const u of users.data) {
      const o = document.createElement('option');
      o.value = u.id;
      $('users').appendChild(o);
    }
    if (users.data.length && !$('user').value) $('user').value = users.data[0].id;
  } catch (e) {
    setStatus('cannot reach the server: ' + e.message, true);
  }
}

function state() {
  return {
    time_of_day: $('time_of_day').value || undefined,
    day_type: $('day_type').value || undefined,
    context: $('context_field').value.trim() || undefined,
    device: $('device').value || undefined,
  };
}

function addTurn(role, text) {
  const div = document.createElement('div');
  div.className = 'turn ' + role;
  const b = document.createElement('div');
  b.className = 'bubble';
  b.textContent = text;
  div.appendChild(b);
  $('log').appendChild(div);
  div.scrollIntoView({ block: 'end' });
  return div;
}

async function feedback(completionId, song, kind, button) {
  try {
    await api('/v1/feedback', { completion_id: completionId, song: song.id, feedback: kind,
                                user: $('user').value.trim() || undefined, state: state() });
    button.classList.add('done');
    button.textContent = kind === 'like' ? 'Liked' : kind === 'skip' ? 'Skipped' : 'Disliked';
    setStatus('feedback stored: ' + kind + ' ' + song.title);
  } catch (e) {
    setStatus('feedback failed: ' + e.message, true);
  }
}

function renderCards(turn, completionId, items, reason, notes) {
  turn.querySelector('.bubble').remove();
  if (reason) {
    const r = document.createElement('div');
    r.className = 'reason';
    r.textContent = reason;
    turn.appendChild(r);
  }
  const cards = document.createElement('div');
  cards.className = 'cards';
  for (const it of items) {
    const c = document.createElement('div');
    c.className = 'song-card';
    c.dataset.song = it.id;
    const t = document.createElement('div');
    t.className = 'title';
    t.textContent = it.rank + '. ' + it.title;
    const a = document.createElement('div');
    a.className = 'artist';
    a.textContent = (it.artists || []).join(', ');
    const m = document.createElement('div');
    m.className = 'meta';
    m.textContent = it.id + (it.score !== null && it.score !== undefined ? ' · fit ' + it.score.toFixed(1) + '/10' : '');
    const actions = document.createElement('div');
    actions.className = 'actions';
    for (const kind of ['like', 'skip', 'dislike']) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = kind;
      b.textContent = kind === 'like' ? 'Like' : kind === 'skip' ? 'Skip' : 'Dislike';
      b.addEventListener('click', () => feedback(completionId, it, kind, b));
      actions.appendChild(b);
    }
    c.append(t, a, m, actions);
    cards.appendChild(c);
  }
  turn.appendChild(cards);
  if (notes && notes.length) {
    const n = document.createElement('div');
    n.className = 'notes';
    n.textContent = notes.join('; ');
    turn.appendChild(n);
  }
  turn.scrollIntoView({ block: 'end' });
}

async function ask(query) {
  messages.push({ role: 'user', content: query });
  addTurn('user', query);
  const turn = addTurn('assistant', '');
  const bubble = turn.querySelector('.bubble');
  $('send').disabled = true;
  setStatus('thinking...');
  const started = performance.now();
  try {
    const body = {
      model, messages, stream: true,
      user: $('user').value.trim() || undefined,
      muchator: { state: state(), songs: Number($('songs').value) || 10, one_per_artist: $('one_per_artist').checked },
    };
    const res = await fetch('/v1/chat/completions', { method: 'POST', headers: headers(), body: JSON.stringify(body) });
    if (!res.ok) {
      const err = await res.json();
      throw new Error(err.error ? err.error.message : 'HTTP ' + res.status);
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '', text = '', id = null, items = null, notes = null, firstToken = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const event = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        if (event.startsWith(': muchator ')) { notes = JSON.parse(event.slice(11)).notes; continue; }
        if (!event.startsWith('data: ')) continue;
        const data = event.slice(6);
        if (data === '[DONE]') continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        id = chunk.id;
        for (const ch of chunk.choices || []) {
          if (ch.delta && ch.delta.content) {
            if (firstToken === null) firstToken = performance.now() - started;
            text += ch.delta.content;
            bubble.textContent = text;
          }
          if (ch.finish_reason && ch.muchator) items = ch.muchator.items;
        }
      }
    }
    messages.push({ role: 'assistant', content: text });
    const lines = text.split('\n');
    const reason = lines.length && !/^\d+\./.test(lines[0]) ? lines[0] : '';
    renderCards(turn, id, items || [], reason, notes);
    setStatus(`${(items || []).length} songs · first token ${firstToken === null ? '-' : firstToken.toFixed(0)} ms · ` +
              `${(performance.now() - started).toFixed(0)} ms`);
  } catch (e) {
    bubble.textContent = 'Error: ' + e.message;
    bubble.classList.add('error');
    messages.pop();
    setStatus(e.message, true);
  } finally {
    $('send').disabled = false;
  }
}

$('ask').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const q = $('query').value.trim();
  if (!q) return;
  $('query').value = '';
  ask(q);
});
$('new_chat').addEventListener('click', () => {
  messages = [];
  $('log').innerHTML = '';
  setStatus('new conversation');
});
init();
