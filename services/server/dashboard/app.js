// newsdedup dashboard: live clusters (stories) from the JSON API of the
// same server, which answers with the gRPC API's messages in protobuf's
// JSON mapping. No framework and no external resources; routes are URL
// fragments:
//   #/                 clusters by recent growth (refreshed every 5 s),
//                      with filters: #/?source=Wire&min_size=3&hours=6
//   #/cluster/<id>     one cluster: timeline, members (paged), its thread
//                      and sibling stories, history
//   #/thread/<id>      the stories of one thread (storyline)
//   #/search/<text>    clusters near a text
// Every text from the server goes into the page as text, never as HTML;
// only http(s) URLs become links.
// Editors (token role edit) correct a cluster from its page: merge it into
// another, split selected members off, move a member, pin the
// representative, keep two clusters apart. Each asks for a reason and a
// confirmation, then POSTs to the JSON API (docs/editorial.md).
"use strict";

const REFRESH_MS = 5000;
const PAGE_SIZE = 100;
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

// "1 article", "2 articles".
function counted(n, noun) {
  return n + " " + noun + (n === 1 ? "" : "s");
}

function when(iso) {
  return iso ? iso.replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, "Z") : "–";
}

// A link for http(s) URLs only; anything else stays plain text.
function link(text, url) {
  if (/^https?:\/\//i.test(url || "")) {
    return el("a", {href: url, class: "article-link", rel: "noopener noreferrer",
                    target: "_blank"}, text);
  }
  return document.createTextNode(text);
}

function clusterHref(id) { return "#/cluster/" + encodeURIComponent(id); }
function threadHref(id) { return "#/thread/" + encodeURIComponent(id); }

// The stories of thread `id`, largest first (one page).
async function threadStories(id) {
  const r = await getJson("/api/clusters?page_size=" + PAGE_SIZE +
                          "&thread_id=" + encodeURIComponent(id));
  return r.clusters;
}

// The time base of timelines and of the "updated within" filter: the
// newest publication time the server has seen (its "now"; archived news
// replayed has its own), as an ISO string, or "" before any dated article.
function timeBase(clusters) {
  return (clusters.find(c => c.timeline_end) || {}).timeline_end || "";
}

// "16:00 UTC" for the axis: the hour the timeline ends at.
function hourOf(iso) {
  return iso ? iso.slice(11, 16) + " UTC" : "now";
}

// Said next to a timeline when its base is not the present: the chart
// ends at the newest article, not at the clock.
function baseNote(end) {
  if (!end || Math.abs(Date.now() - Date.parse(end)) < 3600e3) return "";
  return "times count back from the newest article, " + when(end) +
         ", not from the clock";
}

// Articles per hour over the counts.length hours before `end` (the time
// base), oldest first: bars with an hour axis underneath and the count of
// each bar on hover.
function timeline(counts, large, end) {
  const ns = "http://www.w3.org/2000/svg";
  const barWidth = large ? 24 : 6, plot = large ? 80 : 22;
  const axis = 14, width = counts.length * barWidth + 2;
  const max = Math.max(1, ...counts);
  const svg = document.createElementNS(ns, "svg");
  const node = (tag, attrs, text) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    return n;
  };
  svg.setAttribute("class", "timeline" + (large ? " large" : ""));
  svg.setAttribute("width", width);
  svg.setAttribute("height", plot + axis);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", counts.reduce((a, b) => a + b, 0) +
                   " articles in the " + counts.length + " hours before " +
                   hourOf(end));
  svg.append(node("line", {x1: 0, y1: plot + 0.5, x2: width, y2: plot + 0.5,
                           class: "axis"}));
  counts.forEach((c, i) => {
    const hoursAgo = counts.length - i;
    const slot = node("g", {class: "hour"});
    slot.append(node("title", {}, counted(c, "article") + ", " +
                     hoursAgo + "–" + (hoursAgo - 1) + " h before " +
                     hourOf(end)));
    // A full-height transparent target, so empty hours answer hover too.
    slot.append(node("rect", {x: i * barWidth, y: 0, width: barWidth,
                              height: plot, class: "target"}));
    if (c) {
      const h = Math.max(2, Math.round(plot * c / max));
      slot.append(node("rect", {x: i * barWidth + 1, y: plot - h,
                                width: barWidth - 2, height: h, class: "bar"}));
    }
    svg.append(slot);
  });
  const ticks = large ? [24, 18, 12, 6, 0] : [24, 12, 0];
  for (const t of ticks) {
    const x = (counts.length - t) * barWidth;
    const anchor = t === counts.length ? "start" : t === 0 ? "end" : "middle";
    svg.append(node("text", {x: x, y: plot + axis - 2, class: "tick",
                             "text-anchor": anchor},
                    t === 0 ? hourOf(end) : "−" + t + "h"));
  }
  return svg;
}

