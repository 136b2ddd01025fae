// The share page: a clip or a playlist played back to back, for someone without an account.
// Its data comes from /api/v1/share/{token}; video URLs expire after a while, so a video
// that fails to load asks for fresh ones once. window.sharePlayer is the page's state
// (which item plays, which have played to their end), for tests and embedding.

const token = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
const api = `/api/v1/share/${encodeURIComponent(token)}`;
const $ = (id) => document.getElementById(id);
const player = $("player");
const state = (window.sharePlayer = { items: [], index: -1, played: [], finished: false, error: null });

function when(iso) {
  const at = new Date(iso);
  return at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function seconds(ms) {
  const total = Math.round(ms / 1000);
  return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, "0")}`;
}

function problem(message) {
  state.error = message;
  $("problem").textContent = message;
  $("problem").hidden = false;
}

async function load() {
  const response = await fetch(api, { cache: "no-store", credentials: "omit" });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new Error(body?.error?.message || `This link cannot be opened (${response.status}).`);
  }
  return body;
}

function render(view) {
  document.title = `${view.title} · Sideline`;
  $("title").textContent = view.title;
  const count = view.items.length;
  $("meta").textContent =
    `${count === 1 ? "1 clip" : `${count} clips`} · link works until ${when(view.expires_at)}`;
  const list = $("items");
  list.replaceChildren();
  view.items.forEach((item, index) => {
    const entry = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    if (item.thumbnail_url) {
      const image = document.createElement("img");
      image.src = item.thumbnail_url;
      image.alt = "";
      button.append(image);
    }
    const label = document.createElement("span");
    label.textContent = item.title || `Clip ${index + 1}`;
    const detail = document.createElement("span");
    detail.className = "when";
    detail.textContent = `${when(item.started_at)} · ${seconds(item.duration_ms)}`;
    label.append(detail);
    button.append(label);
    button.addEventListener("click", () => play(index));
    entry.append(button);
    list.append(entry);
  });
  list.hidden = count < 2;
  document.querySelector(".controls").hidden = count < 2;
}

function play(index) {
  if (index < 0 || index >= state.items.length) return;
  state.index = index;
  const item = state.items[index];
  player.src = item.playback_url;
  if (item.thumbnail_url) player.poster = item.thumbnail_url;
  $("position").textContent = `${index + 1} of ${state.items.length}`;
  $("previous").disabled = index === 0;
  $("next").disabled = index === state.items.length - 1;
  document.querySelectorAll("#items li").forEach((entry, i) => {
    entry.setAttribute("aria-current", String(i === index));
  });
  player.play().catch(() => {}); // a phone may want a tap first: the controls are there
}

let refreshed = false;
player.addEventListener("error", async () => {
  if (refreshed) {
    problem("This video cannot be played right now. Reload the page to try again.");
    return;
  }
  refreshed = true; // the URL may have expired: ask for fresh ones, once
  try {
    const view = await load();
    state.items = view.items;
    play(state.index);
  } catch (failure) {
    problem(failure.message);
  }
});
player.addEventListener("playing", () => { refreshed = false; });
player.addEventListener("ended", () => {
  state.played.push(state.items[state.index].id);
  if (state.index + 1 < state.items.length) {
    play(state.index + 1);
  } else {
    state.finished = true;
  }
});
$("previous").addEventListener("click", () => play(state.index - 1));
$("next").addEventListener("click", () => play(state.index + 1));

load()
  .then((view) => {
    state.items = view.items;
    render(view);
    if (view.items.length) play(0);
    else problem("There is nothing to play here any more.");
  })
  .catch((failure) => {
    $("title").textContent = "Shared video";
    problem(failure.message);
  });
