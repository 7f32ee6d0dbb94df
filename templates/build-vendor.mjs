// Bundles what the inbox page needs of age-encryption into one ES module,
// DIR/age.js, and writes DIR/LICENSES.txt for every package in it.
// A bundle because age-encryption's dist imports its dependencies by bare
// specifiers ("@noble/ciphers/chacha.js"), which a browser resolves only
// through an import map, and the inbox's CSP allows no inline one.
// Usage: node templates/build-vendor.mjs DIR
import { build } from 'esbuild';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) {
	console.error('usage: build-vendor.mjs DIR');
	process.exit(2);
}
mkdirSync(out, { recursive: true });

// bech32 turns the identity into the raw scalar that Web Crypto imports
// as a non-extractable key (app.js).
const entry = `export { Decrypter, identityToRecipient } from "age-encryption";
export { bech32 } from "@scure/base";
`;

const result = await build({
	absWorkingDir: here,
	stdin: { contents: entry, resolveDir: here, sourcefile: 'age-entry.mjs' },
	bundle: true,
	format: 'esm',
	target: 'es2022',
	outfile: resolve(out, 'age.js'),
	metafile: true,
	legalComments: 'eof',
	banner: { js: '/* age-encryption and its dependencies, bundled by ' +
	    'templates/build-vendor.mjs; licences in LICENSES.txt. */' },
	logLevel: 'warning',
});

// The package a bundled file came from: its last node_modules/NAME part.
const roots = new Set();
for (const path of Object.keys(result.metafile.inputs)) {
	const m = path.match(/^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//);
	if (m)
		roots.add(m[1]);
}
const notices = [...roots].sort().map((root) => {
	const dir = join(here, root);
	const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
	const file = ['LICENSE', 'LICENSE.md', 'LICENSE.txt']
	    .map((f) => join(dir, f)).find((f) => existsSync(f));
	const text = file ? readFileSync(file, 'utf8').trim() :
	    `(no licence file; package.json says ${pkg.license})`;
	return `${pkg.name} ${pkg.version} (${pkg.license})\n\n${text}\n`;
});
writeFileSync(join(out, 'LICENSES.txt'), 'The packages bundled into ' +
    'age.js.\n\n' + notices.join('\n' + '-'.repeat(72) + '\n\n'));
