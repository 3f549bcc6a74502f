// The analyst page: plain JS, no dependencies. Every value from the API is written with textContent.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

const keyInput = $("api-key");
keyInput.value = sessionStorage.getItem("mokg-key") || "";
keyInput.addEventListener("change", () => sessionStorage.setItem("mokg-key", keyInput.value.trim()));

async function call(path, body) {
  const resp = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Authorization": "Bearer " + keyInput.value.trim() },
    body: JSON.stringify(body),
  });
  const data = await resp.json().catch(() => ({ error: "HTTP " + resp.status }));
  if (!resp.ok) {
    const where = data.field ? ` (${data.field})` : data.clause ? ` (${data.clause})` : "";
    throw new Error(`${resp.status}: ${data.error}${where}`);
  }
  return data;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

// -- lookalike -----------------------------------------------------------------------------------------

function seedsFromForm() {
  if ($("seed-mode-item").checked) return { seed_item: $("seed-item").value.trim() };
  const ids = $("seed-ids").value.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
  return { seed_user_ids: ids };
}

function explanationText(ex) {
  if (!ex) return "";
  const parts = [];
  if (ex.shared_items.length) parts.push("items: " + ex.shared_items.map((i) => `${i.title || i.asin} (${i.n_seeds})`).join(", "));
  if (ex.shared_categories.length) parts.push("categories: " + ex.shared_categories.map((c) => `${c.category} (${c.n_seeds})`).join(", "));
  if (ex.similar_users.length) parts.push("similar to seeds: " + ex.similar_users.map((u) => u.user_id).join(", "));
  if (ex.entities.length) parts.push("MoKG: " + ex.entities.map((e) => `${e.relation} ${e.name} (${e.n_seeds})`).join(", "));
  return parts.join(" · ");
}

function drawScores(users) {
  const svg = $("score-chart");
  clear(svg);
  if (!users.length) return;
  const w = +svg.getAttribute("width"), h = +svg.getAttribute("height"), pad = 24, bins = 20;
  const scores = users.map((u) => u.score);
  const lo = Math.min(...scores), hi = Math.max(...scores), span = hi - lo || 1;
  const counts = new Array(bins).fill(0);
  for (const s of scores) counts[Math.min(bins - 1, Math.floor(((s - lo) / span) * bins))] += 1;
  const top = Math.max(...counts), bw = (w - 2 * pad) / bins;
  counts.forEach((c, i) => {
    const bh = (c / top) * (h - 2 * pad);
    svg.appendChild(svgEl("rect", { x: pad + i * bw, y: h - pad - bh, width: Math.max(bw - 1, 1), height: bh, class: "bar-score", "data-count": c }));
  });
  svg.appendChild(svgEl("text", { x: pad, y: h - 6 }, lo.toFixed(3)));
  svg.appendChild(svgEl("text", { x: w - pad - 30, y: h - 6 }, hi.toFixed(3)));
  svg.appendChild(svgEl("text", { x: pad, y: 12 }, `${users.length} users, max ${top} per bin`));
}

// bars: the share of the seeds (of the audience) who reviewed items in each category
function drawCategories(categories, nSeeds, nAudience) {
  const svg = $("category-chart");
  clear(svg);
  if (!categories) return;
  const w = +svg.getAttribute("width"), h = +svg.getAttribute("height");
  const share = (list, total) => new Map(list.map((c) => [c.category, c.users / Math.max(total, 1)]));
  const seeds = share(categories.seeds, nSeeds), audience = share(categories.audience, nAudience);
  const names = [...new Set([...seeds.keys(), ...audience.keys()])].slice(0, 8);
  const row = (h - 20) / Math.max(names.length, 1), label = 220, bar = w - label - 10;
  names.forEach((name, i) => {
    const y = 10 + i * row, leaf = name.split(" > ").pop();
    svg.appendChild(svgEl("text", { x: 0, y: y + row / 2 + 3 }, leaf.length > 34 ? leaf.slice(0, 33) + "…" : leaf));
    svg.appendChild(svgEl("rect", { x: label, y, width: bar * (seeds.get(name) || 0), height: row / 2 - 1, class: "bar-seeds" }));
    svg.appendChild(svgEl("rect", { x: label, y: y + row / 2, width: bar * (audience.get(name) || 0), height: row / 2 - 1, class: "bar-audience" }));
  });
  svg.appendChild(svgEl("text", { x: label, y: h - 2 }, "■ seeds (purple)  ■ audience (green): share of users"));
}

$("lookalike-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("lookalike-error").textContent = "";
  $("stats").textContent = "working…";
  const body = { ...seedsFromForm(), k: Number($("k").value), explain: $("explain").checked };
  if ($("method").value) body.method = $("method").value; // empty: the model's recorded default
  try {
    const data = await call("/v1/lookalike", body);
    const s = data.stats;
    let line = `${s.n_returned} users from ${s.n_seeds_found}/${s.n_seeds} seeds found · ${s.method} (${s.method_source}) · model ${data.model_version || "?"} · ${data.took_ms} ms`;
    if (s.unknown_seed_ids.length) line += ` · unknown seeds: ${s.unknown_seed_ids.join(", ")}`;
    $("stats").textContent = line;
    const tbody = $("audience-table").querySelector("tbody");
    clear(tbody);
    for (const u of data.users) {
      const tr = el("tr");
      tr.append(el("td", u.rank, "num"), el("td", u.user_id), el("td", u.score.toFixed(4), "num"), el("td", explanationText(u.explanation), "why"));
      tbody.appendChild(tr);
    }
    drawScores(data.users);
    drawCategories(data.categories, s.n_seeds_found - s.seeds_without_embedding.length, data.users.length);
  } catch (e) {
    $("stats").textContent = "";
    $("lookalike-error").textContent = e.message;
  }
});

// -- read-only Cypher ----------------------------------------------------------------------------------

function cell(v) {
  if (v === null || v === undefined) return "";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

$("cypher-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("cypher-error").textContent = "";
  $("cypher-info").textContent = "running…";
  const table = $("cypher-table"), thead = table.querySelector("thead"), tbody = table.querySelector("tbody");
  clear(thead);
  clear(tbody);
  try {
    const data = await call("/v1/cypher", { query: $("cypher-query").value });
    const hr = el("tr");
    data.columns.forEach((c) => hr.appendChild(el("th", c)));
    thead.appendChild(hr);
    for (const r of data.rows) {
      const tr = el("tr");
      r.forEach((v) => tr.appendChild(el("td", cell(v))));
      tbody.appendChild(tr);
    }
    $("cypher-info").textContent = `${data.rows.length} rows${data.truncated ? " (truncated)" : ""} · ${data.took_ms} ms`;
  } catch (e) {
    $("cypher-info").textContent = "";
    $("cypher-error").textContent = e.message;
  }
});
