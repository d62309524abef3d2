// Graceful shutdown of aigw, black-box: on SIGTERM it stops accepting connections, closes idle
// keep-alive connections, lets open streams and in-flight requests finish within
// AIGW_SHUTDOWN_GRACE_MS, cuts whatever is left at that deadline (upstream calls included), flushes
// the usage log and exits 0. The promise checked everywhere: nothing acknowledged is lost - every
// request that got an answer has its usage_log row once the process is gone (read from the
// database after exit, on SQLite and, when available, PostgreSQL).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';

import { checkGenerateStream, dbQuery, genBody, jsonEvents, parseSSE, sleep, startAigw, startFakes, startPostgres, waitFor } from './lib.mjs';

let fakes;
before(async () => { fakes = await startFakes(); });
after(async () => { await fakes?.stop(); });

let marker = 0;
const uniq = (label) => `${label} s${process.pid}x${++marker}`;

/** Resolves once the gateway process has exited; returns {code, signal, ms} (ms since `since`). */
async function exitOf(gw, since) {
  if (gw.child.exitCode === null && gw.child.signalCode === null) await once(gw.child, 'exit');
  return { code: gw.child.exitCode, signal: gw.child.signalCode, ms: Date.now() - since };
}

/** usage_log rows by request id, read straight from the database (works after aigw exited). */
function rowsById(gw, ids) {
  if (!ids.length) return new Map();
  const list = ids.map((id) => `'${id.replace(/'/g, "''")}'`).join(',');
  const rows = dbQuery(gw, `SELECT request_id, http_status, error_code, stream, output_tokens FROM usage_log WHERE request_id IN (${list})`);
  const byId = new Map();
  for (const r of rows) {
    assert.ok(!byId.has(r.request_id), `two usage rows for ${r.request_id}`);
    byId.set(r.request_id, r);
  }
  return byId;
}

/**
 * Opens a streamed /api/generate and reads it incrementally.
 * Returns {firstDelta: Promise, result: Promise<{status, events, raw, ended: 'eof'|'error', error?}>}.
 */
function openStream(gw, body) {
  let markFirst;
  const firstDelta = new Promise((resolve) => { markFirst = resolve; });
  const result = (async () => {
    const r = await gw.fetch('/api/generate', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!(r.headers.get('content-type') || '').startsWith('text/event-stream')) {
      markFirst(null);
      return { status: r.status, raw: await r.text(), events: [], ended: 'eof' };
    }
    const decoder = new TextDecoder();
    let raw = '';
    try {
      for await (const chunk of r.body) {
        raw += decoder.decode(chunk, { stream: true });
        if (raw.includes('event: delta')) markFirst(true);
      }
      return { status: r.status, raw, events: parseSSE(raw).events, ended: 'eof' };
    } catch (e) {
      return { status: r.status, raw, events: parseSSE(raw).events, ended: 'error', error: e };
    } finally {
      markFirst(null);
    }
  })();
  result.catch(() => markFirst(null));
  return { firstDelta, result };
}

/** Connect attempt: resolves 'refused' | 'reset' | 'open' (open = the server accepted it). */
function tryConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      // Accepted by the kernel; see whether the server answers or closes.
      s.write('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
      let got = '';
      s.on('data', (d) => { got += d; });
      s.once('close', () => resolve(got.startsWith('HTTP/1.1 200') ? 'open' : 'reset'));
      s.once('error', () => {});
      setTimeout(() => { s.destroy(); }, 1000);
    });
    s.once('error', (e) => resolve(e.code === 'ECONNREFUSED' ? 'refused' : 'reset'));
  });
}

