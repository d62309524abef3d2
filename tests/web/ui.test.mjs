// End-to-end tests of the teamhub web UI in real Chromium against the real
// teamhub + aigw (simulator). Flows the server cannot serve yet are skipped
// with the missing endpoint named (probed at start, so they light up as soon
// as the server grows them); nothing is faked.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { apiClient, launchBrowser, layoutProblems, missingReason, screenshot, signIn, sleep, startStack, waitFor } from './lib.mjs';

const stack = await startStack();
const admin = await apiClient(stack.url, stack.admin);
const orgId = admin.me.active_org_id || (admin.me.organizations[0] || {}).id;

const uiRes = await fetch(stack.url + '/');
const uiServed = uiRes.ok && /text\/html/.test(uiRes.headers.get('content-type') || '');
const NO_UI = uiServed ? false : 'teamhub does not serve the web UI at GET / yet (hub_server_routes must call hub_web_routes)';
const skipFor = async (list) => NO_UI || (await missingReason(admin, list));

const CHAT = [['GET', '/api/models'], ['POST', '/api/chat'], ['GET', '/api/conversations']];
const SKIP_CHAT = await skipFor(CHAT);
const SKIP_RESTRICT = await skipFor([...CHAT, ['PUT', `/api/organizations/${orgId}/models`, { allowed_models: null }]]);
const SKIP_PREFS = await skipFor([['GET', '/api/models'], ['GET', '/api/users/preferences/llm']]);
const SKIP_ORG_DEFAULT = await skipFor([['GET', '/api/models'], ['GET', `/api/organizations/${orgId}/models`]]);
const SKIP_USAGE = await skipFor([...CHAT, ['GET', `/api/organizations/${orgId}/usage?group_by=model`]]);
const SKIP_BUDGET = await skipFor([...CHAT, ['GET', `/api/organizations/${orgId}/budget`], ['GET', '/api/governance/status']]);
const SKIP_INVITE = await skipFor([['POST', `/api/organizations/${orgId}/invitations`, { role: 'member' }], ['GET', '/api/invitations/x.y']]);
const orgName = (await admin.call('GET', `/api/organizations/${orgId}`)).json.name;

