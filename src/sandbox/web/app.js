// The sandbox web UI: inbox list, message list with live updates, message
// view. The location hash holds what is open (#/inbox/ID[/MESSAGE_ID]), so
// reloads, links and the browser's back button keep their place.

import * as api from './api.js';
import * as dialogs from './dialogs.js';
import { $, arrow_navigation, el, format_size, format_time, short_address } from './dom.js';
import * as view from './message_view.js';

const PAGE = 50;

const state = {
  inboxes: [],
  inbox_id: null,
  messages: [], // Summary objects, newest first (as the API answers)
  total: 0,
  search: '',
  message_id: null,
  loading: 0, // increments per list load: an older answer is dropped
};

let toast_timer = 0;

/** Shows an error (or note) for a few seconds. */
function toast(text) {
  const t = $('toast');
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast_timer);
  toast_timer = setTimeout(() => {
    t.hidden = true;
  }, 6000);
}

function announce(text) {
  $('live-status').textContent = text;
}

function fail(err) {
  toast(err && err.message ? err.message : String(err));
}

const one_pane = window.matchMedia('(max-width: 820px)');

/** Shows pane `name` (inboxes, messages, message) where one pane shows at a
 *  time, and moves the focus into it there, so a keyboard or screen-reader
 *  user lands on what just appeared. */
function set_view(name, { focus_id = null } = {}) {
  const changed = document.body.dataset.view !== name;
  document.body.dataset.view = name;
  if (!changed || !one_pane.matches) return;
  if (name === 'message') {
    $('message-subject').focus({ preventScroll: true });
  } else {
    const list = name === 'messages' ? $('message-list') : $('inbox-list');
    const item =
      (focus_id && list.querySelector(`.item[data-id="${CSS.escape(focus_id)}"]`)) ||
      list.querySelector('.item[aria-current]') ||
      list.querySelector('.item');
    (item || $(name === 'messages' ? 'messages-panel' : 'inboxes-panel')).focus({ preventScroll: true });
  }
}

// ---- inboxes ----------------------------------------------------------

function counts_text(inbox) {
  const m = `${inbox.messages} message${inbox.messages === 1 ? '' : 's'}`;
  return inbox.unread ? `${m}, ${inbox.unread} unread` : m;
}

function render_inboxes() {
  const list = $('inbox-list');
  list.replaceChildren(
    ...state.inboxes.map((inbox) =>
      el(
        'li',
        {},
        el(
          'a',
          {
            href: `#/inbox/${encodeURIComponent(inbox.id)}`,
            class: 'item inbox-item',
            dataset: { id: inbox.id },
            'aria-current': inbox.id === state.inbox_id ? 'page' : undefined,
          },
          el('span', { class: 'address', title: inbox.address }, inbox.address),
          el(
            'span',
            { class: 'counts' },
            el('span', { class: 'count-messages', 'aria-label': counts_text(inbox) }, String(inbox.messages)),
            inbox.unread ? el('span', { class: 'count-unread', 'aria-hidden': 'true' }, String(inbox.unread)) : null,
          ),
        ),
      ),
    ),
  );
  $('inboxes-empty').hidden = state.inboxes.length > 0;
  render_inbox_head();
}

function current_inbox() {
  return state.inboxes.find((i) => i.id === state.inbox_id) || null;
}

function render_inbox_head() {
  const inbox = current_inbox();
  $('inbox-actions').hidden = !inbox;
  $('search-form').hidden = !inbox;
  $('messages-heading').textContent = inbox ? inbox.address : 'Messages';
  if (!inbox) {
    $('inbox-meta').textContent = '';
    return;
  }
  const parts = [counts_text(inbox), format_size(inbox.bytes)];
  if (inbox.max_messages) parts.push(`keeps ${inbox.max_messages}`);
  if (inbox.expires) parts.push(`expires ${format_time(inbox.expires)}`);
  if (inbox.has_password) parts.push('password set');
  $('inbox-meta').textContent = parts.join(' · ');
}

