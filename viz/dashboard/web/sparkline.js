// A ten-minute sparkline of one deployment's RPS (uPlot, drawn on a canvas: no markup at all).
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { html } from './html.js';

export function Sparkline({ series, colour }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    plot.current = new uPlot({
      width: 140, height: 28, pxAlign: false,
      cursor: { show: false }, legend: { show: false }, select: { show: false },
      scales: { x: { time: false }, y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } },
      axes: [{ show: false }, { show: false }],
      series: [{}, { stroke: colour, width: 1.5, fill: `${colour}33`, points: { show: false } }],
    }, [[], []], box.current);
    return () => plot.current.destroy();
  }, []);
  useEffect(() => {
    if (plot.current && series) plot.current.setData([series.t, series.rps]);
  }, [series]);
  return html`<div class="sparkline" ref=${box}></div>`;
}
