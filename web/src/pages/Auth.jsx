// Auth.jsx - sign in, register, and accept an invitation link (/invite/:token):
// a signed-out visitor registers or signs in with the token attached; a
// signed-in one joins with one click. The invite page names the organization
// and the link's expiry (public look-up by token) or says the link is dead.
import { useEffect, useState } from 'preact/hooks';
import * as api from '../api.js';
import { ErrorAlert, Field } from '../components/ui.jsx';
import { formatDate } from '../format.js';
import { Link, navigate } from '../router.jsx';

function Brand() {
  return (
    <div class="brand" style="margin-bottom:16px">
      <span class="brand-mark" aria-hidden="true">T</span> teamhub
    </div>
  );
}

export function AuthPage({ path, user, onSignedIn }) {
  const invite = /^\/invite\/([^/]+)$/.exec(path);
  const token = invite ? decodeURIComponent(invite[1]) : '';
  const [mode, setMode] = useState(path === '/register' ? 'register' : 'login');
  const [form, setForm] = useState({ email: '', password: '', name: '', organization: '' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [inviteInfo, setInviteInfo] = useState(null);

  useEffect(() => setMode(path === '/register' || (invite && !user) ? 'register' : 'login'), [path]);
  useEffect(() => {
    if (token) api.auth.invitation(token).then(setInviteInfo, (e) => setInviteInfo({ dead: e.status === 404, error: e }));
  }, [token]);
  useEffect(() => {
    if (inviteInfo && inviteInfo.email && !form.email) setForm((f) => ({ ...f, email: inviteInfo.email }));
  }, [inviteInfo]);

  const set = (k) => (e) => setForm({ ...form, [k]: e.currentTarget.value });
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      let u;
      if (mode === 'login') {
        u = await api.auth.login(form.email, form.password);
        if (token) {
          await api.auth.acceptInvitation(token);
          u = await api.auth.me();
        }
      } else {
        u = await api.auth.register({
          email: form.email,
          password: form.password,
          name: form.name || undefined,
          organization: token ? undefined : form.organization || undefined,
          invitation: token || undefined,
        });
      }
      onSignedIn(u);
      navigate('/', { replace: true });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const joinAsSignedIn = async () => {
    setBusy(true);
    try {
      await api.auth.acceptInvitation(token);
      onSignedIn(await api.auth.me());
      navigate('/', { replace: true });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const orgName = inviteInfo && inviteInfo.organization ? inviteInfo.organization.name : '';
  const dead = !!(inviteInfo && inviteInfo.dead);
  return (
    <div class="auth-wrap">
      <main class="card auth-card" aria-labelledby="auth-title">
        <Brand />
        <h1 id="auth-title">
          {token ? 'Join your team' : mode === 'login' ? 'Sign in' : 'Create your account'}
        </h1>
        {token && dead && (
          <div class="alert error" role="alert" data-testid="invite-dead">
            This invitation link is unknown, expired or already used. Ask an admin of the organization for a new one.
          </div>
        )}
        <p class="muted" style="margin-top:0">
          {token
            ? <>You were invited to <b data-testid="invite-org">{orgName || 'an organization'}</b>
              {inviteInfo && inviteInfo.expires_at ? <> (link valid until {formatDate(inviteInfo.expires_at)})</> : null}.{' '}
              {user ? '' : mode === 'login' ? 'Sign in to accept.' : 'Create an account to accept.'}</>
            : mode === 'login'
              ? 'Welcome back. Sign in to chat with your team’s models.'
              : 'Start an organization; invite your team later.'}
        </p>
        {token && user ? (
          <div class="stack">
            <ErrorAlert error={error} />
            <button class="btn primary" disabled={busy} onClick={joinAsSignedIn}>Accept invitation as {user.email}</button>
          </div>
        ) : (
          <form class="stack" onSubmit={submit} noValidate={false}>
            {mode === 'register' && (
              <Field label="Name">
                <input class="input" name="name" autoComplete="name" value={form.name} onInput={set('name')} />
              </Field>
            )}
            <Field label="E-mail">
              <input class="input" type="email" name="email" autoComplete="email" required value={form.email} onInput={set('email')} />
            </Field>
            <Field label="Password" hint={mode === 'register' ? 'At least 8 characters.' : undefined}>
              <input class="input" type="password" name="password" required minLength={mode === 'register' ? 8 : undefined}
                autoComplete={mode === 'login' ? 'current-password' : 'new-password'} value={form.password} onInput={set('password')} />
            </Field>
            {mode === 'register' && !token && (
              <Field label="Organization" hint="Optional. You can rename it later.">
                <input class="input" name="organization" autoComplete="organization" value={form.organization} onInput={set('organization')} />
              </Field>
            )}
            <ErrorAlert error={error} />
            <button class="btn primary" type="submit" disabled={busy}>
              {busy ? 'Please wait…' : mode === 'login' ? 'Sign in' : token ? 'Create account and join' : 'Create account'}
            </button>
            <p class="small muted" style="margin:0;text-align:center">
              {mode === 'login' ? (
                token ? <button type="button" class="btn ghost sm" onClick={() => setMode('register')}>New here? Create an account</button>
                  : <>New here? <Link href="/register">Create an account</Link></>
              ) : token ? (
                <button type="button" class="btn ghost sm" onClick={() => setMode('login')}>Already have an account? Sign in</button>
              ) : (
                <>Already have an account? <Link href="/login">Sign in</Link></>
              )}
            </p>
          </form>
        )}
      </main>
    </div>
  );
}
