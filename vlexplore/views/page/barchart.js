// The Language tab's bar charts (views/page/barchart.py) as one SVG drawn from a plain spec
// (views/charts.py). The SVG scales to the column (viewBox); each bar says its exact value on
// hover (<title>). Each render redraws the SVG inside the same element (a stable key).
const SVG = "http://www.w3.org/2000/svg";
const W = 720, FONT = 12, CHAR = 6.6; // viewBox units; CHAR: a character's width, about
const GAP = 36, LEGEND = 26, TITLE = 26, PANEL_TITLE = 20, LABEL_CHARS = 16;

function make(name, attrs = {}, parent = null, text = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== null) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

// tick labels longer than LABEL_CHARS are cut (the whole label is on hover)
const cut = (label, chars) => (label.length > chars ? label.slice(0, chars - 1) + "…" : label);

function ticks([lo, hi]) {
  const raw = (hi - lo) / 4, step = 10 ** Math.floor(Math.log10(raw));
  const nice = [1, 2, 2.5, 5, 10].map((m) => m * step).find((s) => s >= raw);
  const out = [];
  for (let v = lo; v <= hi + nice * 1e-9; v += nice) out.push(Number(v.toFixed(10)));
  return out;
}

function tickText(v) {
  return Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v)) : String(Number(v.toPrecision(3)));
}

function titled(node, text) {
  make("title", {}, node, text);
  return node;
}

// a vertical panel: grouped bars per category, value axis on the left
function columns(g, panel, x0, width, top, height) {
  const n = panel.categories.length, slots = panel.slots;
  const longest = Math.max(0, ...panel.categories.map((c) => Math.min(c.length, LABEL_CHARS)));
  const left = 40, slot = (width - left) / Math.max(n, 1);
  const tilt = longest * CHAR > slot - 4; // tick labels would overlap: turn them
  const below = tilt ? longest * CHAR * 0.6 + FONT + 6 : FONT + 8;
  const plot = { x: x0 + left, y: top, w: width - left, h: height - below };
  const [lo, hi] = panel.range, y = (v) => plot.y + plot.h * (1 - (Math.min(v, hi) - lo) / (hi - lo || 1));
  for (const t of ticks(panel.range)) {
    make("line", { x1: plot.x, x2: plot.x + plot.w, y1: y(t), y2: y(t), class: "vlx-grid" }, g);
    make("text", { x: plot.x - 4, y: y(t), "text-anchor": "end", "dominant-baseline": "middle" }, g, tickText(t));
  }
  make("text", { x: x0 + 8, y: plot.y + plot.h / 2, "text-anchor": "middle", transform:
                 `rotate(-90 ${x0 + 8} ${plot.y + plot.h / 2})` }, g, panel.value_title);
  const bar = (slot * 0.8) / slots;
  for (const b of panel.bars) {
    const x = plot.x + slot * (b.category + 0.1) + bar * b.slot, v = Number.isFinite(b.value) ? b.value : 0;
    titled(make("rect", { x, y: y(v), width: Math.max(bar - 1, 1), height: plot.y + plot.h - y(v),
                          fill: b.colour, "data-value": b.value }, g), b.hover);
  }
  panel.categories.forEach((c, i) => {
    const x = plot.x + slot * (i + 0.5), yb = plot.y + plot.h + 4;
    const attrs = tilt ? { x, y: yb, "text-anchor": "end", "dominant-baseline": "hanging",
                           transform: `rotate(-35 ${x} ${yb})` }
                       : { x, y: yb, "text-anchor": "middle", "dominant-baseline": "hanging" };
    titled(make("text", { ...attrs, class: "vlx-tick" }, g, cut(c, LABEL_CHARS)), c);
  });
  make("line", { x1: plot.x, x2: plot.x + plot.w, y1: plot.y + plot.h, y2: plot.y + plot.h, class: "vlx-axis" }, g);
}

