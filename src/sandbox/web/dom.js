// Small DOM and formatting helpers. Text from mail is only ever set as text
// (textContent, attributes), never parsed as HTML.

/** Creates an element: el('a', {href, class: 'x', dataset: {id}}, 'text', child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** document.getElementById, throwing when the page lacks the element. */
export function $(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing #${id}`);
  return node;
}

/** "Ann <ann@example.com>", or the address alone. */
export function format_address(a) {
  if (!a) return '';
  return a.name ? `${a.name} <${a.address}>` : a.address;
}

/** The name when there is one, else the address (for lists). */
export function short_address(a) {
  if (!a) return '(no sender)';
  return a.name || a.address || '(no sender)';
}

const same_day = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const other_day = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'long' });

/** A list time: the clock time today, else date and time. */
export function format_time(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const now = new Date();
  return d.toDateString() === now.toDateString() ? same_day.format(d) : other_day.format(d);
}

/** The full local date and time of an RFC 3339 time. */
export function format_full_time(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : full.format(d);
}

/** 1234 -> "1.2 kB". */
export function format_size(n) {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB'];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u += 1;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/** Moves focus among `items` with the arrow, Home and End keys. */
export function arrow_navigation(container, selector) {
  container.addEventListener('keydown', (event) => {
    const keys = ['ArrowDown', 'ArrowUp', 'Home', 'End'];
    if (!keys.includes(event.key)) return;
    const items = [...container.querySelectorAll(selector)];
    const at = items.indexOf(document.activeElement);
    if (at < 0 || items.length === 0) return;
    event.preventDefault();
    let next = at;
    if (event.key === 'ArrowDown') next = Math.min(at + 1, items.length - 1);
    else if (event.key === 'ArrowUp') next = Math.max(at - 1, 0);
    else if (event.key === 'Home') next = 0;
    else next = items.length - 1;
    items[next].focus();
  });
}
