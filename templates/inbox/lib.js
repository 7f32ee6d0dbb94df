// The inbox's pure parts: no DOM, no network, so that node can test them
// as they are (tests/browser/lib.test.mjs) and app.js stays about the page.

const AGE_MAGIC = 'age-encryption.org/';
const AGE_ARMOR = '-----BEGIN AGE ENCRYPTED FILE-----';

// Uppercase bech32, as age writes identities; age itself refuses lowercase.
const X25519_IDENTITY = /^AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}$/;

/**
 * The X25519 identities of an age identity file's text, in file order:
 * { keys: [...] } or { error } with a sentence for the person who chose it.
 * Comments (#) and blank lines are allowed, as age allows them.
 */
export function parseIdentityFile(text) {
	const body = text.replace(/^\uFEFF/, '');
	if (body.startsWith(AGE_MAGIC) || body.startsWith(AGE_ARMOR))
		return { error: 'This is an encrypted age file, not an identity ' +
		    'file. Load your identity (the key file) first; then you can ' +
		    'drop encrypted files here to read them.' };
	const keys = [];
	for (const raw of body.split('\n')) {
		const line = raw.replace(/\r$/, '').trim();
		if (line === '' || line.startsWith('#'))
			continue;
		if (line.startsWith('AGE-SECRET-KEY-PQ-1'))
			return { error: 'This is a post-quantum age identity; the ' +
			    'inbox\'s staff keys are X25519 keys (AGE-SECRET-KEY-1…).' };
		if (!X25519_IDENTITY.test(line))
			return { error: 'This is not an age identity file: every ' +
			    'line must be a comment (#) or an AGE-SECRET-KEY-1… key.' };
		keys.push(line);
	}
	if (keys.length === 0)
		return { error: 'This file holds no age identity ' +
		    '(no AGE-SECRET-KEY-1… line).' };
	return { keys };
}

/** Whether bytes (a Uint8Array) begin like an age file, binary or armored. */
export function isAgeFile(bytes) {
	const head = new TextDecoder().decode(bytes.subarray(0, AGE_ARMOR.length));
	return head.startsWith(AGE_MAGIC + 'v1\n') || head.startsWith(AGE_ARMOR);
}

// Characters that change how text reads without being seen: controls,
// format characters (bidi overrides and isolates, zero-width ones, BOM,
// tags) and line/paragraph separators. Newline and tab are layout.
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const HIDDEN_ALL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

const NAMES = {
	0x200b: 'zero width space', 0x200c: 'zero width non-joiner',
	0x200d: 'zero width joiner', 0x200e: 'left-to-right mark',
	0x200f: 'right-to-left mark', 0x202a: 'left-to-right embedding',
	0x202b: 'right-to-left embedding', 0x202c: 'pop directional formatting',
	0x202d: 'left-to-right override', 0x202e: 'right-to-left override',
	0x2066: 'left-to-right isolate', 0x2067: 'right-to-left isolate',
	0x2068: 'first strong isolate', 0x2069: 'pop directional isolate',
	0xfeff: 'zero width no-break space',
};

/** "U+202E" for a code point. */
export function codeLabel(cp) {
	return 'U+' + cp.toString(16).toUpperCase().padStart(4, '0');
}

/**
 * text split into parts to show: { text } runs and { code, label, name }
 * for each hidden character, so that the page can mark those visibly
 * (⟦U+202E⟧) instead of letting them act. CRLF is taken as one newline.
 */
export function visibleParts(text) {
	const parts = [];
	let run = '';
	for (const ch of text.replace(/\r\n/g, '\n')) {
		if (ch === '\n' || ch === '\t' || !HIDDEN.test(ch)) {
			run += ch;
			continue;
		}
		if (run)
			parts.push({ text: run });
		run = '';
		const cp = ch.codePointAt(0);
		parts.push({ code: cp, label: `⟦${codeLabel(cp)}⟧`,
		    name: NAMES[cp] || 'invisible character' });
	}
	if (run)
		parts.push({ text: run });
	return parts;
}

/** text with every hidden character written as ⟦U+XXXX⟧. */
export function visibleText(text) {
	return text.replace(/\r\n/g, '\n').replace(HIDDEN_ALL, (ch) =>
	    ch === '\n' || ch === '\t' ? ch : `⟦${codeLabel(ch.codePointAt(0))}⟧`);
}

/** A field's value as plain text: strings as they are, else JSON. */
export function valueText(v) {
	return typeof v === 'string' ? v : JSON.stringify(v);
}

// The title a schema gives one value of a property: oneOf/anyOf entries
// with const and title, booleans as yes/no, else the value itself.
function displayValue(prop, v) {
	const choices = prop && (prop.oneOf || prop.anyOf);
	if (Array.isArray(choices)) {
		const c = choices.find((x) => x && x.const === v && x.title);
		if (c)
			return c.title;
	}
	if (typeof v === 'boolean')
		return v ? 'Yes' : 'No';
	if (Array.isArray(v) && v.every((x) => typeof x !== 'object'))
		return v.map((x) => displayValue(prop && prop.items, x)).join(', ');
	return valueText(v);
}