// a horizontal panel: one bar per category, read top-down, with its label by the bar
function rows(g, panel, x0, width, top, height) {
  const n = panel.categories.length;
  const longest = Math.max(1, ...panel.categories.map((c) => Math.min(c.length, 12)));
  const left = longest * CHAR + 6, below = FONT + 8;
  const plot = { x: x0 + left, y: top, w: width - left, h: height - below };
  const [lo, hi] = panel.range, x = (v) => plot.x + (plot.w * (Math.min(v, hi) - lo)) / (hi - lo || 1);
  const step = plot.h / Math.max(n, 1);
  for (const t of ticks(panel.range)) {
    make("line", { x1: x(t), x2: x(t), y1: plot.y, y2: plot.y + plot.h, class: "vlx-grid" }, g);
    make("text", { x: x(t), y: plot.y + plot.h + 4, "text-anchor": "middle", "dominant-baseline": "hanging" },
         g, tickText(t));
  }
  for (const b of panel.bars) {
    const yb = plot.y + step * (b.category + 0.15), end = x(Number.isFinite(b.value) ? b.value : 0);
    titled(make("rect", { x: plot.x, y: yb, width: end - plot.x, height: step * 0.7, fill: b.colour,
                          "data-value": b.value }, g), b.hover);
    if (!b.text) continue;
    const room = plot.x + plot.w - end, needs = b.text.length * CHAR * 0.9 + 4; // the label's size is 0.9em
    const inside = room < needs;
    make("text", { x: inside ? end - 3 : end + 3, y: yb + step * 0.35, "dominant-baseline": "middle",
                   "text-anchor": inside ? "end" : "start", class: inside ? "vlx-in" : "vlx-out" }, g, b.text);
  }
  panel.categories.forEach((c, i) => {
    titled(make("text", { x: plot.x - 4, y: plot.y + step * (i + 0.5), "text-anchor": "end",
                          "dominant-baseline": "middle", class: "vlx-tick" }, g, cut(c, 12)), c);
  });
  make("line", { x1: plot.x, x2: plot.x, y1: plot.y, y2: plot.y + plot.h, class: "vlx-axis" }, g);
}

function draw(data) {
  const panels = data.panels, horizontal = panels.length && panels[0].horizontal;
  const most = Math.max(1, ...panels.map((p) => p.categories.length));
  const plotHeight = horizontal ? most * 22 + FONT + 8 : 240;
  const top = (data.title ? TITLE : 4) + PANEL_TITLE;
  const height = top + plotHeight + (data.legend.length ? LEGEND : 6);
  const svg = make("svg", { class: "vlx-chart", viewBox: `0 0 ${W} ${height}`, "font-size": FONT,
                            role: "img", "aria-label": data.title || panels.map((p) => p.title).join(", ") });
  if (data.title) make("text", { x: 4, y: 16, class: "vlx-title" }, svg, data.title);
  const width = (W - GAP * (panels.length - 1)) / Math.max(panels.length, 1);
  panels.forEach((panel, i) => {
    const x0 = i * (width + GAP), g = make("g", { class: "vlx-panel" }, svg);
    make("text", { x: x0 + width / 2, y: top - 8, "text-anchor": "middle", class: "vlx-panel-title" }, g, panel.title);
    (panel.horizontal ? rows : columns)(g, panel, x0, width, top, plotHeight);
  });
  let x = 40;
  for (const item of data.legend) {
    const g = make("g", { class: "vlx-legend" }, svg), y = top + plotHeight + 10;
    make("rect", { x, y, width: 12, height: 12, fill: item.colour }, g);
    make("text", { x: x + 16, y: y + 6, "dominant-baseline": "middle" }, g, item.name);
    x += 16 + item.name.length * CHAR + 20;
  }
  return svg;
}

export default function (component) {
  const { data, parentElement } = component;
  const old = parentElement.querySelector("svg.vlx-chart");
  const svg = draw(data);
  if (old) old.replaceWith(svg);
  else parentElement.appendChild(svg);
}
