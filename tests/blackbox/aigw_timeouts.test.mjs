// The client-side limits are configurable (AIGW_CLIENT_*_TIMEOUT_MS, AIGW_MAX_HEADER_BYTES), so
// the slow-body 408, the keep-alive idle close and the header ceiling are proven at small values.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';

import { startAigw } from './lib.mjs';

let gw;
before(async () => {
  gw = await startAigw({
    env: {
      AIGW_CLIENT_BODY_TIMEOUT_MS: '300',
      AIGW_CLIENT_IDLE_TIMEOUT_MS: '400',
      AIGW_CLIENT_HEADER_TIMEOUT_MS: '2000',
      AIGW_MAX_HEADER_BYTES: '2048',
    },
  });
});
after(async () => { await gw?.stop(); });

/** Sends raw bytes, collects everything until the server closes (or maxMs passes). */
async function raw(bytes, { maxMs = 3000 } = {}) {
  const sock = net.connect(gw.port, '127.0.0.1');
  await once(sock, 'connect');
  let data = '';
  sock.setEncoding('latin1');
  sock.on('data', (d) => { data += d; });
  sock.on('error', () => {});
  const t0 = Date.now();
  sock.write(bytes);
  const closed = once(sock, 'close');
  const timer = setTimeout(() => sock.destroy(), maxMs);
  await closed;
  clearTimeout(timer);
  return { data, ms: Date.now() - t0 };
}

test('a request body that stops arriving gets 408 after AIGW_CLIENT_BODY_TIMEOUT_MS', async () => {
  const { data, ms } = await raw('POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc');
  assert.match(data, /^HTTP\/1\.1 408 /);
  assert.match(data, /"code":"timeout"/);
  assert.ok(ms >= 250 && ms < 2500, `answered after ${ms} ms`);
});

test('an idle keep-alive connection is closed after AIGW_CLIENT_IDLE_TIMEOUT_MS', async () => {
  const { data, ms } = await raw('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.match(data, /^HTTP\/1\.1 200 /);
  assert.ok(ms >= 350 && ms < 2500, `closed after ${ms} ms`);
});

test('a header section over AIGW_MAX_HEADER_BYTES gets 431', async () => {
  const { data } = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(3000)}\r\n\r\n`);
  assert.match(data, /^HTTP\/1\.1 431 /);
  const r = await gw.fetch('/healthz', { auth: false });
  assert.equal(r.status, 200, 'the gateway still serves after the refusals');
});
