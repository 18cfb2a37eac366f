#!/usr/bin/env node
// Checks docs/openapi.yaml against the running service, and prints TAP.
//
//   node openapi_check.mjs OPENAPI_YAML BASE_URL ACCOUNT [GATEWAY_TOKEN]
//
// 1. Static: every schema of the document compiles (Ajv, JSON Schema
//    2020-12, with formats); every response example validates against its
//    response schema; every request example the service accepts (or marked
//    x-body-valid: true) validates against the request schema, and every
//    one marked x-body-valid: false is refused by it.
// 2. Live: every request example with x-expect-status is sent to BASE_URL
//    (as the account ACCOUNT, in X-Consumer-Custom-ID as Kong sets it, and
//    with X-Gateway-Token when GATEWAY_TOKEN is given); the answer must have
//    the expected status, a status the operation documents, a Content-Type
//    it documents for that status, a body that validates against that
//    schema, every required response header (each valid against its
//    schema), the headers of x-expect-headers, and for a problem, instance
//    equal to X-Request-ID. The extensions are described in the document's
//    info.description.
// 3. The operations without request examples (/healthz, /readyz, /metrics)
//    are called once each and checked the same way.
// At the end, the documented (operation, status) pairs that no example
// exercised are listed as comments. Exits 1 when any test failed.
//
// TAP_START=N numbers the tests from N and leaves the plan line out (the
// caller prints it), so the output can be spliced into another TAP stream.
//
// The packages (yaml, ajv, ajv-formats) come from scripts/npm/node_modules
// (scripts/npm.sh installs them).
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../scripts/npm/package.json', import.meta.url));
const YAML = require('yaml');
const Ajv2020 = require('ajv/dist/2020.js').default;
const addFormats = require('ajv-formats').default;

const [docPath, baseUrlArg, account, gatewayToken] = process.argv.slice(2);
if (!docPath || !baseUrlArg || !account) {
	console.error('usage: node openapi_check.mjs OPENAPI_YAML BASE_URL ACCOUNT [GATEWAY_TOKEN]');
	process.exit(2);
}
const baseUrl = baseUrlArg.replace(/\/+$/, '');
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const DOC_ID = 'https://sms-orchestrator.invalid/openapi.json';
// The ids of the last 202 answers, for the placeholders {{lastMessageId}} and {{lastBulkId}}.
let lastMessageId = '00000000-0000-7000-8000-000000000000';
let lastBulkId = '00000000-0000-7000-8000-000000000000';

// {{now}}, {{now+90s}}, {{now-15m}}, {{now+1h@+02:00}}: an RFC 3339 time (whole
// seconds) relative to the moment the example is sent, in UTC ("Z") or at the
// given offset.
const UNIT_MS = { s: 1000, m: 60000, h: 3600000, d: 86400000 };
function relativeTime(_, sign, n, unit, osign, oh, om) {
	const ms = Math.floor((Date.now() + (sign ? (sign === '-' ? -1 : 1) * Number(n) * UNIT_MS[unit] : 0)) / 1000) * 1000;
	if (!osign) return `${new Date(ms).toISOString().slice(0, 19)}Z`;
	const off = (osign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
	return `${new Date(ms + off * 60000).toISOString().slice(0, 19)}${osign}${oh}:${om}`;
}

function resolvePlaceholders(s, uuid) {
	return String(s)
		.replace(/\{\{uuid\}\}/g, uuid)
		.replace(/\{\{account\}\}/g, account)
		.replace(/\{\{lastMessageId\}\}/g, lastMessageId)
		.replace(/\{\{lastBulkId\}\}/g, lastBulkId)
		.replace(/\{\{now(?:([+-])([0-9]+)([smhd]))?(?:@([+-])([0-9]{2}):([0-9]{2}))?\}\}/g, relativeTime);
}
// A JSON request body with the placeholders of its strings resolved.
function resolveValue(v, uuid) {
	if (typeof v === 'string') return resolvePlaceholders(v, uuid);
	if (Array.isArray(v)) return v.map((x) => resolveValue(x, uuid));
	if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolveValue(x, uuid)]));
	return v;
}

