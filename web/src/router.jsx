// router.js - tiny history-API router: the current path as a hook, navigate()
// to change it. The server answers every non-/api path with index.html.
import { useEffect, useState } from 'preact/hooks';

const listeners = new Set();
export function navigate(path, { replace = false } = {}) {
  if (path === location.pathname + location.search) return;
  history[replace ? 'replaceState' : 'pushState'](null, '', path);
  listeners.forEach((fn) => fn(location.pathname));
}
export function usePath() {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const on = () => setPath(location.pathname);
    listeners.add(on);
    window.addEventListener('popstate', on);
    return () => {
      listeners.delete(on);
      window.removeEventListener('popstate', on);
    };
  }, []);
  return path;
}
// Anchor that navigates without a reload (modifier clicks keep browser behaviour).
export function Link({ href, children, ...rest }) {
  const onClick = (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
    rest.onNavigate && rest.onNavigate();
  };
  const { onNavigate, ...props } = rest;
  return (
    <a href={href} onClick={onClick} {...props}>
      {children}
    </a>
  );
}