async function refresh_inboxes() {
  const { inboxes } = await api.list_inboxes();
  state.inboxes = inboxes;
  render_inboxes();
}

let refresh_timer = 0;
/** Refreshes the counts soon, once for a burst of events. */
function refresh_inboxes_soon() {
  clearTimeout(refresh_timer);
  refresh_timer = setTimeout(() => refresh_inboxes().catch(fail), 150);
}

// ---- messages -----------------------------------------------------------

function message_item(m) {
  const classes = ['item', 'message-item'];
  if (!m.read) classes.push('unread');
  return el(
    'li',
    { dataset: { id: m.id } },
    el(
      'a',
      {
        href: `#/inbox/${encodeURIComponent(m.inbox_id)}/${encodeURIComponent(m.id)}`,
        class: classes.join(' '),
        dataset: { id: m.id },
        'aria-current': m.id === state.message_id ? 'page' : undefined,
      },
      el(
        'span',
        { class: 'line1' },
        el('span', { class: 'from' }, short_address(m.from)),
        el('time', { datetime: m.received, class: 'time' }, format_time(m.received)),
      ),
      el(
        'span',
        { class: 'line2' },
        m.read ? null : el('span', { class: 'visually-hidden' }, 'Unread: '),
        el('span', { class: 'subject' }, m.subject || '(no subject)'),
        m.has_attachments
          ? el('img', { class: 'clip', src: '/assets/attachment.svg', alt: 'has attachments', title: 'Has attachments', width: 14, height: 14 })
          : null,
      ),
      el('span', { class: 'snippet' }, m.snippet || ''),
    ),
  );
}

function render_messages() {
  const list = $('message-list');
  // Mail arriving while someone moves through the list keeps their place.
  const focused = list.contains(document.activeElement) ? document.activeElement.dataset.id : null;
  list.replaceChildren(...state.messages.map(message_item));
  if (focused) {
    const again = list.querySelector(`.item[data-id="${CSS.escape(focused)}"]`);
    if (again) again.focus({ preventScroll: true });
  }
  const empty = $('messages-empty');
  if (!state.inbox_id) {
    empty.hidden = false;
    empty.textContent = 'Choose an inbox.';
  } else if (state.messages.length === 0) {
    empty.hidden = false;
    empty.textContent = state.search ? `Nothing matches “${state.search}”.` : 'No messages yet. They appear here as they arrive.';
  } else {
    empty.hidden = true;
  }
  $('load-more').hidden = state.messages.length >= state.total;
}

async function load_messages({ append = false } = {}) {
  if (!state.inbox_id) return;
  const ticket = ++state.loading;
  const offset = append ? state.messages.length : 0;
  const page = await api.list_messages(state.inbox_id, { offset, limit: PAGE, search: state.search });
  if (ticket !== state.loading) return;
  state.total = page.total;
  if (append) {
    // Mail that arrived since the first page shifted the offsets: skip the repeats.
    const have = new Set(state.messages.map((m) => m.id));
    state.messages = state.messages.concat(page.messages.filter((m) => !have.has(m.id)));
  } else {
    state.messages = page.messages;
  }
  render_messages();
}

function matches_search(summary) {
  if (!state.search) return true;
  const q = state.search.toLowerCase();
  const from = summary.from || { name: '', address: '' };
  return [summary.subject, from.name, from.address].some((s) => (s || '').toLowerCase().includes(q));
}

function insert_summary(summary) {
  if (state.messages.some((m) => m.id === summary.id)) return;
  state.messages.push(summary);
  state.messages.sort((a, b) => b.seq - a.seq);
  state.total += 1;
  render_messages();
  const node = $('message-list').querySelector(`li[data-id="${CSS.escape(summary.id)}"] .item`);
  if (node) node.classList.add('arrived');
}

function replace_summary(id, changes) {
  const m = state.messages.find((x) => x.id === id);
  if (m) Object.assign(m, changes);
  render_messages();
}

