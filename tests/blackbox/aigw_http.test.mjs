// aigw's HTTP edge, black-box, on raw sockets: the strict HTTP/1.1 parser (bad request lines,
// obs-fold, bare LF, duplicate Content-Length, Content-Length with Transfer-Encoding, bad chunk
// sizes, control bytes), the limits (header section, header count, body size at its exact
// boundary, slow clients) with their documented status and JSON error body, keep-alive,
// pipelining (several requests in one write, answered in order), chunked request bodies,
// `Expect: 100-continue`, HTTP/1.0 clients (plain and streamed answers), and bad JSON bodies.
// After every refusal the gateway must still answer /healthz: a bad client never takes it down.
//
// The raw client below parses responses itself (status line, headers, Content-Length, chunked or
// close-delimited bodies, 1xx interim answers) so the tests see exactly what went over the wire.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';

import { checkErrorObject, checkGenerateStream, genBody, parseSSE, sleep, startAigw, startFakes, usageRow } from './lib.mjs';

// AIGW_MAX_BODY_BYTES is configurable; a small limit lets the boundary be tested with small bodies.
const MAX_BODY = 4096;
// Not configurable through aigw's flags/env (http_server_config defaults used by aigw_main.c).
const MAX_HEADER_BYTES = 16 * 1024;
const MAX_HEADERS = 64;
const HEADER_TIMEOUT_MS = 10000;

// ------------------------------------------------------------------------------------ raw client

/** One TCP connection that writes raw bytes and parses the HTTP responses that come back. */
class RawConn {
  static open(port) {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.setNoDelay(true);
      sock.once('connect', () => resolve(new RawConn(sock)));
      sock.once('error', reject);
    });
  }

  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.closed = false;
    this.error = null;
    this.wake = null;
    sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.notify(); });
    sock.on('error', (e) => { this.error = e; });
    sock.on('close', () => { this.closed = true; this.notify(); });
  }

  notify() {
    const w = this.wake;
    this.wake = null;
    if (w) w();
  }

  /** Waits until pred() returns a value (returned) or the connection closed / timed out (null). */
  async until(pred, timeout) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const v = pred();
      if (v !== undefined && v !== null) return v;
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => { clearTimeout(t); resolve(); };
      });
    }
  }

  write(data) {
    return new Promise((resolve) => this.sock.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, () => resolve()));
  }

  /**
   * Parses the next response: {status, reason, headers (lower-case names; repeated ones joined
   * with ', '), body (Buffer), text, json?, framing: 'length'|'chunked'|'close'|'none'}.
   * head: the request was HEAD (no body follows). Throws when nothing complete arrives in time.
   */
  async response({ head = false, timeout = 5000 } = {}) {
    const sep = await this.until(() => { const i = this.buf.indexOf('\r\n\r\n'); return i >= 0 ? i : null; }, timeout);
    if (sep === null) throw new Error(`no response head within ${timeout} ms (closed=${this.closed}); got ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`);
    const lines = this.buf.subarray(0, sep).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0]);
    assert.ok(m, `bad status line ${JSON.stringify(lines[0])}`);
    const headers = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      assert.ok(i > 0, `bad response header line ${JSON.stringify(l)}`);
      const k = l.slice(0, i).toLowerCase();
      const v = l.slice(i + 1).trim();
      headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
    }
    this.buf = this.buf.subarray(sep + 4);
    const status = Number(m[1]);
    const res = { status, reason: m[2], headers, body: Buffer.alloc(0), framing: 'none' };
    if (status >= 100 && status < 200) return res;
    if (head || status === 204 || status === 304) return finish(res);
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      res.framing = 'chunked';
      const parts = [];
      for (;;) {
        const nl = await this.until(() => { const i = this.buf.indexOf('\r\n'); return i >= 0 ? i : null; }, timeout);
        if (nl === null) throw new Error(`chunked response cut (closed=${this.closed}) after ${Buffer.concat(parts).length} bytes`);
        const size = parseInt(this.buf.subarray(0, nl).toString('latin1'), 16);
        assert.ok(Number.isInteger(size), 'bad chunk size in response');
        const need = nl + 2 + size + 2;
        if ((await this.until(() => (this.buf.length >= need ? true : null), timeout)) === null) throw new Error('chunk cut');
        parts.push(this.buf.subarray(nl + 2, nl + 2 + size));
        assert.equal(this.buf.subarray(nl + 2 + size, need).toString(), '\r\n', 'chunk not followed by CRLF');
        this.buf = this.buf.subarray(need);
        if (size === 0) break;
      }
      res.body = Buffer.concat(parts);
      return finish(res);
    }
    if (headers['content-length'] !== undefined) {
      res.framing = 'length';
      const n = Number(headers['content-length']);
      if ((await this.until(() => (this.buf.length >= n ? true : null), timeout)) === null) throw new Error(`body cut: ${this.buf.length}/${n}`);
      res.body = this.buf.subarray(0, n);
      this.buf = this.buf.subarray(n);
      return finish(res);
    }
    res.framing = 'close';
    if (!(await this.until(() => null, timeout)) && !this.closed) throw new Error('close-delimited body did not end');
    res.body = this.buf;
    this.buf = Buffer.alloc(0);
    return finish(res);
  }

  /** Resolves true once the server closed the connection (within timeout), else false. */
  async waitClosed(timeout = 3000) {
    return (await this.until(() => (this.closed ? true : null), timeout)) === true || this.closed;
  }

  destroy() { this.sock.destroy(); }
}

