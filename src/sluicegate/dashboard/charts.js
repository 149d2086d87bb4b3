// Time-series charts on uPlot (vendor/uPlot.iife.min.js, loaded before the modules as `uPlot`).

export const COLORS = ["#0284c7", "#f59e0b", "#10b981", "#e11d48", "#7c3aed", "#64748b"];

// A chart of `series` ([{label, values, color?, format?}]) over `times` (epoch seconds),
// filling `container` and following its width. Returns the uPlot instance; call its
// `dispose()` when the chart leaves the page. With `xFormat`, the x values are plain numbers
// (e.g. thresholds), shown with it and named `xLabel` in the legend, instead of times. With `utc`, times are shown in UTC (the
// API's day buckets start at 00:00 UTC: in local time they would be labelled with the day before
// or after). The y axis is labelled with `format(value, { step })`, `step` being the spacing of
// its ticks (so that neighbours differ), and is as wide as its longest label.
export function timeChart(container, { times, series, format = (v) => v, height = 220, stacked = false, xFormat = null, xLabel = "x", utc = false }) {
  const width = Math.max(container.clientWidth, 280);
  const when = (v) => (utc ? `${new Date(v * 1000).toLocaleString("en-GB", { timeZone: "UTC" })} UTC` : new Date(v * 1000).toLocaleString());
  const options = {
    width,
    height,
    ...(utc ? { tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC") } : {}),
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
        size: axisSize,
        values: (u, ticks, axis, space, step) => {
          const labels = ticks.map((v) => format(v, { step }));
          container.dataset.yLabels = JSON.stringify(labels); // what the axis shows, for tests
          return labels;
        },
      },
    ],
    series: [
      { label: xFormat ? xLabel : utc ? "Time (UTC)" : "Time", value: (u, v) => (v === null ? "–" : xFormat ? xFormat(v) : when(v)) },
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

// The y axis's width: its ticks, the gap, and its widest label as drawn (uPlot's own is fixed, and
// cut "$0.000020" to ".000020"). uPlot asks again while the ticks settle (the plot's height follows
// the other axes): after its first answer it only grows, so that the rounds end.
function axisSize(u, labels, index, cycle) {
  const axis = u.axes[index];
  let widest = 0;
  if (labels && labels.length) {
    u.ctx.font = axis.font[0];
    widest = Math.max(...labels.map((label) => u.ctx.measureText(String(label ?? "")).width / devicePixelRatio));
  }
  const size = Math.ceil(axis.ticks.size + axis.gap + widest + 4);
  return cycle > 1 ? Math.max(axis._size || 0, size) : size;
}