// ---- TAP -------------------------------------------------------------------
const tapStart = process.env.TAP_START ? Number(process.env.TAP_START) : 1;
let testNo = tapStart - 1;
let failures = 0;
function diag(text) {
	for (const line of String(text).split('\n')) console.log(`# ${line}`);
}
function report(pass, desc, diags = []) {
	testNo++;
	console.log(`${pass ? 'ok' : 'not ok'} ${testNo} - ${desc}`);
	if (!pass) {
		failures++;
		for (const d of diags) diag(`  ${d}`);
	}
}
function skip(desc, why) {
	testNo++;
	console.log(`ok ${testNo} - ${desc} # SKIP ${why}`);
}
const short = (s, n = 600) => (s.length > n ? `${s.slice(0, n)}... (${s.length} bytes)` : s);

// ---- The document and its schemas -----------------------------------------
let doc;
try {
	doc = YAML.parse(readFileSync(docPath, 'utf8'));
} catch (e) {
	report(false, `${docPath} parses as YAML`, [e.message]);
	finish();
}

function pointer(ptr) {
	let cur = doc;
	for (const raw of ptr.replace(/^#\//, '').split('/')) {
		const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
		if (cur === undefined || cur === null || !(key in cur)) throw new Error(`unresolvable $ref ${ptr}`);
		cur = cur[key];
	}
	return cur;
}
// Follows local $refs of non-schema objects (responses, parameters, headers, examples).
function deref(obj) {
	let seen = 0;
	while (obj && typeof obj === 'object' && typeof obj.$ref === 'string') {
		if (!obj.$ref.startsWith('#/') || ++seen > 20) throw new Error(`cannot follow $ref ${obj.$ref}`);
		obj = pointer(obj.$ref);
	}
	return obj;
}

const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, allowUnionTypes: true });
addFormats(ajv);
// The OpenAPI 3.1 base dialect's keywords besides JSON Schema 2020-12 (annotations here).
ajv.addVocabulary(['example', 'discriminator', 'xml', 'externalDocs']);
// The components become the $defs of one schema with the document's id; a
// "#/components/schemas/X" reference is rewritten to its $defs entry (inside
// that schema: "#/$defs/X"; from a schema elsewhere in the document:
// DOC_ID#/$defs/X).
function rebase(schema, prefix) {
	if (Array.isArray(schema)) return schema.map((s) => rebase(s, prefix));
	if (!schema || typeof schema !== 'object') return schema;
	const out = {};
	for (const [k, v] of Object.entries(schema)) {
		if (k === '$ref' && typeof v === 'string') {
			if (!v.startsWith('#/components/schemas/')) throw new Error(`unsupported $ref ${v} in a schema`);
			out[k] = `${prefix}#/$defs/${v.slice('#/components/schemas/'.length)}`;
		} else {
			out[k] = rebase(v, prefix);
		}
	}
	return out;
}
ajv.addSchema({ $id: DOC_ID, $defs: rebase(doc.components?.schemas ?? {}, '') });
const compiled = new WeakMap();
function validator(schema) {
	if (!compiled.has(schema)) compiled.set(schema, ajv.compile(rebase(schema, DOC_ID)));
	return compiled.get(schema);
}
function validate(schema, value) {
	const v = validator(schema);
	if (v(value)) return [];
	return v.errors.map((e) => `${e.instancePath || '(root)'} ${e.message}${e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''}`);
}

const mediaEssence = (ct) => (ct || '').split(';')[0].trim().toLowerCase();
const isJsonMedia = (mt) => mt === 'application/json' || mt.endsWith('+json');

function operations() {
	const ops = [];
	for (const [path, item] of Object.entries(doc.paths ?? {})) {
		for (const method of METHODS) {
			if (item[method]) ops.push({ path, method, op: item[method], pathItem: item, label: `${method.toUpperCase()} ${path}` });
		}
	}
	return ops;
}
const OPS = operations();

// ---- 1. Static checks -------------------------------------------------------
{
	const errors = [];
	for (const [name, schema] of Object.entries(doc.components?.schemas ?? {})) {
		try {
			ajv.getSchema(`${DOC_ID}#/$defs/${name}`) || errors.push(`${name}: not found`);
		} catch (e) {
			errors.push(`${name}: ${e.message}`);
		}
		void schema;
	}
	report(errors.length === 0, 'static: every schema of components.schemas compiles (JSON Schema 2020-12, strict)', errors);
}

function namedExamples(media) {
	const out = [];
	if (media.example !== undefined) out.push(['(example)', { value: media.example }]);
	for (const [name, ex] of Object.entries(media.examples ?? {})) out.push([name, deref(ex)]);
	return out;
}

