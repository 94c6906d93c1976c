// Port lists as Linkerd's annotations write them (`config.linkerd.io/opaque-ports: "25,587,4000-4100"`):
// read once into ranges, asked per port.

export type PortRanges = ReadonlyArray<readonly [number, number]>;

/** `25, 587,4000-4100` -> ranges; undefined when any entry is not a port or an ordered range. */
export function parsePortRanges(value: string): PortRanges | undefined {
  const entries = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (entries.length === 0) return undefined;
  const ranges: Array<[number, number]> = [];
  for (const entry of entries) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(entry);
    if (!m) return undefined;
    const low = Number(m[1]);
    const high = m[2] === undefined ? low : Number(m[2]);
    if (low < 1 || high > 65535 || high < low) return undefined;
    ranges.push([low, high]);
  }
  return ranges;
}

export function inPortRanges(port: number, ranges: PortRanges): boolean {
  return ranges.some(([low, high]) => port >= low && port <= high);
}
