// Chat.jsx - one conversation: the thread (safe markdown, streaming with Stop,
// per-message model/tokens/cost/latency, visible model switches, in-place
// errors with Retry and a suggested alternative), the composer with the model
// picker, the estimated cost of the next turn and the budget left. Refusals
// say why in place: budget_exceeded with what is left and the cheaper models
// that fit, rate_limited with the wait. The server decides; this mirrors it.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import * as api from '../api.js';
import { Markdown } from '../components/Markdown.jsx';
import { ModelPicker, SOURCE_TEXT, pushRecent } from '../components/ModelPicker.jsx';
import { ErrorAlert, Icon, Loading } from '../components/ui.jsx';
import { estimateTokens, formatMs, formatPico, formatTokens, formatUsd, localTurnCost, sumUsd } from '../format.js';
import { navigate } from '../router.jsx';

const newId = (p) => p + Math.random().toString(36).slice(2, 10) + Date.now().toString(36);
const textOf = (msg) => (msg.parts || []).filter((p) => p.type === 'text').map((p) => p.text).join('');
const reasoningOf = (msg) => (msg.parts || []).filter((p) => p.type === 'reasoning').map((p) => p.text).join('');
const modelOfMsg = (msg) => {
  const md = msg.metadata || {};
  return md.provider && md.model ? `${md.provider}/${md.model}` : md.model || '';
};

function usageTokens(u) {
  if (!u) return null;
  const inT = u.input_tokens ?? u.inputTokens;
  const outT = u.output_tokens ?? u.outputTokens;
  return inT == null && outT == null ? null : { inT, outT };
}

function MessageMeta({ msg, models }) {
  const md = msg.metadata || {};
  const ref = modelOfMsg(msg);
  const m = models.find((x) => x.id === ref);
  const tokens = usageTokens(md.usage);
  const cost = md.cost_usd;
  const estimated = md.cost_estimated || md.estimated;
  const source = md.model_source || md.source;
  const reason = md.model_reason || md.reason;
  return (
    <div class="msg-meta small muted" data-testid="message-meta">
      {ref && <span class="badge" data-testid="message-model" title={ref}>{m ? m.name : ref}</span>}
      {tokens && <span class="badge" data-testid="message-tokens">{formatTokens(tokens.inT)} in · {formatTokens(tokens.outT)} out</span>}
      {cost != null && <span class="badge" data-testid="message-cost" title={`${cost} USD${estimated ? ' (estimated: the provider reported no usage)' : ''}`}>{formatUsd(cost)}{estimated ? ' est.' : ''}</span>}
      {md.latency_ms != null && <span class="badge" title={md.ttft_ms != null ? `first token after ${formatMs(md.ttft_ms)}` : ''}>{formatMs(md.latency_ms)}</span>}
      {(md.stopped || md.error_code === 'client_closed') && <span class="badge">stopped</span>}
      {md.status === 'partial' && md.error_code !== 'client_closed' && <span class="badge" style="color:var(--danger)">partial</span>}
      {reason && <span data-testid="message-reason" title={reason}>· {source ? `${SOURCE_TEXT[source] || source}` : reason}</span>}
    </div>
  );
}

function AssistantMessage({ msg, models, streaming }) {
  const text = textOf(msg);
  const reasoning = reasoningOf(msg);
  const md = msg.metadata || {};
  const failed = !streaming && !text && (md.status === 'error' || md.error_code);
  return (
    <div class="msg assistant" data-testid="assistant-message" data-streaming={streaming ? 'true' : 'false'}>
      <div class="avatar" aria-hidden="true">AI</div>
      <div class="body">
        {reasoning && <details class="reasoning"><summary>Reasoning</summary>{reasoning}</details>}
        {text ? <Markdown text={text} streaming={streaming} /> : streaming ? <Loading label="Waiting for the model…" lines={2} /> : null}
        {failed && <div class="small muted" role="note">No answer: {String(md.error_code || 'error').replace(/_/g, ' ')}</div>}
        {!streaming && <MessageMeta msg={msg} models={models} />}
      </div>
    </div>
  );
}

// Seconds until a rate-limited send may be retried, counting down.
function useCountdown(ms, since) {
  const left = () => Math.max(0, Math.ceil((since + ms - Date.now()) / 1000));
  const [secs, setSecs] = useState(left);
  useEffect(() => {
    setSecs(left());
    const t = setInterval(() => setSecs(left()), 250);
    return () => clearInterval(t);
  }, [ms, since]);
  return secs;
}

