// Time-series charts on uPlot (vendor/uPlot.iife.min.js, loaded before the modules as `uPlot`).

export const COLORS = ["#0284c7", "#f59e0b", "#10b981", "#e11d48", "#7c3aed", "#64748b"];

// A chart of `series` ([{label, values, color?, format?}]) over `times` (epoch seconds),
// filling `container` and following its width. Returns the uPlot instance; call its
// `dispose()` when the chart leaves the page. With `xFormat`, the x values are plain numbers
// (e.g. thresholds), shown with it, instead of times.
export function timeChart(container, { times, series, format = (v) => v, height = 220, stacked = false, xFormat = null }) {
  const width = Math.max(container.clientWidth, 280);
  const options = {
    width,
    height,
    legend: { live: true },
    cursor: { drag: { x: false, y: false }, points: { size: 6 } },
    scales: { x: { time: !xFormat }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
    axes: [
      {
        stroke: "#64748b",
        grid: { stroke: "#eef2f6" },
        ticks: { stroke: "#e2e8f0" },
        ...(xFormat ? { values: (u, ticks) => ticks.map(xFormat) } : {}),
      },
      {
        stroke: "#64748b",
        grid: { stroke: "#eef2f6" },
        ticks: { stroke: "#e2e8f0" },
        size: 64,
        values: (u, ticks) => ticks.map(format),
      },
    ],
    series: [
      { value: (u, v) => (v === null ? "–" : xFormat ? xFormat(v) : new Date(v * 1000).toLocaleString()) },
      ...series.map((s, i) => {
        const color = s.color || COLORS[i % COLORS.length];
        return {
          label: s.label,
          stroke: color,
          width: 2,
          fill: stacked || series.length === 1 ? `${color}22` : undefined,
          points: { show: times.length < 40 },
          spanGaps: false,
          value: (u, v) => (v === null || v === undefined ? "–" : (s.format || format)(v)),
        };
      }),
    ],
  };
  const data = [times, ...series.map((s) => s.values)];
  const chart = new uPlot(options, data, container);
  const observer = new ResizeObserver(() => {
    const next = Math.max(container.clientWidth, 280);
    if (Math.abs(next - chart.width) > 2) chart.setSize({ width: next, height });
  });
  observer.observe(container);
  chart.dispose = () => {
    observer.disconnect();
    chart.destroy();
  };
  // What was drawn, for tests and for anyone inspecting the page: points, and each line's sum.
  chart.root.dataset.points = String(times.length);
  chart.root.dataset.totals = JSON.stringify(series.map((s) => s.values.reduce((sum, v) => sum + (v || 0), 0)));
  return chart;
}
