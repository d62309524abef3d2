// Sidebar.jsx - conversation list with search (debounced, server-side), the
// New chat button, navigation to settings/admin/usage, organization switcher,
// theme toggle and sign out. Each conversation can be renamed (inline field:
// Enter saves, Escape cancels; F2 on the link) and deleted (an inline
// confirmation; Delete on the link), all by keyboard.
import { useEffect, useRef, useState } from 'preact/hooks';
import * as api from '../api.js';
import { Icon, Skeleton } from '../components/ui.jsx';
import { formatDate } from '../format.js';
import { Link, navigate } from '../router.jsx';
import { currentTheme, setTheme } from '../theme.js';

function ConversationItem({ c, active, onRenamed, onDeleted }) {
  const [mode, setMode] = useState('view'); // view | rename | confirm
  const [title, setTitle] = useState(c.title);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const input = useRef(null);
  const item = useRef(null);
  const cancelBtn = useRef(null);
  useEffect(() => {
    if (mode === 'rename' && input.current) { input.current.focus(); input.current.select(); }
    if (mode === 'confirm' && cancelBtn.current) cancelBtn.current.focus();
  }, [mode]);
  const renaming = useRef(false); // a blur after Escape or Enter must not save (again)
  const back = () => {
    renaming.current = false;
    setMode('view');
    setError('');
    setTimeout(() => { const a = item.current && item.current.querySelector('a'); if (a) a.focus(); }, 0);
  };
  const startRename = () => { setTitle(c.title); setError(''); renaming.current = true; setMode('rename'); };
  const saveTitle = async (e) => {
    e && e.preventDefault();
    if (!renaming.current) return;
    const t = title.trim();
    if (!t || t === c.title) return back();
    renaming.current = false;
    setBusy(true);
    try {
      await api.conversations.rename(c.id, t);
      onRenamed(c.id, t);
      back();
    } catch (err) { renaming.current = true; setError(err.message); } finally { setBusy(false); }
  };
  const remove = async () => {
    setBusy(true);
    try {
      await api.conversations.remove(c.id);
      onDeleted(c.id);
    } catch (err) { setError(err.message); setBusy(false); }
  };
  const onLinkKey = (e) => {
    if (e.key === 'F2') { e.preventDefault(); startRename(); }
    if (e.key === 'Delete') { e.preventDefault(); setMode('confirm'); }
  };
  return (
    <li ref={item} class={'conv-item' + (active ? ' active' : '')} data-conversation={c.id}>
      {mode === 'rename' ? (
        <form class="row" style="flex:1" onSubmit={saveTitle}>
          <input ref={input} class="input conv-rename" value={title} maxLength={200} disabled={busy}
            aria-label="Conversation title" onInput={(e) => setTitle(e.currentTarget.value)}
            onKeyDown={(e) => { if (e.key === 'Escape') { e.preventDefault(); back(); } }} onBlur={() => !busy && saveTitle()} />
        </form>
      ) : (
        <>
          <Link href={`/c/${encodeURIComponent(c.id)}`} aria-current={active ? 'page' : undefined}
            onKeyDown={onLinkKey} aria-keyshortcuts="F2 Delete">
            <span class="conv-title">{c.title}</span>
            <span class="conv-meta">{formatDate(c.updatedAt)}{c.modelRef ? ` · ${c.modelRef.split('/')[1]}` : ''}</span>
          </Link>
          <span class="conv-actions">
            <button class="btn ghost icon" aria-label={`Rename “${c.title}”`} title="Rename (F2)" onClick={startRename}><Icon name="pencil" size={14} /></button>
            <button class="btn ghost icon danger" aria-label={`Delete “${c.title}”`} title="Delete (Del)" onClick={() => setMode('confirm')}><Icon name="trash" size={14} /></button>
          </span>
        </>
      )}
      {mode === 'confirm' && (
        <div class="confirm-row" role="alertdialog" aria-label="Delete this conversation?" onKeyDown={(e) => e.key === 'Escape' && back()}>
          <span>Delete this conversation?</span>
          <button class="btn sm danger" disabled={busy} onClick={remove} data-testid="confirm-delete">Delete</button>
          <button class="btn sm ghost" ref={cancelBtn} onClick={back}>Cancel</button>
        </div>
      )}
      {error && <div class="confirm-row field-error" role="alert">{error}</div>}
    </li>
  );
}