for (const { op, label } of OPS) {
	for (const [status, resp0] of Object.entries(op.responses ?? {})) {
		const resp = deref(resp0);
		for (const [mt, media] of Object.entries(resp.content ?? {})) {
			for (const [name, ex] of namedExamples(media)) {
				if (ex.value === undefined) continue;
				let errs;
				try {
					errs = media.schema ? validate(media.schema, ex.value) : ['no schema'];
				} catch (e) {
					errs = [e.message];
				}
				report(errs.length === 0, `static: ${label} ${status} ${mt} example '${name}' matches its schema`, errs);
			}
		}
	}
	const media = deref(op.requestBody)?.content?.['application/json'];
	if (media?.schema) {
		for (const [name, ex] of namedExamples(media)) {
			const expectStatus = ex['x-expect-status'];
			let want = ex['x-body-valid'];
			if (want === undefined && expectStatus >= 200 && expectStatus < 300) want = true;
			if (want === undefined || typeof ex.value === 'string') continue;
			let errs;
			try {
				errs = validate(media.schema, resolveValue(ex.value, ''));
			} catch (e) {
				errs = [e.message];
			}
			if (want) report(errs.length === 0, `static: ${label} request example '${name}' is valid against the request schema`, errs);
			else report(errs.length > 0, `static: ${label} request example '${name}' is refused by the request schema, as the service refuses it`,
				['the schema accepts this body, so it is looser than the service']);
		}
	}
}

// ---- 2 and 3. Live checks ---------------------------------------------------
const exercised = new Set();

// The request one example makes: {method, url, headers, body}.
function buildRequest(o, ex, paramName, headers, uuid = '') {
	const method = (ex['x-method'] || o.method).toUpperCase();
	let path = o.path;
	if (paramName) path = path.replace(`{${paramName}}`, encodeURIComponent(resolvePlaceholders(ex.value, '')));
	let body;
	if (!paramName && ex.value !== undefined && method !== 'GET' && method !== 'HEAD') {
		body = typeof ex.value === 'string' ? ex.value : JSON.stringify(resolveValue(ex.value, uuid));
		const padTo = ex['x-pad-to-bytes'];
		if (padTo && Buffer.byteLength(body) < padTo) body += ' '.repeat(padTo - Buffer.byteLength(body));
	}
	return { method, url: baseUrl + path, headers, body };
}

function requestHeaders(o, ex, uuid, hasBody) {
	const h = new Map(); // lower-case name -> [name, value]
	const set = (k, v) => h.set(k.toLowerCase(), [k, v]);
	if (o.path.startsWith('/v1/')) {
		if (!ex['x-no-account']) set('X-Consumer-Custom-ID', account);
		if (gatewayToken) set('X-Gateway-Token', gatewayToken);
	}
	if (hasBody) set('Content-Type', ex['x-content-type'] || 'application/json');
	for (const [k, v] of Object.entries(ex['x-headers'] ?? {})) set(k, resolvePlaceholders(v, uuid));
	return Object.fromEntries([...h.values()]);
}

async function send(req) {
	const res = await fetch(req.url, {
		method: req.method,
		headers: req.headers,
		body: req.body,
		redirect: 'manual',
		signal: AbortSignal.timeout(20000),
	});
	const text = await res.text();
	return { status: res.status, headers: res.headers, text };
}

function noteMessageId(answer) {
	if (answer.status !== 202) return;
	try {
		const b = JSON.parse(answer.text);
		if (typeof b.bulkId === 'string') lastBulkId = b.bulkId;
		if (typeof b.messageId === 'string') lastMessageId = b.messageId;
		else for (const r of b.results ?? []) if (typeof r.messageId === 'string') lastMessageId = r.messageId;
	} catch {
		/* checked elsewhere */
	}
}

function documentedResponse(op, status) {
	const r = op.responses ?? {};
	const key = [String(status), `${String(status)[0]}XX`, 'default'].find((k) => k in r);
	return key ? { key, resp: deref(r[key]) } : null;
}

