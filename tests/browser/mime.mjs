// Just enough MIME for the mock API server to answer like the real one
// (which parses with GMime) for the messages these tests send: headers,
// RFC 2047 words, addresses, nested multiparts, base64 and quoted-printable.
// Test code only; the product never parses MIME by hand.

function split_head_body(buf) {
  const s = buf.toString('latin1');
  let at = s.indexOf('\r\n\r\n');
  let sep = 4;
  const lf = s.indexOf('\n\n');
  if (at < 0 || (lf >= 0 && lf < at)) {
    at = lf;
    sep = 2;
  }
  if (at < 0) return { head: s, body: Buffer.alloc(0) };
  return { head: s.slice(0, at), body: buf.subarray(at + sep) };
}

/** Raw headers in order, values unfolded (line breaks removed), not decoded. */
export function parse_headers(head) {
  const out = [];
  for (const line of head.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && out.length) out[out.length - 1].value += line;
    else {
      const colon = line.indexOf(':');
      if (colon > 0) out.push({ name: line.slice(0, colon), value: line.slice(colon + 1).replace(/^[ \t]+/, '') });
    }
  }
  return out;
}

function latin1_to_utf8(s) {
  return Buffer.from(s, 'latin1').toString('utf8');
}

/** Decodes RFC 2047 encoded words (B and Q). */
export function decode_words(value) {
  const v = value.replace(/(=\?[^?]+\?[bqBQ]\?[^?]*\?=)\s+(?==\?)/g, '$1');
  return latin1_to_utf8(v).replace(/=\?([^?]+)\?([bqBQ])\?([^?]*)\?=/g, (_, charset, enc, text) => {
    const bytes =
      enc.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64')
        : Buffer.from(
            text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, h) => String.fromCharCode(parseInt(h, 16))),
            'latin1',
          );
    try {
      return new TextDecoder(charset).decode(bytes);
    } catch {
      return bytes.toString('latin1');
    }
  });
}

/** "Ann <a@x>, b@y" -> [{name, address}]. */
export function parse_addresses(value) {
  if (!value) return [];
  const parts = [];
  let cur = '';
  let quoted = false;
  let angle = 0;
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    if (!quoted && ch === '<') angle += 1;
    if (!quoted && ch === '>') angle -= 1;
    if (ch === ',' && !quoted && angle === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const m = /^(.*)<([^>]*)>\s*$/.exec(p);
      if (!m) return { name: '', address: p };
      return { name: decode_words(m[1].trim().replace(/^"(.*)"$/, '$1')), address: m[2].trim() };
    });
}

function params_of(value) {
  const [type, ...rest] = value.split(';');
  const params = {};
  for (const r of rest) {
    const eq = r.indexOf('=');
    if (eq > 0) params[r.slice(0, eq).trim().toLowerCase()] = r.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return { type: type.trim().toLowerCase(), params };
}

function header(headers, name) {
  const h = headers.find((x) => x.name.toLowerCase() === name);
  return h ? h.value : null;
}

function decode_body(body, encoding) {
  const enc = (encoding || '').trim().toLowerCase();
  if (enc === 'base64') return Buffer.from(body.toString('latin1').replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  if (enc === 'quoted-printable') {
    const s = body
      .toString('latin1')
      .replace(/=\r?\n/g, '')
      .replace(/=([0-9A-Fa-f]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(s, 'latin1');
  }
  return body;
}

function walk(buf, out) {
  const { head, body } = split_head_body(buf);
  const headers = parse_headers(head);
  const ct = params_of(header(headers, 'content-type') || 'text/plain');
  if (ct.type.startsWith('multipart/') && ct.params.boundary) {
    const text = body.toString('latin1');
    const delim = `--${ct.params.boundary}`;
    const pieces = text.split(new RegExp(`\\r?\\n?${delim.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    for (const piece of pieces.slice(1)) {
      if (piece.startsWith('--')) break;
      walk(Buffer.from(piece.replace(/^[ \t]*\r?\n/, ''), 'latin1'), out);
    }
    return;
  }
  const data = decode_body(body, header(headers, 'content-transfer-encoding'));
  const disp = params_of(header(headers, 'content-disposition') || 'inline');
  const filename = disp.params.filename || ct.params.name || null;
  const is_attachment = disp.type === 'attachment' || filename !== null;
  const charset = ct.params.charset || 'utf-8';
  const as_text = () => {
    try {
      return new TextDecoder(charset).decode(data);
    } catch {
      return data.toString('latin1');
    }
  };
  if (!is_attachment && ct.type === 'text/plain' && out.text === null) out.text = as_text();
  else if (!is_attachment && ct.type === 'text/html' && out.html === null) out.html = as_text();
  else {
    const cid = header(headers, 'content-id');
    out.attachments.push({
      index: out.attachments.length,
      filename: filename ? decode_words(filename) : null,
      content_type: ct.type,
      size: data.length,
      content_id: cid ? cid.replace(/^<|>$/g, '') : null,
      inline: disp.type === 'inline',
      data,
    });
  }
}

function html_to_text(html) {
  return html
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');
}

/** The parsed fields of the API's Message object (without ids and times). */
export function parse_message(raw) {
  const { head } = split_head_body(raw);
  const headers = parse_headers(head);
  const out = { text: null, html: null, attachments: [] };
  walk(raw, out);
  const links = [];
  for (const source of [out.text || '', out.html || '']) {
    for (const m of source.matchAll(/https?:\/\/[^\s"'<>)]+/g)) if (!links.includes(m[0])) links.push(m[0]);
  }
  const plain = out.text !== null ? out.text : out.html !== null ? html_to_text(out.html) : '';
  const from = parse_addresses(header(headers, 'from'));
  return {
    headers,
    from: from[0] || null,
    to: parse_addresses(header(headers, 'to')),
    cc: parse_addresses(header(headers, 'cc')),
    reply_to: parse_addresses(header(headers, 'reply-to')),
    subject: decode_words(header(headers, 'subject') || ''),
    date: header(headers, 'date'),
    message_id: header(headers, 'message-id'),
    text: out.text,
    html: out.html,
    attachments: out.attachments,
    has_attachments: out.attachments.length > 0,
    links,
    snippet: plain.replace(/\s+/g, ' ').trim().slice(0, 200),
  };
}