export function Sidebar({ ctx, path, version, onClose }) {
  const { user, isAdmin } = ctx;
  const [q, setQ] = useState('');
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  const [theme, setThemeState] = useState(currentTheme());

  useEffect(() => {
    let stale = false;
    const t = setTimeout(async () => {
      try {
        const r = await api.conversations.list({ q });
        if (!stale) { setList(r.items); setError(null); }
      } catch (e) {
        if (!stale) { setList([]); setError(e); }
      }
    }, q ? 200 : 0);
    return () => { stale = true; clearTimeout(t); };
  }, [q, version, user.orgId]);

  const toggleTheme = () => {
    const next = theme === 'dark' ? 'light' : 'dark';
    setTheme(next);
    setThemeState(next);
  };
  const logout = async () => {
    try { await api.auth.logout(); } catch (_) { /* the session is gone either way */ }
    ctx.setUser(null);
    navigate('/login', { replace: true });
  };
  const switchOrg = async (e) => {
    try { ctx.setUser(await api.auth.switchOrg(e.currentTarget.value)); navigate('/'); } catch (err) { alert(err.message); }
  };
  const active = /^\/c\/([^/]+)$/.exec(path);

  return (
    <nav class="sidebar" aria-label="Conversations and navigation">
      <div class="sidebar-head">
        <div class="row">
          <div class="brand"><span class="brand-mark" aria-hidden="true">T</span> teamhub</div>
          <span class="spacer" />
          <button class="btn ghost icon menu-btn" aria-label="Close menu" onClick={onClose}>✕</button>
        </div>
        {user.organizations.length > 1 && (
          <label class="field">
            <span class="sr-only">Organization</span>
            <select class="input" value={user.orgId} onChange={switchOrg} aria-label="Active organization">
              {user.organizations.map((o) => <option value={o.id}>{o.name}</option>)}
            </select>
          </label>
        )}
        <button class="btn primary" onClick={ctx.newChat} data-testid="new-chat">
          <Icon name="plus" /> New chat
        </button>
        <label class="field">
          <span class="sr-only">Search conversations</span>
          <input class="input" type="search" placeholder="Search conversations…" value={q}
            onInput={(e) => setQ(e.currentTarget.value)} aria-label="Search conversations" />
        </label>
      </div>
      <ul class="conv-list" aria-label="Conversations" aria-busy={list === null ? 'true' : 'false'}>
        {list === null && <li style="padding:8px"><Skeleton lines={5} /></li>}
        {error && <li class="small muted" style="padding:8px">Conversations could not be loaded: {error.message}</li>}
        {list && list.length === 0 && !error && (
          <li class="small muted" style="padding:8px 10px">{q ? 'No conversation matches.' : 'No conversations yet.'}</li>
        )}
        {list && list.map((c) => (
          <ConversationItem key={c.id} c={c} active={!!active && decodeURIComponent(active[1]) === c.id}
            onRenamed={(id, title) => setList((l) => l.map((x) => (x.id === id ? { ...x, title } : x)))}
            onDeleted={(id) => {
              setList((l) => l.filter((x) => x.id !== id));
              if (active && decodeURIComponent(active[1]) === id) ctx.newChat();
            }} />
        ))}
      </ul>
      <div class="sidebar-foot">
        <Link class="nav-link" href="/usage" aria-current={path === '/usage' ? 'page' : undefined}><Icon name="chart" /> Usage</Link>
        {isAdmin && <Link class="nav-link" href="/admin" aria-current={path === '/admin' ? 'page' : undefined}><Icon name="shield" /> Admin</Link>}
        <Link class="nav-link" href="/settings" aria-current={path === '/settings' ? 'page' : undefined}><Icon name="settings" /> Settings</Link>
        <div class="row" style="padding:4px 4px 0">
          <span class="small muted" style="overflow:hidden;text-overflow:ellipsis" title={user.email}>{user.name || user.email}</span>
          <span class="spacer" />
          <button class="btn ghost icon" onClick={toggleTheme} aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`} title="Theme"><Icon name="moon" /></button>
          <button class="btn ghost icon" onClick={logout} aria-label="Sign out" title="Sign out"><Icon name="logout" /></button>
        </div>
      </div>
    </nav>
  );
}
