// Usage.jsx - the usage dashboard: cost and tokens over time (uPlot), tables
// by model, user and agent, a date range and CSV export. Totals are the
// server's exact decimal strings; sums shown here use exact BigInt math.
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import * as api from '../api.js';
import { ErrorAlert, Icon, Loading } from '../components/ui.jsx';
import { formatTokens, formatUsd, toPico } from '../format.js';

const day = (d) => d.toISOString().slice(0, 10);
const num = (v) => Number(v || 0);
const tokensOf = (r) => num(r.input_tokens) + num(r.output_tokens);

function Chart({ rows }) {
  const ref = useRef(null);
  useEffect(() => {
    if (!ref.current || rows.length === 0) return undefined;
    const sorted = [...rows].sort((a, b) => String(a.key).localeCompare(String(b.key)));
    const xs = sorted.map((r) => Date.parse(r.key || r.day) / 1000);
    // uPlot needs numbers; chart precision is enough here, the tables stay exact
    const cost = sorted.map((r) => Number(toPico(r.cost_usd) || 0n) / 1e12);
    const tokens = sorted.map(tokensOf);
    const css = getComputedStyle(document.documentElement);
    const fg = css.getPropertyValue('--muted-fg').trim();
    const grid = css.getPropertyValue('--border').trim();
    const axis = { stroke: fg, grid: { stroke: grid }, ticks: { stroke: grid } };
    const plot = new uPlot(
      {
        width: ref.current.clientWidth || 600,
        height: 260,
        scales: { x: { time: true }, usd: {}, tok: {} },
        series: [
          {},
          { label: 'Cost (USD)', scale: 'usd', stroke: '#2563eb', width: 2, fill: 'rgba(37,99,235,.08)', value: (u, v) => (v == null ? '—' : '$' + v.toFixed(6)) },
          { label: 'Tokens', scale: 'tok', stroke: '#16a34a', width: 2 },
        ],
        axes: [axis, { ...axis, scale: 'usd', values: (u, vals) => vals.map((v) => '$' + v) }, { ...axis, scale: 'tok', side: 1, grid: { show: false } }],
      },
      [xs, cost, tokens],
      ref.current,
    );
    const ro = new ResizeObserver(() => plot.setSize({ width: ref.current.clientWidth, height: 260 }));
    ro.observe(ref.current);
    return () => { ro.disconnect(); plot.destroy(); };
  }, [rows]);
  if (rows.length === 0) return <p class="muted">No usage in this period.</p>;
  return <div class="chart" ref={ref} role="img" aria-label="Cost and tokens per day" />;
}

function Table({ title, rows, testid }) {
  return (
    <section class="card stack" aria-labelledby={`t-${testid}`}>
      <h2 id={`t-${testid}`}>{title}</h2>
      {rows.length === 0 ? <p class="muted small" style="margin:0">No usage in this period.</p> : (
        <div style="overflow:auto">
          <table class="table" data-testid={testid}>
            <thead><tr><th>{title.replace('By ', '')}</th><th class="num">Requests</th><th class="num">Input</th><th class="num">Output</th><th class="num">Cost</th></tr></thead>
            <tbody>
              {rows.map((r) => (
                <tr>
                  <td>{r.label || r.name || r.email || r.key || '—'}</td>
                  <td class="num">{r.requests ?? '—'}</td>
                  <td class="num">{formatTokens(num(r.input_tokens))}</td>
                  <td class="num">{formatTokens(num(r.output_tokens))}</td>
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
  const [range, setRange] = useState({ from: day(new Date(today.getTime() - 29 * 86400000)), to: day(today) });
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);

  useEffect(() => {
    let stale = false;
    setData(null);
    setError(null);
    const q = (groupBy) => api.usage(orgId, { ...range, groupBy });
    Promise.all([q('day'), q('model'), q('user'), q('agent')]).then(
      ([d, m, u, a]) => !stale && setData({ totals: m.totals, days: d.rows, models: m.rows, users: u.rows, agents: a.rows }),
      (e) => !stale && setError(e),
    );
    return () => { stale = true; };
  }, [orgId, range.from, range.to]);

  const t = (data && data.totals) || {};
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
              <div class="grid2" style="grid-template-columns:repeat(auto-fit,minmax(160px,1fr))">
                <div class="card stat"><span class="muted small">Total cost</span><b data-testid="total-cost" data-usd={t.cost_usd}>{formatUsd(t.cost_usd || '0')}</b></div>
                <div class="card stat"><span class="muted small">Requests</span><b data-testid="total-requests">{t.requests ?? 0}</b></div>
                <div class="card stat"><span class="muted small">Input tokens</span><b>{formatTokens(num(t.input_tokens))}</b></div>
                <div class="card stat"><span class="muted small">Output tokens</span><b>{formatTokens(num(t.output_tokens))}</b></div>
              </div>
              <section class="card stack" aria-labelledby="chart-h"><h2 id="chart-h">Cost and tokens per day</h2><Chart rows={data.days} /></section>
              <Table title="By model" rows={data.models} testid="usage-models" />
              <Table title="By user" rows={data.users} testid="usage-users" />
              <Table title="By agent" rows={data.agents} testid="usage-agents" />
            </>
          )}
        </div>
      </div>
    </>
  );
}