async function getJson(url) {
  const res = await fetch(url, {credentials: "same-origin"});
  // A server with --auth-tokens: no session yet, or it has ended.
  if (res.status === 401) {
    window.location.assign("/login");
    throw new Error("login needed");
  }
  const body = await res.json();
  if (!res.ok) throw new Error(body.message || res.statusText);
  return body;
}

function clusterTable(clusters) {
  const body = el("tbody");
  for (const c of clusters) {
    const open = () => { location.hash = clusterHref(c.cluster_id); };
    body.append(el("tr", {class: "cluster-row", "data-cluster": c.cluster_id,
                          onclick: open},
      el("td", {}, el("a", {class: "headline", href: clusterHref(c.cluster_id)},
                       c.representative_title || "(untitled)"),
         el("div", {class: "sources"}, (c.top_sources || []).join(" · "))),
      el("td", {class: "num"}, String(c.size)),
      el("td", {class: "num"}, String(c.num_sources)),
      el("td", {class: "num"}, String(c.recent_articles)),
      el("td", {}, timeline(c.timeline || [], false, c.timeline_end)),
      el("td", {class: "time"}, when(c.first_seen)),
      el("td", {class: "time"}, when(c.last_seen))));
  }
  return el("table", {id: "clusters"},
    el("thead", {}, el("tr", {},
      el("th", {}, "Representative headline"), el("th", {}, "Articles"),
      el("th", {}, "Sources"), el("th", {}, "Last 24 h"),
      el("th", {}, "Articles per hour"),
      el("th", {}, "First seen"), el("th", {}, "Last seen"))),
    body);
}

// Filters of the list, from the fragment's query (#/?source=...).
function listFilters(query) {
  const p = new URLSearchParams(query);
  return {source: p.get("source") || "", minSize: Number(p.get("min_size")) || 0,
          hours: Number(p.get("hours")) || 0};
}

function keep(c, f, newest) {
  if (f.source && !(c.top_sources || []).some(
        s => s.toLowerCase().includes(f.source.toLowerCase()))) return false;
  if (c.size < f.minSize) return false;
  if (f.hours && (!c.last_seen ||
      newest - Date.parse(c.last_seen) > f.hours * 3600e3)) return false;
  return true;
}

function filterForm(f) {
  const source = el("input", {name: "source", type: "search", value: f.source,
                              placeholder: "source", "aria-label": "Source"});
  const minSize = el("input", {name: "min_size", type: "number", min: "0",
                               value: f.minSize || "", placeholder: "min size",
                               "aria-label": "Minimum size"});
  const hours = el("select", {name: "hours", "aria-label": "Updated within"},
    ...[[0, "any time"], [1, "last hour"], [6, "last 6 h"], [24, "last 24 h"],
        [72, "last 3 days"]].map(([v, label]) => {
      const o = el("option", {value: String(v)}, label);
      if (v === f.hours) o.selected = true;
      return o;
    }));
  const apply = (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    if (source.value.trim()) p.set("source", source.value.trim());
    if (Number(minSize.value) > 0) p.set("min_size", minSize.value);
    if (Number(hours.value) > 0) p.set("hours", hours.value);
    location.hash = "#/" + (p.toString() ? "?" + p : "");
  };
  return el("form", {id: "filters", onsubmit: apply},
            "Filter: ", source, minSize, hours, el("button", {type: "submit"}, "Apply"));
}

