// A mock of `popbox sandbox`'s HTTP API v1 (docs/sandbox.md) with in-memory
// inboxes, for developing and testing the web UI before the real server is
// wired in. It serves the UI from src/sandbox/web/ with the UI's CSP, and
// takes mail over a minimal SMTP listener (so tests send mail the way they
// do to the real server) and at POST /mock/inject {"raw_base64", "from",
// "to":[...]} (the same octets and envelope an SMTP client would send).
//
//   node tests/browser/mock-server.mjs [--port 8025] [--smtp 2525] [--token T]
//
// or `import { start_mock } from './mock-server.mjs'` (the browser tests).

import { createServer } from 'node:http';
import { createServer as create_tcp_server } from 'node:net';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse_message } from './mime.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const WEB_DIR = join(here, '..', '..', 'src', 'sandbox', 'web');

export const UI_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; " +
  "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

const KINDS_OF_FAULT = new Set([
  'pop3_login_temp', 'pop3_login_in_use', 'pop3_delay', 'pop3_drop_retr', 'pop3_dele_error',
  'smtp_mail', 'smtp_rcpt', 'smtp_data', 'smtp_delay',
]);

function now_iso(ms = Date.now()) {
  return new Date(ms).toISOString(); // RFC 3339 UTC with milliseconds
}

function parse_ttl(ttl) {
  if (ttl === undefined || ttl === null) return null;
  if (typeof ttl === 'number' && Number.isInteger(ttl) && ttl > 0) return ttl;
  const m = /^([0-9]+)([smhd]?)$/.exec(String(ttl));
  if (!m) return undefined;
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2]];
}

/** A minimal SMTP receiver: the message is the DATA octets, dot-unstuffed,
 *  up to and including the line end before the final ".". */
function smtp_session(socket, deliver) {
  let buffer = '';
  let data = false;
  let from = '';
  let to = [];
  const reply = (text) => socket.write(`${text}\r\n`);
  reply('220 mock ESMTP');
  socket.on('error', () => {});
  socket.on('data', (chunk) => {
    buffer += chunk.toString('latin1');
    for (;;) {
      if (data) {
        const body = `\r\n${buffer}`;
        const end = body.indexOf('\r\n.\r\n');
        if (end < 0) return;
        const octets = body.slice(2, end + 2).replace(/^\.\./gm, '.');
        buffer = body.slice(end + 5);
        data = false;
        deliver(Buffer.from(octets, 'latin1'), { from, to });
        reply('250 2.0.0 delivered');
        continue;
      }
      const eol = buffer.indexOf('\r\n');
      if (eol < 0) return;
      const line = buffer.slice(0, eol);
      buffer = buffer.slice(eol + 2);
      const verb = line.slice(0, 4).toUpperCase();
      const arg = (/<([^>]*)>/.exec(line) || [, ''])[1];
      if (verb === 'EHLO' || verb === 'HELO') {
        reply('250 mock');
      } else if (verb === 'MAIL') {
        from = arg;
        to = [];
        reply('250 2.1.0 ok');
      } else if (verb === 'RCPT') {
        to.push(arg);
        reply('250 2.1.5 ok');
      } else if (verb === 'DATA' && to.length) {
        data = true;
        reply('354 go ahead');
      } else if (verb === 'RSET' || verb === 'NOOP') {
        reply('250 ok');
      } else if (verb === 'QUIT') {
        reply('221 bye');
        socket.end();
      } else {
        reply('503 5.5.1 not here');
      }
    }
  });
}

/** Starts the mock on 127.0.0.1:`port` and its SMTP on `smtp_port` (0: any);
 *  resolves {url, port, smtp_port, close, inject}. */
