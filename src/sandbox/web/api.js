// The sandbox's HTTP API v1 as the UI uses it (docs/sandbox.md). Every call
// carries the API token when there is one; a 401 asks for the token (through
// the handler the app registers) and retries the call once it is given.

const TOKEN_KEY = 'popbox.token';
const BASE = '/api/v1';

let token = sessionStorage.getItem(TOKEN_KEY) || '';
let ask_token = null; // async (message) => token, set by the app

/** An API answer that was not 2xx: `status` and the server's `error` text. */
export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** Registers the function that asks the user for a token (returns a promise). */
export function on_token_needed(fn) {
  ask_token = fn;
}

/** Keeps `t` for this tab (sessionStorage) and uses it from now on. */
export function set_token(t) {
  token = t;
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** Appends ?token= to an API URL for the places that cannot send a header
 *  (EventSource, iframes, download links). */
export function with_token(url) {
  if (!token) return url;
  return url + (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token);
}

/** The path of an API resource under /api/v1, each segment escaped. */
export function path(...segments) {
  return BASE + segments.map((s) => '/' + encodeURIComponent(s)).join('');
}

async function error_of(response) {
  let body = null;
  let text = `${response.status} ${response.statusText}`;
  try {
    body = await response.json();
    if (body && typeof body.error === 'string') text = body.error;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, text, body);
}

/** Sends one request; answers the parsed JSON (null for 204), or the text
 *  when `as` is 'text'; throws ApiError for any other status. */
export async function request(method, url, { body, as = 'json' } = {}) {
  for (;;) {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
    if (response.status === 401 && ask_token) {
      const err = await error_of(response);
      set_token(await ask_token(token ? 'That token was refused.' : '', err.message));
      continue;
    }
    if (!response.ok) throw await error_of(response);
    if (response.status === 204) return null;
    if (as === 'text') return response.text();
    return response.json();
  }
}

/** GET /inboxes. */
export const list_inboxes = () => request('GET', path('inboxes'));
/** POST /inboxes. */
export const create_inbox = (spec) => request('POST', path('inboxes'), { body: spec });
/** DELETE /inboxes/{id}. */
export const delete_inbox = (id) => request('DELETE', path('inboxes', id));
/** POST /inboxes/{id}/clear. */
export const clear_inbox = (id) => request('POST', path('inboxes', id, 'clear'));

/** GET /inboxes/{id}/messages with paging and the subject/from search. */
export function list_messages(id, { offset = 0, limit = 50, search = '' } = {}) {
  const q = new URLSearchParams({ offset: String(offset), limit: String(limit) });
  if (search) q.set('search', search);
  return request('GET', `${path('inboxes', id, 'messages')}?${q}`);
}

/** GET /inboxes/{id}/messages/{mid}: the parsed message. */
export const get_message = (id, mid) => request('GET', path('inboxes', id, 'messages', mid));
/** GET .../raw as text (the exact octets, decoded as UTF-8 for display). */
export const get_raw = (id, mid) =>
  request('GET', path('inboxes', id, 'messages', mid, 'raw'), { as: 'text' });
/** DELETE /inboxes/{id}/messages/{mid}. */
export const delete_message = (id, mid) => request('DELETE', path('inboxes', id, 'messages', mid));
/** POST .../read with {read}. */
export const mark_read = (id, mid, read) =>
  request('POST', path('inboxes', id, 'messages', mid, 'read'), { body: { read } });
/** GET /settings. */
export const get_settings = () => request('GET', path('settings'));

/** URL of the HTML part for the sandboxed iframe (token in the query). */
export function html_url(id, mid, remote_images) {
  const url = path('inboxes', id, 'messages', mid, 'html') + (remote_images ? '?remote_images=1' : '');
  return with_token(url);
}

/** URL of the raw message for a download link. */
export const raw_url = (id, mid) => with_token(path('inboxes', id, 'messages', mid, 'raw'));

/** URL of attachment `index` for a download link. */
export const attachment_url = (id, mid, index) =>
  with_token(path('inboxes', id, 'messages', mid, 'attachments', String(index)));

/** URL of the event stream (all inboxes). */
export const events_url = () => with_token(path('events'));
