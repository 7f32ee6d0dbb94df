// The staff inbox in a real browser: Debian's chromium driven by
// playwright-core, against the built intaked with a key from age-keygen.
// Inquiries go in through the public listener over HTTP; everything after
// that is done the way staff do it, in the page.
import { deepStrictEqual as same, equal, ok } from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { axe as axeRun, launch, onlyFrom, watchedPage } from './browser.mjs';
import { Daemon, BUILD, VALID, ageEncrypt, ageKeygen } from './daemon.mjs';

const SHOTS = join(BUILD, 'screenshots');
const LOCALE = 'en-GB', ZONE = 'Asia/Kolkata';
const TITLES = ['Full name', 'Email address', 'Phone number', 'Country',
    'Condition', 'Your message', 'Preferred contact time',
    'I agree that the clinic may store my inquiry and contact me about it'];
const XSS = '<img src=x onerror=window.__pwned=1>';
const UNICODE = 'Žluťoučký kůň / मरीज़ / 患者';

let d, browser, page;
const ids = {};
const seen = { offsite: [], consoleErrors: [], pageErrors: [], requests: [] };

// ---- helpers ---------------------------------------------------------

/** The text the page shows for an RFC 3339 time, in the test's locale
    and zone: what the page's own Intl formatting must give. */
function shown(iso) {
	return new Intl.DateTimeFormat(LOCALE, { dateStyle: 'medium',
	    timeStyle: 'short', timeZone: ZONE }).format(new Date(iso));
}

async function axe(what) {
	const r = await axeRun(page);
	same(r.violations, [], `axe on the ${what}`);
	return r.passes;
}

async function rowIds() {
	return page.locator('#rows tr:not([hidden])').evaluateAll(
	    (trs) => trs.map((tr) => tr.dataset.id));
}

async function openRow(id) {
	await page.locator(`#rows tr[data-id="${id}"] button.open`).click();
	await page.locator('#read-view').waitFor({ state: 'visible' });
	await page.locator('#read-meta').getByText(id).waitFor();
}

async function backToList() {
	await page.locator('#back').click();
	await page.locator('#list-view').waitFor({ state: 'visible' });
}

/** The reading view's fields: [title, value, data-field] in page order. */
async function fieldsShown() {
	return page.locator('#fields').evaluate((dl) => {
		const out = [];
		for (const dt of dl.querySelectorAll('dt')) {
			const title = dt.firstChild.textContent;
			const dd = dt.nextElementSibling;
			out.push([title, dd.textContent, dd.dataset.field]);
		}
		return out;
	});
}

/** Drops a file on the page as a person would, by a drop event whose
    DataTransfer holds it. */
async function dropFile(name, bytes) {
	await page.evaluate(({ name, data }) => {
		const dt = new DataTransfer();
		dt.items.add(new File([new Uint8Array(data)], name));
		for (const type of ['dragenter', 'dragover', 'drop'])
			document.body.dispatchEvent(new DragEvent(type,
			    { dataTransfer: dt, bubbles: true, cancelable: true }));
	}, { name, data: [...bytes] });
}

async function alertSays(text) {
	await page.locator('#alert').filter({ hasText: text }).waitFor();
}

async function noticeSays(text) {
	await page.locator('#notice').filter({ hasText: text }).waitFor();
}

function audited(action, id) {
	return d.audit().filter((e) => e.action === action &&
	    (id === undefined || e.inquiry_id === id));
}

// ---- setup -------------------------------------------------------------

export async function setup() {
	d = await Daemon.start();
	ids.plain = await d.submit({ message: 'First line.\nSecond line.\n\n' +
	    'After a blank line.' });
	ids.unicode = await d.submit({ name: UNICODE,
	    message: `Amount: \u202E0001\u202C euros\nZero\u200Bwidth.` });
	ids.xss = await d.submit({ name: XSS, country: '=1+2',
	    message: '<script>window.__pwned=2</script>' });
	ids.doomed = await d.submit({ name: 'Test Patient Four' });
	ids.last = await d.submit({ name: 'Test Patient Five',
	    condition: 'hepatitis', contact_time: 'any' });
	mkdirSync(SHOTS, { recursive: true });
	browser = await launch();
	const context = await browser.newContext({ acceptDownloads: true,
	    locale: LOCALE, timezoneId: ZONE,
	    viewport: { width: 1000, height: 760 } });
	// Anything not from the admin listener is a third-party load.
	const origin = `http://127.0.0.1:${d.adminPort}`;
	await onlyFrom(context, origin, seen.offsite);
	context.on('request', (r) => seen.requests.push(
	    `${r.method()} ${r.url()} ${r.postData() || ''}`));
	page = await watchedPage(context, seen);
}

