// ui.jsx - small shared building blocks: buttons, fields, alerts, skeletons,
// icons and a toast. Plain Preact components with accessible defaults.
import { useEffect, useState } from 'preact/hooks';

export function Field({ label, hint, children }) {
  return (
    <label class="field">
      <span>{label}</span>
      {children}
      {hint && <small class="muted small">{hint}</small>}
    </label>
  );
}

export function ErrorAlert({ error, children }) {
  if (!error) return null;
  const msg = typeof error === 'string' ? error : error.message;
  return (
    <div class="alert error" role="alert">
      <div>{msg}</div>
      {children}
    </div>
  );
}

export function Skeleton({ lines = 3 }) {
  return (
    <div class="stack" aria-hidden="true" style="gap:8px">
      {Array.from({ length: lines }, (_, i) => (
        <div class="skeleton" style={`width:${90 - ((i * 23) % 40)}%`} />
      ))}
    </div>
  );
}

export function Loading({ label = 'Loading…', lines = 3 }) {
  return (
    <div role="status" aria-live="polite">
      <span class="sr-only">{label}</span>
      <Skeleton lines={lines} />
    </div>
  );
}

const paths = {
  plus: 'M12 5v14M5 12h14',
  search: 'M11 19a8 8 0 1 0 0-16 8 8 0 0 0 0 16zm10 2-4.3-4.3',
  send: 'M5 12h14M13 6l6 6-6 6',
  stop: 'M7 7h10v10H7z',
  menu: 'M4 6h16M4 12h16M4 18h16',
  chevron: 'm7 10 5 5 5-5',
  copy: 'M9 9h10v10H9zM5 15V5h10',
  check: 'm5 12 5 5 9-9',
  star: 'm12 3 2.8 5.7 6.2.9-4.5 4.4 1 6.2-5.5-2.9-5.5 2.9 1-6.2L3 9.6l6.2-.9z',
  chat: 'M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z',
  settings: 'M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-1.8-.3 1.7 1.7 0 0 0-1 1.5V21a2 2 0 1 1-4 0v-.1a1.7 1.7 0 0 0-1.1-1.5 1.7 1.7 0 0 0-1.8.3l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0 .3-1.8 1.7 1.7 0 0 0-1.5-1H3a2 2 0 1 1 0-4h.1a1.7 1.7 0 0 0 1.5-1.1 1.7 1.7 0 0 0-.3-1.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 1.8.3H9a1.7 1.7 0 0 0 1-1.5V3a2 2 0 1 1 4 0v.1a1.7 1.7 0 0 0 1 1.5 1.7 1.7 0 0 0 1.8-.3l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0-.3 1.8V9a1.7 1.7 0 0 0 1.5 1H21a2 2 0 1 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z',
  shield: 'M12 22s8-4 8-10V5l-8-3-8 3v7c0 6 8 10 8 10z',
  chart: 'M3 3v18h18M7 15l4-4 3 3 5-6',
  moon: 'M21 12.8A9 9 0 1 1 11.2 3 7 7 0 0 0 21 12.8z',
  logout: 'M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4M16 17l5-5-5-5M21 12H9',
  trash: 'M3 6h18M8 6V4h8v2M6 6l1 14h10l1-14',
  pencil: 'M4 20h4L19 9l-4-4L4 16v4zM13.5 6.5l4 4',
  retry: 'M3 12a9 9 0 0 1 15.5-6.2L21 8M21 3v5h-5M21 12a9 9 0 0 1-15.5 6.2L3 16m0 5v-5h5',
  lock: 'M6 11h12v10H6zM8 11V7a4 4 0 0 1 8 0v4',
};

export function Icon({ name, size = 16, label }) {
  return (
    <svg width={size} height={size} viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2"
      stroke-linecap="round" stroke-linejoin="round" aria-hidden={label ? undefined : 'true'}
      role={label ? 'img' : undefined} aria-label={label}>
      <path d={paths[name]} />
    </svg>
  );
}

let toastSetter = null;
export function toast(text) {
  toastSetter && toastSetter(text);
}
export function Toaster() {
  const [text, setText] = useState('');
  useEffect(() => {
    toastSetter = setText;
    return () => (toastSetter = null);
  }, []);
  useEffect(() => {
    if (!text) return undefined;
    const t = setTimeout(() => setText(''), 2500);
    return () => clearTimeout(t);
  }, [text]);
  return (
    <div class="toaster" aria-live="polite" role="status">
      {text && <div class="toast">{text}</div>}
    </div>
  );
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (_) {
    // clipboard API needs a secure context; fall back to a hidden textarea
    const ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.style.position = 'fixed';
    ta.style.opacity = '0';
    document.body.appendChild(ta);
    ta.select();
    const ok = document.execCommand('copy');
    ta.remove();
    return ok;
  }
}