// Checks an answer against what the operation documents; returns failure texts.
function checkAnswer(o, answer, expectHeaders, uuid) {
	const errs = [];
	const found = documentedResponse(o.op, answer.status);
	if (!found) return [`status ${answer.status} is not documented for ${o.label}`];
	exercised.add(`${o.label} ${found.key}`);
	const { resp } = found;
	const ct = answer.headers.get('content-type');
	const content = resp.content ?? {};
	if (Object.keys(content).length) {
		const mt = mediaEssence(ct);
		const media = content[mt];
		if (!media) {
			errs.push(`Content-Type '${ct}' is not documented for ${answer.status} (documented: ${Object.keys(content).join(', ')})`);
		} else if (media.schema) {
			let value = answer.text;
			let parsed = true;
			if (isJsonMedia(mt)) {
				try {
					value = JSON.parse(answer.text);
				} catch (e) {
					parsed = false;
					errs.push(`the body is not JSON: ${e.message}`);
				}
			}
			if (parsed) {
				for (const e of validate(media.schema, value)) errs.push(`body ${e}`);
				if (mt === 'application/problem+json' && value && value.instance !== answer.headers.get('x-request-id'))
					errs.push(`problem instance '${value.instance}' is not the X-Request-ID '${answer.headers.get('x-request-id')}'`);
			}
		}
	} else if (answer.text.length) {
		errs.push(`a body, but ${answer.status} documents none`);
	}
	for (const [name, h0] of Object.entries(resp.headers ?? {})) {
		const h = deref(h0);
		const v = answer.headers.get(name);
		if (v === null) {
			if (h.required) errs.push(`required response header ${name} is missing`);
			continue;
		}
		if (h.schema) for (const e of validate(h.schema, v)) errs.push(`header ${name}: '${v}' ${e}`);
	}
	for (const [name, want] of Object.entries(expectHeaders ?? {})) {
		const w = resolvePlaceholders(want, uuid);
		const v = answer.headers.get(name);
		if (v !== w) errs.push(`header ${name} is '${v}', expected '${w}'`);
	}
	return errs;
}

function answerDiags(req, answer) {
	const hdrs = [...answer.headers.entries()].filter(([k]) => !['date', 'content-length', 'connection', 'keep-alive'].includes(k));
	return [
		`request: ${req.method} ${req.url} ${JSON.stringify(Object.fromEntries(Object.entries(req.headers)))}`,
		...(req.body !== undefined ? [`request body: ${short(req.body.trimEnd(), 300)}`] : []),
		`answer: ${answer.status} ${hdrs.map(([k, v]) => `${k}: ${v}`).join(' | ')}`,
		`answer body: ${short(answer.text)}`,
	];
}

// Every example of an operation, with the parameter it belongs to (GET) or none (request body).
function liveExamples(o) {
	const out = [];
	const media = deref(o.op.requestBody)?.content?.['application/json'];
	for (const [name, ex] of Object.entries(media?.examples ?? {})) out.push({ name, ex: deref(ex), param: null });
	for (const p0 of [...(o.pathItem.parameters ?? []), ...(o.op.parameters ?? [])]) {
		const p = deref(p0);
		if (p.in !== 'path') continue;
		for (const [name, ex] of Object.entries(p.examples ?? {})) out.push({ name, ex: deref(ex), param: p.name });
	}
	return out;
}

// The example x-send-first names: "name" (of the same operation) or
// "operationId/name" (of another operation, sent with its own headers).
function firstExample(o, all, ref) {
	const slash = ref.indexOf('/');
	if (slash < 0) {
		const e = all.find((x) => x.name === ref);
		return e && { o, e, sameOp: true };
	}
	const other = OPS.find((x) => x.op.operationId === ref.slice(0, slash));
	const e = other && liveExamples(other).find((x) => x.name === ref.slice(slash + 1));
	return e && { o: other, e, sameOp: false };
}
const hasBodyFor = (o, e) => !e.param && !['GET', 'HEAD'].includes((e.ex['x-method'] || o.method).toUpperCase());