async function open_message(message_id) {
  state.message_id = message_id;
  render_messages();
  const inbox_id = state.inbox_id;
  const message = await api.get_message(inbox_id, message_id);
  if (state.inbox_id !== inbox_id || state.message_id !== message_id) return;
  view.show_message(inbox_id, message);
  set_view('message');
  if (!message.read) {
    await api.mark_read(inbox_id, message_id, true);
    message.read = true;
    view.show_message(inbox_id, message);
    replace_summary(message_id, { read: true });
  }
}

// ---- routing ------------------------------------------------------------

function parse_hash() {
  const m = /^#\/inbox\/([^/]+)(?:\/([^/]+))?$/.exec(location.hash);
  if (!m) return { inbox_id: null, message_id: null };
  return { inbox_id: decodeURIComponent(m[1]), message_id: m[2] ? decodeURIComponent(m[2]) : null };
}

async function route() {
  const { inbox_id, message_id } = parse_hash();
  if (inbox_id !== state.inbox_id) {
    state.inbox_id = inbox_id;
    state.messages = [];
    state.total = 0;
    state.search = '';
    $('search-input').value = '';
    state.message_id = null;
    view.clear_message();
    render_inboxes();
    render_messages();
    if (inbox_id) await load_messages();
  }
  if (!inbox_id) {
    set_view('inboxes');
    return;
  }
  if (message_id && message_id !== state.message_id) {
    await open_message(message_id);
  } else if (!message_id) {
    const left = state.message_id;
    state.message_id = null;
    view.clear_message();
    render_messages();
    set_view('messages', { focus_id: left });
  } else {
    set_view('message');
  }
}

function go(hash) {
  if (location.hash === hash) route().catch(fail);
  else location.hash = hash;
}

// ---- actions ------------------------------------------------------------

async function delete_shown({ inbox_id, message }) {
  await api.delete_message(inbox_id, message.id);
  remove_message(inbox_id, message.id, 'Message deleted.');
  announce('Message deleted.');
  go(`#/inbox/${encodeURIComponent(inbox_id)}`);
}

async function toggle_read({ inbox_id, message }) {
  const read = !message.read;
  await api.mark_read(inbox_id, message.id, read);
  message.read = read;
  view.show_message(inbox_id, message);
  replace_summary(message.id, { read });
}

function remove_message(inbox_id, message_id, note) {
  if (inbox_id !== state.inbox_id) return;
  const before = state.messages.length;
  state.messages = state.messages.filter((m) => m.id !== message_id);
  if (state.messages.length < before) state.total -= 1;
  const shown = view.shown_message();
  if (shown && shown.message.id === message_id) {
    state.message_id = null;
    view.clear_message(note);
  }
  render_messages();
}

function init_actions() {
  $('new-inbox-button').addEventListener('click', () =>
    dialogs.open_new_inbox(async (inbox) => {
      await refresh_inboxes();
      go(`#/inbox/${encodeURIComponent(inbox.id)}`);
    }),
  );
  $('settings-button').addEventListener('click', () => dialogs.open_settings(fail));
  $('clear-inbox-button').addEventListener('click', async () => {
    const inbox = current_inbox();
    if (!inbox || !(await dialogs.confirm_action(`Delete every message in ${inbox.address}?`, 'Clear'))) return;
    await api.clear_inbox(inbox.id).catch(fail);
  });
  $('delete-inbox-button').addEventListener('click', async () => {
    const inbox = current_inbox();
    if (!inbox || !(await dialogs.confirm_action(`Delete the inbox ${inbox.address} and its messages?`, 'Delete')))
      return;
    try {
      await api.delete_inbox(inbox.id);
      go('#/');
      await refresh_inboxes();
    } catch (err) {
      fail(err);
    }
  });
  let search_timer = 0;
  $('search-input').addEventListener('input', () => {
    clearTimeout(search_timer);
    search_timer = setTimeout(() => {
      state.search = $('search-input').value.trim();
      load_messages().catch(fail);
    }, 200);
  });
  $('search-form').addEventListener('submit', (event) => event.preventDefault());
  $('load-more').addEventListener('click', () => load_messages({ append: true }).catch(fail));
  $('back-to-inboxes').addEventListener('click', () => go('#/'));
  $('back-to-messages').addEventListener('click', () => go(`#/inbox/${encodeURIComponent(state.inbox_id)}`));
  arrow_navigation($('inbox-list'), '.item');
  arrow_navigation($('message-list'), '.item');
  document.addEventListener('keydown', (event) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if (event.key === '/' && !typing && state.inbox_id && !document.querySelector('dialog[open]')) {
      event.preventDefault();
      $('search-input').focus();
    }
  });
  view.init_message_view({
    on_delete: (shown) => delete_shown(shown).catch(fail),
    on_toggle_read: (shown) => toggle_read(shown).catch(fail),
  });
}