function RateWait({ error, at }) {
  const x = error.extra || {};
  const secs = useCountdown(x.retry_after_ms || 1000, at);
  return (
    <div class="small" data-testid="rate-wait" data-seconds={secs}>
      {secs > 0 ? `You can send again in ${secs} s.` : 'You can send again now.'}
    </div>
  );
}

// budget_exceeded: what is left, what the turn needed, the cheaper models that fit.
function BudgetRefusal({ error, models, onUse }) {
  const x = error.extra || {};
  const cheaper = (x.cheaper_models || []).filter((m) => models.some((mm) => mm.id === m.id));
  const name = (id) => (models.find((m) => m.id === id) || {}).name || id;
  const scope = x.budget_scope === 'user' ? 'Your' : x.budget_scope === 'agent' ? "This agent's" : "Your organization's";
  return (
    <div class="stack small" data-testid="budget-refusal" style="gap:6px;margin-top:6px">
      {x.remaining_usd != null && (
        <div>
          {scope} monthly budget has <strong data-testid="refusal-remaining" data-usd={x.remaining_usd}>{formatUsd(x.remaining_usd)}</strong> left
          {x.required_usd ? `; this turn may cost up to ${formatUsd(x.required_usd)}.` : '.'}
        </div>
      )}
      {cheaper.length > 0 ? (
        <div class="row wrap" role="group" aria-label="Cheaper models that fit">
          <span>Cheaper models that fit:</span>
          {cheaper.slice(0, 4).map((m) => (
            <button type="button" class="btn sm" data-testid="cheaper-model" data-model={m.id} onClick={() => onUse(m.id)}>
              {name(m.id)} (up to {formatUsd(m.max_cost_usd)})
            </button>
          ))}
        </div>
      ) : (
        <div>No allowed model fits what is left; an admin can raise the budget.</div>
      )}
    </div>
  );
}

function suggestAlternative(err, models, current) {
  const x = (err && err.extra) || {};
  const cheaper = (x.cheaper_models || []).map((m) => m.id);
  const cand = [...cheaper, x.suggestion, x.suggested_model, ...(x.alternatives || [])].filter(Boolean)
    .map((s) => (typeof s === 'string' ? s : api.modelRef(s.provider, s.model)));
  for (const c of cand) if (c !== current && models.some((m) => m.id === c)) return c;
  const m = models.find((m) => m.id !== current && m.allowed && m.status === 'available');
  return m ? m.id : cand[0] || '';
}

