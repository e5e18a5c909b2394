// The lifecycle dashboard panel: draws the cards, figures, tables and notes of one filter
// state from the single synced trait `content` = {state, blocks}. Nothing is sent as a
// transient message, so a front end that joins late (or renders slowly) still draws the latest
// state, and cards and figures always come from the same state.
//
// Observable state for tests and users: the root element carries data-state (the filter
// state drawn last) and data-busy ("1" while drawing, "0" once every figure is drawn).

const PLOTLY_SOURCE = __PLOTLY_SOURCE__;

const CONFIG = {
  displaylogo: false,
  responsive: true,
  showSendToCloud: false,
  showEditInChartStudio: false,
  showLink: false,
  modeBarButtonsToRemove: ["sendDataToCloud", "lasso2d", "select2d", "toggleSpikelines"],
  toImageButtonOptions: { format: "png", scale: 2 },
};

function plotly() {
  if (!window.Plotly) {
    // A classic script (plotly.js is UMD, not a module), with AMD hidden so it sets window.Plotly.
    const define = window.define;
    window.define = undefined;
    const script = document.createElement("script");
    script.textContent = PLOTLY_SOURCE;
    document.head.appendChild(script);
    window.define = define;
  }
  return window.Plotly;
}

function element(tag, className, html) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (html !== undefined) node.innerHTML = html;
  return node;
}

function blockElement(block, old) {
  const reuse = old && old.dataset.kind === block.kind ? old : null;
  const node = reuse || element("div");
  node.className = `lc-block lc-${block.kind} lc-${block.kind}-${block.name} lc-width-${block.width}`;
  node.dataset.kind = block.kind;
  node.dataset.name = block.name;
  if (block.kind === "figure") {
    node.dataset.agreesWith = block.agrees_with || "";
    node.dataset.measure = block.measure || "";
  } else {
    node.innerHTML = block.html;
  }
  return node;
}

async function draw(root, content) {
  root.dataset.busy = "1";
  const Plotly = plotly();
  const old = new Map(Array.from(root.children, (child) => [child.dataset.name, child]));
  const nodes = (content.blocks || []).map((block) => blockElement(block, old.get(block.name)));
  root.replaceChildren(...nodes);
  const drawn = (content.blocks || []).map((block, i) =>
    block.kind === "figure"
      ? Plotly.react(nodes[i], block.figure.data, block.figure.layout, CONFIG)
      : null);
  await Promise.all(drawn);
  root.dataset.state = content.state || "";
}

function render({ model, el }) {
  const root = element("div", "lc-panel");
  root.dataset.state = "";
  root.dataset.busy = "1";
  el.appendChild(root);
  // Draws run one after another, each drawing the content current when it starts; the last
  // one to finish is always the latest state.
  let queue = Promise.resolve();
  let pending = 0;
  const redraw = () => {
    pending += 1;
    queue = queue
      .then(() => draw(root, model.get("content")))
      .catch((error) => {
        root.replaceChildren(element("div", "lc-error", `Could not draw this view: ${error}`));
        console.error(error);
      })
      .finally(() => {
        pending -= 1;
        if (pending === 0) root.dataset.busy = "0";
      });
  };
  model.on("change:content", redraw);
  redraw();
  return () => model.off("change:content", redraw);
}

export default { render };