async function showClusters(query) {
  const f = listFilters(query);
  const clusters = [];
  // Later pages repeat the query: a token serves the query that made it.
  const list = "/api/clusters?sort=growth&page_size=" + PAGE_SIZE;
  let data = await getJson(list);
  const total = data.total, articles = data.total_articles;
  clusters.push(...data.clusters);
  // Filters look past the first page (a few pages at most).
  for (let pages = 1; data.next_page_token && (f.source || f.minSize || f.hours) &&
       pages < 10; ++pages) {
    data = await getJson(list + "&page_token=" + encodeURIComponent(data.next_page_token));
    clusters.push(...data.clusters);
  }
  // "Updated within" counts back from the server's time base, as the
  // timelines do.
  const base = timeBase(clusters);
  const newest = base ? Date.parse(base) : Date.now();
  const shown = clusters.filter(c => keep(c, f, newest));
  const note = baseNote(base);
  statusLine.textContent = total + " clusters · " + articles +
      " articles · updated " + new Date().toLocaleTimeString() +
      (note ? " · " + note : "");
  view.replaceChildren(
    el("h2", {}, "Clusters by recent growth"),
    filterForm(f),
    shown.length ? clusterTable(shown)
                 : el("div", {class: "empty"},
                      clusters.length ? "No cluster matches the filter." : "No clusters yet."));
}

async function postJson(url, body) {
  const res = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  if (res.status === 401) {
    window.location.assign("/login");
    throw new Error("login needed");
  }
  const answer = await res.json();
  if (!res.ok) throw new Error(answer.message || res.statusText);
  return answer;
}

// What the last editorial action did, shown once on the next cluster page.
let lastOutcome = "";

// Runs one editorial action after the editor confirms it; the reason comes
// from the page's reason field. Goes to the cluster the action left the
// articles in and says what was done there; a refusal is shown in place.
async function edit(what, url, body) {
  const reason = document.getElementById("edit-reason").value.trim();
  const outcome = document.getElementById("edit-outcome");
  if (!reason) {
    outcome.textContent = "Give a reason first: it goes into the history.";
    return;
  }
  if (!window.confirm(what + "?\nReason: " + reason)) return;
  try {
    const r = await postJson(url, Object.assign({reason}, body));
    lastOutcome = "Done: " + what + ".";
    const target = clusterHref(r.cluster_id);
    if (location.hash !== target) location.hash = target; else route();
  } catch (e) {
    outcome.textContent = "Refused: " + e.message;
  }
}

function editPanel(c) {
  const target = el("input", {id: "edit-target", placeholder: "story-12",
                              "aria-label": "Other cluster id"});
  const other = () => target.value.trim();
  const cluster = "/api/clusters/" + encodeURIComponent(c.cluster_id);
  const button = (id, label, action) =>
    el("button", {id, type: "button", onclick: action}, label);
  const selected = () => [...document.querySelectorAll("input.member-select:checked")]
    .map(box => box.value);
  return el("section", {id: "edit-panel"},
    el("h3", {}, "Edit this cluster"),
    el("p", {},
      el("label", {}, "Reason ", el("input", {id: "edit-reason", size: "40",
        placeholder: "why (kept in the history)"})),
      " ", el("label", {}, "Other cluster ", target)),
    el("p", {},
      button("merge-into", "Merge into other cluster", () =>
        edit("merge " + c.cluster_id + " into " + other(), cluster + "/merge",
             {into_cluster_id: other()})),
      " ", button("keep-apart", "Keep apart from other cluster", () =>
        edit("keep " + c.cluster_id + " apart from " + other(),
             cluster + "/keep-apart", {other_cluster_id: other()})),
      " ", button("split-selected", "Split selected articles off", () =>
        edit("split " + selected().length + " articles off " + c.cluster_id,
             cluster + "/split", {article_ids: selected()})),
      " ", button("unpin", "Unpin representative", () =>
        edit("unpin the representative of " + c.cluster_id, cluster + "/pin",
             {unpin: true}))),
    el("p", {id: "edit-outcome", class: "meta", "aria-live": "polite"},
       takeOutcome()));
}

function takeOutcome() {
  const text = lastOutcome;
  lastOutcome = "";
  return text;
}

