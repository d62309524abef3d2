// format.js - display helpers: money (exact, from decimal strings, via BigInt),
// token counts, prices, latency and dates. No floating point touches money so
// figures shown equal the server's ledger to the last digit.

// "0.150000" -> micro-USD as BigInt (6 decimals, extra digits truncated).
export function toMicro(dec) {
  if (dec === null || dec === undefined || dec === '') return null;
  const s = String(dec).trim();
  const m = /^(-?)(\d*)(?:\.(\d*))?$/.exec(s);
  if (!m) return null;
  const frac = ((m[3] || '') + '000000').slice(0, 6);
  const v = BigInt(m[2] || '0') * 1000000n + BigInt(frac);
  return m[1] ? -v : v;
}

// "0.000123456789" -> pico-USD BigInt (12 decimals).
export function toPico(dec) {
  if (dec === null || dec === undefined || dec === '') return null;
  const s = String(dec).trim();
  const m = /^(-?)(\d*)(?:\.(\d*))?$/.exec(s);
  if (!m) return null;
  const frac = ((m[3] || '') + '000000000000').slice(0, 12);
  const v = BigInt(m[2] || '0') * 1000000000000n + BigInt(frac);
  return m[1] ? -v : v;
}

// Pico-USD BigInt -> "$0.000123" with enough digits to show small costs.
export function formatPico(pico) {
  if (pico === null || pico === undefined) return '—';
  const neg = pico < 0n;
  let v = neg ? -pico : pico;
  const whole = v / 1000000000000n;
  const frac = (v % 1000000000000n).toString().padStart(12, '0');
  // cents for >= $1, 4 significant decimals below that, 6 digits minimum
  let digits;
  if (whole >= 1n) digits = 2;
  else {
    const firstNonZero = frac.search(/[1-9]/);
    digits = firstNonZero < 0 ? 2 : Math.min(12, Math.max(4, firstNonZero + 3));
  }
  let shown = frac.slice(0, digits).replace(/0+$/, '');
  if (shown.length < 2) shown = shown.padEnd(2, '0');
  return `${neg ? '-' : ''}$${whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${shown}`;
}

export const formatUsd = (dec) => formatPico(toPico(dec));

// Exact decimal string sum of decimal strings (for totals).
export function sumUsd(values) {
  let t = 0n;
  for (const v of values) t += toPico(v) || 0n;
  return t;
}

// Price per 1M tokens ("0.15") -> "$0.15"
export function formatPrice(dec) {
  const micro = toMicro(dec);
  if (micro === null) return '—';
  if (micro === 0n) return 'free';
  return formatPico(micro * 1000000n);
}

export function formatTokens(n) {
  if (n === null || n === undefined) return '—';
  if (n >= 1000000) return (n / 1000000).toFixed(n % 1000000 ? 1 : 0) + 'M';
  if (n >= 1000) return (n / 1000).toFixed(n % 1000 && n < 10000 ? 1 : 0) + 'k';
  return String(n);
}

export function formatMs(ms) {
  if (ms === null || ms === undefined || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 1 : 0)} s`;
}

export function formatDate(ms) {
  if (!ms) return '';
  const d = new Date(typeof ms === 'number' ? ms : Date.parse(ms));
  const now = new Date();
  if (d.toDateString() === now.toDateString())
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return d.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

// Rough token count of a draft, as the gateway's local estimator does (~4 bytes/token).
export function estimateTokens(text) {
  if (!text) return 0;
  return Math.ceil(new TextEncoder().encode(text).length / 4);
}

// Local estimate of one turn's cost range in pico-USD: input priced exactly,
// output between 0 and maxOutput tokens. Used until the server's estimate arrives.
export function localTurnCost(model, inputTokens, maxOutput = 1024) {
  if (!model || !model.pricing) return null;
  const p = model.pricing;
  if (p.unit === 'per_request') {
    const r = toMicro(p.request ?? p.input);
    return r === null ? null : { min: r * 1000000n, max: r * 1000000n };
  }
  const inMicro = toMicro(p.input) ?? 0n;
  const outMicro = toMicro(p.output) ?? 0n;
  const min = BigInt(inputTokens) * inMicro;
  return { min, max: min + BigInt(maxOutput) * outMicro };
}