export async function teardown() {
	try {
		await browser?.close();
	} finally {
		await d?.stop();
	}
}

// ---- the steps -----------------------------------------------------------

export const steps = [
	['the login view loads under the CSP and passes axe', async () => {
		await page.goto(d.inbox);
		await page.locator('#key-file').waitFor();
		ok(await page.getByLabel('Identity file').isVisible());
		await axe('login view');
		await page.screenshot({ path: join(SHOTS, 'login.png') });
	}],

	['a file that is not an identity is refused with a clear error',
	    async () => {
		await page.locator('#key-file').setInputFiles({ name: 'notes.txt',
		    mimeType: 'text/plain', buffer: Buffer.from('hello\n') });
		await alertSays('not an age identity file');
		ok(await page.locator('#login-view').isVisible());
	}],

	['an unknown key is refused, naming its recipient', async () => {
		const other = join(d.dir, 'other.key');
		const stranger = ageKeygen(other);
		await page.locator('#key-file').setInputFiles(other);
		await alertSays('not one of the inbox\'s staff keys');
		ok((await page.locator('#alert').textContent()).includes(stranger));
		ok(await page.locator('#login-view').isVisible());
	}],

	['the staff key logs in and the list shows newest first', async () => {
		await page.locator('#key-file').setInputFiles(d.key);
		await page.locator('#list-view').waitFor({ state: 'visible' });
		await page.locator('#rows tr').nth(4).waitFor();
		same(await rowIds(), [ids.last, ids.doomed, ids.xss, ids.unicode,
		    ids.plain]);
		equal(await page.locator('#alert').textContent(), '');
		equal(await page.locator('#who').textContent(),
		    `Logged in as ${d.label} (${d.recipient})`);
		equal(await page.locator('#who b').count(), 0, 'label as text');
		const row = page.locator(`#rows tr[data-id="${ids.plain}"] td`);
		const iso = await row.nth(0).locator('time')
		    .getAttribute('datetime');
		same(await row.allTextContents(), [shown(iso),
		    'not decrypted yet', 'Free consultation', 'new',
		    await row.nth(4).textContent(), '0']);
		ok(/^\d+(\.\d)? (B|KB)$/.test(await row.nth(4).textContent()));
		equal(await page.locator('#older').isVisible(), false);
	}],

	['the key stays in the page: no storage, no request, no URL', async () => {
		const secret = readFileSync(d.key, 'utf8').match(
		    /AGE-SECRET-KEY-1\w+/)[0];
		const kept = await page.evaluate(async () => ({
			local: localStorage.length,
			session: sessionStorage.length,
			idb: (await indexedDB.databases()).length,
			caches: (await caches.keys()).length,
			cookie: document.cookie,
			url: location.href,
			input: document.getElementById('key-file').value,
		}));
		same(kept, { local: 0, session: 0, idb: 0, caches: 0, cookie: '',
		    url: d.inbox, input: '' });
		const leaks = seen.requests.filter((r) =>
		    r.toUpperCase().includes(secret) || r.includes('SECRET-KEY'));
		same(leaks, []);
		const logins = seen.requests.filter((r) => r.includes('/api/login '));
		ok(logins.some((r) => r.includes(d.recipient)), 'login by recipient');
	}],

	['an inquiry shows its fields in schema order, with titles', async () => {
		await openRow(ids.unicode);
		const fields = await fieldsShown();
		same(fields.map((f) => f[0]), TITLES);
		same(fields.map((f) => f[2]), ['name', 'email', 'phone', 'country',
		    'condition', 'message', 'contact_time', 'consent']);
		const values = Object.fromEntries(fields.map((f) => [f[2], f[1]]));
		equal(values.name, UNICODE);
		equal(values.email, VALID.email);
		equal(values.phone, VALID.phone);
		// Choices by their titles (oneOf), as the form showed them.
		equal(values.condition, 'Liver cirrhosis');
		equal(values.consent, 'Yes');
		// Hints come from the schema's descriptions.
		ok((await page.locator('#fields dt').nth(2).textContent())
		    .includes('International format'));
		equal(await page.locator('#read-title').evaluate(
		    (h) => document.activeElement === h), true, 'focus moves');
	}],

	['hidden characters are shown as ⟦U+…⟧, line breaks kept', async () => {
		const msg = page.locator('#fields dd[data-field="message"]');
		equal(await msg.textContent(),
		    'Amount: ⟦U+202E⟧0001⟦U+202C⟧ euros\nZero⟦U+200B⟧width.');
		same(await msg.locator('.hidden-char').allTextContents(),
		    ['⟦U+202E⟧', '⟦U+202C⟧', '⟦U+200B⟧']);
		equal(await msg.evaluate((e) => getComputedStyle(e).whiteSpace),
		    'pre-wrap');
		// Two lines on screen, not one: the break is rendered.
		const lines = await msg.evaluate((e) => {
			const r = document.createRange();
			r.selectNodeContents(e);
			return new Set([...r.getClientRects()].map((x) =>
			    Math.round(x.top))).size;
		});
		ok(lines >= 2, `message on ${lines} line(s)`);
	}],

	['"Reply by e-mail" is a mailto: link to the patient', async () => {
		equal(await page.locator('#reply').getAttribute('href'),
		    'mailto:patient@example.com?subject=Re%3A%20Free%20consultation');
		await backToList();
		equal(await page.locator(`#rows tr[data-id="${ids.unicode}"] td`)
		    .nth(1).textContent(), UNICODE);
	}],

	['markup in a field is shown as text and never runs', async () => {
		await openRow(ids.xss);
		const fields = Object.fromEntries((await fieldsShown())
		    .map((f) => [f[2], f[1]]));
		equal(fields.name, XSS);
		equal(fields.message, '<script>window.__pwned=2</script>');
		equal(await page.locator('#fields img, #fields script').count(), 0);
		equal(await page.locator('img').count(), 0);
		equal(await page.evaluate(() => typeof window.__pwned), 'undefined');
		await backToList();
		equal(await page.locator(`#rows tr[data-id="${ids.xss}"] td`).nth(1)
		    .textContent(), XSS);
		equal(await page.evaluate(() => typeof window.__pwned), 'undefined');
	}],

	['the reading view passes axe', async () => {
		await openRow(ids.plain);
		equal(await page.locator('#fields dd[data-field="message"]')
		    .textContent(), 'First line.\nSecond line.\n\nAfter a blank line.');
		await axe('reading view');
		await page.screenshot({ path: join(SHOTS, 'reading.png'),
		    fullPage: true });
	}],

	['a status change is saved, listed and audited', async () => {
		await page.locator('#status').selectOption('answered');
		await noticeSays('Status set to answered.');
		await backToList();
		equal(await page.locator(`#rows tr[data-id="${ids.plain}"] td`).nth(3)
		    .textContent(), 'answered');
		await page.locator('#refresh').click();
		await page.locator(`#rows tr[data-id="${ids.plain}"] .status-answered`)
		    .waitFor();
		const e = audited('status', ids.plain);
		equal(e.length, 1);
		equal(e[0].detail, 'answered');
		equal(e[0].actor, `staff ${d.recipient} (${d.label})`);
		ok(audited('view', ids.plain).length >= 1, 'the view is audited');
	}],

	['delete asks first, naming the inquiry, then erases it', async () => {
		await openRow(ids.doomed);
		const iso = await page.locator('#read-meta time')
		    .getAttribute('datetime');
		await page.locator('#delete').click();
		const dialog = page.locator('#confirm');
		await dialog.waitFor({ state: 'visible' });
		const text = await page.locator('#confirm-text').textContent();
		ok(text.includes(ids.doomed) && text.includes(shown(iso)), text);
		await page.getByRole('button', { name: 'Keep it' }).click();
		await dialog.waitFor({ state: 'hidden' });
		ok(d.ctl('list', '--json').toString().includes(ids.doomed), 'kept');
		await page.locator('#delete').click();
		await page.getByRole('button', { name: 'Delete for good' }).click();
		await noticeSays(`Inquiry ${ids.doomed} deleted.`);
		await page.locator('#list-view').waitFor({ state: 'visible' });
		same(await rowIds(), [ids.last, ids.xss, ids.unicode, ids.plain]);
		ok(!d.ctl('list', '--json').toString().includes(ids.doomed), 'gone');
		equal(audited('delete', ids.doomed).length, 1);
	}],

	['search covers what was decrypted, and says what it skipped',
	    async () => {
		await page.locator('#search').fill('kůň');
		same(await rowIds(), [ids.unicode]);
		ok((await page.locator('#list-summary').textContent())
		    .includes('not decrypted yet'));
		await page.locator('#search').fill('Five');
		same(await rowIds(), []);
		await page.locator('#open-all').click();
		await noticeSays('1 inquiry decrypted.');
		await page.locator('#search').fill('Five');
		same(await rowIds(), [ids.last]);
		await page.locator('#search').fill('test patient');
		same(await rowIds(), [ids.last, ids.plain]);
		await page.locator('#search').fill('');
		equal((await rowIds()).length, 4);
	}],

	['the list view passes axe, wide, on a tablet and on a phone',
	    async () => {
		await axe('list view');
		await page.screenshot({ path: join(SHOTS, 'list.png') });
		for (const [name, width, height] of [['tablet', 768, 1024],
		    ['phone', 390, 844]]) {
			await page.setViewportSize({ width, height });
			await axe(`list view on a ${name}`);
			const wide = await page.evaluate(() =>
			    document.documentElement.scrollWidth);
			ok(wide <= width, `no sideways scrolling on a ${name}: ${wide}`);
			await page.screenshot({ path: join(SHOTS, `list-${name}.png`) });
		}
		await page.setViewportSize({ width: 1000, height: 760 });
	}],

	['Export CSV holds the decrypted inquiries, formulas neutralised',
	    async () => {
		const [dl] = await Promise.all([page.waitForEvent('download'),
		    page.locator('#export').click()]);
		ok(/^inquiries-\d{4}-\d\d-\d\d\.csv$/.test(dl.suggestedFilename()));
		const csv = readFileSync(await dl.path(), 'utf8');
		const lines = csv.split('\r\n');
		equal(lines[0], 'id,form,received_at,name,email,phone,country,' +
		    'condition,message,contact_time,consent');
		equal(lines.length, 4 + 1 + 1, 'header, four rows, and the end');
		ok(lines.some((l) => l.startsWith(ids.xss) &&
		    l.includes(",'=1+2,")), 'a formula gets an apostrophe');
		ok(csv.includes(`${ids.unicode},consultation,`) &&
		    csv.includes(UNICODE));
		ok(csv.includes('"First line.\nSecond line.\n\nAfter a blank line."'));
	}],

	['a dropped .age file opens in the reading view', async () => {
		const bytes = d.ctl('cat', ids.last);
		await dropFile(`${ids.last}.age`, bytes);
		await page.locator('#read-source')
		    .filter({ hasText: `Opened from the file ${ids.last}.age` })
		    .waitFor();
		await page.locator('#read-meta').getByText(ids.last).waitFor();
		const fields = Object.fromEntries((await fieldsShown())
		    .map((f) => [f[2], f[1]]));
		equal(fields.name, 'Test Patient Five');
		equal(fields.condition, 'Hepatitis');
		equal(await page.locator('#status').inputValue(), 'new');
		await backToList();
	}],

	['"Older inquiries" pages through the list with next', async () => {
		// Two a page instead of fifty, so that four inquiries page.
		const list = '**/inbox/api/inquiries?*';
		await page.route(list, (route) => {
			const url = new URL(route.request().url());
			url.searchParams.set('limit', '2');
			return route.continue({ url: url.href });
		});
		await page.locator('#form-filter').selectOption('consultation');
		await page.locator('#older').waitFor();
		same(await rowIds(), [ids.last, ids.xss]);
		await page.locator('#older').click();
		await page.waitForFunction(() =>
		    document.querySelectorAll('#rows tr').length === 4);
		same(await rowIds(), [ids.last, ids.xss, ids.unicode, ids.plain]);
		await page.locator('#older').waitFor({ state: 'hidden' });
		ok(seen.requests.some((r) => r.includes('form=consultation') &&
		    r.includes(`before=${ids.xss}`)), 'before= and form= sent');
		await page.unroute(list);
	}],

	['a file sent with the demo form is decrypted in the inbox, checked '
	    + 'by SHA-256, then downloaded', async () => {
		const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'),
		    randomBytes(200 * 1024)]);
		const png = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'),
		    randomBytes(5000)]);
		const sha = (b) => createHash('sha256').update(b).digest('hex');
		// The patient's side: the demo form in a phone-sized browser of
		// its own, which may load nothing but the public listener.
		const site = `http://127.0.0.1:${d.port}`;
		const patient = await browser.newContext({ locale: LOCALE,
		    viewport: { width: 390, height: 844 } });
		const elsewhere = [];
		await onlyFrom(patient, site, elsewhere);
		const form = await patient.newPage();
		form.setDefaultTimeout(10000);
		await form.goto(`${site}/forms/consultation`);
		same((await axeRun(form)).violations, [], 'axe on the demo form');
		const input = form.getByLabel('Medical reports');
		equal(await input.getAttribute('type'), 'file');
		ok((await input.getAttribute('accept')).includes('application/pdf'));
		ok(await form.getByText('PDF, JPEG or PNG; up to 5 files of ' +
		    '10 MiB each, 25 MiB in all.').isVisible());
		await form.getByLabel('Full name').fill('Test Patient Seven');
		await form.getByLabel('Email address').fill(VALID.email);
		await form.getByLabel('Phone number').fill(VALID.phone);
		await form.getByLabel('Country').fill(VALID.country);
		await form.getByLabel('Condition').selectOption('liver-cirrhosis');
		await form.getByLabel('I agree').check();
		await input.setInputFiles([
		    { name: 'liver-scan.pdf', mimeType: 'application/pdf',
		      buffer: pdf },
		    { name: 'labs.png', mimeType: 'image/png', buffer: png }]);
		await Promise.all([form.waitForLoadState('load'),
		    form.getByRole('button', { name: 'Send' }).click()]);
		const ref = form.locator('code');
		await ref.waitFor();
		const id = (await ref.textContent()).trim();
		ok(/^[0-9a-f-]{36}$/.test(id), `the reference: ${id}`);
		same(elsewhere, []);
		await patient.close();

		// The staff side: the new inquiry, its files in the record.
		await page.locator('#refresh').click();
		await page.locator(`#rows tr[data-id="${id}"]`).waitFor();
		equal(await page.locator(`#rows tr[data-id="${id}"] ` +
		    'td[data-label="Files"]').textContent(), '2');
		await openRow(id);
		const items = page.locator('#attachments li');
		equal(await items.count(), 2);
		ok((await items.nth(0).textContent()).includes('liver-scan.pdf'));
		ok((await items.nth(0).textContent()).includes('application/pdf'));
		ok((await items.nth(1).textContent()).includes('labs.png'));
		const [dl] = await Promise.all([page.waitForEvent('download'),
		    items.nth(0).getByRole('button',
		    { name: 'Download liver-scan.pdf' }).click()]);
		equal(dl.suggestedFilename(), 'liver-scan.pdf');
		const got = readFileSync(await dl.path());
		equal(sha(got), sha(pdf), 'the download is the uploaded file');
		equal(audited('attachment', id).length, 1);
		// A server that hands back another file than the record names
		// (here: the test answering in its place) is caught.
		const other = ageEncrypt(d.recipient, Buffer.from('not the file'));
		const route = `**/inbox/api/inquiries/${id}/attachments/2`;
		await page.route(route, (r) => r.fulfill({ status: 200,
		    contentType: 'application/octet-stream', body: other }));
		let downloads = 0;
		const count = () => downloads++;
		page.on('download', count);
		await items.nth(1).getByRole('button').click();
		await items.nth(1).locator('.alert')
		    .filter({ hasText: 'SHA-256 differs' }).waitFor();
		equal(downloads, 0, 'a mismatching file is not offered');
		page.off('download', count);
		await page.unroute(route);
		await backToList();
	}],

	['logout ends the session and forgets the key', async () => {
		await page.locator('#logout').click();
		await page.locator('#login-view').waitFor({ state: 'visible' });
		await noticeSays('Logged out');
		equal(await page.locator('#rows tr').count(), 0);
		equal(await page.evaluate(async () =>
		    (await fetch('api/inquiries')).status), 401);
		// With no identity left, a dropped inquiry is taken for a key file.
		await dropFile(`${ids.plain}.age`, d.ctl('cat', ids.plain));
		await alertSays('encrypted age file, not an identity');
		equal(audited('logout').length, 1);
	}],

	['an ended session forgets the key and says so', async () => {
		await page.locator('#key-file').setInputFiles(d.key);
		await page.locator('#rows tr').nth(3).waitFor();
		// The server's idle limit, without the wait: its sessions go.
		d.sql('DELETE FROM sessions');
		await page.locator('#refresh').click();
		await alertSays('Your session has ended');
		ok(await page.locator('#login-view').isVisible());
		equal(await page.locator('#rows tr').count(), 0);
		await dropFile(`${ids.plain}.age`, d.ctl('cat', ids.plain));
		await alertSays('encrypted age file, not an identity');
	}],

	['nothing was loaded from elsewhere and the CSP was never hit',
	    async () => {
		same(seen.offsite, []);
		same(seen.pageErrors, []);
		// The only console errors allowed are the browser's notes on the
		// API answers the steps asked for (401 after logout, 403 for the
		// unknown key).
		const unexpected = seen.consoleErrors.filter((m) =>
		    !/the server responded with a status of (401|403)/.test(m));
		same(unexpected, []);
	}],
];