function memberRows(members, body, c) {
  for (const m of members) {
    const cluster = "/api/clusters/" + encodeURIComponent(c.cluster_id);
    const pin = el("button", {type: "button", class: "pin",
      onclick: () => edit("pin " + m.article_id + " as the representative",
                          cluster + "/pin", {article_id: m.article_id})}, "Pin");
    const move = el("button", {type: "button", class: "move",
      onclick: () => {
        const to = document.getElementById("edit-target").value.trim();
        edit("move " + m.article_id + " to " + to,
             "/api/articles/" + encodeURIComponent(m.article_id) + "/move",
             {to_cluster_id: to});
      }}, "Move to other cluster");
    body.append(el("tr", {class: "member-row", "data-article": m.article_id},
      el("td", {}, el("input", {type: "checkbox", class: "member-select",
                                value: m.article_id,
                                "aria-label": "select " + m.article_id})),
      el("td", {}, link(m.title || m.article_id, m.url),
         m.article_id === c.representative_id
           ? el("span", {class: "badge representative"}, "representative") : ""),
      el("td", {}, el("span", {class: "badge " + m.relation},
                      m.relation.replace("_", " ").toLowerCase())),
      el("td", {}, m.duplicate_of || ""),
      el("td", {}, m.source || ""),
      el("td", {class: "time"}, when(m.published)),
      el("td", {class: "actions"}, canEdit ? pin : "", " ", canEdit ? move : "")));
  }
}

function historyList(events) {
  const describe = (e) => {
    switch (e.kind) {
      case "CREATED": return "created with article " + e.article_id;
      case "ABSORBED": return "absorbed cluster " + e.absorbed_cluster_id;
      case "REPRESENTATIVE_CHANGED": return "representative is now " + e.article_id;
      case "EDITED": return e.detail + " — by " + e.editor + ": " + e.reason;
      default: return e.kind;
    }
  };
  return el("ol", {id: "history"}, ...events.map(e =>
    el("li", {class: "event " + e.kind}, el("span", {class: "time"}, when(e.time)),
       " ", describe(e))));
}

async function showThread(id) {
  const stories = await threadStories(id);
  statusLine.textContent = "thread " + id;
  view.replaceChildren(
    el("p", {}, el("a", {href: "#/"}, "← all clusters")),
    el("h2", {id: "thread-title"}, "Thread " + id + ": " + stories.length +
       (stories.length === 1 ? " story" : " stories")),
    stories.length ? clusterTable(stories)
                   : el("div", {class: "empty"}, "No live story in this thread."));
}

// A story page's thread: a link to it and the other stories in it.
function threadSection(c, stories) {
  const siblings = stories.filter(s => s.cluster_id !== c.cluster_id);
  return el("section", {id: "thread"},
    el("h3", {}, "Thread ", el("a", {id: "thread-link", href: threadHref(c.thread_id)},
                                c.thread_id)),
    siblings.length
      ? el("ul", {id: "siblings"}, ...siblings.map(s =>
          el("li", {class: "sibling"},
             el("a", {href: clusterHref(s.cluster_id)}, s.representative_title || "(untitled)"),
             " · " + counted(s.size, "article"))))
      : el("p", {class: "meta"}, "No other story in this thread."));
}

async function showCluster(id) {
  const base = "/api/clusters/" + encodeURIComponent(id) + "?page_size=" + PAGE_SIZE;
  const r = await getJson(base);
  const c = r.cluster;
  const stories = c.thread_id ? await threadStories(c.thread_id) : [];
  const rows = el("tbody");
  memberRows(r.members, rows, c);
  let shown = r.members.length, token = r.next_page_token;
  const more = el("p", {class: "meta"});
  const moreButton = el("button", {id: "more-members", type: "button"}, "Show more");
  const updateMore = () => {
    more.replaceChildren(token ? moreButton : "",
                         " " + shown + " of " + c.size + " members");
  };
  moreButton.addEventListener("click", async () => {
    const next = await getJson(base + "&page_token=" + encodeURIComponent(token));
    memberRows(next.members, rows, c);
    shown += next.members.length;
    token = next.next_page_token;
    updateMore();
  });
  updateMore();
  statusLine.textContent = "cluster " + c.cluster_id;
  view.replaceChildren(
    el("p", {}, el("a", {href: "#/"}, "← all clusters")),
    el("h2", {id: "cluster-title"}, c.representative_title),
    el("div", {class: "meta"},
       counted(c.size, "article") + " from " +
       counted(c.num_sources, "source") + " · first seen " +
       when(c.first_seen) + " · last seen " + when(c.last_seen) +
       (c.aliases.length ? " · merged: " + c.aliases.join(", ") : "")),
    el("h3", {}, "Articles per hour"),
    timeline(c.timeline || [], true, c.timeline_end),
    el("p", {class: "meta", id: "timeline-note"},
       (c.timeline || []).some(n => n > 0) || !c.last_seen ? baseNote(c.timeline_end)
         : "No article in the 24 h before " + when(c.timeline_end) +
           " (the newest the server has seen); this story's last was " +
           when(c.last_seen) + "."),
    c.thread_id ? threadSection(c, stories) : "",
    el("h3", {}, "Members"),
    el("table", {id: "members"},
      el("thead", {}, el("tr", {}, el("th", {}, ""), el("th", {}, "Headline"),
        el("th", {}, "Relation"), el("th", {}, "Duplicate of"), el("th", {}, "Source"),
        el("th", {}, "Published"), el("th", {}, "Edit"))),
      rows),
    more,
    canEdit ? editPanel(c) : "",
    el("h3", {}, "History"),
    historyList(c.history || []));
}

