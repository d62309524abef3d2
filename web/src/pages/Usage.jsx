// Usage.jsx - the usage dashboard: cost or tokens per day, stacked by model
// (uPlot, from group_by=day,model), a legend with each model's exact total,
// the same series as a table (the chart's text alternative), tables by model,
// user and agent with names, a date range and CSV export. Money stays exact:
// decimal strings summed as BigInt pico-USD; only the chart's drawing uses
// floating point.
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import * as api from '../api.js';
import { ErrorAlert, Icon, Loading } from '../components/ui.jsx';
import { formatPico, formatTokens, formatUsd, toPico } from '../format.js';

const DAY_MS = 86400000;
const MAX_CHART_DAYS = 400; // one point per calendar day up to this range; beyond it, used days only
const COLORS = ['#2563eb', '#16a34a', '#d97706', '#db2777', '#7c3aed', '#0891b2', '#dc2626', '#65a30d', '#ea580c', '#4f46e5'];
const day = (d) => d.toISOString().slice(0, 10);
const num = (v) => Number(v || 0);
const tokensOf = (r) => num(r.input_tokens) + num(r.output_tokens);
const picoToUsdText = (p) => {
  const t = p.toString().padStart(13, '0');
  return `${t.slice(0, -12)}.${t.slice(-12)}`;
};

// day,model rows -> {days:[YYYY-MM-DD], models:[{id, color, costPico, tokens}], cell(day, model) -> row}
export function buildSeries(rows, range) {
  const models = [];
  const byModel = new Map();
  const cells = new Map();
  for (const r of rows) {
    let m = byModel.get(r.model);
    if (!m) {
      m = { id: r.model, costPico: 0n, tokens: 0 };
      byModel.set(r.model, m);
      models.push(m);
    }
    m.costPico += toPico(r.cost_usd) || 0n;
    m.tokens += tokensOf(r);
    cells.set(`${r.day}|${r.model}`, r);
  }
  // biggest spender first: it gets the first colour and the bottom of the stack
  models.sort((a, b) => (a.costPico === b.costPico ? a.id.localeCompare(b.id) : a.costPico > b.costPico ? -1 : 1));
  models.forEach((m, i) => (m.color = COLORS[i % COLORS.length]));
  let days = [];
  const from = Date.parse(range.from), to = Date.parse(range.to);
  if (from <= to && (to - from) / DAY_MS < MAX_CHART_DAYS)
    for (let t = from; t <= to; t += DAY_MS) days.push(day(new Date(t)));
  else days = [...new Set(rows.map((r) => r.day))].sort();
  return { days, models, cell: (d, m) => cells.get(`${d}|${m}`) };
}

function Chart({ series, metric }) {
  const ref = useRef(null);
  useEffect(() => {
    if (!ref.current || series.models.length === 0) return undefined;
    const xs = series.days.map((d) => Date.parse(d) / 1000);
    const valueOf = (r) => (!r ? 0 : metric === 'cost' ? Number(toPico(r.cost_usd) || 0n) / 1e12 : tokensOf(r));
    // stacked: series k holds models 0..k; drawn top first so each band shows its own colour
    const running = xs.map(() => 0);
    const stacked = series.models.map((m) =>
      series.days.map((d, i) => (running[i] += valueOf(series.cell(d, m.id)))),
    );
    const css = getComputedStyle(document.documentElement);
    const fg = css.getPropertyValue('--muted-fg').trim();
    const grid = css.getPropertyValue('--border').trim();
    const axis = { stroke: fg, grid: { stroke: grid }, ticks: { stroke: grid } };
    const order = series.models.map((m, k) => k).reverse();
    // tick labels: as many decimals as the tick step needs (costs of a few micro-dollars)
    const fmt = metric === 'cost'
      ? (v) => (v === 0 ? '$0' : '$' + (Math.abs(v) >= 0.01 ? v.toFixed(2) : v.toFixed(Math.min(12, 1 - Math.floor(Math.log10(Math.abs(v)))))))
      : (v) => formatTokens(v);
    const height = () => (ref.current.clientWidth < 480 ? 200 : 260);
    const plot = new uPlot(
      {
        width: ref.current.clientWidth || 600,
        height: height(),
        legend: { show: false }, // our own legend shows exact totals
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true } },
        series: [
          {},
          ...order.map((k) => ({
            label: series.models[k].id,
            stroke: series.models[k].color,
            fill: series.models[k].color + '99',
            width: 1.5,
            points: { show: xs.length < 3 },
          })),
        ],
        axes: [
          axis,
          {
            ...axis,
            values: (u, vals) => vals.map(fmt),
            // wide enough for the longest label ("$0.000025" is not cut off)
            size: (u, values) => 18 + 7 * Math.max(4, ...(values || []).map((v) => String(v).length)),
          },
        ],
      },
      [xs, ...order.map((k) => stacked[k])],
      ref.current,
    );
    const ro = new ResizeObserver(() => ref.current && plot.setSize({ width: ref.current.clientWidth, height: height() }));
    ro.observe(ref.current);
    return () => { ro.disconnect(); plot.destroy(); };
  }, [series, metric]);
  if (series.models.length === 0) return <p class="muted">No usage in this period.</p>;
  const label = `${metric === 'cost' ? 'Cost' : 'Tokens'} per day, stacked by model: ` +
    series.models.map((m) => `${m.id} ${metric === 'cost' ? formatPico(m.costPico) : formatTokens(m.tokens)}`).join(', ');
  return <div class="chart" ref={ref} role="img" aria-label={label} data-testid="usage-chart" />;
}

