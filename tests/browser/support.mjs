// What the browser tests need around the browser: a sandbox to test (the
// mock, a `popbox sandbox` started here, or one already running), a way to
// send it mail, and a loopback "remote" server that records every request
// (remote images, and the beacons a script in a message would send).
//
// Environment:
//   POPBOX_BROWSER_TARGET  mock (default) | real (starts $POPBOX_BIN sandbox)
//   POPBOX_INJECT          smtp (default) | http (the mock's /mock/inject)
//   POPBOX_URL             test a sandbox already running there instead
//   POPBOX_SMTP            host:port to send mail to (with POPBOX_URL)
//   POPBOX_API_TOKEN       its API token (with POPBOX_URL)
//   POPBOX_ARTIFACTS       screenshots go to $POPBOX_ARTIFACTS/browser/
//   CHROMIUM               the browser (default /usr/bin/chromium)

import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { createConnection, createServer as create_tcp_server } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { start_mock } from './mock-server.mjs';

const here = dirname(fileURLToPath(import.meta.url));

export const artifacts_dir = join(
  resolve(process.env.POPBOX_ARTIFACTS || join(here, '..', '..', 'build', 'artifacts')),
  'browser',
);

/** Launch options of Debian's Chromium, headless. */
export function browser_options() {
  return {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    headless: true,
  };
}

export function ensure_artifacts() {
  mkdirSync(artifacts_dir, { recursive: true });
  return artifacts_dir;
}

async function free_port() {
  const server = create_tcp_server();
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  await new Promise((ok) => server.close(ok));
  return port;
}

/** Polls `fn` every 50 ms until it answers truthy; throws after `ms`. */
export async function wait_for(fn, ms = 10000, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 50));
  }
}

/** Sends `raw` (a Buffer ending in CRLF) over SMTP, dot-stuffed. */
export function smtp_send(host, port, from, to, raw) {
  return new Promise((ok, fail) => {
    const socket = createConnection({ host, port });
    const steps = [
      null, // the greeting
      'EHLO browser-test.example\r\n',
      `MAIL FROM:<${from}>\r\n`,
      ...to.map((r) => `RCPT TO:<${r}>\r\n`),
      'DATA\r\n',
      Buffer.concat([
        Buffer.from(raw.toString('latin1').replace(/^\./gm, '..'), 'latin1'),
        Buffer.from(raw.toString('latin1').endsWith('\r\n') ? '.\r\n' : '\r\n.\r\n'),
      ]),
      'QUIT\r\n',
    ];
    let buffer = '';
    let step = 0;
    socket.setTimeout(10000, () => socket.destroy(new Error('SMTP timeout')));
    socket.on('error', fail);
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      // A reply is complete at a line "NNN text" (not "NNN-text").
      for (;;) {
        const m = /(^|\n)(\d{3}) [^\n]*\n/.exec(buffer);
        if (!m) return;
        buffer = buffer.slice(m.index + m[0].length);
        const code = Number(m[2]);
        if (code >= 400) {
          socket.destroy();
          fail(new Error(`SMTP step ${step} answered ${m[0].trim()}`));
          return;
        }
        step += 1;
        if (step >= steps.length) {
          socket.end();
          ok();
          return;
        }
        socket.write(steps[step]);
      }
    });
  });
}

/** The sandbox under test: {url, token, inject(raw, {from, to}), close}. */
export async function start_target() {
  const token = 'browser-test-token';
  if (process.env.POPBOX_URL) {
    const [host, port] = (process.env.POPBOX_SMTP || '127.0.0.1:2525').split(':');
    return {
      url: process.env.POPBOX_URL.replace(/\/$/, ''),
      token: process.env.POPBOX_API_TOKEN || '',
      inject: (raw, { from, to }) => smtp_send(host, Number(port), from, to, raw),
      close: async () => {},
    };
  }
  if ((process.env.POPBOX_BROWSER_TARGET || 'mock') === 'real') return start_real(token);
  // The mock takes mail over SMTP too: the tests send it the way they send
  // it to the real server (POPBOX_INJECT=http: through /mock/inject).
  const mock = await start_mock({ token });
  const inject =
    process.env.POPBOX_INJECT === 'http'
      ? async (raw, env) => mock.inject(raw, env)
      : (raw, { from, to }) => smtp_send('127.0.0.1', mock.smtp_port, from, to, raw);
  return { url: mock.url, token, inject, close: mock.close, mock };
}

async function start_real(token) {
  const bin = process.env.POPBOX_BIN;
  if (!bin) throw new Error('POPBOX_BROWSER_TARGET=real needs POPBOX_BIN');
  const [smtp, pop3, pop3s, http] = [await free_port(), await free_port(), await free_port(), await free_port()];
  const child = spawn(
    bin,
    ['sandbox', '--ephemeral', '--smtp', `127.0.0.1:${smtp}`, '--pop3', `127.0.0.1:${pop3}`,
      '--pop3s', `127.0.0.1:${pop3s}`, '--http', `127.0.0.1:${http}`, '--api-token', token],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const url = `http://127.0.0.1:${http}`;
  await wait_for(async () => {
    if (child.exitCode !== null) throw new Error(`popbox sandbox exited with ${child.exitCode}`);
    try {
      const r = await fetch(`${url}/api/v1/settings`, { headers: { Authorization: `Bearer ${token}` } });
      return r.ok;
    } catch {
      return false;
    }
  }, 10000, 'popbox sandbox to answer');
  return {
    url,
    token,
    inject: (raw, { from, to }) => smtp_send('127.0.0.1', smtp, from, to, raw),
    close: async () => {
      child.kill('SIGTERM');
      await new Promise((ok) => (child.exitCode !== null ? ok() : child.once('exit', ok)));
    },
  };
}

// A 1x1 transparent PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  'base64',
);

/** A loopback server standing for the rest of the internet: it records
 *  every request's path and query. */
export async function start_recorder() {
  const hits = [];
  const server = createServer((req, res) => {
    hits.push(req.url);
    if (req.url.startsWith('/remote')) {
      res.writeHead(200, { 'Content-Type': 'image/png', 'Cache-Control': 'no-store' });
      res.end(PNG);
    } else {
      res.writeHead(204);
      res.end();
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    hits,
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections();
        server.close(ok);
      }),
  };
}

/** A message as the octets an SMTP client sends (CRLF line ends). */
export function mail({ from, to, subject, headers = [], body, content_type = 'text/plain; charset=utf-8' }) {
  const lines = [
    `From: ${from}`,
    `To: ${to}`,
    `Subject: ${subject}`,
    'Date: Wed, 02 Dec 2026 10:00:00 +0000',
    `Message-ID: <${Math.random().toString(36).slice(2)}@browser-test.example>`,
    'MIME-Version: 1.0',
    ...headers,
    `Content-Type: ${content_type}`,
    '',
    body.replace(/\r?\n/g, '\r\n'),
  ];
  const text = lines.join('\r\n');
  return Buffer.from(text.endsWith('\r\n') ? text : `${text}\r\n`, 'utf8');
}
