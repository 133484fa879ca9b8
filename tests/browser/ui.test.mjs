// The sandbox web UI in headless Chromium, against the mock API server (or
// a real `popbox sandbox`, see support.mjs): live list updates, the HTML
// view's sandbox, remote images, the raw source, search, delete, settings,
// the token prompt, keyboard use and a phone-sized screen. A screenshot of
// each page goes to $POPBOX_ARTIFACTS/browser/.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { browser_options, ensure_artifacts, mail, start_recorder, start_target, wait_for } from './support.mjs';

const stamp = Date.now().toString(36);
const address = `ui-${stamp}@example.com`;

let target;
let recorder;
let browser;
let page;
const page_errors = [];
let shots;

async function shot(name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
}

/** The API as the test (not the page) sees it. */
async function api(path, init = {}) {
  const headers = { ...(init.headers || {}) };
  if (target.token) headers.Authorization = `Bearer ${target.token}`;
  return fetch(`${target.url}/api/v1${path}`, { ...init, headers });
}

async function inbox_id_of(addr) {
  const { inboxes } = await (await api('/inboxes')).json();
  const inbox = inboxes.find((i) => i.address === addr);
  return inbox ? inbox.id : null;
}

async function send(raw, to = [address]) {
  await target.inject(raw, { from: 'sender@example.com', to });
}

const items = () => page.locator('#message-list .message-item');
const subjects = () => page.locator('#message-list .subject').allTextContents();

async function open_message(subject) {
  await page.locator('#message-list .message-item', { hasText: subject }).click();
  await page.locator('#message-subject', { hasText: subject }).waitFor();
}

