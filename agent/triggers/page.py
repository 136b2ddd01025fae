"""The one-button page a coach opens on a phone: http://<box>:8470/."""

from __future__ import annotations

__all__ = ["PHONE_PAGE"]

PHONE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sideline clip</title>
<style>
 body{font-family:system-ui,sans-serif;margin:0;padding:1rem;background:#111;color:#eee;text-align:center}
 button#clip{width:100%;height:45vh;font-size:3rem;border:0;border-radius:1rem;background:#e53935;color:#fff}
 input{width:100%;font-size:1.1rem;padding:.6rem;margin:.4rem 0;box-sizing:border-box}
 #msg{min-height:2rem;font-size:1.2rem;margin:1rem 0}
</style></head><body>
<h1>Sideline</h1>
<button id="clip">CLIP</button>
<div id="msg" role="status"></div>
<input id="note" placeholder="note (optional)" maxlength="500">
<input id="token" type="password" placeholder="box token" autocomplete="off">
<script>
const token = document.getElementById('token');
token.value = localStorage.getItem('sideline-token') || '';
token.onchange = () => localStorage.setItem('sideline-token', token.value);
document.getElementById('clip').onclick = async () => {
  const msg = document.getElementById('msg');
  const note = document.getElementById('note').value || null;
  msg.textContent = '...';
  try {
    const r = await fetch('/v1/clips', {method: 'POST',
      headers: {'Authorization': 'Bearer ' + token.value, 'Content-Type': 'application/json'},
      body: JSON.stringify(note ? {note} : {})});
    const body = await r.json();
    msg.textContent = r.status === 202 ? 'Clip coming: ' + body.clip_ids.length + ' camera(s)' : body.message;
    if (r.status === 202) document.getElementById('note').value = '';
  } catch (e) { msg.textContent = 'box not reachable'; }
};
</script></body></html>
"""
