// The patient's form in a real browser: Debian's chromium driven by
// playwright-core, on a phone-sized screen, with the keyboard only,
// against the built intaked. What the patient sees is checked with axe.
import { deepStrictEqual as same, equal, ok } from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { axe as axeRun, launch, onlyFrom, watchedPage } from './browser.mjs';
import { Daemon, BUILD, VALID } from './daemon.mjs';

const SHOTS = join(BUILD, 'screenshots');
const PHONE = { width: 360, height: 740 };

let d, browser, page;
const seen = { offsite: [], consoleErrors: [], pageErrors: [] };

async function axe(what) {
	same((await axeRun(page)).violations, [], `axe on the ${what}`);
}

/** Nothing wider than the screen, and every control big enough to tap. */
async function fitsAPhone(what) {
	const r = await page.evaluate(() => {
		const small = [];
		for (const el of document.querySelectorAll(
		    'input:not([type=hidden]), select, textarea, button, a')) {
			if (el.closest('[aria-hidden=true]'))
				continue;
			const b = el.getBoundingClientRect();
			// A checkbox is tapped through its label, which is tall.
			const label = el.type === 'checkbox' &&
			    document.querySelector(`label[for="${el.id}"]`);
			const h = label ? Math.max(b.height,
			    label.getBoundingClientRect().height) : b.height;
			if (h < 44 && !(el.tagName === 'A' && el.closest('p, span')))
				small.push(`${el.tagName.toLowerCase()}#${el.id} ${h}`);
		}
		return { scroll: document.documentElement.scrollWidth,
		    width: window.innerWidth, small };
	});
	ok(r.scroll <= r.width, `${what}: no horizontal scroll (${r.scroll} > ` +
	    `${r.width})`);
	same(r.small, [], `${what}: tap targets of 44 px`);
}

async function focused() {
	return page.evaluate(() => document.activeElement.id ||
	    document.activeElement.tagName.toLowerCase());
}

/** Tab to the next control and check it is the one expected. */
async function tabTo(id) {
	await page.keyboard.press('Tab');
	equal(await focused(), id, `Tab reaches #${id}`);
}

/** Waits until the ALTCHA widget has put its solution in the form. */
async function solved() {
	await page.waitForFunction(() => {
		const f = document.querySelector('input[name="altcha"]');
		return f && f.value.length > 100;
	}, null, { timeout: 20000 });
}

function stored() {
	return JSON.parse(d.ctl('list', '--json').toString());
}

export async function setup() {
	d = await Daemon.start({
	    form: 'privacy_url = /privacy.html\naltcha = yes' });
	mkdirSync(SHOTS, { recursive: true });
	browser = await launch();
	const context = await browser.newContext({ viewport: PHONE,
	    deviceScaleFactor: 2, isMobile: true, hasTouch: true,
	    locale: 'en-GB' });
	await onlyFrom(context, d.site, seen.offsite);
	page = await watchedPage(context, seen);
}

export async function teardown() {
	await browser?.close();
	await d?.stop();
}