function finish(res) {
  res.text = res.body.toString('utf8');
  if (/json/.test(res.headers['content-type'] ?? '')) {
    try { res.json = JSON.parse(res.text); } catch { /* left undefined: tests assert on it */ }
  }
  return res;
}

let gw;
let fakes;

/** Sends raw bytes on a fresh connection and returns the first response (and the connection). */
async function exchange(bytes, opts = {}) {
  const c = await RawConn.open(gw.port);
  try {
    await c.write(bytes);
    const res = await c.response(opts);
    return { res, conn: c };
  } catch (e) {
    c.destroy();
    throw new Error(`${e.message}${gw.tail()}`);
  }
}

/** Asserts a JSON error answer that closes the connection: status, code, and message words. */
async function expectRefusal(bytes, status, code, messageRe) {
  const { res, conn } = await exchange(bytes);
  try {
    const ctx = `${JSON.stringify(bytes.slice(0, 120))} -> ${res.status} ${res.text.slice(0, 300)}`;
    assert.equal(res.status, status, ctx);
    assert.match(res.headers['content-type'] ?? '', /^application\/json/, ctx);
    assert.ok(res.json?.error, ctx);
    checkErrorObject(res.json.error);
    assert.equal(res.json.error.code, code, ctx);
    assert.equal(res.json.error.retryable, false, ctx);
    if (messageRe) assert.match(res.json.error.message, messageRe, ctx);
    assert.ok(res.headers['x-request-id'], 'even a refusal carries X-Request-Id');
    assert.equal((res.headers.connection ?? '').toLowerCase(), 'close', `a refused connection is closed: ${ctx}`);
    assert.ok(await conn.waitClosed(), 'the server closes the connection after a refusal');
    return res;
  } finally {
    conn.destroy();
  }
}

/** The gateway still serves: /healthz over a fresh connection. */
async function assertAlive() {
  const { res, conn } = await exchange('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
  conn.destroy();
  assert.equal(res.status, 200, `gateway no longer healthy${gw.tail()}`);
  assert.deepEqual(res.json, { status: 'ok' });
}

/** A POST /api/generate request as raw bytes (Content-Length framed unless headers say otherwise). */
function genRequest(body, { path = '/api/generate', extraHeaders = '', version = '1.1' } = {}) {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return Buffer.concat([
    Buffer.from(`POST ${path} HTTP/${version}\r\nHost: t\r\nAuthorization: Bearer ${gw.key}\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\n${extraHeaders}\r\n`),
    b,
  ]);
}

/** Chunked framing of a body split into pieces of the given sizes (the rest in one last chunk). */
function chunked(body, sizes, { ext = '', trailers = '' } = {}) {
  const b = Buffer.from(body);
  const out = [];
  let off = 0;
  for (const n of sizes) {
    if (off >= b.length) break;
    const piece = b.subarray(off, off + n);
    out.push(Buffer.from(`${piece.length.toString(16)}${ext}\r\n`), piece, Buffer.from('\r\n'));
    off += piece.length;
  }
  if (off < b.length) out.push(Buffer.from(`${(b.length - off).toString(16)}\r\n`), b.subarray(off), Buffer.from('\r\n'));
  out.push(Buffer.from(`0\r\n${trailers}\r\n`));
  return Buffer.concat(out);
}

/** A client that sends a header section one byte every 250 ms: each byte arrives in time, the
 * whole section never does. Resolves {res, elapsed, closed}. */
async function startSlowloris() {
  const c = await RawConn.open(gw.port);
  const t0 = Date.now();
  const bytes = `GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ${'a'.repeat(200)}`;
  let i = 0;
  const trickle = setInterval(() => { if (!c.closed && i < bytes.length) c.sock.write(bytes[i++]); }, 250);
  try {
    const res = await c.response({ timeout: HEADER_TIMEOUT_MS + 5000 });
    return { res, elapsed: Date.now() - t0, closed: await c.waitClosed() };
  } finally {
    clearInterval(trickle);
    c.destroy();
  }
}
let slowloris;

const simBody = (text, opts = {}) => genBody('simulator', 'sim-fast', text, opts);

before(async () => {
  fakes = await startFakes();
  gw = await startAigw({ fakes, providers: ['openai'], env: { AIGW_MAX_BODY_BYTES: String(MAX_BODY), HTTP_ACCESS_LOG: '0' } });
  // The header timeout is not configurable through aigw, so it is tested at its real value
  // (10 s): the slow client starts now and its answer is checked by the last test of the file,
  // while every other test uses the same gateway.
  slowloris = startSlowloris();
  slowloris.catch(() => {}); // awaited (and reported) by its test
});
after(async () => {
  await gw?.stop();
  await fakes?.stop();
});

// ------------------------------------------------------------------------------------ tests

describe('slow but legitimate clients', () => {
  test('a client that sends its request one byte at a time within the limits is served', async () => {
    const req = genRequest(simBody('slow but steady'));
    const c = await RawConn.open(gw.port);
    try {
      for (let i = 0; i < req.length; i += 7) {
        await c.write(req.subarray(i, i + 7));
        await sleep(1);
      }
      const res = await c.response();
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.provider, 'simulator');
    } finally {
      c.destroy();
    }
  });

  test('many idle half-sent requests do not block other clients', async () => {
    const idle = await Promise.all(Array.from({ length: 64 }, () => RawConn.open(gw.port)));
    try {
      await Promise.all(idle.map((c, i) => c.write(`POST /api/generate HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{"partial": ${i}`)));
      const t0 = Date.now();
      await assertAlive();
      const { res, conn } = await exchange(genRequest(simBody('not blocked')));
      conn.destroy();
      assert.equal(res.status, 200);
      assert.ok(Date.now() - t0 < 2000, 'answered at once');
    } finally {
      for (const c of idle) c.destroy();
    }
  });
});