async function showSearch(text) {
  document.getElementById("search").value = text;
  const r = await getJson("/api/search?k=50&q=" + encodeURIComponent(text));
  // Neighbours grouped by cluster, named by its representative headline,
  // with the best similarity among its articles.
  const groups = new Map();
  for (const n of r.neighbors) {
    const g = groups.get(n.cluster_id);
    if (g) { g.articles += 1; continue; }
    groups.set(n.cluster_id, {id: n.cluster_id, title: n.representative_title,
                              similarity: n.similarity, articles: 1});
  }
  const body = el("tbody");
  for (const g of groups.values()) {
    body.append(el("tr", {class: "cluster-row", "data-cluster": g.id},
      el("td", {}, el("a", {class: "headline", href: clusterHref(g.id)},
                       g.title || "(untitled)")),
      el("td", {class: "num similarity"}, g.similarity.toFixed(2)),
      el("td", {class: "num"}, String(g.articles))));
  }
  const would = r.would_be;
  const joined = would.cluster_id && groups.get(would.cluster_id);
  statusLine.textContent = groups.size + " clusters near the text";
  view.replaceChildren(
    el("p", {}, el("a", {href: "#/"}, "← all clusters")),
    el("h2", {}, "Clusters near “" + text + "”"),
    el("div", {class: "meta", id: "would-be"}, would.cluster_id
       ? "An article with this text would join the cluster “" +
         (would.representative_title || (joined && joined.title) || would.cluster_id) +
         "” (" + would.relation.replace("_", " ").toLowerCase() + ")."
       : "An article with this text would start a new cluster."),
    groups.size
      ? el("table", {id: "search-results"},
          el("thead", {}, el("tr", {}, el("th", {}, "Cluster (representative headline)"),
            el("th", {}, "Similarity"), el("th", {}, "Close articles"))),
          body)
      : el("div", {class: "empty"}, "Nothing similar."));
}

async function route() {
  clearTimeout(timer);
  const hash = location.hash.slice(1) || "/";
  try {
    if (hash.startsWith("/cluster/")) {
      await showCluster(decodeURIComponent(hash.slice(9)));
    } else if (hash.startsWith("/thread/")) {
      await showThread(decodeURIComponent(hash.slice(8)));
    } else if (hash.startsWith("/search/")) {
      await showSearch(decodeURIComponent(hash.slice(8)));
    } else {
      const q = hash.indexOf("?");
      await showClusters(q >= 0 ? hash.slice(q + 1) : "");
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

// Who is logged in (a server with tokens): named in the header with a
// logout button; the edit panel is for the edit and admin roles.
let canEdit = true;
async function loadSession() {
  try {
    const me = await getJson("/api/session");
    canEdit = me.role === "edit" || me.role === "admin";
    if (me.tokens) {
      document.getElementById("user").textContent = me.name + " (" + me.role + ")";
      document.getElementById("session").hidden = false;
    }
  } catch (e) {
    // getJson has sent the browser to the login form.
  }
}
loadSession().then(route);
