// A sign-up test against `popbox sandbox` with node:test: the "application"
// sends a confirmation mail over SMTP (plain sockets here; use your mailer),
// the test waits for it through the HTTP API and extracts the link.
// Run: node --test signup.test.mjs (POPBOX_BIN names the binary).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';

const bin = process.env.POPBOX_BIN || 'popbox';
let box;
let smtpPort;
let api;

before(async () => {
  const free = ['--smtp', '--pop3', '--pop3s', '--http'].flatMap((flag) => [flag, '127.0.0.1:0']);
  box = spawn(bin, ['sandbox', '--ephemeral', ...free], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = {};
  for await (const line of createInterface({ input: box.stdout })) {
    const [kind, ...rest] = line.split(' ');
    lines[kind] = rest.join(' ');
    if (kind === 'http') break;
  }
  smtpPort = Number(lines.smtp.split(' ')[0].split(':').pop());
  api = `${lines.http}api/v1`;
});

after(() => box.kill('SIGTERM'));

/** Stands in for the application under test: one message over SMTP. */
function sendSignupMail(port, to, token) {
  const body =
    `From: Example App <noreply@app.example>\r\nTo: ${to}\r\nSubject: Confirm your sign-up\r\n\r\n` +
    `Welcome!\r\n\r\nConfirm here: https://app.example/confirm?token=${token}\r\n`;
  const steps = ['EHLO app.example', 'MAIL FROM:<noreply@app.example>', `RCPT TO:<${to}>`, 'DATA',
    `${body}.`, 'QUIT'];
  return new Promise((ok, fail) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let buffer = '';
    socket.on('error', fail);
    socket.on('data', (chunk) => {
      buffer += chunk.toString();
      for (let m; (m = /(^|\n)(\d{3}) [^\n]*\n/.exec(buffer)); ) {
        buffer = buffer.slice(m.index + m[0].length);
        if (Number(m[2]) >= 400) return fail(new Error(m[0].trim()));
        const next = steps.shift();
        if (next === undefined) return ok(socket.end());
        socket.write(`${next}\r\n`);
      }
    });
  });
}

async function call(method, path, body) {
  const res = await fetch(api + path, {
    method,
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(res.ok, `${method} ${path}: ${res.status}`);
  return res.json();
}

test('sign-up sends a confirmation link', async () => {
  const address = 'new.user@example.com';
  const inbox = await call('POST', '/inboxes', { address });
  await sendSignupMail(smtpPort, address, 'abc123');
  const found = await call('GET', `/inboxes/${inbox.id}/wait?subject=confirm&timeout=10s`);
  const message = await call('GET', `/inboxes/${inbox.id}/messages/${found.messages[0].id}`);
  assert.equal(message.from.address, 'noreply@app.example');
  assert.deepEqual(message.links.filter((l) => l.includes('/confirm?')), ['https://app.example/confirm?token=abc123']);
});