describe('malformed requests are refused with a JSON error and the connection closed', () => {
  // [name, raw request, status, code, message pattern]
  const CASES = [
    ['request line without version', 'GET /healthz\r\n\r\n', 400, 'invalid_request', /./],
    ['two spaces in the request line', 'GET  /healthz HTTP/1.1\r\nHost: t\r\n\r\n', 400, 'invalid_request', /target/],
    ['space inside the target', 'GET /heal thz HTTP/1.1\r\nHost: t\r\n\r\n', 400, 'invalid_request', /./],
    ['absolute-form target', 'GET http://t/healthz HTTP/1.1\r\nHost: t\r\n\r\n', 400, 'invalid_request', /origin-form/],
    ['control byte in the target', 'GET /health\x01z HTTP/1.1\r\nHost: t\r\n\r\n', 400, 'invalid_request', /target/],
    ['8-bit byte in the target', 'GET /h\xe9 HTTP/1.1\r\nHost: t\r\n\r\n', 400, 'invalid_request', /target/],
    ['lower-case (unknown) method', 'get /healthz HTTP/1.1\r\nHost: t\r\n\r\n', 501, 'not_implemented', /method/],
    ['unknown method', 'BREW /healthz HTTP/1.1\r\nHost: t\r\n\r\n', 501, 'not_implemented', /method/],
    ['invalid method characters', 'G@T /healthz HTTP/1.1\r\nHost: t\r\n\r\n', 400, 'invalid_request', /method/],
    ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 501, 'not_implemented', /./],
    ['HTTP/2.0 version', 'GET /healthz HTTP/2.0\r\nHost: t\r\n\r\n', 505, 'http_version_not_supported', /version/],
    ['malformed version', 'GET /healthz HTTP/1.x\r\nHost: t\r\n\r\n', 400, 'invalid_request', /version/],
    ['lower-case http version', 'GET /healthz http/1.1\r\nHost: t\r\n\r\n', 400, 'invalid_request', /version/],
    ['bare LF line endings', 'GET /healthz HTTP/1.1\nHost: t\n\n', 400, 'invalid_request', /./],
    ['bare CR in a header line', 'GET /healthz HTTP/1.1\r\nHost: t\rX: y\r\n\r\n', 400, 'invalid_request', /./],
    ['obs-fold continuation line', 'GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: one\r\n two\r\n\r\n', 400, 'invalid_request', /fold/],
    ['obs-fold with a tab', 'GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: one\r\n\ttwo\r\n\r\n', 400, 'invalid_request', /fold/],
    ['space before the colon', 'GET /healthz HTTP/1.1\r\nHost : t\r\n\r\n', 400, 'invalid_request', /header name/],
    ['empty header name', 'GET /healthz HTTP/1.1\r\nHost: t\r\n: v\r\n\r\n', 400, 'invalid_request', /header name/],
    ['header line without colon', 'GET /healthz HTTP/1.1\r\nHost: t\r\nNoColon\r\n\r\n', 400, 'invalid_request', /header/],
    ['control byte in a header name', 'GET /healthz HTTP/1.1\r\nHost: t\r\nX\x01Y: v\r\n\r\n', 400, 'invalid_request', /header name/],
    ['NUL in a header value', 'GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n', 400, 'invalid_request', /header value/],
    ['DEL in a header value', 'GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: a\x7fb\r\n\r\n', 400, 'invalid_request', /header value/],
    ['duplicate Content-Length (equal values)', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}', 400, 'invalid_request', /duplicate Content-Length/],
    ['duplicate Content-Length (different values)', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 30\r\n\r\n{}', 400, 'invalid_request', /duplicate Content-Length/],
    ['Content-Length list', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nContent-Length: 2, 2\r\n\r\n{}', 400, 'invalid_request', /Content-Length/],
    ['signed Content-Length', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nContent-Length: +2\r\n\r\n{}', 400, 'invalid_request', /Content-Length/],
    ['negative Content-Length', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n', 400, 'invalid_request', /Content-Length/],
    ['hex Content-Length', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nContent-Length: 0x2\r\n\r\n{}', 400, 'invalid_request', /Content-Length/],
    ['empty Content-Length', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nContent-Length:\r\n\r\n', 400, 'invalid_request', /Content-Length/],
    ['Content-Length beyond 64 bits', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n', 400, 'invalid_request', /Content-Length/],
    ['Content-Length and Transfer-Encoding', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, 'invalid_request', /Content-Length together with Transfer-Encoding/],
    ['Transfer-Encoding then Content-Length', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n', 400, 'invalid_request', /Content-Length together with Transfer-Encoding/],
    ['chunked twice', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n', 400, 'invalid_request', /chunked/],
    ['chunked not last', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n', 501, 'not_implemented', /transfer-coding/],
    ['unsupported transfer-coding', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n', 501, 'not_implemented', /transfer-coding/],
    ['chunk size not hex', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400, 'invalid_request', /chunk size/],
    ['negative chunk size', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n', 400, 'invalid_request', /chunk size/],
    ['empty chunk size', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\r\n', 400, 'invalid_request', /chunk size/],
    ['chunk size with 0x prefix', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\n{}\r\n0\r\n\r\n', 400, 'invalid_request', /chunk/],
    ['chunk data longer than its size', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}}\r\n0\r\n\r\n', 400, 'invalid_request', /chunk data/],
    ['chunk without CRLF after the data', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}0\r\n\r\n', 400, 'invalid_request', /chunk/],
    ['chunk size overflowing 64 bits', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n', 413, 'payload_too_large', /too large/],
    ['control byte in a chunk extension', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2;a\x01\r\n{}\r\n0\r\n\r\n', 400, 'invalid_request', /chunk extension/],
    ['chunk line over its limit', `POST /api/generate HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2;${'e'.repeat(8192)}\r\n{}\r\n0\r\n\r\n`, 400, 'invalid_request', /chunk line too long/],
    ['obs-fold in a trailer', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-T: a\r\n b\r\n\r\n', 400, 'invalid_request', /fold/],
    ['unknown expectation', 'POST /api/generate HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\nContent-Length: 2\r\n\r\n{}', 417, 'expectation_failed', /expectation/],
  ];
  for (const [name, bytes, status, code, re] of CASES) {
    test(`${name} -> ${status} ${code}`, async () => {
      await expectRefusal(bytes, status, code, re);
    });
  }

  test('the gateway still serves after every refusal above', async () => {
    await assertAlive();
  });

  test('a refused request on a keep-alive connection ends it after the earlier answers', async () => {
    const c = await RawConn.open(gw.port);
    try {
      await c.write('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
      const first = await c.response();
      assert.equal(first.status, 200);
      const second = await c.response();
      assert.equal(second.status, 400);
      assert.equal(second.json.error.code, 'invalid_request');
      assert.ok(await c.waitClosed(), 'no answer to the request after the malformed one');
      assert.equal(c.buf.length, 0, `nothing after the refusal: ${c.buf.toString()}`);
    } finally {
      c.destroy();
    }
  });

  // RFC 9112 3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
  // request message that lacks a Host header field and to any request message that contains
  // more than one Host header field line".
  test('HTTP/1.1 request without Host -> 400', async () => {
    await expectRefusal('GET /healthz HTTP/1.1\r\n\r\n', 400, 'invalid_request', /Host/);
  });
  test('two Host headers -> 400', async () => {
    await expectRefusal('GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400, 'invalid_request', /Host/);
  });
  // RFC 9110 2.5: a higher minor version of a major version we implement is processed as the
  // highest minor version we know; 505 is for an unsupported MAJOR version (RFC 9110 15.6.6).
  test('HTTP/1.2 is served as HTTP/1.1', async () => {
    const { res, conn } = await exchange('GET /healthz HTTP/1.2\r\nHost: t\r\n\r\n');
    conn.destroy();
    assert.equal(res.status, 200, res.text);
  });
});

describe('size limits', () => {
  test(`a body of exactly AIGW_MAX_BODY_BYTES (${MAX_BODY}) is accepted`, async () => {
    const json = JSON.stringify(simBody('exactly at the limit'));
    const padded = json.slice(0, -1) + ' '.repeat(MAX_BODY - json.length) + '}';
    assert.equal(Buffer.byteLength(padded), MAX_BODY);
    const { res, conn } = await exchange(genRequest(padded));
    conn.destroy();
    assert.equal(res.status, 200, res.text);
  });

  test('one byte more -> 413 payload_too_large at once, before the body is sent', async () => {
    const head = `POST /api/generate HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${gw.key}\r\nContent-Length: ${MAX_BODY + 1}\r\n\r\n`;
    const res = await expectRefusal(head, 413, 'payload_too_large', /too large/);
    assert.equal(res.framing, 'length');
    await assertAlive();
  });

  test('a huge announced Content-Length (1 TB) -> 413, nothing allocated for it', async () => {
    await expectRefusal(`POST /api/generate HTTP/1.1\r\nHost: t\r\nContent-Length: ${1e12}\r\n\r\n`, 413, 'payload_too_large', /too large/);
    await assertAlive();
  });

  test('a chunked body that grows past the limit -> 413', async () => {
    const big = 'x'.repeat(MAX_BODY + 10);
    const bytes = Buffer.concat([Buffer.from(`POST /api/generate HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${gw.key}\r\nTransfer-Encoding: chunked\r\n\r\n`), chunked(big, [1000, 1000, 1000, 1000, 1000])]);
    await expectRefusal(bytes, 413, 'payload_too_large', /too large/);
  });

  test('a chunked body of exactly the limit, in many chunks with extensions and trailers, is accepted', async () => {
    const json = JSON.stringify(simBody('chunked at the limit'));
    const padded = json.slice(0, -1) + ' '.repeat(MAX_BODY - json.length) + '}';
    const bytes = Buffer.concat([
      Buffer.from(`POST /api/generate HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${gw.key}\r\nTransfer-Encoding: chunked\r\n\r\n`),
      chunked(padded, Array(40).fill(100), { ext: ';name="va\\"lue";x=1', trailers: 'X-Trailer: yes\r\n' }),
    ]);
    const { res, conn } = await exchange(bytes);
    conn.destroy();
    assert.equal(res.status, 200, res.text);
  });

  test(`a header section under ${MAX_HEADER_BYTES} bytes is accepted`, async () => {
    const { res, conn } = await exchange(`GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ${'b'.repeat(MAX_HEADER_BYTES - 1024)}\r\n\r\n`);
    conn.destroy();
    assert.equal(res.status, 200);
  });

  test(`a header section over ${MAX_HEADER_BYTES} bytes -> 431 headers_too_large`, async () => {
    await expectRefusal(`GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ${'b'.repeat(MAX_HEADER_BYTES + 16)}\r\n\r\n`, 431, 'headers_too_large', /header/);
  });

  test('a header section that never ends (1 MiB, no blank line) -> 431 at the limit, not buffered', async () => {
    const c = await RawConn.open(gw.port);
    try {
      c.write(`GET /healthz HTTP/1.1\r\nHost: t\r\n`);
      for (let i = 0; i < 64 && !c.closed; i++) c.write(`X-${i}: ${'v'.repeat(16 * 1024)}\r\n`);
      const res = await c.response();
      assert.equal(res.status, 431);
      assert.equal(res.json.error.code, 'headers_too_large');
    } finally {
      c.destroy();
    }
  });

  test('a request line longer than the header limit -> 431', async () => {
    await expectRefusal(`GET /healthz?${'q'.repeat(MAX_HEADER_BYTES + 10)} HTTP/1.1\r\nHost: t\r\n\r\n`, 431, 'headers_too_large', /too large/);
  });

  test(`${MAX_HEADERS} header fields are accepted, ${MAX_HEADERS + 1} -> 431`, async () => {
    const fields = (n) => Array.from({ length: n - 1 }, (_, i) => `X-F${i}: ${i}\r\n`).join('');
    const { res, conn } = await exchange(`GET /healthz HTTP/1.1\r\nHost: t\r\n${fields(MAX_HEADERS)}\r\n`);
    conn.destroy();
    assert.equal(res.status, 200);
    await expectRefusal(`GET /healthz HTTP/1.1\r\nHost: t\r\n${fields(MAX_HEADERS + 1)}\r\n`, 431, 'headers_too_large', /header fields/);
    await assertAlive();
  });

  test('trailers over the header limit -> 431', async () => {
    const bytes = `POST /api/generate HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-T: ${'t'.repeat(MAX_HEADER_BYTES + 10)}\r\n\r\n`;
    await expectRefusal(bytes, 431, 'headers_too_large', /trailer/);
  });
});

describe('keep-alive, pipelining, chunked bodies, Expect, HTTP/1.0', () => {
  test('keep-alive: ten requests on one connection, each answered with its own id', async () => {
    const c = await RawConn.open(gw.port);
    try {
      const ids = new Set();
      for (let i = 0; i < 10; i++) {
        await c.write(genRequest(simBody(`keep-alive ${i}`)));
        const res = await c.response();
        assert.equal(res.status, 200, res.text);
        assert.notEqual((res.headers.connection ?? '').toLowerCase(), 'close');
        ids.add(res.json.id);
      }
      assert.equal(ids.size, 10);
      assert.equal(c.closed, false, 'the connection stays open');
    } finally {
      c.destroy();
    }
  });

  test('pipelining: healthz, generate, streamed generate, 404, /v1 and healthz in ONE write are answered in order', async () => {
    const marks = ['pipe-a', 'pipe-b', 'pipe-c'];
    const bytes = Buffer.concat([
      Buffer.from('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n'),
      genRequest(genBody('openai', 'gpt-4o-mini', `${marks[0]} [[fake:slow=5]]`)),
      genRequest(simBody(marks[1], { stream: true })),
      Buffer.from('GET /nope HTTP/1.1\r\nHost: t\r\n\r\n'),
      genRequest({ model: 'simulator/sim-fast', messages: [{ role: 'user', content: marks[2] }] }, { path: '/v1/chat/completions' }),
      Buffer.from('GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: last-one\r\n\r\n'),
    ]);
    const c = await RawConn.open(gw.port);
    try {
      await c.write(bytes);
      const r1 = await c.response();
      assert.deepEqual([r1.status, r1.json], [200, { status: 'ok' }]);
      const r2 = await c.response();
      assert.equal(r2.status, 200, r2.text);
      assert.equal(r2.json.provider, 'openai', 'the openai answer (slow upstream) comes before the simulator stream');
      const [up] = (await fakes.chatRequests('openai')).filter((r) => JSON.stringify(r.body).includes(marks[0]));
      assert.equal(r2.json.output.text, up.response_text);
      const r3 = await c.response();
      assert.equal(r3.status, 200);
      assert.equal(r3.framing, 'chunked');
      const s = checkGenerateStream(parseSSE(r3.text).events);
      assert.equal(s.error, null);
      assert.equal(s.start.provider, 'simulator');
      const r4 = await c.response();
      assert.equal(r4.status, 404);
      assert.equal(r4.json.error.code, 'not_found');
      const r5 = await c.response();
      assert.equal(r5.status, 200, r5.text);
      assert.equal(r5.json.object, 'chat.completion');
      const r6 = await c.response();
      assert.equal(r6.status, 200);
      assert.equal(r6.headers['x-request-id'], 'last-one');
      assert.equal(c.buf.length, 0, 'nothing extra on the wire');
    } finally {
      c.destroy();
    }
  });

  test('pipelining: a request split across writes at every byte of a boundary region still parses', async () => {
    const one = Buffer.from('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
    const two = genRequest(simBody('split pipeline'));
    const all = Buffer.concat([one, two, one]);
    // Split points around both request boundaries and inside the second request's headers.
    const points = [];
    for (let i = one.length - 6; i < one.length + 40; i++) points.push(i);
    for (let i = one.length + two.length - 6; i < one.length + two.length + 6; i++) points.push(i);
    for (const at of points) {
      const c = await RawConn.open(gw.port);
      try {
        await c.write(all.subarray(0, at));
        await sleep(2);
        await c.write(all.subarray(at));
        const statuses = [];
        for (let i = 0; i < 3; i++) statuses.push((await c.response()).status);
        assert.deepEqual(statuses, [200, 200, 200], `split at ${at}`);
      } finally {
        c.destroy();
      }
    }
  });

  test('pipelining: a client that sends many requests without reading gets every answer, in order', async () => {
    const n = 200;
    const reqs = Buffer.concat(Array.from({ length: n }, (_, i) => Buffer.from(`GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: p-${i}\r\n\r\n`)));
    const c = await RawConn.open(gw.port);
    try {
      await c.write(reqs);
      for (let i = 0; i < n; i++) {
        const res = await c.response();
        assert.equal(res.status, 200);
        assert.equal(res.headers['x-request-id'], `p-${i}`);
      }
    } finally {
      c.destroy();
    }
  });

  test('pipelining behind a running stream: 3000 queued requests are held (bounded) and then all answered in order', async () => {
    const n = 3000;
    const stream = genRequest(genBody('simulator', 'sim-chat', 'a stream first [[sim:ttft_ms=2000,tokens_per_s=4000]]', { stream: true }));
    const flood = Buffer.concat(Array.from({ length: n }, (_, i) => Buffer.from(`GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: f-${i}\r\n\r\n`)));
    const c = await RawConn.open(gw.port);
    try {
      await c.write(Buffer.concat([stream, flood]));
      const first = await c.response({ timeout: 10000 });
      assert.equal(first.status, 200);
      assert.equal(checkGenerateStream(parseSSE(first.text).events).error, null);
      for (let i = 0; i < n; i++) {
        const res = await c.response();
        assert.equal(res.headers['x-request-id'], `f-${i}`);
      }
    } finally {
      c.destroy();
    }
  });

  test('a chunked request body (1-byte chunks, extensions, a trailer) is decoded', async () => {
    const body = JSON.stringify(simBody('chunked café ☕', { featureOptions: { simulate: { reply: 'dechunked-ok' } } }));
    const bytes = Buffer.concat([
      Buffer.from(`POST /api/generate HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${gw.key}\r\nTransfer-Encoding: chunked\r\n\r\n`),
      chunked(body, [1, 1, 1, 2, 3, 5, 8, 13], { ext: ';a=b', trailers: 'X-Checksum: none\r\n' }),
    ]);
    const { res, conn } = await exchange(bytes);
    conn.destroy();
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.output.text, 'dechunked-ok');
  });

  test('a chunked request body sent byte by byte, then another request on the same connection', async () => {
    const body = JSON.stringify(simBody('byte by byte'));
    const bytes = Buffer.concat([
      Buffer.from(`POST /api/generate HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${gw.key}\r\nTransfer-Encoding: chunked\r\n\r\n`),
      chunked(body, [17, 40, 3]),
    ]);
    const c = await RawConn.open(gw.port);
    try {
      for (const b of bytes) c.sock.write(Buffer.from([b]));
      const res = await c.response();
      assert.equal(res.status, 200, res.text);
      await c.write('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
      assert.equal((await c.response()).status, 200);
    } finally {
      c.destroy();
    }
  });

  test('Expect: 100-continue: 100 Continue first, the body after it, then the answer', async () => {
    const body = Buffer.from(JSON.stringify(simBody('expect me')));
    const c = await RawConn.open(gw.port);
    try {
      await c.write(`POST /api/generate HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${gw.key}\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`);
      const interim = await c.response({ timeout: 2000 });
      assert.equal(interim.status, 100, 'the server asks for the body');
      await c.write(body);
      const res = await c.response();
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.provider, 'simulator');
    } finally {
      c.destroy();
    }
  });

  test('Expect: 100-continue with a chunked body', async () => {
    const body = JSON.stringify(simBody('expect chunked'));
    const c = await RawConn.open(gw.port);
    try {
      await c.write(`POST /api/generate HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${gw.key}\r\nExpect: 100-Continue\r\nTransfer-Encoding: chunked\r\n\r\n`);
      assert.equal((await c.response({ timeout: 2000 })).status, 100);
      await c.write(chunked(body, [10, 10]));
      assert.equal((await c.response()).status, 200);
    } finally {
      c.destroy();
    }
  });

  test('Expect: 100-continue with a body over the limit: refused at once, no 100, no body read', async () => {
    const c = await RawConn.open(gw.port);
    try {
      await c.write(`POST /api/generate HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: ${MAX_BODY * 10}\r\n\r\n`);
      const res = await c.response({ timeout: 2000 });
      assert.notEqual(res.status, 100, 'no invitation to send a body that will be refused');
      // aigw answers 417 here (http_server.c send_error_and_close); 413 would be as good.
      assert.ok(res.status === 413 || res.status === 417, `status ${res.status}`);
      assert.match(res.json.error.message, /too large/);
      assert.ok(await c.waitClosed());
    } finally {
      c.destroy();
    }
  });

  test('Expect: 100-continue on HTTP/1.0 is ignored (no 100 sent), the body is read', async () => {
    const body = Buffer.from(JSON.stringify(simBody('expect 1.0')));
    const { res, conn } = await exchange(Buffer.concat([genRequest(body, { version: '1.0', extraHeaders: 'Expect: 100-continue\r\n' })]));
    conn.destroy();
    assert.equal(res.status, 200, 'the first response is the final one');
  });

  test('HTTP/1.0: answered, then the connection is closed', async () => {
    const { res, conn } = await exchange('GET /healthz HTTP/1.0\r\n\r\n');
    try {
      assert.equal(res.status, 200);
      assert.equal(res.headers.connection?.toLowerCase(), 'close');
      assert.ok(await conn.waitClosed(), 'HTTP/1.0 without keep-alive closes');
    } finally {
      conn.destroy();
    }
  });

  test('HTTP/1.0 with Connection: keep-alive keeps the connection', async () => {
    const c = await RawConn.open(gw.port);
    try {
      for (let i = 0; i < 3; i++) {
        await c.write(genRequest(simBody(`ka 1.0 ${i}`), { version: '1.0', extraHeaders: 'Connection: keep-alive\r\n' }));
        const res = await c.response();
        assert.equal(res.status, 200);
        assert.equal(res.headers.connection?.toLowerCase(), 'keep-alive');
      }
    } finally {
      c.destroy();
    }
  });

  test('HTTP/1.0 streamed answer: close-delimited (no chunked encoding), complete', async () => {
    const { res, conn } = await exchange(genRequest(simBody('stream to an old client', { stream: true }), { version: '1.0' }), { timeout: 5000 });
    conn.destroy();
    assert.equal(res.status, 200);
    assert.equal(res.framing, 'close', `framing: ${JSON.stringify(res.headers)}`);
    assert.equal(res.headers['transfer-encoding'], undefined, 'HTTP/1.0 has no chunked encoding');
    const s = checkGenerateStream(parseSSE(res.text).events);
    assert.equal(s.error, null);
    const row = await usageRow(gw, s.start.id);
    assert.equal(Number(row.http_status), 200);
  });

  test('Connection: close on HTTP/1.1 closes after the answer, pipelined rest ignored', async () => {
    const c = await RawConn.open(gw.port);
    try {
      await c.write('GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
      const res = await c.response();
      assert.equal(res.status, 200);
      assert.equal(res.headers.connection?.toLowerCase(), 'close');
      assert.ok(await c.waitClosed());
      assert.equal(c.buf.length, 0, 'no second answer');
    } finally {
      c.destroy();
    }
  });

  test('HEAD /healthz: the GET headers and no body, connection reusable', async () => {
    const c = await RawConn.open(gw.port);
    try {
      await c.write('HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
      const head = await c.response({ head: true });
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], '15');
      const get = await c.response();
      assert.deepEqual(get.json, { status: 'ok' }, 'the HEAD answer had no body (else this would be garbled)');
    } finally {
      c.destroy();
    }
  });

  test('a request cut inside its body (client leaves) costs nothing and breaks nothing', async () => {
    const c = await RawConn.open(gw.port);
    await c.write(`POST /api/generate HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${gw.key}\r\nContent-Length: 500\r\n\r\n{"provider":"simulator",`);
    await sleep(20);
    c.destroy();
    const c2 = await RawConn.open(gw.port);
    await c2.write(`POST /api/generate HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{"provi`);
    c2.sock.end(); // half-close inside a chunk
    assert.ok(await c2.waitClosed());
    c2.destroy();
    await assertAlive();
  });
});

describe('bad header values', () => {
  const CASES = [
    ['no key', '', 'missing gateway key'],
    ['Bearer without a token', 'Authorization: Bearer\r\n', ''],
    ['another scheme', 'Authorization: Basic dGVzdC1rZXk6\r\n', ''],
    ['a wrong 8 KiB token', `Authorization: Bearer ${'k'.repeat(8192)}\r\n`, 'invalid or revoked'],
    ['the key with a trailing byte', 'Authorization: Bearer test-key!\r\n', 'invalid or revoked'],
  ];
  for (const [name, header, msg] of CASES) {
    test(`${name} -> 401 unauthorized`, async () => {
      const body = JSON.stringify(simBody('auth'));
      const { res, conn } = await exchange(`POST /api/generate HTTP/1.1\r\nHost: t\r\n${header}Content-Length: ${body.length}\r\n\r\n${body}`);
      conn.destroy();
      assert.equal(res.status, 401, res.text);
      assert.equal(res.json.error.code, 'unauthorized');
      assert.match(res.headers['www-authenticate'] ?? '', /^Bearer/);
      if (msg) assert.match(res.json.error.message, new RegExp(msg));
      assert.ok(!res.text.includes('kkkkkkkk'), 'the token is not echoed');
    });
  }

  test('an X-Request-Id that is not sane is replaced, a sane one is echoed', async () => {
    const a = await exchange('GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: bad"id\\x\r\n\r\n');
    a.conn.destroy();
    assert.match(a.res.headers['x-request-id'], /^req_[0-9a-z]+$/);
    const b = await exchange(`GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: ${'x'.repeat(65)}\r\n\r\n`);
    b.conn.destroy();
    assert.match(b.res.headers['x-request-id'], /^req_/, 'over 64 characters is replaced');
    const c = await exchange('GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: my.req_1-A\r\n\r\n');
    c.conn.destroy();
    assert.equal(c.res.headers['x-request-id'], 'my.req_1-A');
  });

  test('8-bit bytes in a header value (obs-text) are accepted', async () => {
    const { res, conn } = await exchange('GET /healthz HTTP/1.1\r\nHost: t\r\nX-Name: caf\xe9\r\n\r\n');
    conn.destroy();
    assert.equal(res.status, 200);
  });
});

describe('bad JSON bodies -> 400 invalid_request naming the problem', () => {
  // [name, body, message pattern]
  const CASES = [
    ['empty body', '', /body|JSON/i],
    ['truncated JSON', '{"provider":"simulator","model":', /not valid JSON/],
    ['not JSON at all', 'hello', /not valid JSON/],
    ['a JSON array', '[1,2,3]', /object/],
    ['a JSON string', '"hi"', /object|JSON/],
    ['trailing garbage', `${JSON.stringify(simBody('x'))} trailing`, /not valid JSON/],
    ['two JSON objects', `${JSON.stringify(simBody('x'))}${JSON.stringify(simBody('y'))}`, /not valid JSON/],
    ['duplicate keys', '{"provider":"simulator","provider":"openai","model":"sim-fast","input":{"messages":[{"role":"user","content":"x"}]}}', /duplicate|not valid JSON/],
    ['invalid UTF-8 in a string', Buffer.concat([Buffer.from('{"provider":"simulator","model":"sim-fast","input":{"messages":[{"role":"user","content":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}]}}')]), /not valid JSON|UTF-8/],
    ['lone surrogate escape', '{"provider":"simulator","model":"sim-fast","input":{"messages":[{"role":"user","content":"\\ud800"}]}}', /not valid JSON|UTF|surrogate/],
    ['deep nesting', `${'['.repeat(1800)}${']'.repeat(1800)}`, /not valid JSON|object|deep/],
    ['number too large for maxTokens', JSON.stringify(simBody('x')).replace('"featureOptions":{', '"featureOptions":{"maxTokens":1e400,'), /maxTokens|not valid JSON/],
    ['wrong type for messages', '{"provider":"simulator","model":"sim-fast","input":{"messages":"hi"}}', /input\.messages/],
    ['message without content', '{"provider":"simulator","model":"sim-fast","input":{"messages":[{"role":"user"}]}}', /content/],
    ['unknown role', '{"provider":"simulator","model":"sim-fast","input":{"messages":[{"role":"wizard","content":"x"}]}}', /role/],
  ];
  for (const [name, body, re] of CASES) {
    test(name, async () => {
      const { res, conn } = await exchange(genRequest(body));
      conn.destroy();
      const ctx = `${res.status} ${res.text.slice(0, 300)}`;
      assert.equal(res.status, 400, ctx);
      checkErrorObject(res.json.error);
      assert.equal(res.json.error.code, 'invalid_request', ctx);
      assert.match(res.json.error.message, re, ctx);
    });
  }

  test('/v1/chat/completions: bad JSON answers in OpenAI\'s error shape', async () => {
    const { res, conn } = await exchange(genRequest('{"model":', { path: '/v1/chat/completions' }));
    conn.destroy();
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error.code, 'invalid_request');
    assert.equal(res.json.error.type, 'invalid_request_error');
    assert.match(res.json.error.message, /not valid JSON/);
  });

  test('a bad body on a keep-alive connection does not end it', async () => {
    const c = await RawConn.open(gw.port);
    try {
      await c.write(Buffer.concat([genRequest('{oops'), genRequest(simBody('after a bad body'))]));
      assert.equal((await c.response()).status, 400);
      const ok = await c.response();
      assert.equal(ok.status, 200, ok.text);
    } finally {
      c.destroy();
    }
  });

  test('the gateway is still healthy after all of it', async () => {
    await assertAlive();
    const r = await gw.generate(simBody('still fine'));
    assert.equal(r.status, 200);
  });
});

describe('slow clients (the header timeout)', () => {
  test(`slowloris: a header section still incomplete after ${HEADER_TIMEOUT_MS} ms -> 408 timeout, closed`, async () => {
    const { res, elapsed, closed } = await slowloris;
    assert.equal(res.status, 408, res.text);
    assert.equal(res.json?.error?.code, 'timeout', res.text);
    assert.match(res.json.error.message, /header/i);
    assert.ok(elapsed >= HEADER_TIMEOUT_MS - 500 && elapsed < HEADER_TIMEOUT_MS + 3000, `408 after ${elapsed} ms`);
    assert.ok(closed, 'connection closed after the 408');
    await assertAlive();
  });
});