export const steps = [
	['the form page reads well on a phone and passes axe', async () => {
		await page.goto(`${d.site}/forms/consultation`);
		ok((await page.locator('h1').textContent()).includes(
		    'Free consultation'));
		ok(await page.getByText('Ask our specialists').isVisible());
		// Hints are read out with their fields.
		equal(await page.getByLabel('Phone number').getAttribute(
		    'aria-describedby'), 'h-phone');
		ok(await page.getByText('International format').isVisible());
		same(await page.locator('#f-condition option').allTextContents(),
		    ['Choose…', 'Liver cirrhosis', 'Fatty liver disease',
		     'Hepatitis', 'Something else']);
		await fitsAPhone('the form');
		await axe('form page');
		await page.screenshot({ path: join(SHOTS, 'form-phone.png'),
		    fullPage: true });
	}],

	['a patient fills it in with the keyboard only and gets a reference',
	    async () => {
		const before = stored().length;
		await page.goto(`${d.site}/forms/consultation`);
		await page.locator('body').focus();
		await tabTo('f-name');
		await page.keyboard.type('Test Patient Keyboard');
		await tabTo('f-email');
		await page.keyboard.type(VALID.email);
		await tabTo('f-phone');
		await page.keyboard.type(VALID.phone);
		await tabTo('f-country');
		await page.keyboard.type('India');
		await tabTo('f-condition');
		await page.keyboard.type('Liver');
		equal(await page.locator('#f-condition').inputValue(),
		    'liver-cirrhosis');
		await tabTo('f-message');
		await page.keyboard.type('Typed with the keyboard.');
		await page.keyboard.press('Enter');
		await page.keyboard.type('Second line.');
		await tabTo('f-contact_time');
		await page.keyboard.type('Eve');
		await tabTo('f-reports');
		await tabTo('f-consent');
		await page.keyboard.press('Space');
		ok(await page.locator('#f-consent').isChecked());
		await page.keyboard.press('Tab');	// the privacy notice link
		equal(await page.evaluate(() =>
		    document.activeElement.getAttribute('href')), '/privacy.html');
		// The proof of work solves itself on load; then on to the button.
		await solved();
		for (let i = 0; i < 4; i++) {
			await page.keyboard.press('Tab');
			if (await page.evaluate(() =>
			    document.activeElement.type === 'submit'))
				break;
		}
		equal(await page.evaluate(() => document.activeElement.type),
		    'submit');
		await Promise.all([page.waitForURL(/\/thanks\?ref=/),
		    page.keyboard.press('Enter')]);
		const ref = (await page.locator('#ref').textContent()).trim();
		ok(/^[0-9a-f-]{36}$/.test(ref), ref);
		await fitsAPhone('the thank-you page');
		await axe('thank-you page');
		await page.screenshot({ path: join(SHOTS, 'thanks-phone.png'),
		    fullPage: true });
		// Reload: the page again, and no second inquiry.
		await page.reload();
		equal((await page.locator('#ref').textContent()).trim(), ref);
		const now = stored();
		equal(now.length, before + 1, 'stored once');
		equal(now[0].id, ref);
		const rec = JSON.parse(run_age(d, ref));
		equal(rec.fields.message, 'Typed with the keyboard.\nSecond line.');
		equal(rec.fields.contact_time, 'evening');
	}],

	['mistakes come back beside their fields with the answers kept',
	    async () => {
		const before = stored().length;
		await page.goto(`${d.site}/forms/consultation`);
		// As a browser that does not check the form itself would send it.
		await page.evaluate(() => { document.forms[0].noValidate = true; });
		await page.getByLabel('Full name').fill('Test Patient <b>"Kept"</b>');
		await page.getByLabel('Email address').fill('not-an-address');
		await page.getByLabel('Phone number').fill('12');
		await page.getByLabel('Country').fill('India');
		await page.getByLabel('Condition').selectOption('hepatitis');
		await page.getByLabel('Your message').fill('Still here.');
		await page.locator('#f-consent').check();
		await Promise.all([page.waitForLoadState('load'),
		    page.getByRole('button', { name: 'Send my inquiry' }).click()]);
		equal(await page.title(), 'Please check your answers – ' +
		    'Free consultation');
		equal(await focused(), 'error-summary', 'focus on the summary');
		const summary = page.locator('#error-summary');
		ok((await summary.textContent()).includes('Email address'));
		ok((await summary.textContent()).includes('Phone number'));
		for (const [id, label] of [['email', 'Email address'],
		    ['phone', 'Phone number']]) {
			const input = page.getByLabel(label);
			equal(await input.getAttribute('aria-invalid'), 'true');
			ok((await input.getAttribute('aria-describedby'))
			    .includes(`e-${id}`));
			ok(await page.locator(`#e-${id}`).isVisible());
		}
		equal(await page.getByLabel('Full name').inputValue(),
		    'Test Patient <b>"Kept"</b>');
		equal(await page.getByLabel('Email address').inputValue(),
		    'not-an-address');
		equal(await page.getByLabel('Your message').inputValue(),
		    'Still here.');
		equal(await page.getByLabel('Condition').inputValue(), 'hepatitis');
		ok(await page.locator('#f-consent').isChecked());
		equal(await page.locator('b').count(), 0, 'markup stays text');
		// The summary's links take the patient to the field.
		await page.locator('#error-summary a').first().click();
		equal(await focused(), 'f-email');
		await fitsAPhone('the form with errors');
		await axe('form with errors');
		await page.screenshot({ path: join(SHOTS, 'errors-phone.png'),
		    fullPage: true });
		equal(stored().length, before, 'nothing stored');
		// Corrected, it goes through: the widget on this page solved a
		// challenge of its own.
		await solved();
		await page.getByLabel('Email address').fill(VALID.email);
		await page.getByLabel('Phone number').fill(VALID.phone);
		await Promise.all([page.waitForURL(/\/thanks\?ref=/),
		    page.getByRole('button', { name: 'Send my inquiry' }).click()]);
		equal(stored().length, before + 1);
	}],

	['an error page says what to do and passes axe', async () => {
		const r = await page.goto(`${d.site}/forms/no-such-form`);
		equal(r.status(), 404);
		equal(await page.locator('h1').textContent(),
		    'There is no form here');
		await fitsAPhone('the error page');
		await axe('error page');
	}],

	['nothing was loaded from elsewhere and nothing failed', async () => {
		same(seen.offsite, []);
		same(seen.pageErrors, []);
		// The console errors allowed: the browser's notes on the 422 and
		// the 404 the steps asked for.
		same(seen.consoleErrors.filter((m) =>
		    !/status of (404|422)/.test(m)), []);
	}],
];

/** The record of id, decrypted by the reference age tool. */
function run_age(daemon, id) {
	return execFileSync('age', ['-d', '-i', daemon.key],
	    { input: daemon.ctl('cat', id) }).toString();
}
