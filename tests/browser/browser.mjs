// What the browser tests share: Debian's chromium launched the way that
// works on these machines, a context that may load nothing from a third
// party, a page whose errors are kept, and axe-core's WCAG 2.1 A/AA rules.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT } from './daemon.mjs';

const require = createRequire(join(ROOT, 'templates', 'package.json'));
const { chromium } = require('playwright-core');
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

// The flags that work on these machines (NOTES.md); playwright adds
// --headless and a fresh --user-data-dir of its own for every launch.
// It never downloads a browser: the executable is Debian's.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'];

export function launch() {
	return chromium.launch({ executablePath: '/usr/bin/chromium',
	    args: CHROMIUM_ARGS, timeout: 30000 });
}

/** Aborts, and lists in offsite, every request context makes that is not
    to origin: a page must load nothing from elsewhere. */
export async function onlyFrom(context, origin, offsite) {
	await context.route('**/*', (route) => {
		const url = route.request().url();
		if (url.startsWith(origin + '/'))
			return route.continue();
		offsite.push(url);
		return route.abort();
	});
}

/** A new page of context whose console errors and uncaught exceptions
    go to seen.consoleErrors and seen.pageErrors. */
export async function watchedPage(context, seen) {
	const page = await context.newPage();
	page.setDefaultTimeout(10000);
	page.on('console', (m) => {
		if (m.type() === 'error')
			seen.consoleErrors.push(m.text());
	});
	page.on('pageerror', (e) => seen.pageErrors.push(String(e)));
	return page;
}

/** axe-core on page as it is now: the WCAG 2.1 A/AA violations, each as
    "rule (impact): targets", and the number of rules that passed. */
export async function axe(page) {
	await page.evaluate(AXE);
	const r = await page.evaluate((tags) => window.axe.run(document,
	    { runOnly: { type: 'tag', values: tags } }), AXE_TAGS);
	return { violations: r.violations.map((v) => `${v.id} (${v.impact}): ` +
	    v.nodes.map((n) => n.target.join(' ')).join('; ')),
	    passes: r.passes.length };
}