// An invitation link (admin API) -> {token, url}.
async function invite(body = { role: 'member' }) {
  const r = await admin.call('POST', `/api/organizations/${orgId}/invitations`, body);
  assert.equal(r.status, 201, r.text);
  return r.json;
}
// A new member of the org, registered through an invitation (API): {email, password, id}.
async function newMember(tag) {
  const inv = await invite();
  const email = `${tag}-${Date.now()}@example.com`;
  const password = 'member password';
  const r = await fetch(`${stack.url}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: stack.url },
    body: JSON.stringify({ email, password, name: `Test ${tag}`, invitation: inv.token }),
  });
  const text = await r.text();
  assert.equal(r.status, 201, text);
  return { email, password, id: JSON.parse(text).user.id };
}

// exact decimal USD <-> BigInt pico-USD
const pico = (usd) => {
  const [i, f = ''] = usd.split('.');
  return BigInt(i) * 10n ** 12n + BigInt((f + '0'.repeat(12)).slice(0, 12));
};
const usd = (p) => { const t = p.toString().padStart(13, '0'); return `${t.slice(0, -12)}.${t.slice(-12)}`; };

describe('teamhub web UI', () => {
  let browser;
  before(async () => {
    if (NO_UI) return;
    browser = await launchBrowser();
  });
  after(async () => {
    if (browser) await browser.close();
    await stack.stop();
  });

  async function newPage(who = stack.admin) {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await signIn(page, stack.url, who);
    return page;
  }

  // Picks a model in the selector by typing a query and pressing Enter.
  async function pickModel(page, query, id) {
    await page.getByTestId('model-trigger').first().click();
    const search = page.getByRole('combobox', { name: /search models/i });
    await search.fill(query);
    const active = page.locator('[role="option"][aria-selected="true"]');
    await waitFor(async () => (await active.getAttribute('data-model')) === id, { what: `${id} active in the selector` });
    await search.press('Enter');
    await page.getByRole('dialog', { name: 'Choose a model' }).waitFor({ state: 'detached' });
  }

  async function sendAndWait(page, text) {
    const before = await page.getByTestId('assistant-message').count();
    await page.getByLabel('Message', { exact: true }).fill(text);
    await page.getByTestId('send').click();
    const msg = page.getByTestId('assistant-message').nth(before);
    await msg.waitFor();
    await waitFor(async () => (await msg.getAttribute('data-streaming')) === 'false', { timeout: 20000, what: 'the answer to finish' });
    return msg;
  }

  test('sign-in page renders and signing in opens the chat', { skip: NO_UI }, async () => {
    const page = await browser.newPage();
    await page.goto(stack.url + '/');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await screenshot(page, 'sign-in');
    // a wrong password is shown in place
    await page.getByLabel('E-mail').fill(stack.admin.email);
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').innerText(), /wrong e-mail or password/i);
    await page.getByLabel('Password').fill(stack.admin.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Message', { exact: true }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/');
    await screenshot(page, 'chat-empty');
    // a reload keeps the session (server-side cookie)
    await page.reload();
    await page.getByLabel('Message', { exact: true }).waitFor();
    // phone width: the sidebar collapses behind a menu button
    await page.setViewportSize({ width: 390, height: 800 });
    await page.getByRole('button', { name: 'Open menu' }).waitFor();
    await screenshot(page, 'chat-phone');
    await page.close();
  });

  test('select a model, stream, switch mid-conversation: both answers show model and cost', { skip: SKIP_CHAT }, async () => {
    const page = await newPage();
    await pickModel(page, 'sim fast', 'simulator/sim-fast');
    await page.getByLabel('Message', { exact: true }).fill('Hello there, how are you?');
    await waitFor(async () => /\$/.test(await page.getByTestId('cost-estimate').innerText()), { what: 'a cost estimate beside Send' });
    await page.getByLabel('Message', { exact: true }).fill('');
    const first = await sendAndWait(page, 'Hello there, how are you?');
    assert.ok((await first.locator('.markdown').innerText()).length > 10, 'text streamed in');
    assert.match(await first.getByTestId('message-model').innerText(), /fast/i);
    assert.match(await first.getByTestId('message-cost').innerText(), /\$\d/);
    await waitFor(async () => /^\/c\//.test(new URL(page.url()).pathname), { what: 'the conversation URL' });

    await pickModel(page, 'sim chat', 'simulator/sim-chat');
    await page.getByTestId('switch-note').first().waitFor();
    const second = await sendAndWait(page, 'And now a second question.');
    assert.match(await second.getByTestId('message-model').innerText(), /chat/i);
    assert.match(await second.getByTestId('message-cost').innerText(), /\$\d/);
    assert.match(await first.getByTestId('message-model').innerText(), /fast/i, 'the first answer keeps its model');
    await screenshot(page, 'chat-two-models');

    // after a reload the thread (from the server) still shows both models and the switch
    await page.reload();
    await page.getByTestId('assistant-message').nth(1).waitFor();
    const models = await page.getByTestId('message-model').allInnerTexts();
    assert.equal(models.length, 2);
    assert.notEqual(models[0], models[1]);
    await page.getByTestId('switch-note').first().waitFor();
    await page.close();
  });

  test('a restricted model is disabled with its reason', { skip: SKIP_RESTRICT }, async () => {
    const models = (await admin.call('GET', '/api/models')).json;
    const all = (models.models || models.data || models).map((m) => m.id || `${m.provider}/${m.model}`);
    const allowed = all.filter((id) => id !== 'simulator/sim-reasoning');
    const put = await admin.call('PUT', `/api/organizations/${orgId}/models`, { allowed_models: allowed });
    assert.equal(put.status, 200, put.text);
    try {
      const page = await newPage(stack.member);
      await page.getByTestId('model-trigger').first().click();
      await page.getByRole('combobox', { name: /search models/i }).fill('reasoning');
      const opt = page.locator('[role="option"][data-model="simulator/sim-reasoning"]');
      await opt.waitFor();
      assert.equal(await opt.getAttribute('aria-disabled'), 'true');
      assert.ok((await opt.locator('.opt-reason').innerText()).trim().length > 3, 'a reason is shown');
      await screenshot(page, 'selector-restricted');
      await page.getByRole('combobox', { name: /search models/i }).press('Enter'); // disabled: nothing happens
      assert.ok(await page.getByRole('dialog', { name: 'Choose a model' }).isVisible());
      await page.keyboard.press('Escape');
      await page.close();
    } finally {
      await admin.call('PUT', `/api/organizations/${orgId}/models`, { allowed_models: null });
    }
  });

  test('a saved default model survives a reload and a new conversation', { skip: SKIP_PREFS }, async () => {
    const page = await newPage(stack.member);
    await page.goto(stack.url + '/settings');
    await pickModel(page, 'sim reasoning', 'simulator/sim-reasoning');
    await waitFor(async () => /reasoning/i.test(await page.getByTestId('settings-default').innerText()), { what: 'the saved default' });
    await page.reload();
    await waitFor(async () => /reasoning/i.test(await page.getByTestId('settings-default').innerText()), { what: 'the default after reload' });
    await screenshot(page, 'settings');
    await page.getByTestId('new-chat').click();
    await waitFor(async () => /reasoning/i.test(await page.getByTestId('model-trigger').innerText()), { what: 'the default in a new chat' });
    assert.match(await page.getByTestId('model-note').innerText(), /your default/i);
    await page.close();
  });

  test('an admin changes the org default and a member sees it', { skip: SKIP_ORG_DEFAULT }, async () => {
    const member = await apiClient(stack.url, stack.member);
    await member.call('POST', '/api/users/preferences/llm', { default_model: null, pinned_models: [] });
    const put = await admin.call('PUT', `/api/organizations/${orgId}/models`, { allowed_models: null, default_model: 'simulator/sim-tools' });
    assert.equal(put.status, 200, put.text);
    const page = await newPage(stack.member);
    await waitFor(async () => /tools/i.test(await page.getByTestId('model-trigger').innerText()), { what: 'the org default for the member' });
    assert.match(await page.getByTestId('model-note').innerText(), /organization/i);
    await page.close();
  });

  test('an unavailable model shows an error with an alternative', { skip: SKIP_CHAT }, async () => {
    const page = await newPage();
    await page.getByTestId('new-chat').click();
    await pickModel(page, 'sim chat', 'simulator/sim-chat');
    await page.getByLabel('Message', { exact: true }).fill('Please answer [[sim:error=503]]');
    await page.getByTestId('send').click();
    const err = page.getByTestId('turn-error');
    await err.waitFor({ timeout: 15000 });
    assert.match(await err.innerText(), /unavailable|503|error/i);
    await page.getByRole('button', { name: 'Retry' }).waitFor();
    const alt = page.getByTestId('try-alternative');
    await alt.waitFor();
    await screenshot(page, 'chat-error');
    await page.close();
  });

  test('a send over budget is refused in place with what is left and a cheaper model that fits', { skip: SKIP_BUDGET }, async () => {
    const member = await apiClient(stack.url, stack.member);
    const text = 'How much does this cost?';
    const required = async (model) => {
      const r = await member.call('POST', '/api/chat/estimate', { draft: text, model });
      assert.equal(r.status, 200, r.text);
      return pico(r.json.budget.required_usd);
    };
    const chatMax = await required('simulator/sim-chat');
    const fastMax = await required('simulator/sim-fast');
    assert.ok(fastMax * 2n < chatMax, 'sim-fast is not much cheaper than sim-chat');
    const cur = (await admin.call('GET', `/api/organizations/${orgId}/budget`)).json;
    // room for half a sim-chat turn: sim-chat is refused, sim-fast fits
    const limit = pico(cur.spent_usd) + pico(cur.reserved_usd) + chatMax / 2n;
    const put = await admin.call('PUT', `/api/organizations/${orgId}/budget`, { monthly_limit_usd: usd(limit) });
    assert.equal(put.status, 200, put.text);
    try {
      const page = await newPage(stack.member);
      await page.getByTestId('new-chat').click();
      await pickModel(page, 'sim chat', 'simulator/sim-chat');
      const left = page.getByTestId('budget-remaining');
      await left.waitFor();
      assert.equal(pico(await left.getAttribute('data-usd')), chatMax / 2n);
      await page.getByLabel('Message', { exact: true }).fill(text);
      await waitFor(async () => /not enough/.test(await left.innerText()), { what: 'the over-budget hint beside Send' });
      await page.getByTestId('send').click();
      const err = page.getByTestId('turn-error');
      await err.waitFor({ timeout: 15000 });
      assert.match(await err.innerText(), /budget exceeded/i);
      const shown = page.getByTestId('refusal-remaining');
      assert.equal(pico(await shown.getAttribute('data-usd')), chatMax / 2n, 'the refusal names what is left');
      const cheaper = page.locator('[data-testid="cheaper-model"][data-model="simulator/sim-fast"]');
      await cheaper.waitFor();
      await screenshot(page, 'chat-budget-exceeded');
      await cheaper.click();
      const msg = page.getByTestId('assistant-message').last();
      await msg.waitFor();
      await waitFor(async () => (await msg.getAttribute('data-streaming')) === 'false', { timeout: 20000, what: 'the answer on the cheaper model' });
      assert.match(await msg.getByTestId('message-model').innerText(), /fast/i);
      assert.equal(await page.getByTestId('turn-error').count(), 0, 'the refusal is gone after the cheaper send');
      // the footer shows the budget that is left now
      const after = (await admin.call('GET', `/api/organizations/${orgId}/budget`)).json;
      await waitFor(async () => (await left.getAttribute('data-usd')) === after.remaining_usd, { what: 'the remaining budget after the send' });
      await page.close();
    } finally {
      await admin.call('PUT', `/api/organizations/${orgId}/budget`, { monthly_limit_usd: null });
    }
  });

  test('Stop keeps the partial answer', { skip: SKIP_CHAT }, async () => {
    const page = await newPage();
    await page.getByTestId('new-chat').click();
    await pickModel(page, 'sim chat', 'simulator/sim-chat');
    await page.getByLabel('Message', { exact: true }).fill('Tell me a long story [[sim:tokens_per_s=1,output_tokens=3000]]');
    await page.getByTestId('send').click();
    const msg = page.getByTestId('assistant-message').last();
    await waitFor(async () => (await msg.locator('.markdown').count()) && (await msg.locator('.markdown').innerText()).length > 20, { timeout: 15000, what: 'some streamed text' });
    await page.getByTestId('stop').click();
    await waitFor(async () => (await msg.getAttribute('data-streaming')) === 'false', { what: 'streaming to stop' });
    const kept = await msg.locator('.markdown').innerText();
    assert.ok(kept.length > 20, 'the partial answer stays');
    await sleep(500);
    assert.equal(await msg.locator('.markdown').innerText(), kept, 'nothing arrives after Stop');
    await page.getByTestId('send').waitFor();
    await page.close();
  });

  test('the usage dashboard totals match the API', { skip: SKIP_USAGE }, async () => {
    const page = await newPage();
    await page.goto(stack.url + '/usage');
    const total = page.getByTestId('total-cost');
    await total.waitFor({ timeout: 15000 });
    const today = new Date().toISOString().slice(0, 10);
    const from = new Date(Date.now() - 29 * 86400000).toISOString().slice(0, 10);
    const api = await admin.call('GET', `/api/organizations/${orgId}/usage?group_by=model&from=${from}&to=${today}`);
    assert.equal(api.status, 200, api.text);
    assert.equal(await total.getAttribute('data-usd'), api.json.totals.cost_usd);
    const rows = api.json.rows || api.json.groups || api.json.data || [];
    const shown = await page.locator('[data-testid="usage-models"] td[data-cost]').evaluateAll((tds) => tds.map((td) => td.dataset.cost));
    assert.deepEqual(shown.sort(), rows.map((r) => r.cost_usd).sort());

    // the chart's series by model: the legend's exact per-model totals and the chart-data
    // table equal the API's day x model grouping (and so the ledger)
    const dm = await admin.call('GET', `/api/organizations/${orgId}/usage?group_by=day,model&from=${from}&to=${today}`);
    assert.equal(dm.status, 200, dm.text);
    const perModel = new Map();
    for (const g of dm.json.groups) perModel.set(g.model, (perModel.get(g.model) || 0n) + pico(g.cost_usd));
    assert.ok(perModel.size >= 2, 'the chats above used at least two models');
    await page.getByTestId('usage-chart').locator('canvas').waitFor();
    const legend = await page.locator('[data-testid="usage-legend"] li').evaluateAll((lis) => lis.map((li) => [li.dataset.model, li.dataset.usd]));
    assert.deepEqual(legend.map(([m]) => m).sort(), [...perModel.keys()].sort());
    for (const [m, u] of legend) assert.equal(pico(u), perModel.get(m), `legend total of ${m}`);
    for (const g of rows) assert.equal(perModel.get(g.key), pico(g.cost_usd), `series of ${g.key} = its by-model row`);
    await page.getByText('Chart data by day and model').click();
    const cells = await page.locator('[data-testid="usage-series"] tbody tr').evaluateAll((trs) =>
      trs.map((tr) => `${tr.dataset.day}|${tr.dataset.model}|${tr.querySelector('td[data-cost]').dataset.cost}`));
    assert.deepEqual(cells.sort(), dm.json.groups.map((g) => `${g.day}|${g.model}|${g.cost_usd}`).sort());
    // the tokens view redraws the same models
    await page.getByRole('button', { name: 'Tokens', exact: true }).click();
    await waitFor(async () => /Tokens per day/.test(await page.locator('#chart-h').innerText()), { what: 'the tokens chart' });
    await page.getByRole('button', { name: 'Cost', exact: true }).click();
    // people and agents by name, not by id
    const users = await page.getByTestId('usage-users').innerText();
    assert.match(users, /Demo Admin/);
    assert.doesNotMatch(users, /\busr_/);
    await screenshot(page, 'usage');
    await page.close();
  });

  test('a new user registers through an invitation link and lands in the organization', { skip: SKIP_INVITE || NO_UI }, async () => {
    const inv = await invite();
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.goto(stack.url + inv.url);
    await page.getByRole('heading', { name: 'Join your team' }).waitFor();
    await waitFor(async () => (await page.getByTestId('invite-org').innerText()) === orgName, { what: 'the organization name on the invite page' });
    assert.match(await page.locator('main').innerText(), /valid until/);
    await screenshot(page, 'invite');
    const email = `invited-${Date.now()}@example.com`;
    await page.getByLabel('Name').fill('Invited Person');
    await page.getByLabel('E-mail').fill(email);
    await page.getByLabel('Password').fill('invited password');
    await page.getByRole('button', { name: 'Create account and join' }).click();
    await page.getByLabel('Message', { exact: true }).waitFor({ timeout: 10000 });
    assert.equal(new URL(page.url()).pathname, '/');
    const me = await page.evaluate(async () => (await (await fetch('/api/auth/me')).json()).user);
    assert.equal(me.email, email);
    assert.equal(me.active_org_id, orgId);
    assert.equal(me.role, 'member');
    const members = (await admin.call('GET', `/api/organizations/${orgId}/members`)).json.members;
    assert.ok(members.some((m) => m.email === email && m.role === 'member'));
    // the link worked once: opening it again says so
    await page.goto(stack.url + inv.url);
    await page.getByTestId('invite-dead').waitFor();
    await page.close();
  });

  test('conversations are renamed and deleted from the sidebar by keyboard, delete asks first', { skip: SKIP_CHAT }, async () => {
    const member = await apiClient(stack.url, stack.member);
    const a = (await member.call('POST', '/api/conversations', { title: 'Rename me' })).json;
    const b = (await member.call('POST', '/api/conversations', { title: 'Delete me' })).json;
    const page = await newPage(stack.member);
    const itemA = page.locator(`li[data-conversation="${a.id}"]`);
    const itemB = page.locator(`li[data-conversation="${b.id}"]`);
    await itemA.waitFor();
    // rename: F2 on the link, type, Enter
    await itemA.locator('a').focus();
    await page.keyboard.press('F2');
    const field = page.getByLabel('Conversation title');
    await field.waitFor();
    await field.fill('Renamed in the sidebar');
    await field.press('Enter');
    await waitFor(async () => (await member.call('GET', `/api/conversations/${a.id}`)).json.title === 'Renamed in the sidebar', { what: 'the new title on the server' });
    assert.equal(await itemA.locator('.conv-title').innerText(), 'Renamed in the sidebar');
    assert.equal(await page.evaluate(() => document.activeElement.closest('li')?.dataset.conversation), a.id, 'focus returns to the conversation');
    // Escape cancels a rename
    await page.keyboard.press('F2');
    await field.fill('not saved');
    await field.press('Escape');
    await sleep(200);
    assert.equal((await member.call('GET', `/api/conversations/${a.id}`)).json.title, 'Renamed in the sidebar');
    // delete: the button asks; Cancel (focused first) keeps it
    await itemB.getByRole('button', { name: /^Delete “/ }).click();
    const confirmBox = itemB.getByRole('alertdialog');
    await confirmBox.waitFor();
    // The dialog moves the focus to its safe choice right after it renders.
    await waitFor(async () => (await page.evaluate(() => document.activeElement.textContent)) === 'Cancel',
      { timeout: 3000, what: 'the safe choice (Cancel) to have the focus' });
    await page.keyboard.press('Enter');
    await confirmBox.waitFor({ state: 'detached' });
    assert.equal((await member.call('GET', `/api/conversations/${b.id}`)).status, 200);
    // the Delete key on the link asks too; confirming deletes it on the server
    await itemB.locator('a').focus();
    await page.keyboard.press('Delete');
    await confirmBox.waitFor();
    await screenshot(page, 'sidebar-confirm-delete');
    await itemB.getByTestId('confirm-delete').click();
    await itemB.waitFor({ state: 'detached' });
    assert.equal((await member.call('GET', `/api/conversations/${b.id}`)).status, 404);
    await page.close();
  });

  test('admin: member roles and removal, invitation links (create, list, revoke), agent tools and allowed models', { skip: SKIP_INVITE || NO_UI }, async () => {
    const person = await newMember('roles');
    const page = await newPage();
    await page.goto(stack.url + '/admin');
    const row = page.locator(`[data-testid="members"] tr[data-email="${person.email}"]`);
    await row.waitFor();
    const memberRole = async () => ((await admin.call('GET', `/api/organizations/${orgId}/members`)).json.members.find((m) => m.email === person.email) || {}).role;
    await row.getByLabel(`Role of ${person.email}`).selectOption('admin');
    await waitFor(async () => (await memberRole()) === 'admin', { what: 'the new role on the server' });
    const audit = (await admin.call('GET', `/api/organizations/${orgId}/audit?action=membership.`)).json.entries;
    assert.ok(audit.some((e) => e.action === 'membership.update' && e.target === `user:${person.id}`), 'the role change is audited');
    // my own row cannot be changed here (no lock-out by accident)
    assert.ok(await page.locator(`[data-testid="members"] tr[data-email="${stack.admin.email}"] select`).isDisabled());
    page.once('dialog', (d) => d.accept());
    await row.getByRole('button', { name: `Remove ${person.email}` }).click();
    await row.waitFor({ state: 'detached' });
    assert.equal(await memberRole(), undefined);

    // invitation links
    const invitee = `invitee-${Date.now()}@example.com`;
    const form = page.getByRole('form', { name: 'New invitation' });
    await form.getByLabel(/E-mail/).fill(invitee);
    await form.getByLabel('Role').selectOption('admin');
    await form.getByRole('button', { name: 'Create invitation link' }).click();
    const link = page.getByTestId('invite-link');
    await link.waitFor();
    assert.match(await link.innerText(), /\/invite\/inv_/);
    const pendingRow = page.locator('[data-testid="invitations"] tr', { hasText: invitee });
    await pendingRow.waitFor();
    assert.match(await pendingRow.innerText(), /admin/);
    const token = (await link.innerText()).split('/invite/')[1];
    assert.equal((await fetch(`${stack.url}/api/invitations/${token}`)).status, 200);
    page.once('dialog', (d) => d.accept());
    await pendingRow.getByRole('button', { name: 'Revoke' }).click();
    await pendingRow.waitFor({ state: 'detached' });
    assert.equal((await fetch(`${stack.url}/api/invitations/${token}`)).status, 404, 'a revoked link is dead');

    // an agent with tools (JSON checked in place) and a subset of the models
    await page.getByRole('button', { name: 'New agent' }).click();
    const agentForm = page.getByRole('form', { name: 'New agent' });
    await agentForm.getByLabel('Name', { exact: true }).fill('Tool agent');
    const tools = agentForm.locator('textarea[name="tools"]');
    await tools.fill('[{"type": "function", ');
    await agentForm.getByRole('button', { name: 'Save agent' }).click();
    await agentForm.getByTestId('tools-error').waitFor();
    assert.match(await agentForm.getByTestId('tools-error').innerText(), /not valid JSON/);
    assert.equal(await page.evaluate(() => document.activeElement.name), 'tools', 'the error puts the focus on the field');
    const weather = [{ type: 'function', function: { name: 'getWeather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
    await tools.fill(JSON.stringify(weather, null, 2));
    await agentForm.getByTestId('agent-restrict').check();
    await agentForm.locator('input[data-model="simulator/sim-reasoning"]').uncheck();
    await screenshot(page, 'admin-agent-edit');
    await agentForm.getByRole('button', { name: 'Save agent' }).click();
    await agentForm.waitFor({ state: 'detached' });
    const agents = (await admin.call('GET', '/api/agents')).json.agents;
    const agent = agents.find((x) => x.name === 'Tool agent');
    assert.ok(agent, JSON.stringify(agents));
    try {
      assert.deepEqual(agent.tools, weather);
      assert.ok(Array.isArray(agent.allowed_models) && agent.allowed_models.length > 0);
      assert.ok(!agent.allowed_models.includes('simulator/sim-reasoning'));
      assert.ok(agent.allowed_models.includes('simulator/sim-chat'));
      // editing shows what was saved; clearing the subset goes back to the org's list
      await page.getByRole('button', { name: 'Edit Tool agent' }).click();
      const editForm = page.getByRole('form', { name: 'Edit agent' });
      assert.deepEqual(JSON.parse(await editForm.locator('textarea[name="tools"]').inputValue()), weather);
      await editForm.getByTestId('agent-restrict').uncheck();
      await editForm.getByRole('button', { name: 'Save agent' }).click();
      await editForm.waitFor({ state: 'detached' });
      const again = (await admin.call('GET', `/api/agents/${agent.id}`)).json;
      assert.equal((again.agent || again).allowed_models, null);
      await screenshot(page, 'admin');
    } finally {
      await admin.call('DELETE', `/api/agents/${agent.id}`);
    }
    await page.close();
  });

  // Every page at phone width (375 px) in the light and the dark theme: a screenshot each
  // (checked not blank), the theme really applied, and no sideways scrolling or element
  // sticking out of the screen.
  for (const theme of ['light', 'dark']) {
    test(`every page at phone width in the ${theme} theme`, { skip: SKIP_INVITE || SKIP_USAGE }, async () => {
      const opts = { viewport: { width: 375, height: 740 }, colorScheme: theme };
      const check = async (page, name) => {
        assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), theme, `${name}: theme`);
        await sleep(150); // let charts and transitions settle
        assert.deepEqual(await layoutProblems(page), [], `${name} at 375 px (${theme})`);
        await screenshot(page, `phone-${name}-${theme}`);
      };
      const anon = await browser.newPage(opts);
      await anon.goto(stack.url + '/login');
      await anon.getByRole('heading', { name: 'Sign in' }).waitFor();
      await check(anon, 'sign-in');
      await anon.goto(stack.url + '/register');
      await anon.getByRole('heading', { name: 'Create your account' }).waitFor();
      await check(anon, 'register');
      await anon.goto(stack.url + (await invite()).url);
      await waitFor(async () => (await anon.getByTestId('invite-org').innerText()) === orgName, { what: 'the invite page' });
      await check(anon, 'invite');
      await anon.close();

      const page = await browser.newPage(opts);
      page.on('pageerror', (e) => console.error('page error:', e.message));
      await signIn(page, stack.url, stack.admin);
      // a finished one (a stopped answer is stored only once aigw's usage is drained)
      const conv = (await admin.call('GET', '/api/conversations?limit=50')).json.conversations.find((c) => c.message_count >= 2);
      if (conv) {
        await page.goto(`${stack.url}/c/${conv.id}`);
        await page.getByTestId('assistant-message').first().waitFor();
        await check(page, 'chat');
      }
      await page.getByRole('button', { name: 'Open menu' }).click();
      await page.getByRole('button', { name: 'Close menu' }).waitFor();
      await sleep(300); // the slide-in transition
      await screenshot(page, `phone-sidebar-${theme}`);
      await page.getByRole('button', { name: 'Close menu' }).click();
      await page.getByTestId('model-trigger').first().click();
      await page.getByRole('dialog', { name: 'Choose a model' }).waitFor();
      await check(page, 'selector');
      await page.keyboard.press('Escape');
      for (const [p, name, marker] of [['/settings', 'settings', 'settings-default'], ['/admin', 'admin', 'members'], ['/usage', 'usage', 'total-cost']]) {
        await page.goto(stack.url + p);
        await page.getByTestId(marker).waitFor({ timeout: 15000 });
        await check(page, name);
      }
      await page.close();
    });
  }
});