async function runExample(o, all, { name, ex, param }) {
	const desc = `${o.label} example '${name}' answers ${ex['x-expect-status']}`;
	if (ex['x-needs-gateway-token'] && !gatewayToken) return skip(desc, 'no GATEWAY_TOKEN given (the service does not require one)');
	const uuid = randomUUID();
	const diags = [];
	try {
		const headers = requestHeaders(o, ex, uuid, hasBodyFor(o, { ex, param }));
		if (ex['x-send-first']) {
			const first = firstExample(o, all, ex['x-send-first']);
			if (!first)
				return report(false, desc, [`x-send-first names '${ex['x-send-first']}', which is neither an example of ${o.label} nor operationId/example of the document`]);
			const fheaders = first.sameOp ? headers : requestHeaders(first.o, first.e.ex, uuid, hasBodyFor(first.o, first.e));
			const freq = buildRequest(first.o, first.e.ex, first.e.param, fheaders, uuid);
			const fans = await send(freq);
			noteMessageId(fans);
			const want = first.e.ex['x-expect-status'];
			if (want !== undefined && fans.status !== want)
				diags.push(`the first request (example '${ex['x-send-first']}') answered ${fans.status}, expected ${want}`, ...answerDiags(freq, fans));
		}
		if (ex['x-wait-for-status']) {
			// Poll the message the first request made until it is in that state, x-wait-ms at most:
			// a fixed sleep was too short on a loaded 2-core machine.
			const deadline = Date.now() + (ex['x-wait-ms'] || 10000);
			let st;
			while (Date.now() < deadline) {
				const g = await send({ method: 'GET', url: `${baseUrl}/v1/sms/${lastMessageId}`,
					headers: { 'X-Consumer-Custom-ID': account, ...(gatewayToken ? { 'X-Gateway-Token': gatewayToken } : {}) } });
				try { st = JSON.parse(g.text).status; } catch { st = undefined; }
				if (st === ex['x-wait-for-status']) break;
				await new Promise((r) => setTimeout(r, 100));
			}
			if (st !== ex['x-wait-for-status'])
				diags.push(`the first request's message is ${st}, not ${ex['x-wait-for-status']}, after ${ex['x-wait-ms'] || 10000} ms`);
		} else if (ex['x-wait-ms']) await new Promise((r) => setTimeout(r, ex['x-wait-ms']));
		const req = buildRequest(o, ex, param, headers, uuid);
		const answer = await send(req);
		noteMessageId(answer);
		if (answer.status !== ex['x-expect-status']) diags.push(`status ${answer.status}, expected ${ex['x-expect-status']}`);
		diags.push(...checkAnswer(o, answer, ex['x-expect-headers'], uuid));
		report(diags.length === 0, desc, diags.length ? [...diags, ...answerDiags(req, answer)] : []);
	} catch (e) {
		report(false, desc, [...diags, `request failed: ${e.cause?.message || e.message}`]);
	}
}

for (const o of OPS) {
	const all = liveExamples(o);
	const live = all.filter((e) => e.ex['x-expect-status'] !== undefined);
	if (all.length === 0) {
		// 3. An operation without request examples: call it once as documented.
		const desc = `${o.label} answers as documented`;
		try {
			const req = { method: o.method.toUpperCase(), url: baseUrl + o.path, headers: {}, body: undefined };
			const answer = await send(req);
			const errs = checkAnswer(o, answer, null, '');
			report(errs.length === 0, `${desc} (${answer.status})`, errs.length ? [...errs, ...answerDiags(req, answer)] : []);
		} catch (e) {
			report(false, desc, [`request failed: ${e.cause?.message || e.message}`]);
		}
		if (o.op.responses?.['405']) {
			// Another method than the one of the path: the documented 405 with Allow.
			const method = o.method === 'post' ? 'GET' : 'POST';
			const desc405 = `${method} ${o.path} answers 405 as ${o.label} documents`;
			try {
				const req = { method, url: baseUrl + o.path, headers: {}, body: undefined };
				const answer = await send(req);
				const errs = answer.status === 405 ? checkAnswer(o, answer, null, '') : [`status ${answer.status}, expected 405`];
				report(errs.length === 0, desc405, errs.length ? [...errs, ...answerDiags(req, answer)] : []);
			} catch (e) {
				report(false, desc405, [`request failed: ${e.cause?.message || e.message}`]);
			}
		}
		continue;
	}
	for (const e of live) await runExample(o, all, e);
}

// ---- Coverage ---------------------------------------------------------------
const missing = [];
for (const { op, label } of OPS) {
	for (const [status, r0] of Object.entries(op.responses ?? {})) {
		if (exercised.has(`${label} ${status}`)) continue;
		const r = deref(r0);
		const byKong = r['x-produced-by'] === 'kong' || Object.values(r.content ?? {}).every((m) => m['x-produced-by'] === 'kong');
		missing.push(`${label} ${status}${byKong ? ' (answered by Kong, not by the service)' : ''}`);
	}
}
diag(`documented (operation, status) pairs no example exercised: ${missing.length}`);
for (const m of missing) diag(`  ${m}`);
finish();

function finish() {
	if (!process.env.TAP_START) console.log(`1..${testNo}`);
	process.exit(failures ? 1 : 0);
}