function Legend({ series, metric }) {
  return (
    <ul class="legend" aria-label="Models in the chart" data-testid="usage-legend">
      {series.models.map((m) => (
        <li data-model={m.id} data-usd={picoToUsdText(m.costPico)}>
          <span class="swatch" style={`background:${m.color}`} aria-hidden="true" />
          <span>{m.id}</span>
          <b class="num">{metric === 'cost' ? formatPico(m.costPico) : formatTokens(m.tokens)}</b>
        </li>
      ))}
    </ul>
  );
}

// The chart's data as a table (for screen readers and exact figures).
function SeriesTable({ series }) {
  const used = series.days.filter((d) => series.models.some((m) => series.cell(d, m.id)));
  return (
    <details>
      <summary class="small">Chart data by day and model</summary>
      <div style="overflow:auto">
        <table class="table" data-testid="usage-series">
          <thead><tr><th>Day</th><th>Model</th><th class="num">Requests</th><th class="num">Tokens</th><th class="num">Cost</th></tr></thead>
          <tbody>
            {used.flatMap((d) => series.models.filter((m) => series.cell(d, m.id)).map((m) => {
              const r = series.cell(d, m.id);
              return (
                <tr data-day={d} data-model={m.id}>
                  <td>{d}</td><td>{m.id}</td><td class="num">{r.requests}</td>
                  <td class="num">{formatTokens(tokensOf(r))}</td>
                  <td class="num" data-cost={r.cost_usd}>{formatUsd(r.cost_usd)}</td>
                </tr>
              );
            }))}
          </tbody>
        </table>
      </div>
    </details>
  );
}

