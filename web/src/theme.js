// theme.js - light/dark theme: the OS preference unless the user picked one.
const KEY = 'teamhub.theme';
export function currentTheme() {
  const saved = localStorage.getItem(KEY);
  if (saved === 'light' || saved === 'dark') return saved;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}
export function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
}
export function setTheme(theme) {
  localStorage.setItem(KEY, theme);
  applyTheme(theme);
}