export async function start_mock({ port = 0, token = '', smtp_port = 0, pop3_port = 1110 } = {}) {
  const inboxes = new Map(); // id -> {info, messages: Map id -> message, faults, webhook}
  const clients = new Set(); // SSE responses
  const waiters = new Set(); // {box, check} of pending /wait calls
  let held = null; // while streams are held: the /events requests waiting
  let next_inbox = 1;
  let seq = 0;
  let event_id = 0;

  function inbox_json(box) {
    const msgs = [...box.messages.values()];
    return {
      ...box.info,
      messages: msgs.length,
      unread: msgs.filter((m) => !m.read).length,
      bytes: msgs.reduce((n, m) => n + m.raw.length, 0),
    };
  }

  function summary(m) {
    const p = m.parsed;
    return {
      id: m.id, inbox_id: m.inbox_id, seq: m.seq, received: m.received, size: m.raw.length, read: m.read,
      from: p.from, to: p.to, subject: p.subject, has_attachments: p.has_attachments, snippet: p.snippet,
    };
  }

  function full(m) {
    const p = m.parsed;
    return {
      ...summary(m), cc: p.cc, reply_to: p.reply_to, date: p.date, message_id: p.message_id,
      headers: p.headers, text: p.text, html: p.html,
      attachments: p.attachments.map(({ data, ...a }) => a), // eslint-disable-line no-unused-vars
      links: p.links, envelope: m.envelope,
    };
  }

  function emit(kind, inbox_id, message = null) {
    event_id += 1;
    const data = { kind, inbox_id, message_id: message ? message.id : '', seq: message ? message.seq : 0 };
    if (kind === 'message_received') data.summary = summary(message);
    const text = `event: ${kind}\nid: ${event_id}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const c of clients) if (!c.inbox || c.inbox === inbox_id) c.res.write(text);
  }

  function make_inbox(address, spec = {}, auto = false) {
    const id = `i${next_inbox++}`;
    const ttl = parse_ttl(spec.ttl);
    const box = {
      info: {
        id, address: address.toLowerCase(), auto_created: auto, has_password: Boolean(spec.password),
        created: now_iso(), expires: ttl ? now_iso(Date.now() + ttl * 1000) : null,
        max_messages: spec.max_messages || 0,
      },
      messages: new Map(), faults: [], webhook: null,
    };
    inboxes.set(id, box);
    emit('inbox_created', id);
    return box;
  }

  function by_address(address) {
    for (const box of inboxes.values()) if (box.info.address === address.toLowerCase()) return box;
    return null;
  }

  /** Delivers `raw` (a Buffer) to every recipient, as the SMTP side would. */
  function inject(raw, { from = 'sender@example.com', to = [] } = {}) {
    const ids = [];
    for (const rcpt of to) {
      const box = by_address(rcpt) || make_inbox(rcpt, {}, true);
      seq += 1;
      const m = {
        id: `m${seq}`, inbox_id: box.info.id, seq, received: now_iso(), raw, read: false,
        parsed: parse_message(raw), envelope: { from, to: [rcpt.toLowerCase()] },
      };
      box.messages.set(m.id, m);
      ids.push({ inbox_id: box.info.id, message_id: m.id });
      emit('message_received', box.info.id, m);
      for (const w of waiters) if (w.box === box) w.check();
      const max = box.info.max_messages;
      while (max && box.messages.size > max) {
        const oldest = box.messages.values().next().value;
        box.messages.delete(oldest.id);
        emit('message_deleted', box.info.id, oldest);
      }
    }
    return ids;
  }

  function send(res, status, body, headers = {}) {
    const h = { 'Cache-Control': 'no-store', ...headers };
    if (body === undefined) {
      res.writeHead(status, h);
      res.end();
    } else if (Buffer.isBuffer(body) || typeof body === 'string') {
      res.writeHead(status, h);
      res.end(body);
    } else {
      res.writeHead(status, { ...h, 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    }
  }
  const error = (res, status, text) => send(res, status, { error: text });

  async function read_json(req) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const text = Buffer.concat(chunks).toString('utf8');
    if (!text) return {};
    return JSON.parse(text);
  }

  async function serve_asset(res, pathname) {
    const name = pathname === '/' || pathname === '/index.html' ? 'index.html' : pathname.slice('/assets/'.length);
    const type = TYPES[extname(name)];
    const file = normalize(join(WEB_DIR, name));
    if (!type || !file.startsWith(WEB_DIR + '/')) return error(res, 404, 'no such asset');
    try {
      const body = await readFile(file);
      const headers = { 'Content-Type': type, 'X-Content-Type-Options': 'nosniff' };
      if (type.startsWith('text/html')) headers['Content-Security-Policy'] = UI_CSP;
      return send(res, 200, body, headers);
    } catch {
      return error(res, 404, 'no such asset');
    }
  }

  function authorized(req, url) {
    if (!token) return true;
    const h = req.headers.authorization || '';
    return h === `Bearer ${token}` || url.searchParams.get('token') === token;
  }

  function html_of(req, box, m, remote) {
    const host = `http://${req.headers.host}`;
    const base = `/api/v1/inboxes/${box.info.id}/messages/${m.id}/attachments/`;
    const q = token ? `?token=${encodeURIComponent(token)}` : '';
    let html = m.parsed.html;
    for (const a of m.parsed.attachments) {
      if (a.content_id) html = html.split(`cid:${a.content_id}`).join(`${base}${a.index}${q}`);
    }
    const csp =
      `default-src 'none'; style-src 'unsafe-inline'; img-src data: cid: ${host}${base}` +
      `${remote ? ' https: http:' : ''}; frame-ancestors 'self'; sandbox`;
    return { html, csp };
  }

  async function message_routes(req, res, box, rest) {
    const m = box.messages.get(rest[0]);
    if (!m) return error(res, 404, 'no such message');
    const [, what, arg] = rest;
    if (!what && req.method === 'GET') return send(res, 200, full(m));
    if (!what && req.method === 'DELETE') {
      box.messages.delete(m.id);
      emit('message_deleted', box.info.id, m);
      return send(res, 204);
    }
    if (what === 'raw') return send(res, 200, m.raw, { 'Content-Type': 'message/rfc822' });
    if (what === 'html') {
      if (m.parsed.html === null) return error(res, 404, 'the message has no HTML part');
      const url = new URL(req.url, 'http://x');
      const { html, csp } = html_of(req, box, m, url.searchParams.get('remote_images') === '1');
      return send(res, 200, html, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': csp });
    }
    if (what === 'attachments') {
      const a = m.parsed.attachments[Number(arg)];
      if (!a) return error(res, 404, 'no such attachment');
      return send(res, 200, a.data, {
        'Content-Type': a.content_type,
        'Content-Disposition': `attachment; filename="${(a.filename || 'attachment').replace(/["\\]/g, '_')}"`,
        'X-Content-Type-Options': 'nosniff',
      });
    }
    if (what === 'read' && req.method === 'POST') {
      const body = await read_json(req);
      m.read = body.read === undefined ? true : Boolean(body.read);
      emit('message_read', box.info.id, m);
      return send(res, 204);
    }
    return error(res, 404, 'no such route');
  }

  // GET /inboxes/{id}/wait: the first `count` matching messages, oldest
  // first, as soon as they exist; 408 at the timeout.
  function wait(req, res, url, box) {
    const q = url.searchParams;
    const count = Number(q.get('count') || 1);
    const timeout = parse_ttl(q.get('timeout') || '30s');
    if (!Number.isInteger(count) || count < 1 || !timeout || timeout > 300)
      return error(res, 400, 'count: 1 or more; timeout: up to 300s');
    const res_of = {};
    for (const key of ['subject', 'from', 'body']) {
      const text = q.get(key);
      if (text === null) continue;
      if (text.length > 256) return error(res, 400, `${key}: at most 256 characters`);
      try {
        res_of[key] = new RegExp(text, 'i');
      } catch {
        return error(res, 400, `${key}: not a regular expression`);
      }
    }
    const matches = (m) => {
      const p = m.parsed;
      const from = p.from || { name: '', address: '' };
      if (res_of.subject && !res_of.subject.test(p.subject)) return false;
      if (res_of.from && !res_of.from.test(from.address) && !res_of.from.test(from.name)) return false;
      if (res_of.body && !res_of.body.test(p.text ?? p.snippet)) return false;
      return true;
    };
    const found = () => [...box.messages.values()].filter(matches);
    const waiter = { box };
    const done = (status, body) => {
      waiters.delete(waiter);
      clearTimeout(waiter.timer);
      send(res, status, body);
    };
    waiter.check = () => {
      const hits = found();
      if (hits.length >= count) done(200, { messages: hits.slice(0, count).map(summary) });
    };
    waiter.timer = setTimeout(() => done(408, { error: 'timeout', matched: found().length }), timeout * 1000);
    req.on('close', () => {
      waiters.delete(waiter);
      clearTimeout(waiter.timer);
    });
    waiters.add(waiter);
    waiter.check();
    return undefined;
  }

  async function inbox_routes(req, res, url, parts) {
    const box = inboxes.get(parts[0]);
    if (!box) return error(res, 404, 'no such inbox');
    const [, what, ...rest] = parts;
    if (!what && req.method === 'GET') return send(res, 200, inbox_json(box));
    if (!what && req.method === 'DELETE') {
      inboxes.delete(box.info.id);
      emit('inbox_deleted', box.info.id);
      return send(res, 204);
    }
    if (what === 'clear' && req.method === 'POST') {
      box.messages.clear();
      emit('inbox_cleared', box.info.id);
      return send(res, 204);
    }
    if (what === 'wait' && req.method === 'GET') return wait(req, res, url, box);
    if (what === 'messages' && rest.length === 0) {
      const offset = Number(url.searchParams.get('offset') || 0);
      const limit = Number(url.searchParams.get('limit') || 50);
      const q = (url.searchParams.get('search') || '').toLowerCase();
      const all = [...box.messages.values()].reverse().filter((m) => {
        if (!q) return true;
        const f = m.parsed.from || { name: '', address: '' };
        return [m.parsed.subject, f.name, f.address].some((s) => s.toLowerCase().includes(q));
      });
      return send(res, 200, { total: all.length, offset, limit, messages: all.slice(offset, offset + limit).map(summary) });
    }
    if (what === 'messages') return message_routes(req, res, box, rest);
    if (what === 'faults') {
      if (req.method === 'GET') return send(res, 200, { faults: box.faults });
      if (req.method === 'DELETE') {
        box.faults = [];
        return send(res, 204);
      }
      const body = await read_json(req);
      if (!Array.isArray(body.faults) || body.faults.some((f) => !KINDS_OF_FAULT.has(f.kind)))
        return error(res, 400, 'faults: a list of known kinds');
      box.faults = body.faults;
      return send(res, 204);
    }
    if (what === 'webhook') {
      if (rest[0] === 'deliveries') return send(res, 200, { deliveries: [] });
      if (req.method === 'GET')
        return box.webhook ? send(res, 200, { url: box.webhook.url, has_secret: Boolean(box.webhook.secret) }) : error(res, 404, 'no webhook');
      if (req.method === 'DELETE') {
        box.webhook = null;
        return send(res, 204);
      }
      box.webhook = await read_json(req);
      return send(res, 204);
    }
    return error(res, 404, 'no such route');
  }

  async function api(req, res, url) {
    if (!authorized(req, url)) return error(res, 401, 'this sandbox needs its API token');
    const parts = url.pathname.slice('/api/v1/'.length).split('/').filter(Boolean).map(decodeURIComponent);
    const [head, ...rest] = parts;
    if (head === 'inboxes' && rest.length === 0) {
      if (req.method === 'GET') return send(res, 200, { inboxes: [...inboxes.values()].map(inbox_json) });
      if (req.method === 'POST') {
        const spec = await read_json(req);
        if (typeof spec.address !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(spec.address))
          return error(res, 400, 'address: a mail address');
        if (parse_ttl(spec.ttl) === undefined) return error(res, 400, 'ttl: like 30m or seconds');
        if (by_address(spec.address)) return error(res, 409, `${spec.address} already has an inbox`);
        return send(res, 201, inbox_json(make_inbox(spec.address, spec)));
      }
    }
    if (head === 'inboxes') return inbox_routes(req, res, url, rest);
    if (head === 'settings')
      return send(res, 200, {
        smtp: { host: '127.0.0.1', port: smtp_port, starttls: true, auth: 'any' },
        pop3: { host: '127.0.0.1', port: pop3_port, stls: true, auth: 'any' },
        pop3s: null,
        limits: { max_messages: 0, max_total_bytes: 0, max_message_size: 26214400 },
        version: 'mock',
      });
    if (head === 'openapi.json') return send(res, 200, { openapi: '3.1.0', info: { title: 'popbox sandbox (mock)', version: '1' }, paths: {} });
    if (head === 'events') {
      if (held) {
        held.push(() => api(req, res, url));
        return undefined;
      }
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' });
      res.write('retry: 500\n: connected\n\n'); // reconnect quickly after drop_streams()
      const client = { res, inbox: url.searchParams.get('inbox') };
      clients.add(client);
      const keepalive = setInterval(() => res.write(': keepalive\n\n'), 15000);
      req.on('close', () => {
        clearInterval(keepalive);
        clients.delete(client);
      });
      return undefined;
    }
    return error(res, 404, 'no such route');
  }

  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    try {
      if (url.pathname.startsWith('/api/v1/')) return await api(req, res, url);
      if (url.pathname === '/mock/inject' && req.method === 'POST') {
        const body = await read_json(req);
        const raw = body.raw_base64 !== undefined ? Buffer.from(body.raw_base64, 'base64') : Buffer.from(body.raw || '', 'utf8');
        return send(res, 200, { delivered: inject(raw, body) });
      }
      if (req.method === 'GET' && (url.pathname === '/' || url.pathname === '/index.html' || url.pathname.startsWith('/assets/')))
        return await serve_asset(res, url.pathname);
      return error(res, 404, 'not found');
    } catch (err) {
      return error(res, err instanceof SyntaxError ? 400 : 500, String(err.message || err));
    }
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = server.address().port;
  const smtp_sockets = new Set();
  const smtp = create_tcp_server((socket) => {
    smtp_sockets.add(socket);
    socket.on('close', () => smtp_sockets.delete(socket));
    smtp_session(socket, inject);
  });
  await new Promise((resolve) => smtp.listen(smtp_port, '127.0.0.1', resolve));
  smtp_port = smtp.address().port;
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    smtp_port,
    inject,
    /** Ends every event stream, as a restart or a proxy would, and holds
     *  the reconnections unanswered until resume_streams(). */
    drop_streams: () => {
      held = held || [];
      for (const c of clients) c.res.destroy();
      clients.clear();
    },
    /** How many reconnections are held. */
    held_streams: () => (held ? held.length : 0),
    /** Answers the held reconnections, and those to come. */
    resume_streams: () => {
      const pending = held || [];
      held = null;
      for (const go of pending) go();
      return pending.length;
    },
    close: () =>
      new Promise((resolve) => {
        for (const c of clients) c.res.end();
        for (const w of waiters) clearTimeout(w.timer);
        for (const s of smtp_sockets) s.destroy();
        smtp.close();
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : dflt;
  };
  const mock = await start_mock({
    port: Number(arg('--port', 8025)),
    smtp_port: Number(arg('--smtp', 2525)),
    token: arg('--token', ''),
  });
  console.log(`mock sandbox API at ${mock.url}/, SMTP at 127.0.0.1:${mock.smtp_port}`);
}
