// A fixed layered layout for the topology: each deployment's column is the longest chain of
// callers before it (so the ingress, which nobody calls, sits on the left), rows in name order.
// A handful of deployments needs no graph-layout library.

export const NODE = { width: 150, height: 40, columnGap: 110, rowGap: 36, margin: 24 };

/** `nodes`: keys `namespace/name`; `links`: [{from, to}]. Returns positions and the drawing's size. */
export function layeredLayout(nodes, links) {
  const column = new Map(nodes.map((n) => [n, 0]));
  // Longest path by relaxation; a cycle stops growing after nodes.length rounds.
  for (let round = 0; round < nodes.length; round++) {
    let moved = false;
    for (const { from, to } of links) {
      if (from === to || !column.has(from) || !column.has(to)) continue;
      if (column.get(to) < column.get(from) + 1) {
        column.set(to, column.get(from) + 1);
        moved = true;
      }
    }
    if (!moved) break;
  }
  const columns = [];
  for (const n of [...nodes].sort((a, b) => a.localeCompare(b))) {
    const c = column.get(n);
    (columns[c] ??= []).push(n);
  }
  const tallest = Math.max(1, ...columns.map((c) => c?.length ?? 0));
  const height = NODE.margin * 2 + tallest * NODE.height + (tallest - 1) * NODE.rowGap;
  const positions = new Map();
  columns.forEach((names, c) => {
    if (!names) return;
    const used = names.length * NODE.height + (names.length - 1) * NODE.rowGap;
    names.forEach((n, i) => {
      positions.set(n, {
        x: NODE.margin + c * (NODE.width + NODE.columnGap),
        y: (height - used) / 2 + i * (NODE.height + NODE.rowGap),
      });
    });
  });
  const width = NODE.margin * 2 + columns.length * NODE.width + Math.max(0, columns.length - 1) * NODE.columnGap;
  return { positions, width, height };
}