/**
 * The rows of a record's fields to show: the schema's properties in its
 * order with their titles and descriptions, then any field the schema does
 * not name (under its own name), so that nothing stored is hidden.
 * Each row: { name, title, hint, text, multiline }.
 */
export function fieldRows(schema, fields) {
	const props = (schema && schema.properties) || {};
	const names = Object.keys(props).filter((n) => n in fields)
	    .concat(Object.keys(fields).filter((n) => !(n in props)));
	return names.map((name) => {
		const p = props[name];
		const text = displayValue(p, fields[name]);
		return {
			name,
			title: (p && p.title) || name,
			hint: (p && p.description) || '',
			text,
			multiline: Boolean(p && p['x-multiline']) || text.includes('\n'),
		};
	});
}

// A plausible single address: one @, no spaces, separators or controls,
// so that a crafted value cannot add recipients or headers to the link.
const ADDRESS = /^[^\s@,;:<>()[\]\\"?&%#]+@[^\s@,;:<>()[\]\\"?&%#]+$/u;

/**
 * A mailto: URL to address with subject, each part percent-encoded
 * (RFC 6068), or null when address is not one plain address.
 */
export function mailtoHref(address, subject) {
	if (typeof address !== 'string' || !ADDRESS.test(address) ||
	    HIDDEN.test(address))
		return null;
	const [local, domain] = address.split('@');
	return `mailto:${encodeURIComponent(local)}@${encodeURIComponent(domain)}` +
	    `?subject=${encodeURIComponent(subject)}`;
}

/** 1536 → "1.5 KB": sizes for people. */
export function formatSize(n) {
	if (n < 1024)
		return `${n} B`;
	const units = ['KB', 'MB', 'GB'];
	let v = n, i = -1;
	do {
		v /= 1024;
		i++;
	} while (v >= 1024 && i < units.length - 1);
	return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/**
 * One CSV field (RFC 4180). Patient-supplied text (untrusted) that a
 * spreadsheet would take for a formula (= + - @, tab or CR first) gets a
 * leading apostrophe, as intakectl export does: staff open these files in
 * spreadsheets, and a submitted "=HYPERLINK(…)" must stay text.
 */
export function csvField(s, untrusted) {
	let v = s;
	if (untrusted && /^[=+\-@\t\r]/.test(v))
		v = "'" + v;
	return /[",\r\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v;
}

/**
 * The CSV of records (decrypted inquiries), with intakectl export's
 * columns: id, form, received_at, then every field name in order of first
 * appearance. CRLF line ends, as RFC 4180 has them.
 */
export function toCsv(records) {
	const cols = [];
	for (const r of records)
		for (const name of Object.keys(r.fields || {}))
			if (!cols.includes(name))
				cols.push(name);
	const head = ['id', 'form', 'received_at'].map((c) => csvField(c, false))
	    .concat(cols.map((c) => csvField(c, true)));
	const rows = records.map((r) => [r.id, r.form, r.received_at]
	    .map((c) => csvField(String(c ?? ''), false))
	    .concat(cols.map((c) => {
		const v = (r.fields || {})[c];
		return csvField(v === undefined || v === null ? '' : valueText(v),
		    true);
	    })));
	return [head, ...rows].map((r) => r.join(',') + '\r\n').join('');
}

/** Whether record (decrypted) matches query: every word, case-folded,
    somewhere in its id or field values. */
export function recordMatches(record, query) {
	const words = query.toLocaleLowerCase().split(/\s+/).filter(Boolean);
	if (words.length === 0)
		return true;
	const hay = [record.id, ...Object.values(record.fields || {})
	    .map(valueText)].join('\n').toLocaleLowerCase();
	return words.every((w) => hay.includes(w));
}

/**
 * Why a decrypted record cannot be shown, or '' when it can: it must be
 * a v1 inquiry record, and when it was fetched as inquiry id it must name
 * that id (a ciphertext moved to another row would name its own).
 */
export function recordProblem(rec, id) {
	if (!rec || typeof rec !== 'object' || rec.v !== 1 ||
	    typeof rec.id !== 'string' || typeof rec.fields !== 'object' ||
	    rec.fields === null)
		return 'This file decrypts, but it is not an inquiry record.';
	if (id && rec.id !== id)
		return `The record stored as ${id} names another inquiry ` +
		    `(${rec.id}); it is not shown.`;
	return '';
}

/** Lowercase hex of bytes (an ArrayBuffer or Uint8Array). */
export function hex(bytes) {
	return Array.from(new Uint8Array(bytes),
	    (b) => b.toString(16).padStart(2, '0')).join('');
}
