// The built intaked for the browser tests, started for real on loopback
// the way tests/integration/harness.py does it: a temp directory, a key
// from age-keygen, a Maildir for mail, the admin listener serving
// build/inbox. Every wait is bounded.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BUILD = resolve(ROOT, process.env.INTAKE_BUILD || 'build');
const SCHEMA = join(ROOT, 'config', 'forms', 'consultation.schema.json');

export const VALID = {
	name: 'Test Patient',
	email: 'patient@example.com',
	phone: '+91 00000 00000',
	country: 'India',
	condition: 'liver-cirrhosis',
	message: 'Line one.\nLine two.',
	contact_time: 'morning',
	consent: true,
};

function run(argv, input, timeout = 20000) {
	const p = spawnSync(argv[0], argv.slice(1), { input, timeout });
	if (p.error)
		throw p.error;
	return p;
}

/** A new age identity at path (age-keygen); returns its recipient. */
export function ageKeygen(path) {
	run(['age-keygen', '-o', path]);
	return run(['age-keygen', '-y', path]).stdout.toString().trim();
}

/** bytes encrypted to recipient by the reference age tool. */
export function ageEncrypt(recipient, bytes) {
	const p = run(['age', '-r', recipient], bytes);
	if (p.status !== 0)
		throw new Error(`age -r: ${p.stderr}`);
	return p.stdout;
}

function freePort() {
	return new Promise((ok, fail) => {
		const s = createServer();
		s.on('error', fail);
		s.listen(0, '127.0.0.1', () => {
			const { port } = s.address();
			s.close(() => ok(port));
		});
	});
}

function connects(port) {
	return new Promise((ok) => {
		const c = createConnection({ host: '127.0.0.1', port });
		c.setTimeout(200);
		c.on('connect', () => {
			c.destroy();
			ok(true);
		});
		c.on('error', () => ok(false));
		c.on('timeout', () => {
			c.destroy();
			ok(false);
		});
	});
}

export class Daemon {
	/** Starts intaked with limits (lines of [limits]) and form (more
	    lines of [form consultation]) and waits until both its listeners
	    accept connections. */
	static async start({ limits = '', form = '' } = {}) {
		const d = new Daemon();
		d.dir = mkdtempSync(join(tmpdir(), 'intaked-browser-'));
		d.port = await freePort();
		d.adminPort = await freePort();
		d.key = join(d.dir, 'staff.key');
		d.recipient = ageKeygen(d.key);
		// A label with markup in it: the page must show it as text.
		d.label = 'Dr <b>Example</b>';
		writeFileSync(join(d.dir, 'staff.recipients'),
		    `# staff key for tests\n# label: ${d.label}\n${d.recipient}\n`);
		d.config = join(d.dir, 'intaked.conf');
		// As StateDirectory= would: intaked never makes a configured one.
		mkdirSync(join(d.dir, 'state'), { mode: 0o700 });
		writeFileSync(d.config, [
			'[server]', `listen = 127.0.0.1:${d.port}`,
			`templates = ${ROOT}/templates`, `public_files = ${BUILD}/public`,
			'[limits]', limits,
			'[storage]', `path = ${d.dir}/state/intake.db`,
			'[crypto]', 'recipients_file = staff.recipients',
			'[mail]', 'transport = maildir', `maildir = ${d.dir}/mail`,
			'from = intaked@example.com', 'to = staff@example.com',
			'content = summary',
			'[admin]', `listen = 127.0.0.1:${d.adminPort}`,
			`root = ${BUILD}/inbox`,
			'[form consultation]', `schema = ${SCHEMA}`,
			'honeypot = website', 'reply_to = email',
			'attachments = application/pdf image/jpeg image/png', form, '',
		].join('\n'));
		d.logPath = join(d.dir, 'intaked.log');
		const log = openSync(d.logPath, 'a');
		d.proc = spawn(join(BUILD, 'intaked'), ['-c', d.config],
		    { stdio: ['ignore', log, log] });
		d.exited = new Promise((ok) => d.proc.on('exit',
		    (code, signal) => ok({ code, signal })));
		await d.waitListening(15000);
		return d;
	}

	async waitListening(ms) {
		const deadline = Date.now() + ms;
		let gone = false;
		this.exited.then(() => { gone = true; });
		for (;;) {
			if (gone)
				throw new Error(`intaked exited:\n${this.log()}`);
			if (await connects(this.port) && await connects(this.adminPort))
				return;
			if (Date.now() > deadline)
				throw new Error(`intaked did not listen in ${ms} ms:\n` +
				    this.log());
			await new Promise((ok) => setTimeout(ok, 50));
		}
	}

	log() {
		try {
			return readFileSync(this.logPath, 'utf8').slice(-4000);
		} catch {
			return '';
		}
	}

	get site() {
		return `http://127.0.0.1:${this.port}`;
	}

	get inbox() {
		return `http://127.0.0.1:${this.adminPort}/inbox/`;
	}

	/** POSTs the form as JSON (VALID with over); asserts 201; the id. */
	async submit(over = {}) {
		const r = await fetch(`http://127.0.0.1:${this.port}/forms/consultation`, {
			method: 'POST',
			headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify({ ...VALID, ...over }),
			signal: AbortSignal.timeout(10000),
		});
		const text = await r.text();
		if (r.status !== 201)
			throw new Error(`submit: ${r.status} ${text}`);
		return JSON.parse(text).id;
	}

	/** intakectl -c CONFIG args…: its stdout (a Buffer); fails on an error. */
	ctl(...args) {
		const p = run([join(BUILD, 'intakectl'), '-c', this.config, ...args]);
		if (p.status !== 0)
			throw new Error(`intakectl ${args.join(' ')}: ${p.stderr}`);
		return p.stdout;
	}

	/** Runs SQL on the daemon's database with the sqlite3 tool. */
	sql(statement) {
		const p = run(['sqlite3', join(this.dir, 'state', 'intake.db'),
		    statement]);
		if (p.status !== 0)
			throw new Error(`sqlite3: ${p.stderr}`);
	}

	audit() {
		return JSON.parse(this.ctl('audit', '--json').toString());
	}

	/** SIGTERM and a clean exit within 20 s; then the directory goes. */
	async stop() {
		if (this.proc.exitCode === null && this.proc.signalCode === null)
			this.proc.kill('SIGTERM');
		let timer;
		const late = new Promise((ok) => {
			timer = setTimeout(() => ok(null), 20000);
		});
		const how = await Promise.race([this.exited, late]);
		clearTimeout(timer);
		if (how === null)
			this.proc.kill('SIGKILL');
		const log = this.log();
		rmSync(this.dir, { recursive: true, force: true });
		if (how === null || how.code !== 0)
			throw new Error(`intaked did not stop cleanly (${JSON.stringify(
			    how)}):\n${log}`);
	}
}