export function ChatPage({ ctx, conversationId }) {
  const { models: modelState, prefs, user } = ctx;
  const models = modelState.models;
  const [loading, setLoading] = useState(!!conversationId);
  const [loadError, setLoadError] = useState(null);
  const [conv, setConv] = useState(null);
  const [messages, setMessages] = useState([]);
  const [selected, setSelected] = useState('');
  const [selectedSource, setSelectedSource] = useState('');
  const [draft, setDraft] = useState('');
  const [streaming, setStreaming] = useState(false);
  const [turnError, setTurnError] = useState(null); // {error, retryText, model}
  const [switches, setSwitches] = useState({}); // messageIndex -> model switched to before it
  const [agents, setAgents] = useState([]);
  const [agentId, setAgentId] = useState('');
  const [estimate, setEstimate] = useState(null);
  const [gov, setGov] = useState(null); // GET /api/governance/status: budget left, limits, why a send would be refused
  const abortRef = useRef(null);
  const threadRef = useRef(null);
  const inputRef = useRef(null);

  // load the conversation (not when the URL just caught up with the one
  // this page created on its first send: its state is already here)
  useEffect(() => {
    if (!conversationId || (conv && conv.id === conversationId)) return;
    let stale = false;
    setLoading(true);
    api.conversations.get(conversationId).then(
      (r) => {
        if (stale) return;
        setConv(r.conversation);
        setMessages(r.messages);
        if (r.conversation.agentId) setAgentId(r.conversation.agentId);
        if (r.conversation.modelRef) { setSelected(r.conversation.modelRef); setSelectedSource('conversation'); }
        setLoading(false);
      },
      (e) => { if (!stale) { setLoadError(e); setLoading(false); } },
    );
    return () => { stale = true; };
  }, [conversationId]);

  useEffect(() => {
    if (!user.orgId) return;
    api.agents.list(user.orgId).then(setAgents, () => setAgents([]));
  }, [user.orgId]);

  const loadGov = () => api.governance.status().then(setGov, () => setGov(null));
  useEffect(() => {
    if (user.orgId) loadGov();
  }, [user.orgId]);

  // the default model when nothing was chosen: the user's, else what the server resolved
  useEffect(() => {
    if (selectedSource === 'request' || selectedSource === 'conversation') return;
    const agent = agents.find((a) => a.id === agentId);
    const usable = (ref) => ref && models.some((m) => m.id === ref && m.allowed);
    if (agent && usable(agent.defaultModel)) { setSelected(agent.defaultModel); setSelectedSource('agent_default'); }
    else if (usable(prefs.defaultModel)) { setSelected(prefs.defaultModel); setSelectedSource('user_default'); }
    else if (modelState.default && modelState.default.ref) { setSelected(modelState.default.ref); setSelectedSource(modelState.default.source || 'org_default'); }
    else {
      const m = models.find((x) => x.allowed && x.status !== 'unavailable' && x.status !== 'unconfigured');
      if (m) { setSelected(m.id); setSelectedSource('fallback'); }
    }
  }, [models, prefs.defaultModel, modelState.default, agentId, agents]);

  // keep the newest message in view while streaming
  useEffect(() => {
    const el = threadRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [messages, turnError]);

  // estimated cost of the next turn: instant local figure, then the server's
  const current = models.find((m) => m.id === selected);
  const historyText = useMemo(() => messages.map(textOf).join('\n'), [messages]);
  const local = useMemo(() => {
    if (!current) return null;
    const tokens = estimateTokens(historyText) + estimateTokens(draft) + 8;
    const r = localTurnCost(current, tokens, Math.min(current.maxOutput || 1024, 1024));
    return r && { tokens, ...r };
  }, [current, historyText, draft]);
  useEffect(() => {
    setEstimate(null);
    if (!selected || !draft.trim()) return undefined;
    let stale = false;
    const t = setTimeout(() => {
      api.estimateCost({ conversationId: conv && conv.id, draft, modelRef: selected }).then(
        (e) => !stale && setEstimate(e),
        () => { /* the local estimate stays */ },
      );
    }, 350);
    return () => { stale = true; clearTimeout(t); };
  }, [selected, draft, conv && conv.id]);

  const onPick = async (ref) => {
    const hadMessages = messages.length > 0;
    setSelected(ref);
    setSelectedSource('request');
    // the server records the switch when the next turn is sent with this model
    if (hadMessages) setSwitches((s) => ({ ...s, [messages.length]: ref }));
    setTimeout(() => inputRef.current && inputRef.current.focus(), 0);
  };
  const togglePin = async (ref) => {
    const pinned = prefs.pinned.includes(ref) ? prefs.pinned.filter((p) => p !== ref) : [...prefs.pinned, ref];
    ctx.setPrefs({ ...prefs, pinned });
    try { ctx.setPrefs(await api.prefs.save({ defaultModel: prefs.defaultModel, pinned })); } catch (_) { /* keep local */ }
  };

  const send = async (text, modelRef = selected, history = messages) => {
    text = text.trim();
    if (!text || streaming) return;
    setTurnError(null);
    let c = conv;
    if (!c) {
      try {
        c = await api.conversations.create({ agentId, title: text.slice(0, 60) });
      } catch (e) {
        if (e.status === 404 || e.status === 405) c = { id: newId('conv_'), title: text.slice(0, 60), agentId };
        else { setTurnError({ error: e, retryText: text, model: modelRef, history, at: Date.now() }); return; }
      }
      setConv(c);
    }
    const userMsg = { id: newId('msg_'), role: 'user', parts: [{ type: 'text', text }] };
    const base = [...history, userMsg];
    const placeholder = { id: newId('pending_'), role: 'assistant', parts: [], metadata: {} };
    setMessages([...base, placeholder]);
    setDraft('');
    setStreaming(true);
    if (modelRef) pushRecent(modelRef);
    const controller = new AbortController();
    abortRef.current = controller;
    let latest = placeholder;
    const show = (msg) => {
      latest = msg;
      setMessages([...base, msg]);
    };
    try {
      const final = await api.streamChat({
        chatId: c.id, messages: base, modelRef, agentId: agentId || c.agentId, signal: controller.signal, onUpdate: show,
      });
      if (final) show(final);
    } catch (e) {
      if (controller.signal.aborted || (e && e.name === 'AbortError')) {
        // Stop keeps what arrived; the server stores it as a partial message
        if (latest.parts.length) show({ ...latest, metadata: { ...latest.metadata, stopped: true } });
        else setMessages(base);
      } else {
        const partial = e.partial || latest;
        if (partial && partial.parts && partial.parts.length) setMessages([...base, partial]);
        else setMessages(base);
        setTurnError({ error: e, retryText: text, model: modelRef, history, at: Date.now() });
      }
    } finally {
      loadGov(); // spend and limits moved
      abortRef.current = null;
      setStreaming(false);
      if (!conversationId) {
        ctx.adopt && ctx.adopt(c.id);
        navigate(`/c/${encodeURIComponent(c.id)}`, { replace: true });
      }
      ctx.refreshConversations();
      ctx.loadModels(); // status and latency moved
    }
  };
  // Retry resends the failed turn on top of the history it had (no duplicate
  // user message); the alternative model is a switch like any other.
  const retry = (modelRef) => {
    const t = turnError;
    if (!t) return;
    if (modelRef !== selected) {
      setSelected(modelRef);
      setSelectedSource('request');
      if (t.history.length) setSwitches((s) => ({ ...s, [t.history.length]: modelRef }));
    }
    send(t.retryText, modelRef, t.history);
  };

  const stop = () => abortRef.current && abortRef.current.abort();
  const onKeyDown = (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send(draft);
    }
  };

  const title = conv ? conv.title : 'New chat';
  const note = current && selectedSource
    ? selectedSource === 'request'
      ? `You chose ${current.name}.`
      : `${current.name} is ${SOURCE_TEXT[selectedSource] || selectedSource}${modelState.default && modelState.default.reason && selectedSource === modelState.default.source ? ` — ${modelState.default.reason}` : ''}.`
    : '';
  const suggested = turnError ? suggestAlternative(turnError.error, models, turnError.model) : '';
  const suggestedModel = models.find((m) => m.id === suggested);
  const costText = (() => {
    if (!current) return '';
    if (estimate && estimate.minUsd != null) {
      const lo = formatUsd(estimate.minUsd);
      const hi = estimate.maxUsd != null ? formatUsd(estimate.maxUsd) : null;
      return `≈ ${lo}${hi && hi !== lo ? ` – ${hi}` : ''}`;
    }
    if (!local) return '';
    const lo = formatPico(local.min);
    const hi = formatPico(local.max);
    return `≈ ${lo}${hi !== lo ? ` – ${hi}` : ''}`;
  })();
  const tokensText = estimate && estimate.inputTokens != null ? estimate.inputTokens : local && local.tokens;
  // the budget left: the estimate's (fresh, for this turn) or the status'
  const budgetLeft = (estimate && estimate.budget && estimate.budget.remainingUsd) ?? (gov && gov.remaining_usd) ?? null;
  const overBudget = estimate && estimate.budget && !estimate.budget.fits ? estimate.budget : null;
  const blocked = gov && gov.refusal ? gov.refusal : null;
  const refusalCode = turnError && turnError.error.code;

  // thread with model-switch notes between turns
  const rows = [];
  let lastModel = '';
  messages.forEach((msg, i) => {
    const switchedTo = switches[i];
    if (msg.role === 'user') {
      const next = messages[i + 1];
      const nextModel = switchedTo || (next && next.role === 'assistant' ? modelOfMsg(next) : '');
      if (lastModel && nextModel && nextModel !== lastModel) {
        const m = models.find((x) => x.id === nextModel);
        rows.push(<div class="switch-note" role="note" data-testid="switch-note">Switched to {m ? m.name : nextModel}</div>);
      }
      rows.push(<div class="msg user" data-testid="user-message"><div class="bubble">{textOf(msg)}</div></div>);
    } else if (msg.role === 'assistant') {
      const isLast = i === messages.length - 1;
      rows.push(<AssistantMessage msg={msg} models={models} streaming={streaming && isLast} />);
      lastModel = modelOfMsg(msg) || lastModel;
    }
  });
  if (switches[messages.length] && lastModel && switches[messages.length] !== lastModel) {
    const m = models.find((x) => x.id === switches[messages.length]);
    rows.push(<div class="switch-note" role="note" data-testid="switch-note">Switched to {m ? m.name : switches[messages.length]} — your next message uses it</div>);
  }

  const pickerHidden = !modelState.llmSelection;
  return (
    <>
      <header class="topbar">
        <button class="btn ghost icon menu-btn" aria-label="Open menu" onClick={ctx.onMenu}><Icon name="menu" /></button>
        <h1 class="title" style="font-size:15px;margin:0">{title}</h1>
        <span class="spacer" />
        {messages.length > 0 && (
          <span class="badge" data-testid="conversation-cost" title="Cost of this conversation (sum of its answers, exact)">
            {formatPico(sumUsd(messages.map((m) => m.metadata && m.metadata.cost_usd).filter(Boolean)))}
          </span>
        )}
      </header>
      <div class="thread" ref={threadRef} aria-live="polite" aria-busy={streaming ? 'true' : 'false'}>
        <div class="thread-inner">
          {loading && <Loading label="Loading the conversation…" lines={6} />}
          <ErrorAlert error={loadError} />
          {!loading && !loadError && messages.length === 0 && (
            <div class="empty-state">
              <h2>What can I help with?</h2>
              <p class="muted">Pick a model, see the cost before you send, and switch any time.</p>
              {agents.length > 0 && !conv && (
                <label class="field" style="text-align:left;max-width:320px;margin:0 auto">
                  <span>Agent</span>
                  <select class="input" value={agentId} onChange={(e) => { setAgentId(e.currentTarget.value); if (selectedSource !== 'request') setSelectedSource(''); }}>
                    <option value="">No agent</option>
                    {agents.map((a) => <option value={a.id}>{a.name}</option>)}
                  </select>
                </label>
              )}
              <div class="suggestions">
                {['Explain this error message to me', 'Write a SQL query for monthly totals', 'Summarize a long document', 'Draft a friendly reply to a customer'].map((s) => (
                  <button class="btn" onClick={() => { setDraft(s); inputRef.current && inputRef.current.focus(); }}>{s}</button>
                ))}
              </div>
            </div>
          )}
          {rows}
          {turnError && (
            <div class="alert error" role="alert" data-testid="turn-error">
              <div><strong>{turnError.error.code ? turnError.error.code.replace(/_/g, ' ') : 'Error'}:</strong> <span class="alert-body">{turnError.error.message}</span></div>
              {refusalCode === 'budget_exceeded' && <BudgetRefusal error={turnError.error} models={models} onUse={retry} />}
              {refusalCode === 'rate_limited' && <RateWait error={turnError.error} at={turnError.at || Date.now()} />}
              <div class="row wrap" style="margin-top:8px">
                <button class="btn sm" onClick={() => retry(turnError.model)}><Icon name="retry" size={14} /> Retry</button>
                {suggestedModel && refusalCode !== 'budget_exceeded' && (
                  <button class="btn sm primary" data-testid="try-alternative" onClick={() => retry(suggested)}>
                    Try {suggestedModel.name} instead
                  </button>
                )}
              </div>
            </div>
          )}
        </div>
      </div>
      <form class="composer" onSubmit={(e) => { e.preventDefault(); send(draft); }}>
        {blocked && !turnError && (
          <div class="small composer-note" role="note" data-testid="send-blocked" data-code={blocked.code}>
            {blocked.code === 'budget_exceeded' ? 'Budget used up: ' : 'Rate limit reached: '}{blocked.message}
          </div>
        )}
        <div class="composer-box">
          <label for="composer-input" class="sr-only">Message</label>
          <textarea id="composer-input" ref={inputRef} rows={2} placeholder="Message… (Enter to send, Shift+Enter for a new line)"
            value={draft} onInput={(e) => setDraft(e.currentTarget.value)} onKeyDown={onKeyDown} />
          <div class="composer-bar">
            {!pickerHidden && (
              <ModelPicker models={models} value={selected} onChange={onPick} pinned={prefs.pinned}
                onTogglePin={togglePin} note={note} hotkey />
            )}
            {pickerHidden && current && <span class="small muted">Model: {current.name} (set by your organization)</span>}
            <span class="spacer" />
            <span class="cost-hint" data-testid="cost-estimate" aria-live="polite"
              title={tokensText ? `about ${tokensText} input tokens; output up to the model's answer length` : ''}>
              {costText && <>Next turn {costText}</>}
            </span>
            {budgetLeft != null && (
              <span class={'cost-hint' + (overBudget ? ' over-budget' : '')} data-testid="budget-remaining" data-usd={budgetLeft}
                title={overBudget ? `This turn may cost up to ${formatUsd(overBudget.requiredUsd)}: more than the budget has left` : 'What the monthly budget has left'}>
                · Budget left {formatUsd(budgetLeft)}{overBudget ? ' (not enough for this turn)' : ''}
              </span>
            )}
            {streaming ? (
              <button type="button" class="btn" onClick={stop} data-testid="stop"><Icon name="stop" /> Stop</button>
            ) : (
              <button type="submit" class="btn primary" disabled={!draft.trim() || !selected} data-testid="send">
                <Icon name="send" /> Send
              </button>
            )}
          </div>
        </div>
      </form>
    </>
  );
}
