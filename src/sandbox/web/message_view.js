// The message view: fields, actions and the tabs (HTML in a sandboxed
// iframe, text, headers, raw source, attachments).
//
// The HTML part is never put into this page: the iframe loads it from the
// API's /html endpoint, whose own CSP blocks scripts and remote images, and
// the iframe's empty `sandbox` attribute gives it an opaque origin with no
// scripts, forms, popups or top navigation on top of that.

import * as api from './api.js';
import { $, el, format_address, format_full_time, format_size } from './dom.js';

const PANES = ['html', 'text', 'headers', 'raw', 'attachments'];

let current = null; // {inbox_id, message}
let raw_loaded = false;
let remote_images = false;
let active_pane = 'html';

function tab(name) {
  return $(`tab-${name}`);
}

/** Shows pane `name` (one of PANES), loading the raw source on first use. */
export function select_pane(name, { focus = false } = {}) {
  if (!PANES.includes(name) || tab(name).hidden) name = first_visible_pane();
  active_pane = name;
  for (const p of PANES) {
    const selected = p === name;
    tab(p).setAttribute('aria-selected', String(selected));
    tab(p).tabIndex = selected ? 0 : -1;
    $(`pane-${p}`).hidden = !selected;
  }
  if (focus) tab(name).focus();
  if (name === 'raw') load_raw();
}

function first_visible_pane() {
  return PANES.find((p) => !tab(p).hidden) || 'text';
}

function visible_tabs() {
  return PANES.filter((p) => !tab(p).hidden);
}

/** Wires the tab list (click, arrows, Home/End) and the buttons. */
export function init_message_view({ on_delete, on_toggle_read }) {
  const tablist = $('message-tabs');
  tablist.addEventListener('click', (event) => {
    const button = event.target.closest('[role=tab]');
    if (button) select_pane(button.dataset.pane);
  });
  tablist.addEventListener('keydown', (event) => {
    const tabs = visible_tabs();
    const at = tabs.indexOf(active_pane);
    let next = null;
    if (event.key === 'ArrowRight') next = tabs[(at + 1) % tabs.length];
    else if (event.key === 'ArrowLeft') next = tabs[(at - 1 + tabs.length) % tabs.length];
    else if (event.key === 'Home') next = tabs[0];
    else if (event.key === 'End') next = tabs[tabs.length - 1];
    if (next) {
      event.preventDefault();
      select_pane(next, { focus: true });
    }
  });
  $('remote-images-button').addEventListener('click', () => {
    if (!current) return;
    remote_images = true;
    load_html();
  });
  $('delete-message-button').addEventListener('click', () => current && on_delete(current));
  $('toggle-read-button').addEventListener('click', () => current && on_toggle_read(current));
}

function field(dl, name, value) {
  if (value === null || value === undefined || value === '') return;
  dl.append(el('dt', {}, name), el('dd', {}, value));
}

function load_html() {
  const { inbox_id, message } = current;
  $('html-frame').src = api.html_url(inbox_id, message.id, remote_images);
  $('remote-status').textContent = remote_images
    ? 'Remote images are shown.'
    : 'Remote images are blocked.';
  $('remote-images-button').hidden = remote_images;
}

async function load_raw() {
  if (!current || raw_loaded) return;
  raw_loaded = true;
  const shown = current;
  const pre = $('raw-body');
  pre.textContent = 'Loading…';
  try {
    const text = await api.get_raw(shown.inbox_id, shown.message.id);
    if (current === shown) pre.textContent = text;
  } catch (err) {
    raw_loaded = false;
    if (current === shown) pre.textContent = `Could not load the source: ${err.message}`;
  }
}

function render_attachments(inbox_id, message) {
  const list = $('attachment-list');
  list.replaceChildren();
  const attachments = message.attachments || [];
  $('attachments-empty').hidden = attachments.length > 0;
  for (const a of attachments) {
    const name = a.filename || `attachment-${a.index}`;
    list.append(
      el(
        'li',
        {},
        el('a', { href: api.attachment_url(inbox_id, message.id, a.index), download: name }, name),
        el('span', { class: 'meta' }, ` ${a.content_type}, ${format_size(a.size)}${a.inline ? ', inline' : ''}`),
      ),
    );
  }
  tab('attachments').textContent = attachments.length ? `Attachments (${attachments.length})` : 'Attachments';
}

/** Shows `message` (a Message object of the API) of inbox `inbox_id`. */
export function show_message(inbox_id, message) {
  const same = current && current.inbox_id === inbox_id && current.message.id === message.id;
  current = { inbox_id, message };
  if (!same) {
    raw_loaded = false;
    remote_images = false;
    $('raw-body').textContent = '';
  }
  $('message-empty').hidden = true;
  $('message-view').hidden = false;
  $('message-subject').textContent = message.subject || '(no subject)';

  const fields = $('message-fields');
  fields.replaceChildren();
  field(fields, 'From', format_address(message.from));
  field(fields, 'To', (message.to || []).map(format_address).join(', '));
  field(fields, 'Cc', (message.cc || []).map(format_address).join(', '));
  field(fields, 'Reply-To', (message.reply_to || []).map(format_address).join(', '));
  field(fields, 'Date', message.date);
  field(fields, 'Received', format_full_time(message.received));
  field(fields, 'Size', format_size(message.size));

  $('toggle-read-button').textContent = message.read ? 'Mark unread' : 'Mark read';
  $('download-raw').href = api.raw_url(inbox_id, message.id);
  $('download-raw').setAttribute('download', `${message.id}.eml`);

  const has_html = typeof message.html === 'string';
  tab('html').hidden = !has_html;
  if (has_html && !same) load_html();
  if (!has_html) $('html-frame').src = 'about:blank';

  $('text-body').textContent = message.text ?? '(no text part)';
  const links = $('links-list');
  links.replaceChildren(
    ...(message.links || []).map((href) =>
      el('li', {}, el('a', { href, target: '_blank', rel: 'noopener noreferrer' }, href)),
    ),
  );
  $('links-title').hidden = !(message.links || []).length;

  const headers = $('headers-body');
  headers.replaceChildren(
    ...(message.headers || []).map((h) => el('tr', {}, el('th', { scope: 'row' }, h.name), el('td', {}, h.value))),
  );
  const envelope = $('envelope-fields');
  envelope.replaceChildren();
  field(envelope, 'MAIL FROM', message.envelope ? message.envelope.from || '<>' : '');
  field(envelope, 'RCPT TO', message.envelope ? (message.envelope.to || []).join(', ') : '');
  field(envelope, 'Message-ID', message.message_id);

  render_attachments(inbox_id, message);
  select_pane(same ? active_pane : has_html ? 'html' : 'text');
}

/** The message shown, if any: {inbox_id, message}. */
export function shown_message() {
  return current;
}

/** Empties the view (the message was deleted or another inbox opened). */
export function clear_message(note = 'Select a message.') {
  current = null;
  raw_loaded = false;
  $('message-view').hidden = true;
  $('message-empty').hidden = false;
  $('message-empty').textContent = note;
  $('html-frame').src = 'about:blank';
}