describe('SIGTERM with open streams: they finish within the grace period', () => {
  const GRACE = 4000;
  let gw;
  before(async () => {
    // Real simulator speed so that streams take about a second.
    gw = await startAigw({ fakes, providers: ['openai'], env: { AIGW_SHUTDOWN_GRACE_MS: String(GRACE), AIGW_SIM_SPEED: '1' } });
  });
  after(async () => { await gw?.stop(); });

  test('streams (simulator and provider) complete, a non-stream call is answered, idle connections close, new ones are refused, every answer has its row', async () => {
    const simStreams = Array.from({ length: 4 }, (_, i) => openStream(gw, genBody('simulator', 'sim-chat', `${uniq(`sim stream ${i}`)} [[sim:ttft_ms=50,tokens_per_s=25,output_tokens=25]]`, { stream: true })));
    const fakeMarks = Array.from({ length: 3 }, (_, i) => uniq(`provider stream ${i}`));
    const fakeStreams = fakeMarks.map((m) => openStream(gw, genBody('openai', 'gpt-4o-mini', `${m} [[fake:slow=40,tokens=25]]`, { stream: true })));
    const nonStream = gw.generate(genBody('simulator', 'sim-chat', `${uniq('non-stream')} [[sim:ttft_ms=900,tokens_per_s=0]]`));
    // An idle keep-alive connection that already had its answer.
    const idle = net.connect(gw.port, '127.0.0.1');
    await once(idle, 'connect');
    idle.write('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
    await once(idle, 'data');
    const idleClosed = once(idle, 'close');
    idle.on('error', () => {});

    const all = [...simStreams, ...fakeStreams];
    assert.ok((await Promise.all(all.map((s) => s.firstDelta))).every(Boolean), 'every stream had started before SIGTERM');
    const t0 = Date.now();
    gw.terminate();

    await Promise.race([idleClosed, sleep(1500).then(() => assert.fail('an idle keep-alive connection is closed at once on SIGTERM'))]);
    await sleep(100);
    assert.notEqual(await tryConnect(gw.port), 'open', 'no new connection is served after SIGTERM');

    const results = await Promise.all(all.map((s) => s.result));
    const ids = [];
    for (const [i, r] of results.entries()) {
      assert.equal(r.status, 200);
      assert.equal(r.ended, 'eof', `stream ${i} ended cleanly, not cut: ${r.error?.message}`);
      const s = checkGenerateStream(r.events);
      assert.equal(s.error, null, `stream ${i} finished without error: ${JSON.stringify(s.error)}`);
      assert.equal(s.done.finish_reason, 'stop');
      assert.equal(s.usage.output_tokens, 25, `stream ${i} got its whole answer`);
      ids.push(s.start.id);
    }
    const ns = await nonStream;
    assert.equal(ns.status, 200, ns.raw);
    assert.equal(ns.headers.get('connection'), 'close', 'an answer given while draining closes its connection');
    ids.push(ns.json.id);

    const { code, signal, ms } = await exitOf(gw, t0);
    assert.equal(signal, null);
    assert.equal(code, 0, gw.tail());
    assert.ok(ms < GRACE, `exited ${ms} ms after SIGTERM: once the streams were done, not at the deadline`);
    const up = (await fakes.chatRequests('openai')).filter((r) => fakeMarks.some((m) => JSON.stringify(r.body).includes(m)));
    assert.equal(up.length, 3);
    assert.ok(up.every((r) => r.outcome === 'complete' && !r.aborted), 'upstream streams ran to their end');

    const rows = rowsById(gw, ids);
    for (const id of ids) {
      const row = rows.get(id);
      assert.ok(row, `usage row of ${id} exists after shutdown`);
      assert.equal(Number(row.http_status), 200);
      assert.equal(row.error_code, null);
    }
  });
});

describe('SIGTERM with streams that outlive the grace period', () => {
  const GRACE = 700;
  let gw;
  before(async () => {
    gw = await startAigw({ fakes, providers: ['openai'], env: { AIGW_SHUTDOWN_GRACE_MS: String(GRACE), AIGW_SIM_SPEED: '1' } });
  });
  after(async () => { await gw?.stop(); });

  test('the process exits at the deadline, long streams and a stalled upstream are cut, and each has its usage row', async () => {
    const longSim = openStream(gw, genBody('simulator', 'sim-chat', `${uniq('endless')} [[sim:ttft_ms=0,tokens_per_s=10,output_tokens=200]]`, { stream: true }));
    const longMark = uniq('long provider');
    const longFake = openStream(gw, genBody('openai', 'gpt-4o-mini', `${longMark} [[fake:slow=100,tokens=200]]`, { stream: true }));
    const stalledMark = uniq('stalled');
    const stalled = gw.generate(genBody('openai', 'gpt-4.1', `${stalledMark} [[fake:timeout]]`)).catch((e) => ({ status: 0, error: e }));
    assert.ok(await longSim.firstDelta);
    assert.ok(await longFake.firstDelta);
    await waitFor(async () => (await fakes.chatRequests('openai')).some((r) => JSON.stringify(r.body).includes(stalledMark)), { what: 'stalled call upstream' });

    const t0 = Date.now();
    gw.terminate();
    const { code, ms } = await exitOf(gw, t0);
    assert.equal(code, 0, gw.tail());
    assert.ok(ms >= GRACE - 50, `the streams got the whole grace period (exit after ${ms} ms)`);
    assert.ok(ms < GRACE + 2500, `exit ${ms} ms after SIGTERM, grace ${GRACE} ms`);

    const [sim, fake, st] = await Promise.all([longSim.result, longFake.result, stalled]);
    for (const r of [sim, fake]) {
      const evs = jsonEvents(r.events);
      assert.ok(evs.filter((e) => e.event === 'delta').length < 200, 'the stream was cut before its end');
      assert.ok(!evs.some((e) => e.event === 'done' && e.data.finish_reason === 'stop'), 'not reported as a normal end');
    }
    assert.notEqual(st.status, 200, 'the stalled non-stream call did not succeed');

    await waitFor(async () => (await fakes.chatRequests('openai')).filter((r) => [longMark, stalledMark].some((m) => JSON.stringify(r.body).includes(m))).every((r) => r.aborted),
      { timeout: 2000, what: 'upstream calls closed by the shutdown' });

    // Both streams were answered (status 200 and a start event): they must be on record.
    const ids = [sim, fake].map((r) => jsonEvents(r.events)[0].data.id);
    const rows = rowsById(gw, ids);
    for (const id of ids) {
      const row = rows.get(id);
      assert.ok(row, `usage row of the cut stream ${id}`);
      // The wire status was 200 (the stream had started); the row says how it ended.
      assert.ok(row.error_code, `a cut stream is not recorded as a success: ${JSON.stringify(row)}`);
      assert.ok(Number(row.output_tokens) > 0, 'the tokens that reached the client are counted');
    }
  });

  test('a stream cut by the shutdown deadline ends with an error event, not a bare disconnect', async () => {
    const g = await startAigw({ fakes, providers: ['openai'], env: { AIGW_SHUTDOWN_GRACE_MS: '300', AIGW_SIM_SPEED: '1' } });
    try {
      const s = openStream(g, genBody('simulator', 'sim-chat', `${uniq('cut by shutdown')} [[sim:ttft_ms=0,tokens_per_s=10,output_tokens=100]]`, { stream: true }));
      assert.ok(await s.firstDelta);
      const t0 = Date.now();
      g.terminate();
      await exitOf(g, t0);
      const r = await s.result;
      const parsed = checkGenerateStream(r.events);
      assert.ok(parsed.error, 'an error event tells the client the stream was cut');
      assert.equal(parsed.done.finish_reason, 'error');
      const row = rowsById(g, [parsed.start.id]).get(parsed.start.id);
      assert.notEqual(row.error_code, 'client_closed', 'the gateway cut the stream, not the client');
    } finally {
      await g.stop();
    }
  });
});

describe('SIGTERM with nothing in flight', () => {
  test('an idle gateway exits at once', async () => {
    const gw = await startAigw({ fakes, providers: ['openai'], env: { AIGW_SHUTDOWN_GRACE_MS: '5000' } });
    try {
      assert.equal((await gw.generate(genBody('simulator', 'sim-fast', uniq('one call')))).status, 200);
      const t0 = Date.now();
      gw.terminate();
      const { code, ms } = await exitOf(gw, t0);
      assert.equal(code, 0);
      assert.ok(ms < 1500, `exited after ${ms} ms`);
    } finally {
      await gw.stop();
    }
  });

  test('a request still arriving at SIGTERM is served when it completes within the grace period', async () => {
    const gw = await startAigw({ fakes, providers: ['openai'], env: { AIGW_SHUTDOWN_GRACE_MS: '3000' } });
    const sock = net.connect(gw.port, '127.0.0.1');
    try {
      sock.on('error', () => {});
      await once(sock, 'connect');
      const body = Buffer.from(JSON.stringify(genBody('simulator', 'sim-fast', uniq('late body'))));
      sock.write(`POST /api/generate HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${gw.key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
      sock.write(body.subarray(0, 20));
      await sleep(100);
      const t0 = Date.now();
      gw.terminate();
      await sleep(300);
      let got = '';
      sock.on('data', (d) => { got += d; });
      const closed = once(sock, 'close');
      sock.write(body.subarray(20));
      await closed;
      assert.match(got, /^HTTP\/1\.1 200 /, got.slice(0, 200));
      assert.match(got, /\r\nConnection: close\r\n/i);
      const id = JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4)).id;
      const { code, ms } = await exitOf(gw, t0);
      assert.equal(code, 0);
      assert.ok(ms < 3000, `exited ${ms} ms after SIGTERM, once the last request was answered`);
      assert.ok(rowsById(gw, [id]).get(id), 'the late request is on record');
    } finally {
      sock.destroy();
      await gw.stop();
    }
  });

  test('a half-sent request that never completes holds the shutdown no longer than the grace period', async () => {
    const GRACE = 1500;
    const gw = await startAigw({ fakes, providers: ['openai'], env: { AIGW_SHUTDOWN_GRACE_MS: String(GRACE) } });
    const socks = [];
    try {
      for (const partial of ['GET /healthz HTTP/1.1\r\nHost: t\r\nX-Half: ', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{"provider":']) {
        const s = net.connect(gw.port, '127.0.0.1');
        s.on('error', () => {});
        await once(s, 'connect');
        s.write(partial);
        socks.push(s);
      }
      await sleep(100);
      const t0 = Date.now();
      gw.terminate();
      const { code, ms } = await exitOf(gw, t0);
      assert.equal(code, 0);
      assert.ok(ms < GRACE + 1500, `exited ${ms} ms after SIGTERM (grace ${GRACE} ms)`);
    } finally {
      for (const s of socks) s.destroy();
      await gw.stop();
    }
  });
});

function flushSuite(label, dbOption) {
  describe(`nothing acknowledged is lost (${label})`, () => {
    let gw;
    let db;
    before(async () => {
      if (dbOption === 'postgres') {
        db = await startPostgres();
        if (!db) return;
      }
      gw = await startAigw({ fakes, providers: ['openai'], database: db ? db.url : 'sqlite', env: { AIGW_SHUTDOWN_GRACE_MS: '3000', HTTP_ACCESS_LOG: '0' } });
    });
    after(async () => { await gw?.stop(); await db?.stop(); });

    test('clients keep calling while SIGTERM arrives: every answered request has its usage row after exit', async (t) => {
      if (!gw) { t.skip('PostgreSQL is not available on this machine'); return; }
      const answered = [];
      let refused = 0;
      let stop = false;
      const worker = async (w) => {
        for (let i = 0; !stop; i++) {
          const stream = i % 3 === 0;
          const body = i % 2 ? genBody('simulator', 'sim-fast', `w${w} n${i}`, { stream }) : genBody('openai', 'gpt-4o-mini', `w${w} n${i}`, { stream });
          let res;
          try {
            res = await gw.generate(body);
          } catch {
            refused++;
            if (gw.child.exitCode !== null) return;
            await sleep(5);
            continue;
          }
          if (res.status !== 200) continue;
          const id = stream ? checkGenerateStream(res.events).start.id : res.json.id;
          answered.push(id);
        }
      };
      const workers = Array.from({ length: 8 }, (_, w) => worker(w));
      await waitFor(() => answered.length >= 60, { timeout: 10000, what: '60 answers before SIGTERM' });
      const t0 = Date.now();
      gw.terminate();
      const exited = exitOf(gw, t0);
      // Keep calling until the process is gone: calls racing the shutdown either get a full answer
      // or are refused; either way nothing answered may go missing.
      const { code } = await exited;
      stop = true;
      await Promise.all(workers);
      assert.equal(code, 0, gw.tail());
      assert.ok(refused > 0, 'calls after SIGTERM were refused');
      const rows = rowsById(gw, answered);
      const missing = answered.filter((id) => !rows.has(id));
      assert.deepEqual(missing, [], `${missing.length} of ${answered.length} answered requests have no usage row`);
      for (const id of answered) assert.equal(Number(rows.get(id).http_status), 200);
    });
  });
}
flushSuite('SQLite', 'sqlite');
flushSuite('PostgreSQL', 'postgres');
