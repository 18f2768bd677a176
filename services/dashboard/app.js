// newsdedup dashboard: live stories from the JSON API of the same server.
// No framework and no external resources; routes are URL fragments:
//   #/                 stories by recent growth (refreshed every 5 s)
//   #/story/<id>       one story and its members
//   #/search/<text>    stories near a text
"use strict";

const REFRESH_MS = 5000;
const view = document.getElementById("view");
const statusLine = document.getElementById("status");
let timer = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) {
    node.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  }
  return node;
}

function when(iso) {
  return iso ? iso.replace("T", " ").replace(":00Z", "Z") : "–";
}

// Articles per hour over the last hours, as small bars.
function timeline(counts) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const w = 3, h = 18, max = Math.max(1, ...counts);
  svg.setAttribute("class", "timeline");
  svg.setAttribute("width", counts.length * w);
  svg.setAttribute("height", h);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", counts.reduce((a, b) => a + b, 0) +
                   " articles in the last " + counts.length + " hours");
  counts.forEach((c, i) => {
    if (!c) return;
    const r = document.createElementNS(ns, "rect");
    const bh = Math.max(1, Math.round(h * c / max));
    r.setAttribute("x", i * w); r.setAttribute("y", h - bh);
    r.setAttribute("width", w - 1); r.setAttribute("height", bh);
    svg.append(r);
  });
  return svg;
}

async function getJson(url) {
  const res = await fetch(url);
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function storyTable(stories) {
  const body = el("tbody");
  for (const s of stories) {
    const open = () => { location.hash = "#/story/" + encodeURIComponent(s.id); };
    body.append(el("tr", {class: "story-row", "data-story": s.id, onclick: open},
      el("td", {}, el("a", {class: "headline", href: "#/story/" + encodeURIComponent(s.id)},
                       s.title || "(untitled)")),
      el("td", {class: "num"}, String(s.size)),
      el("td", {class: "num"}, String(s.sources)),
      el("td", {class: "num"}, String(s.recent)),
      el("td", {}, timeline(s.timeline || [])),
      el("td", {class: "time"}, when(s.first_seen)),
      el("td", {class: "time"}, when(s.last_seen))));
  }
  return el("table", {id: "stories"},
    el("thead", {}, el("tr", {},
      el("th", {}, "Representative headline"), el("th", {}, "Articles"),
      el("th", {}, "Sources"), el("th", {}, "Last 24 h"), el("th", {}, "Timeline"),
      el("th", {}, "First seen"), el("th", {}, "Last seen"))),
    body);
}

async function showStories() {
  const data = await getJson("/api/stories?sort=growth&limit=100");
  statusLine.textContent = data.total + " stories · " + data.articles +
      " articles · updated " + new Date().toLocaleTimeString();
  view.replaceChildren(
    el("h2", {}, "Stories by recent growth"),
    data.stories.length ? storyTable(data.stories)
                        : el("div", {class: "empty"}, "No stories yet."));
}

async function showStory(id) {
  const s = await getJson("/api/stories/" + encodeURIComponent(id));
  const rows = el("tbody");
  for (const m of s.members) {
    rows.append(el("tr", {class: "member-row", "data-article": m.id},
      el("td", {}, m.title),
      el("td", {}, el("span", {class: "badge " + m.relation},
                      m.relation.replace("_", " ").toLowerCase())),
      el("td", {}, m.duplicate_of || ""),
      el("td", {}, m.source || ""),
      el("td", {class: "time"}, when(m.published))));
  }
  statusLine.textContent = "story " + s.id;
  view.replaceChildren(
    el("p", {}, el("a", {href: "#/"}, "← all stories")),
    el("h2", {id: "story-title"}, s.title),
    el("div", {class: "meta"},
       s.size + " articles from " + s.sources + " sources · first seen " +
       when(s.first_seen) + " · last seen " + when(s.last_seen) +
       (s.aliases.length ? " · merged: " + s.aliases.join(", ") : "")),
    timeline(s.timeline || []),
    el("table", {id: "members"},
      el("thead", {}, el("tr", {}, el("th", {}, "Headline"), el("th", {}, "Relation"),
        el("th", {}, "Duplicate of"), el("th", {}, "Source"), el("th", {}, "Published"))),
      rows),
    s.members_total > s.members.length
      ? el("p", {class: "meta"}, "… " + (s.members_total - s.members.length) + " more")
      : "");
}

async function showSearch(text) {
  document.getElementById("search").value = text;
  const r = await getJson("/api/search?q=" + encodeURIComponent(text));
  statusLine.textContent = r.stories.length + " stories near the text";
  view.replaceChildren(
    el("p", {}, el("a", {href: "#/"}, "← all stories")),
    el("h2", {}, "Stories near “" + text + "”"),
    el("div", {class: "meta"}, r.would_join
       ? "An article with this text would join story " + r.would_join + "."
       : "An article with this text would start a new story."),
    r.stories.length ? storyTable(r.stories)
                     : el("div", {class: "empty"}, "Nothing similar."));
}

async function route() {
  clearTimeout(timer);
  const hash = decodeURIComponent(location.hash.slice(1) || "/");
  try {
    if (hash.startsWith("/story/")) {
      await showStory(hash.slice(7));
    } else if (hash.startsWith("/search/")) {
      await showSearch(hash.slice(8));
    } else {
      await showStories();
      timer = setTimeout(route, REFRESH_MS);
    }
  } catch (e) {
    statusLine.textContent = "error: " + e.message;
    timer = setTimeout(route, REFRESH_MS);
  }
}

document.getElementById("search-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = document.getElementById("search").value.trim();
  location.hash = text ? "#/search/" + encodeURIComponent(text) : "#/";
});
window.addEventListener("hashchange", route);
route();
