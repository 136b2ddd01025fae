"""The one-button page a coach opens on a phone: http://<box>:8470/.

One big button, and under it one line that says whether the box is fine:
green "Box ready" with what it is doing (clips being made, clips waiting to
upload), amber with the box's own problem lines (a camera refused and what to
change, a camera reconnecting, the disk nearly full, detection waiting for a
model), red when the box cannot be reached or the token is wrong; notes (a
file camera that has ended, a camera transcoded) in smaller grey lines below. It polls ``/v1/status`` every few seconds while
the page is visible. No framework, no external files: the box may have no
internet.
"""

from __future__ import annotations

__all__ = ["PHONE_PAGE"]

PHONE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sideline clip</title>
<style>
 body{font-family:system-ui,sans-serif;margin:0;padding:1rem;background:#111;color:#eee;text-align:center}
 button#clip{width:100%;height:45vh;font-size:3rem;border:0;border-radius:1rem;background:#e53935;color:#fff}
 button#clip:active{background:#b71c1c}
 input{width:100%;font-size:1.1rem;padding:.6rem;margin:.4rem 0;box-sizing:border-box}
 #msg{min-height:2rem;font-size:1.2rem;margin:1rem 0}
 #box{padding:.5rem;border-radius:.5rem;font-size:1rem;margin:.5rem 0}
 #box.ok{background:#1b5e20} #box.warn{background:#8d6e00} #box.down{background:#7f0000}
 #box ul{margin:.3rem 0 0;padding:0;list-style:none}
 #box ul.notes{color:#bbb;font-size:.85rem}
</style></head><body>
<h1>Sideline</h1>
<button id="clip">CLIP</button>
<div id="msg" role="status"></div>
<div id="box" role="status" aria-live="polite">enter the box token below</div>
<input id="note" placeholder="note (optional)" maxlength="500">
<input id="token" type="password" placeholder="box token" autocomplete="off">
<script>
const token = document.getElementById('token');
const box = document.getElementById('box');
token.value = localStorage.getItem('sideline-token') || '';
token.onchange = () => { localStorage.setItem('sideline-token', token.value); refresh(); };

function lines(items, className) {
  if (!items || !items.length) return;
  const list = document.createElement('ul');
  list.className = className;
  for (const line of items) {
    const item = document.createElement('li');
    item.textContent = line;
    list.appendChild(item);
  }
  box.appendChild(list);
}

function show(kind, text, problems, notes) {
  box.className = kind;
  box.textContent = text;
  lines(problems, 'problems');
  lines(notes, 'notes');
}

function doing(status) {
  const parts = [];
  const making = status.clips_in_progress || 0;
  if (making) parts.push(making + ' clip(s) being made');
  const waiting = status.backlog ? status.backlog.clips : 0;
  if (waiting) parts.push(waiting + ' clip(s) waiting to upload');
  return parts.length ? ' \\u00b7 ' + parts.join(' \\u00b7 ') : '';
}

async function refresh() {
  if (!token.value) { show('', 'enter the box token below'); return; }
  try {
    const r = await fetch('/v1/status', {headers: {'Authorization': 'Bearer ' + token.value}});
    if (r.status === 401) { show('down', 'wrong box token'); return; }
    const status = await r.json();
    if (!r.ok) { show('down', status.message || 'box error'); return; }
    const problems = status.problems || [];
    if (problems.length) show('warn', 'Box needs attention' + doing(status), problems, status.notes);
    else show('ok', 'Box ready' + doing(status), [], status.notes);
  } catch (e) { show('down', 'box not reachable'); }
}

document.getElementById('clip').onclick = async () => {
  const msg = document.getElementById('msg');
  const note = document.getElementById('note').value || null;
  msg.textContent = '...';
  try {
    const r = await fetch('/v1/clips', {method: 'POST',
      headers: {'Authorization': 'Bearer ' + token.value, 'Content-Type': 'application/json'},
      body: JSON.stringify(note ? {note} : {})});
    const body = await r.json();
    msg.textContent = r.status === 202 ? 'Clip coming: ' + body.clip_ids.length + ' camera(s)'
      : r.status === 401 ? 'wrong box token' : body.message;
    if (r.status === 202) document.getElementById('note').value = '';
  } catch (e) { msg.textContent = 'box not reachable'; }
  refresh();
};

refresh();
setInterval(() => { if (!document.hidden) refresh(); }, 5000);
</script></body></html>
"""
