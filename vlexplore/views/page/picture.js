// The example's picture (views/page/picture.py): the image and its outlines as one SVG that
// each render updates in place (the same DOM node: a changed plotly chart would be a new chart,
// drawn from scratch). Every outline says what it is on hover; a click on a region returns it
// ("region"), a drag returns the rectangle in image pixels ("box").
const SVG = "http://www.w3.org/2000/svg";
const DASH = { solid: "none", dash: "6 4", dot: "2 3" }; // screen pixels (strokes do not scale)
const CLICK_PX = 4; // a press that moves less than this is a click, not a drag

function make(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

function titled(node, text) {
  let title = node.firstElementChild;
  if (!title) title = make("title", {}, node);
  if (title.textContent !== text) title.textContent = text;
}

// `count` rects in `group`, reusing the ones already there
function rects(group, count) {
  while (group.childElementCount > count) group.lastElementChild.remove();
  while (group.childElementCount < count) make("rect", { "vector-effect": "non-scaling-stroke" }, group);
  return Array.from(group.children);
}

function place(rect, [x0, y0, x1, y1]) {
  rect.setAttribute("x", x0);
  rect.setAttribute("y", y0);
  rect.setAttribute("width", Math.max(0, x1 - x0));
  rect.setAttribute("height", Math.max(0, y1 - y0));
}

// the outer svg is in screen pixels (the badge's text keeps its size), the inner one (`scene`)
// in image pixels, fitted to the outer one
function build(parent) {
  const svg = make("svg", { class: "vlx-picture" }, parent);
  const scene = (svg.scene = make("svg", { class: "vlx-scene", width: "100%", height: "100%",
                                           preserveAspectRatio: "xMidYMid meet" }, svg));
  svg.image = make("image", { preserveAspectRatio: "none" }, scene);
  svg.hits = make("g", { class: "vlx-hits" }, scene); // one invisible rect per clickable region
  svg.outlines = make("g", { class: "vlx-outlines" }, scene);
  svg.rubber = make("rect", { class: "vlx-rubber", "vector-effect": "non-scaling-stroke" }, scene);
  svg.badge = make("g", { class: "vlx-badge" }, svg);
  svg.badgeBox = make("rect", {}, svg.badge);
  svg.badgeText = make("text", { "dominant-baseline": "hanging" }, svg.badge);
  new ResizeObserver(() => layout(svg)).observe(svg);
  let press = null;
  const point = (event) => {
    const p = svg.createSVGPoint();
    p.x = event.clientX;
    p.y = event.clientY;
    return p.matrixTransform(scene.getScreenCTM().inverse());
  };
  svg.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    press = { x: event.clientX, y: event.clientY, at: point(event), target: event.target };
    svg.setPointerCapture(event.pointerId);
    event.preventDefault();
  });
  svg.addEventListener("pointermove", (event) => {
    if (!press || !svg.data.drag) return;
    const at = point(event);
    place(svg.rubber, [Math.min(press.at.x, at.x), Math.min(press.at.y, at.y),
                       Math.max(press.at.x, at.x), Math.max(press.at.y, at.y)]);
    svg.rubber.style.display = "inline";
  });
  svg.addEventListener("pointerup", (event) => {
    if (!press) return;
    const start = press;
    press = null;
    svg.rubber.style.display = "none";
    const moved = Math.max(Math.abs(event.clientX - start.x), Math.abs(event.clientY - start.y));
    if (moved < CLICK_PX) {
      const hit = start.target.closest ? start.target.closest("[data-region]") : null;
      if (hit) svg.send("region", Number(hit.getAttribute("data-region")));
    } else if (svg.data.drag) {
      const at = point(event);
      svg.send("box", [start.at.x, start.at.y, at.x, at.y]);
    }
  });
  svg.addEventListener("pointercancel", () => {
    press = null;
    svg.rubber.style.display = "none";
  });
  return svg;
}

function update(svg, data) {
  const { width, height } = data;
  svg.scene.setAttribute("viewBox", `-0.5 -0.5 ${width} ${height}`);
  svg.style.height = `${data.display_height}px`;
  svg.classList.toggle("vlx-drag", data.drag);
  if (svg.image.getAttribute("href") !== data.src) svg.image.setAttribute("href", data.src);
  place(svg.image, [-0.5, -0.5, width - 0.5, height - 0.5]);
  const clickable = new Set(data.clickable);
  const outlines = data.outlines;
  rects(svg.outlines, outlines.length).forEach((rect, i) => {
    const o = outlines[i];
    place(rect, o.box);
    rect.setAttribute("stroke", o.colour);
    rect.setAttribute("stroke-width", o.width);
    rect.setAttribute("stroke-dasharray", DASH[o.dash] || "none");
    rect.setAttribute("data-dash", o.dash);
    const pick = o.region !== null && clickable.has(o.region);
    if (pick) rect.setAttribute("data-region", o.region);
    else rect.removeAttribute("data-region");
    titled(rect, pick ? `${o.name} · click: its classes` : o.name);
  });
  // the regions a click picks, largest first so that a smaller region inside a larger one is on top
  const boxes = new Map();
  for (const o of outlines) if (o.region !== null && clickable.has(o.region)) boxes.set(o.region, o.box);
  const area = ([x0, y0, x1, y1]) => (x1 - x0) * (y1 - y0);
  const hits = Array.from(boxes.entries()).sort((a, b) => area(b[1]) - area(a[1]));
  rects(svg.hits, hits.length).forEach((rect, i) => {
    const [region, box] = hits[i];
    place(rect, box);
    rect.setAttribute("data-region", region);
    titled(rect, `region ${region} · click: its classes`);
  });
  layout(svg);
}

// fit the scene (image pixels) into the outer svg (its viewport clips outlines that leave the
// image, as plotly's axes did), and place the MRC target's label inside its box's top-left
// corner at `font_px` screen pixels
function layout(svg) {
  const data = svg.data, badge = data && data.badge;
  const shown = svg.getBoundingClientRect();
  svg.badge.style.display = "none";
  if (!data || !shown.width) return;
  const scale = Math.min(shown.width / data.width, shown.height / data.height);
  const left = (shown.width - data.width * scale) / 2, top = (shown.height - data.height * scale) / 2;
  svg.scene.setAttribute("x", left);
  svg.scene.setAttribute("y", top);
  svg.scene.setAttribute("width", data.width * scale);
  svg.scene.setAttribute("height", data.height * scale);
  if (!badge) return;
  svg.badge.style.display = "inline";
  const x = left + badge.x * scale, y = top + badge.y * scale, font = data.font_px; // the box's outer edge
  svg.badgeText.textContent = badge.text;
  svg.badgeText.setAttribute("x", x + 2);
  svg.badgeText.setAttribute("y", y + 2);
  svg.badgeText.setAttribute("font-size", font);
  const text = svg.badgeText.getComputedTextLength() || font * 0.6 * badge.text.length;
  place(svg.badgeBox, [x, y, x + text + 4, y + font * 1.2 + 2]);
  svg.badgeBox.setAttribute("fill", data.badge_colour);
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const svg = parentElement.querySelector("svg.vlx-picture") || build(parentElement);
  svg.data = data;
  svg.send = setTriggerValue; // the latest render's
  update(svg, data);
}
