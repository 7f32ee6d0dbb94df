// altcha-lib 2.8.0's v1 API (the reference server library) on one side of
// the ALTCHA interop test (test_altcha_interop.py); altcha_tool is ours.
// Prints one JSON object:
//   solve KEY            (a challenge's JSON on stdin) solves it and says
//                        whether altcha-lib itself accepts the solution
//   create KEY MAX EXP   makes a challenge expiring at EXP (Unix seconds),
//                        and solves it
// Each answer carries the payload as altcha-lib builds it and as the
// altcha 3.x widget does (with "took", its solving time).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', '..', 'templates',
    'package.json'));
const v1 = require('altcha-lib/v1');

function payloads(c, solution) {
	const p = { algorithm: c.algorithm, challenge: c.challenge,
	    number: solution.number, salt: c.salt, signature: c.signature };
	return {
		payload: btoa(JSON.stringify(p)),
		widget: btoa(JSON.stringify({ ...p, took: solution.took + 0.5 })),
	};
}

async function solved(c, key) {
	const { promise } = v1.solveChallenge(c.challenge, c.salt, c.algorithm,
	    c.maxnumber);
	const solution = await promise;
	if (!solution)
		throw new Error('altcha-lib found no solution');
	const out = payloads(c, solution);
	out.number = solution.number;
	out.lib_verifies = await v1.verifySolution(out.payload, key);
	return out;
}

const [cmd, key, max, exp] = process.argv.slice(2);
let out;
if (cmd === 'solve' && key) {
	out = await solved(JSON.parse(readFileSync(0, 'utf8')), key);
} else if (cmd === 'create' && exp) {
	const c = await v1.createChallenge({ hmacKey: key,
	    maxNumber: Number(max), expires: new Date(Number(exp) * 1000) });
	out = await solved(c, key);
	out.challenge = c;
} else {
	console.error('usage: altcha_interop.mjs solve KEY | create KEY MAX EXP');
	process.exit(2);
}
console.log(JSON.stringify(out));