describe('sandbox web UI', () => {
  before(async () => {
    shots = ensure_artifacts();
    target = await start_target();
    recorder = await start_recorder();
    browser = await chromium.launch(browser_options());
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    page.on('pageerror', (err) => page_errors.push(err.message));
    context.setDefaultTimeout(20000);
  });

  after(async () => {
    if (browser) await browser.close();
    if (recorder) await recorder.close();
    if (target) await target.close();
  });

  test('asks for the API token when the API answers 401, and keeps it for the tab', async (t) => {
    await page.goto(`${target.url}/`);
    if (!target.token) {
      t.skip('the sandbox under test has no token');
      await page.locator('body[data-ready=true]').waitFor();
      return;
    }
    const dialog = page.locator('#token-dialog');
    await dialog.waitFor({ state: 'visible' });
    await shot('token-prompt');
    await page.fill('#token-input', 'wrong-token');
    await page.press('#token-input', 'Enter');
    await page.locator('#token-error', { hasText: 'refused' }).waitFor();
    await page.fill('#token-input', target.token);
    await page.press('#token-input', 'Enter');
    await page.locator('body[data-ready=true]').waitFor();
    assert.equal(await dialog.isVisible(), false);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('popbox.token')), target.token);
    await page.reload();
    await page.locator('body[data-ready=true]').waitFor();
    assert.equal(await dialog.isVisible(), false, 'a reload keeps the token');
  });

  test('creates an inbox from the form; a taken address is refused', async () => {
    await page.click('#new-inbox-button');
    await page.fill('#inbox-address', address);
    await page.fill('#inbox-ttl', '2h');
    await shot('new-inbox');
    await page.click('#inbox-form button[type=submit]');
    await page.locator('#messages-heading', { hasText: address }).waitFor();
    await page.locator('#inbox-list .inbox-item', { hasText: address }).waitFor();
    assert.ok(await inbox_id_of(address));

    await page.click('#new-inbox-button');
    await page.fill('#inbox-address', address);
    await page.click('#inbox-form button[type=submit]');
    await page.locator('#inbox-error', { hasText: 'already has an inbox' }).waitFor();
    await page.click('#inbox-cancel');
  });

  test('a message sent to the open inbox appears without a reload', async () => {
    await page.evaluate(() => {
      window.still_the_same_page = true;
    });
    await page.locator('#messages-empty', { hasText: 'No messages yet' }).waitFor();
    await send(mail({ from: 'Ann Example <ann@example.com>', to: address, subject: 'Welcome aboard', body: 'Hi Ann,\nwelcome.\n' }));
    await page.locator('#message-list .message-item.unread', { hasText: 'Welcome aboard' }).waitFor();
    await send(mail({ from: 'bob@example.com', to: address, subject: 'Second one', body: 'two\n' }));
    await page.locator('#message-list .message-item', { hasText: 'Second one' }).waitFor();
    assert.deepEqual(await subjects(), ['Second one', 'Welcome aboard'], 'newest first');
    // Marked read by another client (or POP3 RETR): the list follows.
    const id = await inbox_id_of(address);
    const { messages } = await (await api(`/inboxes/${id}/messages?search=Second`)).json();
    const read = await api(`/inboxes/${id}/messages/${messages[0].id}/read`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"read": true}',
    });
    assert.equal(read.status, 204);
    await page.locator('#message-list .message-item:not(.unread)', { hasText: 'Second one' }).waitFor();
    assert.equal(await page.evaluate(() => window.still_the_same_page), true, 'no reload');
    await page.locator('#inbox-list .inbox-item', { hasText: address }).locator('.count-messages', { hasText: '2' }).waitFor();
    await shot('message-list');
  });

  test('after the event stream drops, what was missed shows on reconnect', async (t) => {
    const { mock } = target;
    if (!mock) {
      t.skip('only the mock drops its streams on cue');
      return;
    }
    await page.locator('body[data-live=on]').waitFor();
    mock.drop_streams(); // and holds the reconnection
    await page.locator('body[data-live=off]').waitFor();
    await send(mail({ from: 'gap@example.com', to: address, subject: 'Sent during the gap', body: 'x\n' }));
    await shot('offline');
    await wait_for(() => mock.held_streams() > 0, 15000, 'the reconnection');
    assert.equal(await page.locator('#message-list .message-item', { hasText: 'Sent during the gap' }).count(), 0);
    mock.resume_streams();
    await page.locator('#message-list .message-item', { hasText: 'Sent during the gap' }).waitFor();
    await page.locator('body[data-live=on]').waitFor();
    const id = await inbox_id_of(address);
    const { messages } = await (await api(`/inboxes/${id}/messages?search=gap`)).json();
    assert.equal((await api(`/inboxes/${id}/messages/${messages[0].id}`, { method: 'DELETE' })).status, 204);
    await page.locator('#message-list .message-item', { hasText: 'Sent during the gap' }).waitFor({ state: 'detached' });
  });

  test('the HTML renders in a sandboxed iframe; scripts, handlers and javascript: links do nothing; remote images wait for the click', async () => {
    const beacon = (why) => `${recorder.url}/beacon?${why}`;
    const html = [
      '<!doctype html><html><head>',
      `<meta http-equiv="refresh" content="0;url=${beacon('refresh')}">`,
      `<link rel="stylesheet" href="${beacon('stylesheet')}">`,
      `<style>@import url("${beacon('import')}"); .bg { background-image: url("${recorder.url}/remote-bg.png"); }</style>`,
      '</head><body>',
      '<h1 id="hello">Rendered HTML</h1>',
      `<script>document.cookie = "pwned=1"; fetch("${beacon('script')}"); try { parent.document.title = "pwned"; } catch (e) {}</script>`,
      `<img src="does-not-exist.png" onerror="fetch('${beacon('onerror')}')" alt="broken">`,
      `<p><a id="js" href="javascript:fetch('${beacon('javascript-link')}')">a javascript: link</a></p>`,
      `<form action="${beacon('form')}" method="get"><button id="submit">send</button></form>`,
      `<iframe src="${beacon('iframe')}"></iframe>`,
      `<p class="bg">Picture: <img id="remote" src="${recorder.url}/remote.png" alt="remote"></p>`,
      '</body></html>',
    ].join('\n');
    // Markup in the subject, the sender's name and a header is shown as text.
    const markup = `<img src="${beacon('header')}" onerror="fetch('${beacon('header-onerror')}')">`;
    await send(mail({
      from: `"Mallory ${markup.replace(/"/g, "'")}" <mallory@example.com>`,
      to: address,
      subject: `Hostile HTML ${markup}`,
      headers: [`X-Markup: ${markup}`],
      body: html,
      content_type: 'text/html; charset=utf-8',
    }));
    await open_message('Hostile HTML');
    assert.equal(await page.locator('#message-subject').textContent(), `Hostile HTML ${markup}`);
    assert.equal(await page.locator('#message-list .message-item', { hasText: 'Hostile HTML' }).locator('img').count(), 0);
    assert.equal(await page.locator('#message-view img').count(), 0, 'no element made from mail text');

    const frame = page.locator('#html-frame');
    assert.equal(await frame.getAttribute('sandbox'), '', 'sandbox with no allow-* tokens');
    assert.match(await frame.getAttribute('src'), /\/api\/v1\/inboxes\/[^/]+\/messages\/[^/]+\/html(\?|$)/);
    assert.doesNotMatch(await frame.getAttribute('src'), /remote_images/);
    const body = page.frameLocator('#html-frame');
    await body.locator('#hello', { hasText: 'Rendered HTML' }).waitFor();
    await body.locator('#js').click();
    await body.locator('#submit').click();
    await shot('message-html');

    assert.deepEqual(recorder.hits, [], 'nothing left the machine before the click');
    await page.click('#remote-images-button');
    await wait_for(() => recorder.hits.some((h) => h.startsWith('/remote.png')), 15000, 'the remote image');
    assert.match(await frame.getAttribute('src'), /remote_images=1/);
    await body.locator('#hello').waitFor();
    await wait_for(() => recorder.hits.some((h) => h.startsWith('/remote-bg.png')), 15000, 'the CSS background image');
    await page.locator('#remote-status', { hasText: 'shown' }).waitFor();
    await shot('message-html-remote-images');

    // The remote images have arrived, so the frame has loaded its
    // subresources: nothing else of it may have reached the network.
    assert.deepEqual(recorder.hits.filter((h) => h.startsWith('/beacon')), [], 'no script, handler, link, form or refresh ran');
    assert.equal(await page.title(), 'popbox sandbox');
    assert.deepEqual(await page.context().cookies(), []);
  });

  test('inline (cid:) images show without loading remote ones', async () => {
    const png = Buffer.from(
      'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR42mP8z8DwnwEIGBkZGBgAAA7RA/0l1wR5AAAAAElFTkSuQmCC',
      'base64',
    );
    const body = [
      '--rel',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<p>Logo: <img id="inline" src="cid:logo@browser-test" alt="logo"></p>',
      '--rel',
      'Content-Type: image/png',
      'Content-ID: <logo@browser-test>',
      'Content-Disposition: inline; filename="logo.png"',
      'Content-Transfer-Encoding: base64',
      '',
      png.toString('base64'),
      '--rel--',
      '',
    ].join('\n');
    const before = recorder.hits.length;
    await send(mail({ from: 'brand@example.com', to: address, subject: 'Inline logo', body, content_type: 'multipart/related; boundary="rel"' }));
    await open_message('Inline logo');
    const img = page.frameLocator('#html-frame').locator('#inline');
    await img.waitFor();
    await wait_for(() => img.evaluate((i) => i.complete && i.naturalWidth === 2), 15000, 'the inline image');
    assert.equal(recorder.hits.length, before);
    assert.equal(await page.locator('#tab-attachments').textContent(), 'Attachments (1)');
    await shot('message-inline-image');
  });

  test('the raw view and the .eml download are the sent octets', async () => {
    const raw = mail({
      from: '"Dot, Tester" <dots@example.com>',
      to: address,
      subject: 'Raw =?utf-8?q?b=C3=BCcher?=',
      headers: ['X-Folded: one', '\ttwo'],
      body: 'line one\n.starts with a dot\n..two dots\ntrailing spaces   \nÜmlaut ✓\n',
    });
    await send(raw);
    await open_message('Raw bücher');
    await page.click('#tab-raw');
    const pre = page.locator('#raw-body');
    await wait_for(async () => (await pre.textContent()) !== 'Loading…', 15000, 'the raw source');
    assert.equal(await pre.textContent(), raw.toString('utf8'));
    await shot('message-raw');
    const href = await page.locator('#download-raw').getAttribute('href');
    const b64 = await page.evaluate(async (url) => {
      const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
      return btoa(String.fromCharCode(...bytes));
    }, href);
    assert.equal(Buffer.from(b64, 'base64').compare(raw), 0, 'byte-exact download');
  });

  test('text, headers and attachments tabs', async () => {
    const attachment = Buffer.from('id,amount\r\n1,42\r\n');
    const body = [
      '--b1',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Your invoice is attached. See https://example.com/invoices/7 for details.',
      '--b1',
      'Content-Type: text/csv; name="invoice-7.csv"',
      'Content-Disposition: attachment; filename="invoice-7.csv"',
      'Content-Transfer-Encoding: base64',
      '',
      attachment.toString('base64'),
      '--b1--',
      '',
    ].join('\n');
    await send(mail({ from: 'Billing <billing@example.com>', to: address, subject: 'Invoice 7', body, content_type: 'multipart/mixed; boundary="b1"' }));
    await open_message('Invoice 7');
    assert.equal(await page.locator('#tab-html').isVisible(), false, 'no HTML part, no HTML tab');
    assert.equal(await page.locator('#tab-text').getAttribute('aria-selected'), 'true');
    await page.locator('#text-body', { hasText: 'Your invoice is attached.' }).waitFor();
    await page.locator('#links-list a', { hasText: 'https://example.com/invoices/7' }).waitFor();
    await shot('message-text');

    await page.click('#tab-headers');
    const names = await page.locator('#headers-body th').allTextContents();
    assert.deepEqual(names.slice(0, 3), ['From', 'To', 'Subject'], 'raw order');
    await shot('message-headers');

    await page.click('#tab-attachments');
    const link = page.locator('#attachment-list a', { hasText: 'invoice-7.csv' });
    await link.waitFor();
    await page.locator('#attachment-list', { hasText: 'text/csv' }).waitFor();
    assert.equal(await page.locator('#tab-attachments').textContent(), 'Attachments (1)');
    const got = await page.evaluate(async (url) => (await fetch(url)).text(), await link.getAttribute('href'));
    assert.equal(got, attachment.toString());
    await shot('message-attachments');
  });

  test('tabs and lists work from the keyboard', async () => {
    await page.locator('#tab-attachments').focus();
    await page.keyboard.press('Home');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'tab-text');
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'tab-headers');
    assert.equal(await page.locator('#pane-headers').isVisible(), true);

    await items().first().focus();
    await page.keyboard.press('ArrowDown');
    const focused = await page.evaluate(() => document.activeElement.textContent);
    assert.match(focused, /Raw bücher/);
    // Mail arriving meanwhile does not take the focus away.
    await send(mail({ from: 'late@example.com', to: address, subject: 'Arrives while typing', body: 'x\n' }));
    await page.locator('#message-list .message-item', { hasText: 'Arrives while typing' }).waitFor();
    assert.match(await page.evaluate(() => document.activeElement.textContent), /Raw bücher/);
    await page.keyboard.press('Enter');
    await page.locator('#message-subject', { hasText: 'Raw bücher' }).waitFor();

    await page.locator('#message-subject').click();
    await page.keyboard.press('/');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'search-input');
  });

  test('search filters by subject and by sender', async () => {
    await page.fill('#search-input', 'invoice');
    await wait_for(async () => (await subjects()).join() === 'Invoice 7', 15000, 'the subject search');
    await shot('search');
    await page.fill('#search-input', 'ann example');
    await wait_for(async () => (await subjects()).join() === 'Welcome aboard', 15000, 'the sender-name search');
    await page.fill('#search-input', 'MALLORY@');
    await wait_for(async () => (await subjects()).join().startsWith('Hostile HTML <img'), 15000, 'the address search');
    await page.fill('#search-input', 'no such thing');
    await page.locator('#messages-empty', { hasText: 'Nothing matches' }).waitFor();
    await page.fill('#search-input', '');
    await wait_for(async () => (await subjects()).length === 7, 15000, 'the whole list');
  });

  test('delete removes the message from the list and the API', async () => {
    await open_message('Second one');
    const id = await inbox_id_of(address);
    const { messages } = await (await api(`/inboxes/${id}/messages?search=Second`)).json();
    assert.equal(messages.length, 1);
    await page.click('#delete-message-button');
    await wait_for(async () => !(await subjects()).includes('Second one'), 15000, 'the list without it');
    assert.equal((await api(`/inboxes/${id}/messages/${messages[0].id}`)).status, 404);
    await page.locator('#inbox-list .inbox-item', { hasText: address }).locator('.count-messages', { hasText: '6' }).waitFor();

    // A delete elsewhere (another client, POP3, retention) shows up live too.
    await send(mail({ from: 'temp@example.com', to: address, subject: 'Short-lived', body: 'bye\n' }));
    await page.locator('#message-list .message-item', { hasText: 'Short-lived' }).waitFor();
    const page_of = await (await api(`/inboxes/${id}/messages?search=Short-lived`)).json();
    assert.equal((await api(`/inboxes/${id}/messages/${page_of.messages[0].id}`, { method: 'DELETE' })).status, 204);
    await page.locator('#message-list .message-item', { hasText: 'Short-lived' }).waitFor({ state: 'detached' });
  });

  test('controls have roles and accessible names', async () => {
    await open_message('Welcome aboard');
    for (const name of ['Text', 'Headers', 'Raw', 'Attachments']) {
      await page.getByRole('tab', { name: new RegExp(`^${name}`) }).waitFor();
    }
    await page.getByRole('tablist', { name: 'Message parts' }).waitFor();
    await page.getByRole('searchbox', { name: 'Search subject or sender' }).waitFor();
    await page.getByRole('navigation', { name: 'Inboxes' }).waitFor();
    await page.getByRole('link', { name: address }).waitFor();
    for (const name of ['New inbox', 'Connection settings', 'Clear', 'Delete inbox', 'Delete', 'Mark unread']) {
      await page.getByRole('button', { name, exact: true }).waitFor();
    }
    assert.equal(await page.getByRole('tab', { selected: true }).count(), 1);
    assert.equal(await page.locator('#html-frame').getAttribute('title'), 'HTML body of the message');
  });

  test('the settings panel shows the SMTP, POP3 and POP3S endpoints', async () => {
    const settings = await (await api('/settings')).json();
    await page.click('#settings-button');
    const dialog = page.locator('#settings-dialog');
    await dialog.waitFor({ state: 'visible' });
    const text = await dialog.textContent();
    for (const part of [settings.smtp, settings.pop3, settings.pop3s].filter(Boolean)) {
      assert.ok(text.includes(String(part.port)), `port ${part.port} shown`);
      assert.ok(text.includes(part.host), `host ${part.host} shown`);
    }
    assert.match(text, /STARTTLS/);
    // The real sandbox serves both; the mock shows pop3s as null.
    if (process.env.POPBOX_BROWSER_TARGET === 'real') assert.ok(settings.pop3 && settings.pop3s);
    if (settings.pop3) assert.match(text, /STLS/);
    if (settings.pop3s) assert.match(text, /POP3S/);
    if (!settings.pop3 && !settings.pop3s) assert.match(text, /POP3 is not served/);
    await shot('settings');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
  });

  test('a long inbox pages with Load more, without repeats', async () => {
    const other = `paging-${stamp}@example.com`;
    for (let i = 1; i <= 55; i += 1) {
      await send(mail({ from: 'bulk@example.com', to: other, subject: `Bulk ${i}`, body: `number ${i}\n` }), [other]);
    }
    await page.locator('#inbox-list .inbox-item', { hasText: other }).click();
    await wait_for(async () => (await items().count()) === 50, 15000, 'the first page');
    assert.equal((await subjects())[0], 'Bulk 55');
    await send(mail({ from: 'bulk@example.com', to: other, subject: 'Bulk 56', body: 'late\n' }), [other]);
    await page.locator('#message-list .message-item', { hasText: 'Bulk 56' }).waitFor();
    await page.click('#load-more');
    await wait_for(async () => (await items().count()) === 56, 15000, 'the second page');
    const all = await subjects();
    assert.equal(new Set(all).size, 56, 'no message twice');
    assert.equal(all.at(-1), 'Bulk 1');
    assert.equal(await page.locator('#load-more').isVisible(), false);
    await page.locator('#inbox-list .inbox-item', { hasText: address }).click();
    await page.locator('#message-list .message-item', { hasText: 'Welcome aboard' }).waitFor();
  });

  test('at a phone width one pane shows at a time', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const p = await phone.newPage();
    p.on('pageerror', (err) => page_errors.push(err.message));
    if (target.token) {
      // Init scripts run in every frame; the sandboxed message frame has no storage.
      await p.addInitScript((t) => window === window.top && sessionStorage.setItem('popbox.token', t), target.token);
    }
    await p.goto(`${target.url}/`);
    await p.locator('body[data-ready=true]').waitFor();
    assert.equal(await p.locator('#messages-panel').isVisible(), false);
    await p.screenshot({ path: join(shots, 'phone-inboxes.png') });
    await p.locator('#inbox-list .inbox-item', { hasText: address }).tap();
    await p.locator('#message-list .message-item', { hasText: 'Welcome aboard' }).waitFor();
    assert.equal(await p.locator('#inboxes-panel').isVisible(), false);
    await p.screenshot({ path: join(shots, 'phone-messages.png') });
    await p.locator('#message-list .message-item', { hasText: 'Welcome aboard' }).tap();
    await p.locator('#message-subject', { hasText: 'Welcome aboard' }).waitFor();
    assert.equal(await p.locator('#messages-panel').isVisible(), false);
    await p.screenshot({ path: join(shots, 'phone-message.png') });
    assert.equal(await p.evaluate(() => document.activeElement.id), 'message-subject', 'focus follows the pane');
    await p.locator('#back-to-messages').tap();
    await p.locator('#messages-panel').waitFor({ state: 'visible' });
    assert.match(await p.evaluate(() => document.activeElement.textContent), /Welcome aboard/, 'back lands on the message left');
    await phone.close();
  });

  test('clear empties the inbox and delete removes it, each after a confirmation', async () => {
    await page.click('#clear-inbox-button');
    await page.locator('#confirm-dialog').waitFor({ state: 'visible' });
    await shot('confirm-clear');
    await page.click('#confirm-dialog button[value=cancel]');
    assert.equal(await items().count(), 6, 'cancel keeps the messages');
    await page.click('#clear-inbox-button');
    await page.click('#confirm-ok');
    await page.locator('#messages-empty', { hasText: 'No messages yet' }).waitFor();
    await page.locator('#inbox-list .inbox-item', { hasText: address }).locator('.count-messages', { hasText: '0' }).waitFor();

    await page.click('#delete-inbox-button');
    await page.click('#confirm-ok');
    await page.locator('#inbox-list .inbox-item', { hasText: address }).waitFor({ state: 'detached' });
    assert.equal(await inbox_id_of(address), null);
    await shot('after-delete');
  });

  test('no script error on the page', () => {
    assert.deepEqual(page_errors, []);
  });
});
