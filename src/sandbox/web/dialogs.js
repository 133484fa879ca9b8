// The modal dialogs: API token, confirmation, new inbox, connection settings.
// Native <dialog> elements: they trap focus, close on Escape and give focus
// back to the element that opened them.

import * as api from './api.js';
import { $, el } from './dom.js';

let token_waiters = [];

/** Asks for the API token; every 401 that arrives meanwhile waits for the
 *  same answer. Resolves with the token typed. */
export function ask_token(error_text) {
  return new Promise((resolve) => {
    token_waiters.push(resolve);
    const dialog = $('token-dialog');
    $('token-error').textContent = error_text || '';
    if (!dialog.open) {
      $('token-input').value = '';
      dialog.showModal();
      $('token-input').focus();
    }
  });
}

function init_token_dialog() {
  const dialog = $('token-dialog');
  // Without a token nothing works: Escape does not close this one.
  dialog.addEventListener('cancel', (event) => event.preventDefault());
  $('token-form').addEventListener('submit', () => {
    const value = $('token-input').value.trim();
    const waiters = token_waiters;
    token_waiters = [];
    for (const resolve of waiters) resolve(value);
  });
}

/** Shows `text` with OK/Cancel; resolves true for OK. */
export function confirm_action(text, ok_label = 'OK') {
  const dialog = $('confirm-dialog');
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = ok_label;
  dialog.returnValue = '';
  dialog.showModal();
  $('confirm-ok').focus();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

/** Parses the TTL field: "30m", "2h", "1d", "90s" or seconds; null when empty. */
function ttl_value(text) {
  const t = text.trim();
  if (!t) return null;
  return /^[0-9]+$/.test(t) ? Number(t) : t;
}

/** Opens the new-inbox form; `on_created(inbox)` runs after the API made it. */
export function open_new_inbox(on_created) {
  const dialog = $('inbox-dialog');
  const form = $('inbox-form');
  form.reset();
  $('inbox-error').textContent = '';
  dialog.showModal();
  $('inbox-address').focus();
  dialog.on_created = on_created;
}

function init_inbox_dialog() {
  const dialog = $('inbox-dialog');
  $('inbox-cancel').addEventListener('click', () => dialog.close());
  $('inbox-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const spec = { address: $('inbox-address').value.trim() };
    const password = $('inbox-password').value;
    if (password) spec.password = password;
    const ttl = ttl_value($('inbox-ttl').value);
    if (ttl !== null) spec.ttl = ttl;
    const max = $('inbox-max').value;
    if (max) spec.max_messages = Number(max);
    try {
      const inbox = await api.create_inbox(spec);
      dialog.close();
      if (dialog.on_created) dialog.on_created(inbox);
    } catch (err) {
      $('inbox-error').textContent =
        err.status === 409 ? `${spec.address} already has an inbox.` : err.message;
      $('inbox-address').focus();
    }
  });
}

function copy_button(text) {
  return el(
    'button',
    {
      type: 'button',
      class: 'copy',
      'aria-label': `Copy ${text}`,
      onclick: async (event) => {
        const button = event.currentTarget;
        try {
          await navigator.clipboard.writeText(text);
          button.textContent = 'Copied';
        } catch {
          button.textContent = 'Select and copy';
        }
      },
    },
    'Copy',
  );
}

// Host and port rows get a copy button; the descriptive ones do not.
const COPYABLE = new Set(['Host', 'Port']);

function row(name, value) {
  const v = String(value);
  const cell = COPYABLE.has(name) ? el('code', {}, v) : v;
  return el('tr', {}, el('th', { scope: 'row' }, name), el('td', {}, cell), el('td', {}, COPYABLE.has(name) ? copy_button(v) : null));
}

function endpoint_table(caption, rows) {
  return el(
    'table',
    { class: 'settings' },
    el('caption', {}, caption),
    el('tbody', {}, rows.map(([n, v]) => row(n, v))),
  );
}

function auth_text(auth) {
  return auth === 'strict' ? 'the inbox password' : 'any password (auto-created inboxes)';
}

/** Renders GET /settings into the settings panel. */
export function render_settings(s) {
  const body = $('settings-body');
  const parts = [
    endpoint_table('SMTP (send here)', [
      ['Host', s.smtp.host],
      ['Port', s.smtp.port],
      ['Security', s.smtp.starttls ? 'STARTTLS (optional)' : 'none'],
      ['Login', s.smtp.auth === 'strict' ? 'required' : 'any user and password, or none'],
    ]),
  ];
  if (s.pop3) {
    parts.push(endpoint_table('POP3 (read here)', [
      ['Host', s.pop3.host],
      ['Port', s.pop3.port],
      ['Security', s.pop3.stls ? 'STLS (optional)' : 'none'],
      ['User', 'the inbox address'],
      ['Password', auth_text(s.pop3.auth)],
    ]));
  }
  if (s.pop3s) {
    parts.push(endpoint_table('POP3S (TLS from the start)', [
      ['Host', s.pop3s.host],
      ['Port', s.pop3s.port],
      ['Security', 'TLS'],
      ['User', 'the inbox address'],
      ['Password', auth_text(s.pop3s.auth)],
    ]));
  }
  if (!s.pop3 && !s.pop3s) {
    parts.push(el('p', { class: 'hint' }, 'POP3 is not served by this sandbox.'));
  }
  parts.push(
    el('p', { class: 'hint' }, 'The certificate is self-signed: tell the client to accept it, or trust sandbox-cert.pem of the data directory (--ephemeral keeps none).'),
    endpoint_table('Limits', [
      ['Messages per inbox', s.limits.max_messages || 'no limit'],
      ['Total bytes', s.limits.max_total_bytes || 'no limit'],
      ['Message size', s.limits.max_message_size || 'no limit'],
    ]),
    el('p', { class: 'hint' }, `popbox ${s.version}`),
  );
  body.replaceChildren(...parts);
}

/** Opens the settings panel, loading the settings first. */
export async function open_settings(on_error) {
  const dialog = $('settings-dialog');
  try {
    render_settings(await api.get_settings());
  } catch (err) {
    on_error(err);
    return;
  }
  dialog.showModal();
  $('settings-close').focus();
}

/** Wires the dialogs' own buttons. */
export function init_dialogs() {
  init_token_dialog();
  init_inbox_dialog();
  $('settings-close').addEventListener('click', () => $('settings-dialog').close());
}
