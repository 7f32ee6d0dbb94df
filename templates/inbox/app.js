// The staff inbox: logs in by proving possession of an age identity,
// lists inquiries, and decrypts them in this page. The identity lives in
// this module's memory only (never in storage, a cookie, the URL or a
// request), and is dropped on logout, on an ended session and when the
// page is left.
import { Decrypter, identityToRecipient, bech32 } from './vendor/age.js';
import * as lib from './lib.js';

const PAGE_SIZE = 50;
const IDENTITY_MAX = 64 * 1024;		/* an identity file is a few lines */
const DROP_MAX = 256 * 1024 * 1024;	/* the server's largest age file */
const STATUSES = ['new', 'open', 'answered', 'closed'];

const $ = (id) => document.getElementById(id);

// Everything this tab knows after login; null before it and after logout.
let session = null;	// { decrypter, recipient, csrf, label }
const state = {
	forms: new Map(),	// name → { title, schema }
	items: [],		// the listed metadata, newest first
	next: null,
	records: new Map(),	// id → decrypted record, for reading and search
	current: null,		// the record in the reading view
	currentItem: null,
	blobs: new Set(),
};

/** A failure to tell the person, in their words. */
class Problem extends Error {}

// ---- talking to the server -------------------------------------------

async function errorText(r) {
	try {
		const doc = await r.json();
		if (doc && typeof doc.error === 'string')
			return doc.error;
	} catch {
		/* not JSON: the status says enough */
	}
	return `the server answered ${r.status}`;
}

/**
 * fetch() of the inbox API (relative to /inbox/), with the CSRF header on
 * changes. A 401 means the session is over: the identity is forgotten
 * rather than used to log in again, so that the server's idle and absolute
 * limits hold.
 */
async function api(path, { method = 'GET', body, change = false } = {}) {
	const headers = {};
	if (body !== undefined)
		headers['Content-Type'] = 'application/json';
	if (change && session)
		headers['X-CSRF-Token'] = session.csrf;
	let r;
	try {
		r = await fetch('api/' + path, {
			method, headers, cache: 'no-store', redirect: 'error',
			credentials: 'same-origin',
			body: body === undefined ? undefined : JSON.stringify(body),
		});
	} catch {
		throw new Problem('The server cannot be reached.');
	}
	if (r.status === 401 && session && !path.startsWith('login')) {
		forget('Your session has ended. Load your key again to go on.');
		throw new Problem('');
	}
	return r;
}

async function apiJson(path, options) {
	const r = await api(path, options);
	if (!r.ok)
		throw new Problem(await errorText(r));
	return r.json();
}

// ---- the identity ------------------------------------------------------

// RFC 8410's PKCS #8 wrapping of a raw X25519 private key: the only form
// in which Web Crypto imports one.
const PKCS8_X25519 = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03,
    0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20];

/**
 * The identity as a non-extractable Web Crypto key where the browser has
 * X25519 (no script can read its bytes back, not even ours), else as the
 * AGE-SECRET-KEY-1 text, which age-encryption then handles in JavaScript.
 */
async function identityKey(secret) {
	let raw;
	try {
		raw = bech32.decodeToBytes(secret).bytes;
	} catch {
		throw new Problem('The key in this file is damaged (its checksum ' +
		    'does not match).');
	}
	const pkcs8 = new Uint8Array([...PKCS8_X25519, ...raw]);
	try {
		return await crypto.subtle.importKey('pkcs8', pkcs8,
		    { name: 'X25519' }, false, ['deriveBits']);
	} catch {
		return secret;
	} finally {
		raw.fill(0);
		pkcs8.fill(0);
	}
}