// label: what the row is (name, e-mail, model); sub: a second line (e-mail under a name)
function Table({ title, head, rows, testid, label, sub }) {
  return (
    <section class="card stack" aria-labelledby={`t-${testid}`}>
      <h2 id={`t-${testid}`}>{title}</h2>
      {rows.length === 0 ? <p class="muted small" style="margin:0">No usage in this period.</p> : (
        <div style="overflow:auto">
          <table class="table" data-testid={testid}>
            <thead><tr><th>{head}</th><th class="num">Requests</th><th class="num hide-phone">Input</th><th class="num hide-phone">Output</th><th class="num">Cost</th></tr></thead>
            <tbody>
              {rows.map((r) => (
                <tr data-key={r.key} data-id={r.id}>
                  <td><div style="font-weight:500">{label(r)}</div>{sub && sub(r) && <div class="small muted">{sub(r)}</div>}</td>
                  <td class="num">{r.requests ?? '—'}</td>
                  <td class="num hide-phone">{formatTokens(num(r.input_tokens))}</td>
                  <td class="num hide-phone">{formatTokens(num(r.output_tokens))}</td>
                  <td class="num" data-cost={r.cost_usd}>{formatUsd(r.cost_usd)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function UsagePage({ ctx }) {
  const orgId = ctx.user.orgId;
  const today = new Date();
  const [range, setRange] = useState({ from: day(new Date(today.getTime() - 29 * DAY_MS)), to: day(today) });
  const [metric, setMetric] = useState('cost');
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);

  useEffect(() => {
    let stale = false;
    setData(null);
    setError(null);
    const q = (groupBy) => api.usage(orgId, { ...range, groupBy });
    Promise.all([q('day,model'), q('model'), q('user'), q('agent')]).then(
      ([dm, m, u, a]) => !stale && setData({ totals: m.totals, series: buildSeries(dm.rows, range), models: m.rows, users: u.rows, agents: a.rows }),
      (e) => !stale && setError(e),
    );
    return () => { stale = true; };
  }, [orgId, range.from, range.to]);

  const t = (data && data.totals) || {};
  const modelName = (ref) => (ctx.models.models.find((m) => m.id === ref) || {}).name || ref;
  return (
    <>
      <header class="topbar">
        <button class="btn ghost icon menu-btn" aria-label="Open menu" onClick={ctx.onMenu}><Icon name="menu" /></button>
        <h1 class="title" style="font-size:15px;margin:0">Usage</h1>
        <span class="spacer" />
        <a class="btn sm" href={api.usageCsvUrl(orgId, { ...range, groupBy: 'model' })} download="usage.csv">Export CSV</a>
      </header>
      <div class="page">
        <div class="page-inner">
          <form class="row wrap" onSubmit={(e) => e.preventDefault()} aria-label="Date range">
            <label class="field"><span>From</span><input class="input" type="date" value={range.from} max={range.to} onChange={(e) => setRange({ ...range, from: e.currentTarget.value })} /></label>
            <label class="field"><span>To</span><input class="input" type="date" value={range.to} min={range.from} onChange={(e) => setRange({ ...range, to: e.currentTarget.value })} /></label>
          </form>
          <ErrorAlert error={error} />
          {!data && !error && <Loading lines={6} />}
          {data && (
            <>
              <div class="grid2" style="grid-template-columns:repeat(auto-fit,minmax(140px,1fr))">
                <div class="card stat"><span class="muted small">Total cost</span><b data-testid="total-cost" data-usd={t.cost_usd}>{formatUsd(t.cost_usd || '0')}</b></div>
                <div class="card stat"><span class="muted small">Requests</span><b data-testid="total-requests">{t.requests ?? 0}</b></div>
                <div class="card stat"><span class="muted small">Input tokens</span><b>{formatTokens(num(t.input_tokens))}</b></div>
                <div class="card stat"><span class="muted small">Output tokens</span><b>{formatTokens(num(t.output_tokens))}</b></div>
              </div>
              <section class="card stack" aria-labelledby="chart-h">
                <div class="row wrap">
                  <h2 id="chart-h" style="margin:0">{metric === 'cost' ? 'Cost' : 'Tokens'} per day by model</h2>
                  <span class="spacer" />
                  <div class="chart-tabs" role="group" aria-label="Chart metric">
                    <button class={'btn sm' + (metric === 'cost' ? ' primary' : ' ghost')} aria-pressed={metric === 'cost'} onClick={() => setMetric('cost')}>Cost</button>
                    <button class={'btn sm' + (metric === 'tokens' ? ' primary' : ' ghost')} aria-pressed={metric === 'tokens'} onClick={() => setMetric('tokens')}>Tokens</button>
                  </div>
                </div>
                <Chart series={data.series} metric={metric} />
                <Legend series={data.series} metric={metric} />
                {data.series.models.length > 0 && <SeriesTable series={data.series} />}
              </section>
              <Table title="By model" head="Model" rows={data.models} testid="usage-models"
                label={(r) => modelName(r.key)} sub={(r) => (modelName(r.key) !== r.key ? r.key : '')} />
              <Table title="By user" head="User" rows={data.users} testid="usage-users"
                label={(r) => r.name || r.key || 'unknown user'} sub={(r) => (r.name && r.name !== r.key ? r.key : '')} />
              <Table title="By agent" head="Agent" rows={data.agents} testid="usage-agents"
                label={(r) => (r.id ? r.name || r.key : 'No agent')} />
            </>
          )}
        </div>
      </div>
    </>
  );
}
