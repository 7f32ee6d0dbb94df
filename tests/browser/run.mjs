// Runs the steps of tests/browser/*.test.mjs in order, each with a time
// limit, and prints one line per step and a closing
// "browser: N passed, N failed" line; INTAKE_RESULTS gets "N N" for
// tests/summary.sh. Exit status 1 on any failure.
//
// A test file exports `steps` ([name, async fn] pairs, run in order and
// sharing state: after a failure the rest are counted as failed, not
// run), and optionally `setup` and `teardown`.
//
// Usage: node tests/browser/run.mjs [PATTERN...]  (substrings of file names)
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const LIMIT_MS = Number(process.env.INTAKE_TEST_TIMEOUT || 120) * 1000;
const results = process.env.INTAKE_RESULTS;

function within(ms, what, promise) {
	let timer;
	const late = new Promise((_, reject) => {
		timer = setTimeout(() => reject(new Error(
		    `${what} exceeded ${ms / 1000} s`)), ms);
	});
	return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function runFile(file, counts) {
	const mod = await import(join(here, file));
	let broken = null;
	try {
		if (mod.setup)
			await within(LIMIT_MS, `${file} setup`, mod.setup());
	} catch (e) {
		broken = `setup failed: ${e.message}`;
		console.log(`FAIL ${file}::setup: ${e.stack || e}`);
	}
	for (const [name, fn] of mod.steps) {
		const full = `${file}::${name}`;
		if (broken) {
			counts.failed.push(full);
			console.log(`FAIL ${full}: not run (${broken})`);
			continue;
		}
		const t0 = performance.now();
		try {
			await within(LIMIT_MS, name, fn());
			counts.passed++;
			console.log(`PASS ${full} (${((performance.now() - t0) / 1000)
			    .toFixed(1)}s)`);
		} catch (e) {
			counts.failed.push(full);
			broken = `after "${name}" failed`;
			console.log(`FAIL ${full}: ${e.stack || e}`);
		}
	}
	if (mod.teardown) {
		try {
			await within(LIMIT_MS, `${file} teardown`, mod.teardown(
			    counts.failed.length > 0));
		} catch (e) {
			counts.failed.push(`${file}::teardown`);
			console.log(`FAIL ${file}::teardown: ${e.stack || e}`);
		}
	}
}

async function main() {
	if (results)
		rmSync(results, { force: true });
	const filters = process.argv.slice(2);
	const files = readdirSync(here).filter((f) => f.endsWith('.test.mjs'))
	    .filter((f) => filters.length === 0 || filters.some(
	    (p) => f.includes(p))).sort();
	const counts = { passed: 0, failed: [] };
	for (const f of files)
		await runFile(f, counts);
	if (counts.failed.length)
		console.log('failed: ' + counts.failed.join(', '));
	console.log(`browser: ${counts.passed} passed, ${counts.failed.length} ` +
	    'failed');
	if (results)
		writeFileSync(results, `${counts.passed} ${counts.failed.length}\n`);
	return counts.failed.length || counts.passed === 0 ? 1 : 0;
}

process.exitCode = await main();
