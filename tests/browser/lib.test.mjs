// The inbox page's pure helpers (templates/inbox/lib.js), imported by node
// exactly as the browser imports them.
import { deepStrictEqual as same, equal, ok } from 'node:assert/strict';
import * as lib from '../../templates/inbox/lib.js';

const KEY = 'AGE-SECRET-KEY-1' + 'QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L'.repeat(2)
    .slice(0, 58);

export const steps = [
	['identity files: comments, CRLF, and what is refused', () => {
		same(lib.parseIdentityFile(
		    `# created: today\r\n# public key: age1…\r\n${KEY}\r\n`),
		    { keys: [KEY] });
		ok(lib.parseIdentityFile('hello').error.includes(
		    'not an age identity file'));
		ok(lib.parseIdentityFile('# only a comment\n').error.includes(
		    'no age identity'));
		ok(lib.parseIdentityFile(KEY.toLowerCase()).error);
		ok(lib.parseIdentityFile('AGE-SECRET-KEY-PQ-1QQQ').error.includes(
		    'post-quantum'));
		ok(lib.parseIdentityFile('age-encryption.org/v1\n-> X25519 x\n')
		    .error.includes('encrypted age file'));
	}],
	['age files are told from other files', () => {
		const enc = new TextEncoder();
		ok(lib.isAgeFile(enc.encode('age-encryption.org/v1\n-> X25519')));
		ok(lib.isAgeFile(enc.encode(
		    '-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n')));
		ok(!lib.isAgeFile(enc.encode(KEY)));
		ok(!lib.isAgeFile(new Uint8Array(0)));
	}],
	['hidden characters are made visible, newlines and tabs kept', () => {
		equal(lib.visibleText('a\u202Eb\u200Bc\uFEFF\u2066d\u2069'),
		    'a⟦U+202E⟧b⟦U+200B⟧c⟦U+FEFF⟧⟦U+2066⟧d⟦U+2069⟧');
		equal(lib.visibleText('one\r\ntwo\tthree\u0007'),
		    'one\ntwo\tthree⟦U+0007⟧');
		equal(lib.visibleText('Žluťoučký kůň / मरीज़ / 患者'),
		    'Žluťoučký kůň / मरीज़ / 患者');
		same(lib.visibleParts('x\u202Dy'), [{ text: 'x' },
		    { code: 0x202d, label: '⟦U+202D⟧',
		      name: 'left-to-right override' }, { text: 'y' }]);
		equal(lib.visibleText('tag\u{E0041}'), 'tag⟦U+E0041⟧');
	}],
	['fields in schema order with titles, unknown fields last', () => {
		const schema = { properties: {
			b: { title: 'Bee', description: 'about b' },
			a: { title: 'Ay', 'x-multiline': true },
			c: { oneOf: [{ const: 'x', title: 'Ex' }] },
			d: { type: 'boolean' },
		} };
		same(lib.fieldRows(schema, { zz: 1, a: 'one\ntwo', c: 'x', b: 'B',
		    d: false }), [
			{ name: 'b', title: 'Bee', hint: 'about b', text: 'B',
			  multiline: false },
			{ name: 'a', title: 'Ay', hint: '', text: 'one\ntwo',
			  multiline: true },
			{ name: 'c', title: 'c', hint: '', text: 'Ex',
			  multiline: false },
			{ name: 'd', title: 'd', hint: '', text: 'No',
			  multiline: false },
			{ name: 'zz', title: 'zz', hint: '', text: '1',
			  multiline: false },
		]);
	}],
	['mailto links are encoded and only for one plain address', () => {
		equal(lib.mailtoHref('patient@example.com', 'Re: Free consultation'),
		    'mailto:patient@example.com?subject=Re%3A%20Free%20consultation');
		equal(lib.mailtoHref('a+b@example.com', 'x&y=z'),
		    'mailto:a%2Bb@example.com?subject=x%26y%3Dz');
		equal(lib.mailtoHref('a@example.com,b@example.com', 's'), null);
		equal(lib.mailtoHref('a@example.com\r\nBcc: b@example.com', 's'),
		    null);
		equal(lib.mailtoHref('a\u202E@example.com', 's'), null);
		equal(lib.mailtoHref(undefined, 's'), null);
	}],
	['CSV: RFC 4180 quoting and spreadsheet formulas neutralised', () => {
		const csv = lib.toCsv([
			{ id: 'i1', form: 'f', received_at: 't1', fields: {
			    name: '=HYPERLINK("http://example.com")', n: 2 } },
			{ id: 'i2', form: 'f', received_at: 't2', fields: {
			    msg: 'a,b\nc', name: '@SUM(A1)' } },
			{ id: 'i3', form: 'f', received_at: 't3', fields: {
			    name: '+1', msg: '-2', n: null } },
		]);
		equal(csv, 'id,form,received_at,name,n,msg\r\n' +
		    'i1,f,t1,"\'=HYPERLINK(""http://example.com"")",2,\r\n' +
		    'i2,f,t2,\'@SUM(A1),,"a,b\nc"\r\n' +
		    'i3,f,t3,\'+1,,\'-2\r\n');
		equal(lib.csvField('\tx', true), "'\tx");
		equal(lib.csvField('=x', false), '=x');
	}],
	['search matches every word in any field, case-folded', () => {
		const rec = { id: 'abc', fields: { name: 'Žluťoučký kůň',
		    message: 'Liver REPORT attached' } };
		ok(lib.recordMatches(rec, 'KŮŇ report'));
		ok(lib.recordMatches(rec, ''));
		ok(!lib.recordMatches(rec, 'kůň missing'));
	}],
	['records must be v1 and name the id they were fetched as', () => {
		const rec = { v: 1, id: 'a', fields: {} };
		equal(lib.recordProblem(rec, 'a'), '');
		equal(lib.recordProblem(rec, null), '');
		ok(lib.recordProblem(rec, 'b').includes('names another inquiry'));
		ok(lib.recordProblem({ v: 2, id: 'a', fields: {} }, null));
		ok(lib.recordProblem('text', null));
	}],
	['sizes and hex for people and digests', () => {
		equal(lib.formatSize(0), '0 B');
		equal(lib.formatSize(1536), '1.5 KB');
		equal(lib.formatSize(5 * 1024 * 1024), '5.0 MB');
		equal(lib.formatSize(300 * 1024), '300 KB');
		equal(lib.hex(new Uint8Array([0, 15, 255])), '000fff');
	}],
];