// ---- live updates -------------------------------------------------------

function on_event(kind, data) {
  switch (kind) {
    case 'message_received':
      if (data.inbox_id === state.inbox_id && data.summary) {
        if (matches_search(data.summary)) insert_summary(data.summary);
        announce(`New message from ${short_address(data.summary.from)}: ${data.summary.subject}`);
      }
      break;
    case 'message_deleted':
      remove_message(data.inbox_id, data.message_id, 'This message was deleted.');
      break;
    case 'message_read':
      // The event does not say which way: ask, for a message in the list.
      if (data.inbox_id === state.inbox_id && state.messages.some((m) => m.id === data.message_id)) {
        api
          .get_message(data.inbox_id, data.message_id)
          .then((m) => replace_summary(m.id, { read: m.read }))
          .catch(() => {}); // deleted meanwhile: its own event follows
      }
      break;
    case 'inbox_cleared':
      if (data.inbox_id === state.inbox_id) {
        state.messages = [];
        state.total = 0;
        state.message_id = null;
        view.clear_message('The inbox was cleared.');
        render_messages();
      }
      break;
    case 'inbox_deleted':
      if (data.inbox_id === state.inbox_id) {
        toast('This inbox was deleted.');
        go('#/');
      }
      break;
    default:
      break;
  }
  refresh_inboxes_soon();
}

const KINDS = ['message_received', 'message_deleted', 'message_read', 'inbox_created', 'inbox_deleted', 'inbox_cleared'];

let events_opened = false; // once: later opens are reconnects

/** Follows /api/v1/events. The browser reconnects after a network error by
 *  itself; after a refusal (the server restarted with another token, say)
 *  this connects again in a few seconds, asking for the token if needed. */
function connect_events() {
  const source = new EventSource(api.events_url());
  source.addEventListener('open', () => {
    document.body.dataset.live = 'on';
    // After a reconnect events may have been missed: reload what is shown.
    if (events_opened) {
      refresh_inboxes().catch(fail);
      load_messages().catch(fail);
    }
    events_opened = true;
  });
  source.addEventListener('error', () => {
    document.body.dataset.live = 'off';
    if (source.readyState === EventSource.CLOSED) {
      setTimeout(() => refresh_inboxes().catch(fail).finally(connect_events), 3000);
    }
  });
  for (const kind of KINDS) {
    source.addEventListener(kind, (event) => {
      try {
        on_event(kind, JSON.parse(event.data));
      } catch (err) {
        fail(err);
      }
    });
  }
}

// ---- start --------------------------------------------------------------

async function start() {
  api.on_token_needed(dialogs.ask_token);
  dialogs.init_dialogs();
  init_actions();
  window.addEventListener('hashchange', () => route().catch(fail));
  try {
    await refresh_inboxes(); // asks for the token first when the API wants one
  } catch (err) {
    fail(err);
  }
  connect_events();
  await route().catch(fail);
  document.body.dataset.ready = 'true';
}

start();