function base64Bytes(s) {
	return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

/**
 * Logs in with the first staff identity of the file: asks for a challenge
 * for its recipient, decrypts it here and sends back the token inside.
 */
async function login(file) {
	if (file.size > IDENTITY_MAX)
		throw new Problem('This file is too large to be an age identity ' +
		    'file.');
	const parsed = lib.parseIdentityFile(await file.text());
	if (parsed.error)
		throw new Problem(parsed.error);
	const refused = [];
	for (const secret of parsed.keys) {
		const key = await identityKey(secret);
		const recipient = await identityToRecipient(key);
		const r = await api('login', { method: 'POST', body: { recipient } });
		if (r.status === 403) {
			refused.push(recipient);
			continue;
		}
		if (r.status === 429)
			throw new Problem('Too many login attempts from here. Try ' +
			    `again in ${r.headers.get('Retry-After') || 'a few'} ` +
			    'seconds.');
		if (!r.ok)
			throw new Problem('Login failed: ' + await errorText(r));
		const decrypter = new Decrypter();
		decrypter.addIdentity(key);
		let token;
		try {
			token = await decrypter.decrypt(
			    base64Bytes((await r.json()).challenge), 'text');
		} catch {
			throw new Problem('This key cannot open the server\'s ' +
			    'challenge.');
		}
		const v = await api('login/verify', { method: 'POST',
		    body: { recipient, token } });
		if (!v.ok)
			throw new Problem('Login failed: ' + await errorText(v));
		const doc = await v.json();
		session = { decrypter, recipient, csrf: doc.csrf,
		    label: doc.label || '' };
		return;
	}
	throw new Problem('This key is not one of the inbox\'s staff keys. ' +
	    'Ask the administrator to add its recipient to the server\'s ' +
	    `configuration: ${refused.join(', ')}`);
}

/**
 * Drops the identity, the session's CSRF token and everything decrypted,
 * and shows the login view with message (if any).
 */
function forget(message) {
	session = null;
	state.items = [];
	state.next = null;
	state.records.clear();
	state.current = null;
	state.currentItem = null;
	for (const url of state.blobs)
		URL.revokeObjectURL(url);
	state.blobs.clear();
	for (const id of ['rows', 'fields', 'attachments', 'read-meta', 'client'])
		$(id).replaceChildren();
	$('search').value = '';
	$('key-file').value = '';
	if ($('confirm').open)
		$('confirm').close();
	$('who').hidden = true;
	$('logout').hidden = true;
	show('login-view');
	say('');
	complain(message || '');
}

// ---- small page helpers ----------------------------------------------

function say(text) {
	$('notice').textContent = text;
}

function complain(text) {
	$('alert').textContent = text;
}

function show(view) {
	for (const v of ['login-view', 'list-view', 'read-view'])
		$(v).hidden = v !== view;
}

/** An element with its class and its text (as text, never as HTML). */
function el(tag, className, text) {
	const e = document.createElement(tag);
	if (className)
		e.className = className;
	if (text !== undefined)
		e.textContent = text;
	return e;
}

/** Appends text to parent with every hidden character marked. */
function appendVisible(parent, text) {
	for (const part of lib.visibleParts(text)) {
		if (part.text !== undefined) {
			parent.append(part.text);
			continue;
		}
		const mark = el('span', 'hidden-char', part.label);
		mark.title = `${part.name} (${lib.codeLabel(part.code)})`;
		parent.append(mark);
	}
}

const when = new Intl.DateTimeFormat(undefined,
    { dateStyle: 'medium', timeStyle: 'short' });

function timeEl(iso) {
	const t = el('time', '', when.format(new Date(iso)));
	t.dateTime = iso;
	return t;
}

function statusEl(status) {
	return el('span', `status status-${status}`, status);
}

/** Runs an action from a click, showing its Problem as an alert. */
function guarded(fn) {
	return async (...args) => {
		complain('');
		try {
			await fn(...args);
		} catch (e) {
			if (!(e instanceof Problem))
				console.error(e);
			if (e.message !== '' || !(e instanceof Problem))
				complain(e instanceof Problem ? e.message :
				    'Something went wrong: ' + e.message);
		}
	};
}

function download(blob, filename) {
	const url = URL.createObjectURL(blob);
	state.blobs.add(url);
	const a = el('a');
	a.href = url;
	a.download = filename;
	document.body.append(a);
	a.click();
	a.remove();
	// Revoking at once can cancel the download in some browsers.
	setTimeout(() => {
		URL.revokeObjectURL(url);
		state.blobs.delete(url);
	}, 60000);
}

// ---- the list ------------------------------------------------------------

function formTitle(name) {
	return state.forms.get(name)?.title || name;
}

function fromText(rec) {
	const f = rec.fields;
	const v = f.name ?? f.email ?? Object.values(f).find(
	    (x) => typeof x === 'string');
	return typeof v === 'string' ? v : '';
}

function listRow(item) {
	const tr = el('tr');
	tr.dataset.id = item.id;
	const open = el('button', 'open');
	open.type = 'button';
	open.append(timeEl(item.received_at));
	open.addEventListener('click', guarded(() => openInquiry(item)));
	const rec = state.records.get(item.id);
	const from = el('td');
	if (rec)
		appendVisible(from, fromText(rec));
	else
		from.append(el('span', 'muted', 'not decrypted yet'));
	const cell = (label, content, cls) => {
		const td = el('td', cls);
		td.dataset.label = label;
		td.append(content);
		return td;
	};
	tr.append(cell('Received', open), from,
	    cell('Form', formTitle(item.form)),
	    cell('Status', statusEl(item.status)),
	    cell('Size', lib.formatSize(item.size), 'num'),
	    cell('Files', String(item.attachments), 'num'));
	from.dataset.label = 'From';
	return tr;
}

function renderList() {
	$('rows').replaceChildren(...state.items.map(listRow));
	$('older').hidden = state.next === null;
	$('empty').hidden = state.items.length !== 0;
	applySearch();
}

/** Hides the rows that the search excludes and says what was searched. */
function applySearch() {
	const q = $('search').value.trim();
	let shown = 0, opened = 0;
	for (const tr of $('rows').rows) {
		const rec = state.records.get(tr.dataset.id);
		if (rec)
			opened++;
		tr.hidden = q !== '' && !(rec && lib.recordMatches(rec, q));
		shown += tr.hidden ? 0 : 1;
	}
	const n = state.items.length;
	$('list-summary').textContent = q === '' ?
	    `${n} ${n === 1 ? 'inquiry' : 'inquiries'} listed, ${opened} ` +
	    'decrypted in this tab.' :
	    `${shown} of the ${opened} decrypted inquiries match. ` +
	    (n > opened ? `${n - opened} listed inquiries are not decrypted ` +
	    'yet and were not searched.' : '');
}

async function loadForms() {
	const doc = await apiJson('forms');
	state.forms.clear();
	const filter = $('form-filter');
	const all = el('option', '', 'All forms');
	all.value = '';
	filter.replaceChildren(all);
	for (const f of doc.forms) {
		state.forms.set(f.name, { title: f.title, schema: f.schema });
		const o = el('option', '', f.title);
		o.value = f.name;
		filter.append(o);
	}
}

async function loadPage(more) {
	const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
	if (more && state.next)
		q.set('before', state.next);
	if ($('form-filter').value)
		q.set('form', $('form-filter').value);
	const doc = await apiJson('inquiries?' + q);
	state.items = more ? state.items.concat(doc.items) : doc.items;
	state.next = doc.next ?? null;
	renderList();
}

function showList(focusId) {
	show('list-view');
	state.current = null;
	const row = focusId && [...$('rows').rows].find(
	    (tr) => tr.dataset.id === focusId);
	(row?.querySelector('button') || $('list-title')).focus();
}

/** Decrypts every listed inquiry not yet decrypted, one at a time (the
    server serves a few age files at once, and each is audited anyway). */
async function openAll() {
	const todo = state.items.filter((i) => !state.records.has(i.id));
	const failed = [];
	for (const [n, item] of todo.entries()) {
		say(`Decrypting ${n + 1} of ${todo.length}…`);
		try {
			await fetchRecord(item.id);
		} catch (e) {
			if (session === null)
				throw e;
			failed.push(e.message);
		}
	}
	renderList();
	const done = todo.length - failed.length;
	say(`${done} ${done === 1 ? 'inquiry' : 'inquiries'} decrypted.`);
	if (failed.length)
		throw new Problem(failed.join(' '));
}

function exportCsv() {
	const q = $('search').value.trim();
	const recs = [...state.records.values()]
	    .filter((r) => lib.recordMatches(r, q))
	    .sort((a, b) => (a.received_at < b.received_at ? 1 : -1));
	if (recs.length === 0)
		throw new Problem('Nothing to export: the export holds the ' +
		    'inquiries this tab has decrypted (open some, or use ' +
		    '"Decrypt all listed").');
	const day = new Date().toISOString().slice(0, 10);
	download(new Blob([lib.toCsv(recs)], { type: 'text/csv;charset=utf-8' }),
	    `inquiries-${day}.csv`);
	say(`${recs.length} ${recs.length === 1 ? 'inquiry' : 'inquiries'} ` +
	    'exported as CSV.');
}

// ---- reading -----------------------------------------------------------

async function decryptBytes(bytes, what) {
	try {
		return await session.decrypter.decrypt(bytes);
	} catch {
		throw new Problem(`${what} cannot be decrypted with your key ` +
		    '(it is damaged, or encrypted to other keys only).');
	}
}

/** The record from its age bytes, checked; id when fetched as that id. */
async function recordOf(bytes, id, what) {
	const plain = await decryptBytes(bytes, what);
	let rec;
	try {
		rec = JSON.parse(new TextDecoder('utf-8', { fatal: true })
		    .decode(plain));
	} catch {
		rec = null;
	}
	const problem = lib.recordProblem(rec, id);
	if (problem)
		throw new Problem(problem);
	if (!Array.isArray(rec.attachments))
		rec.attachments = [];
	return rec;
}

async function fetchRecord(id) {
	const r = await api(`inquiries/${encodeURIComponent(id)}`);
	if (!r.ok)
		throw new Problem(`Inquiry ${id}: ${await errorText(r)}`);
	const rec = await recordOf(new Uint8Array(await r.arrayBuffer()), id,
	    `Inquiry ${id}`);
	state.records.set(id, rec);
	return rec;
}

async function openInquiry(item) {
	let rec = state.records.get(item.id);
	if (!rec) {
		say('Decrypting…');
		rec = await fetchRecord(item.id);
		say('');
		renderList();	/* its row can name the sender now */
	}
	renderRecord(rec, item, '');
}

function metaRows(dl, rows) {
	dl.replaceChildren();
	for (const [k, v] of rows) {
		if (v === null || v === undefined || v === '')
			continue;
		dl.append(el('dt', '', k));
		const dd = el('dd');
		if (typeof v === 'string')
			appendVisible(dd, v);
		else
			dd.append(v);
		dl.append(dd);
	}
}

// The form's e-mail field: the first property with format "email".
function emailOf(rec) {
	const props = state.forms.get(rec.form)?.schema?.properties || {};
	const name = Object.keys(props).find((n) => props[n].format === 'email')
	    || 'email';
	return rec.fields[name];
}

function renderRecord(rec, item, source) {
	state.current = rec;
	state.currentItem = item;
	$('read-title').textContent = `Inquiry of ${when.format(
	    new Date(rec.received_at))}`;
	$('read-source').textContent = source;
	$('read-source').hidden = source === '';
	metaRows($('read-meta'), [
		['Form', formTitle(rec.form)],
		['Received', timeEl(rec.received_at)],
		['Inquiry id', rec.id],
	]);
	const href = lib.mailtoHref(emailOf(rec), `Re: ${formTitle(rec.form)}`);
	$('reply').hidden = href === null;
	if (href)
		$('reply').href = href;
	else
		$('reply').removeAttribute('href');
	const status = $('status');
	status.querySelector('option[value=""]')?.remove();
	if (item)
		status.value = item.status;
	else {
		const o = el('option', '', 'Not in the list loaded');
		o.value = '';
		status.prepend(o);
		status.value = '';
	}
	renderFields(rec);
	renderAttachments(rec);
	const c = rec.client || {};
	metaRows($('client'), [['Address', c.ip], ['Browser', c.user_agent],
	    ['Page', c.referer]]);
	show('read-view');
	$('read-title').focus();
}

function renderFields(rec) {
	const schema = state.forms.get(rec.form)?.schema;
	const dl = $('fields');
	dl.replaceChildren();
	for (const row of lib.fieldRows(schema, rec.fields)) {
		const dt = el('dt', '', row.title);
		if (row.hint)
			dt.append(el('span', 'hint', row.hint));
		const dd = el('dd', row.multiline ? 'multiline' : '');
		dd.dir = 'auto';
		dd.dataset.field = row.name;
		appendVisible(dd, row.text);
		dl.append(dt, dd);
	}
}

function renderAttachments(rec) {
	const ul = $('attachments');
	ul.replaceChildren();
	$('attachments-part').hidden = rec.attachments.length === 0;
	rec.attachments.forEach((att, i) => {
		const li = el('li');
		const name = el('span', 'name');
		appendVisible(name, String(att.filename || `attachment ${i + 1}`));
		const b = el('button', '', 'Download');
		b.type = 'button';
		b.setAttribute('aria-label', `Download ${lib.visibleText(
		    String(att.filename || `attachment ${i + 1}`))}`);
		const problem = el('p', 'alert');
		problem.setAttribute('role', 'alert');
		b.addEventListener('click', async () => {
			problem.textContent = '';
			try {
				await downloadAttachment(rec, i + 1);
			} catch (e) {
				problem.textContent = e.message ||
				    'The download failed.';
			}
		});
		li.append(name, el('span', '', lib.visibleText(
		    String(att.content_type || 'unknown type'))),
		    el('span', '', lib.formatSize(Number(att.size) || 0)), b,
		    problem);
		ul.append(li);
	});
}

/**
 * Fetches attachment n of rec, decrypts it here and offers it for
 * download under its recorded name, only if its size and SHA-256 are the
 * ones the record holds: the record is authenticated by its own age MAC,
 * while the attachment is a separate file that could have been swapped.
 */
async function downloadAttachment(rec, n) {
	const att = rec.attachments[n - 1];
	const r = await api(`inquiries/${encodeURIComponent(rec.id)}/` +
	    `attachments/${n}`);
	if (!r.ok)
		throw new Problem(await errorText(r));
	const plain = await decryptBytes(new Uint8Array(await r.arrayBuffer()),
	    'This attachment');
	const digest = lib.hex(await crypto.subtle.digest('SHA-256', plain));
	if (plain.length !== Number(att.size) ||
	    digest !== String(att.sha256).toLowerCase())
		throw new Problem('This file does not match the inquiry\'s record ' +
		    '(its SHA-256 differs), so it is not offered. Tell the ' +
		    'administrator.');
	download(new Blob([plain], { type: 'application/octet-stream' }),
	    String(att.filename || `attachment-${n}`));
	say(`${att.filename} decrypted and checked.`);
}

async function changeStatus() {
	const rec = state.current;
	const status = $('status').value;
	if (!rec || !STATUSES.includes(status))
		return;
	const before = state.currentItem?.status;
	try {
		await apiJson(`inquiries/${encodeURIComponent(rec.id)}`,
		    { method: 'PATCH', body: { status }, change: true });
	} catch (e) {
		if (before)
			$('status').value = before;
		throw e;
	}
	$('status').querySelector('option[value=""]')?.remove();
	if (state.currentItem)
		state.currentItem.status = status;
	renderList();
	say(`Status set to ${status}.`);
}

function askDelete() {
	const rec = state.current;
	$('confirm-text').textContent = `Inquiry ${rec.id}, received ` +
	    `${when.format(new Date(rec.received_at))}.`;
	$('confirm').showModal();
}

async function deleteCurrent() {
	const rec = state.current;
	$('confirm').close();
	const r = await api(`inquiries/${encodeURIComponent(rec.id)}`,
	    { method: 'DELETE', change: true });
	if (!r.ok && r.status !== 404)
		throw new Problem('Not deleted: ' + await errorText(r));
	state.records.delete(rec.id);
	state.items = state.items.filter((i) => i.id !== rec.id);
	renderList();
	showList();
	say(`Inquiry ${rec.id} deleted.`);
}

// ---- files chosen or dropped -------------------------------------------

async function openDropped(file) {
	if (file.size > DROP_MAX)
		throw new Problem('This file is too large for an inquiry.');
	const bytes = new Uint8Array(await file.arrayBuffer());
	if (!lib.isAgeFile(bytes))
		throw new Problem(`${file.name} is not an age file. You are ` +
		    'logged in already: drop encrypted inquiries (.age) here.');
	const rec = await recordOf(bytes, null, file.name);
	const item = state.items.find((i) => i.id === rec.id) || null;
	state.records.set(rec.id, rec);
	renderList();
	renderRecord(rec, item, `Opened from the file ${file.name}.`);
}

async function takeFile(file) {
	if (!session) {
		$('login-busy').hidden = false;
		try {
			await login(file);
		} finally {
			$('login-busy').hidden = true;
			$('key-file').value = '';	/* the form keeps no trace */
		}
		/* The label, when the admin gave the key one, is what people
		   read; the key stays beside it, as it says which key it is. */
		$('who').textContent = session.label ?
		    `Logged in as ${session.label} (${session.recipient})` :
		    `Logged in as ${session.recipient}`;
		$('who').hidden = false;
		$('logout').hidden = false;
		renderList();
		showList();
		await loadForms();
		await loadPage(false);
		return;
	}
	await openDropped(file);
}

async function logout() {
	const was = session;
	if (was) {
		try {
			await api('logout', { method: 'POST', change: true });
		} catch {
			/* forgotten here whatever the server says */
		}
	}
	forget('');
	say('Logged out. This tab no longer holds your key.');
	$('key-file').focus();
}

// ---- wiring ------------------------------------------------------------

function wire() {
	$('key-file').addEventListener('change', guarded(async (e) => {
		const f = e.target.files[0];
		if (f)
			await takeFile(f);
	}));
	let depth = 0;
	const hasFiles = (e) => e.dataTransfer?.types?.includes('Files');
	document.addEventListener('dragenter', (e) => {
		if (hasFiles(e) && depth++ === 0)
			document.body.classList.add('dropping');
	});
	document.addEventListener('dragleave', () => {
		if (depth > 0 && --depth === 0)
			document.body.classList.remove('dropping');
	});
	document.addEventListener('dragover', (e) => {
		if (hasFiles(e))
			e.preventDefault();
	});
	document.addEventListener('drop', guarded(async (e) => {
		e.preventDefault();
		depth = 0;
		document.body.classList.remove('dropping');
		const f = e.dataTransfer?.files?.[0];
		if (f)
			await takeFile(f);
	}));
	$('form-filter').addEventListener('change', guarded(() => loadPage(false)));
	$('search').addEventListener('input', applySearch);
	$('open-all').addEventListener('click', guarded(openAll));
	$('export').addEventListener('click', guarded(exportCsv));
	$('refresh').addEventListener('click', guarded(() => loadPage(false)));
	$('older').addEventListener('click', guarded(async () => {
		const n = state.items.length;
		await loadPage(true);
		$('rows').rows[n]?.querySelector('button')?.focus();
	}));
	$('back').addEventListener('click', () =>
	    showList(state.current?.id));
	$('status').addEventListener('change', guarded(changeStatus));
	$('delete').addEventListener('click', askDelete);
	$('confirm-cancel').addEventListener('click', () => $('confirm').close());
	$('confirm-delete').addEventListener('click', guarded(deleteCurrent));
	$('logout').addEventListener('click', guarded(logout));
	// Leaving the page ends the session: a page kept in the back-forward
	// cache would otherwise keep the key in memory. keepalive lets the
	// request outlive the page, and unlike sendBeacon it carries the
	// CSRF header.
	window.addEventListener('pagehide', () => {
		if (session)
			fetch('api/logout', { method: 'POST', keepalive: true,
			    headers: { 'X-CSRF-Token': session.csrf } }).catch(() => {});
		forget('');
	});
}

wire();
