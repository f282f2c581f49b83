// The stage graph laid out in layers by longest path over `after`: a stage's
// layer is one more than the deepest of the stages it comes after, so every
// edge points to the right and fan-out and fan-in are visible as such.
// Nothing here knows about statuses: it only places boxes and edges.

export const node_w = 164;
export const node_h = 116;
const gap_x = 36;
const gap_y = 20;
const pad = 12;

export function layout(spec_stages) {
  const by_name = new Map(spec_stages.map((s, i) => [s.name, i]));
  const layer = new Array(spec_stages.length).fill(-1);
  // The spec is checked acyclic by the server; the bound only guards a loop.
  const depth = (i, seen) => {
    if (layer[i] >= 0) return layer[i];
    if (seen > spec_stages.length) return 0;
    let d = 0;
    for (const a of spec_stages[i].after || []) {
      const j = by_name.get(a);
      if (j !== undefined) d = Math.max(d, depth(j, seen + 1) + 1);
    }
    layer[i] = d;
    return d;
  };
  spec_stages.forEach((_, i) => depth(i, 0));
  const columns = [];
  spec_stages.forEach((s, i) => {
    (columns[layer[i]] ||= []).push(i);
  });
  const tallest = Math.max(1, ...columns.map((c) => c.length));
  const height = pad * 2 + tallest * node_h + (tallest - 1) * gap_y;
  const pos = new Array(spec_stages.length);
  columns.forEach((col, x) => {
    // Each column is centred, so that a fan-in sits between its sources.
    const col_h = col.length * node_h + (col.length - 1) * gap_y;
    const top = pad + (height - pad * 2 - col_h) / 2;
    col.forEach((i, y) => {
      pos[i] = { x: pad + x * (node_w + gap_x), y: top + y * (node_h + gap_y) };
    });
  });
  const edges = [];
  spec_stages.forEach((s, i) => {
    for (const a of s.after || []) {
      const j = by_name.get(a);
      if (j === undefined) continue;
      const from = pos[j], to = pos[i];
      const x1 = from.x + node_w, y1 = from.y + node_h / 2, x2 = to.x, y2 = to.y + node_h / 2;
      const mid = (x1 + x2) / 2;
      edges.push({ from: a, to: s.name, d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2 - 6},${y2}` });
    }
  });
  const width = pad * 2 + columns.length * node_w + Math.max(0, columns.length - 1) * gap_x;
  return { pos, edges, width, height };
}
