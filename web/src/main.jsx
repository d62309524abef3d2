// main.jsx - the teamhub single-page app: session bootstrap, routes and the
// application shell (sidebar with conversations and navigation, top bar).
import { render } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import * as api from './api.js';
import { Toaster } from './components/ui.jsx';
import { AdminPage } from './pages/Admin.jsx';
import { AuthPage } from './pages/Auth.jsx';
import { ChatPage } from './pages/Chat.jsx';
import { SettingsPage } from './pages/Settings.jsx';
import { Sidebar } from './pages/Sidebar.jsx';
import { UsagePage } from './pages/Usage.jsx';
import { navigate, usePath } from './router.jsx';
import { applyTheme, currentTheme } from './theme.js';
import { Loading } from './components/ui.jsx';

applyTheme(currentTheme());

const PUBLIC = /^\/(login|register|invite\/[^/]+)$/;

function App() {
  const path = usePath();
  const [user, setUser] = useState(undefined); // undefined = still checking
  const [models, setModels] = useState({ models: [], default: null, llmSelection: true, error: null });
  const [prefs, setPrefs] = useState({ defaultModel: '', pinned: [] });
  const [convVersion, setConvVersion] = useState(0); // bump to reload the sidebar
  const [navOpen, setNavOpen] = useState(false);
  const [chatNonce, setChatNonce] = useState(0); // bump to start a fresh chat page
  // the conversation a new-chat page created: its "/" -> "/c/:id" step keeps the page
  const adopted = useRef({ id: null, key: null });

  const loadModels = useCallback(async () => {
    try {
      setModels({ ...(await api.listModels()), error: null });
    } catch (e) {
      setModels((m) => ({ ...m, error: e }));
    }
  }, []);
  const loadPrefs = useCallback(async () => {
    try {
      setPrefs(await api.prefs.get());
    } catch (_) {
      /* no preferences yet: keep the empty ones */
    }
  }, []);

  useEffect(() => {
    api.auth.me().then(setUser, () => setUser(null));
  }, []);
  useEffect(() => {
    if (!user) return;
    loadModels();
    loadPrefs();
    const t = setInterval(loadModels, 30000); // status and latency are live
    return () => clearInterval(t);
  }, [user && user.id, user && user.orgId]);
  useEffect(() => {
    if (user === null && !PUBLIC.test(path)) navigate('/login', { replace: true });
    if (user && PUBLIC.test(path) && !path.startsWith('/invite/')) navigate('/', { replace: true });
  }, [user, path]);
  useEffect(() => setNavOpen(false), [path]);

  if (user === undefined)
    return (
      <div class="auth-wrap">
        <div class="card auth-card"><Loading label="Checking your session…" /></div>
      </div>
    );
  if (!user || PUBLIC.test(path)) return <AuthPage path={path} user={user} onSignedIn={setUser} />;

  const isAdmin = user.role === 'admin' || user.role === 'owner';
  const ctx = {
    user, setUser, models, loadModels, prefs, setPrefs, isAdmin,
    refreshConversations: () => setConvVersion((v) => v + 1),
    onMenu: () => setNavOpen((o) => !o),
    newChat: () => {
      adopted.current = { id: null, key: null };
      setChatNonce((n) => n + 1);
      navigate('/');
    },
  };
  let page;
  const m = /^\/c\/([^/]+)$/.exec(path);
  if (path === '/settings') page = <SettingsPage ctx={ctx} />;
  else if (path === '/admin') page = <AdminPage ctx={ctx} />;
  else if (path === '/usage') page = <UsagePage ctx={ctx} />;
  else {
    // one chat page instance across its own "/" -> "/c/:id" step; a fresh one
    // for any other conversation and for New chat
    const id = m ? decodeURIComponent(m[1]) : null;
    const key = id ? (adopted.current.id === id ? adopted.current.key : `c-${id}`) : `new-${chatNonce}`;
    const chatCtx = { ...ctx, adopt: (newId) => (adopted.current = { id: newId, key }) };
    page = <ChatPage key={key} ctx={chatCtx} conversationId={id} />;
  }

  return (
    <div class={'shell' + (navOpen ? ' nav-open' : '')}>
      <a class="skip-link" href="#main">Skip to content</a>
      <Sidebar ctx={ctx} path={path} version={convVersion} onClose={() => setNavOpen(false)} />
      <main class="main" id="main" tabIndex={-1}>
        {page}
      </main>
      <Toaster />
    </div>
  );
}

render(<App />, document.getElementById('app'));
