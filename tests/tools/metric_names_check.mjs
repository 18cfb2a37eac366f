#!/usr/bin/env node
// Checks the metric names of the alerting rules and of the Grafana dashboard
// against a real scrape of GET /metrics.
//
//   node metric_names_check.mjs check RULES_YML DASHBOARD_JSON SCRAPE_FILE ALLOWLIST
//   node metric_names_check.mjs names RULES_YML DASHBOARD_JSON
//   node metric_names_check.mjs dashboard-rules DASHBOARD_JSON
//   node metric_names_check.mjs alerts RULES_YML OPERATIONS_MD
//
// check: every PromQL expression of RULES_YML (expr of each recording rule
// and alert) and of DASHBOARD_JSON (every panel target's expr, every query
// variable) is read for the series names it selects, and each must be:
//   - a series the scrape exposes: the name of a counter or gauge family
//     (# TYPE lines), or NAME_bucket / NAME_sum / NAME_count of a histogram
//     family NAME (a bare histogram name is no series and fails);
//   - or a name recorded by RULES_YML (level:metric:operation, with colons);
//   - or listed in ALLOWLIST (one name a line, "#" starts a comment: say why).
// For a selector's label matchers, the label must be on a series of that name
// in the scrape (instance and job, which Prometheus adds, excepted) and, for
// = and != with a plain value, that value must be one the scrape shows; the
// labels of by/without/on/ignoring must be on a series the expression names.
// So the scrape must come from a serve that did some work (a label shows
// once its value was seen). Prints one line per problem; exit 1 when any.
// names: prints the names found (name TAB where), for a look at what is checked.
// dashboard-rules: prints a Prometheus rules file with one recording rule
// per dashboard expression (Grafana's variables replaced by plain values),
// so that promtool check rules parses them.
// alerts: every alert has severity critical or warning, a summary, a
// description and a runbook_url docs/operations.md#ANCHOR whose anchor is a
// heading of OPERATIONS_MD (GitHub's anchors); one line per problem, exit 1.
//
// The packages (yaml) come from scripts/npm/node_modules (scripts/npm.sh).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../scripts/npm/package.json', import.meta.url));
const YAML = require('yaml');

const TARGET_LABELS = new Set(['instance', 'job']);
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or',
	'unless', 'offset', 'inf', 'nan', 'atan2']);

// The expressions of a rules file: [{where, expr}], and the names it records.
function rulesExpressions(path) {
	const doc = YAML.parse(readFileSync(path, 'utf8'));
	const out = [], recorded = new Set();
	for (const g of doc.groups || []) {
		for (const r of g.rules || []) {
			if (r.record) recorded.add(r.record);
			out.push({ where: `${path}: ${r.record ? 'record ' + r.record : 'alert ' + r.alert}`, expr: String(r.expr) });
		}
	}
	return { out, recorded };
}

// Grafana's variables as plain values: $__rate_interval and friends a duration, the others a regex.
function grafanaPlain(expr) {
	return expr.replace(/\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}/g, '5m')
		.replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}?/g, '.*');
}

function dashboardExpressions(path) {
	const dash = JSON.parse(readFileSync(path, 'utf8'));
	const out = [];
	const walk = (panels) => {
		for (const p of panels || []) {
			for (const t of p.targets || []) {
				if (t.expr) out.push({ where: `${path}: panel "${p.title}" ${t.refId}`, expr: t.expr });
			}
			walk(p.panels);
		}
	};
	walk(dash.panels);
	for (const v of (dash.templating && dash.templating.list) || []) {
		if (v.type !== 'query') continue;
		const q = typeof v.query === 'string' ? v.query : v.query && v.query.query;
		// label_values(SELECTOR, label): the selector is PromQL, the label must be on it.
		const m = /^\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$/.exec(q || '');
		if (m) out.push({ where: `${path}: variable ${v.name}`, expr: m[1], groupLabels: [m[2]] });
		else if (q) out.push({ where: `${path}: variable ${v.name}`, expr: q });
	}
	return out;
}

// The selectors of one PromQL expression: [{name, matchers: [{label, op, value}]}], and the grouping labels.
function parseExpr(expr) {
	let s = grafanaPlain(expr);
	const selectors = [], grouping = [];
	// Label matchers first (their values may hold anything), then strings, ranges, grouping lists.
	const matcherBlocks = [];
	s = s.replace(/\{((?:[^{}"]|"(?:[^"\\]|\\.)*")*)\}/g, (_, body) => {
		matcherBlocks.push(body);
		return ` __MATCHERS${matcherBlocks.length - 1}__ `;
	});
	s = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ');
	s = s.replace(/\[[^\]]*\]/g, ' ');
	s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_, kw, list) => {
		for (const l of list.split(',').map((x) => x.trim()).filter(Boolean)) grouping.push(l);
		return ' ';
	});
	const tok = /(__MATCHERS(\d+)__)|(\d[\w.+-]*)|([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g;
	let m, last = null;
	while ((m = tok.exec(s))) {
		if (m[1]) {
			const matchers = parseMatchers(matcherBlocks[Number(m[2])]);
			if (last && s.slice(last.end, m.index).trim() === '') last.sel.matchers.push(...matchers);
			else {
				const nameM = matchers.find((x) => x.label === '__name__' && x.op === '=');
				selectors.push({ name: nameM ? nameM.value : null, matchers });
			}
			last = null;
			continue;
		}
		if (m[3]) { last = null; continue; }
		const name = m[4];
		if (m[5] || KEYWORDS.has(name.toLowerCase())) { last = null; continue; }
		const sel = { name, matchers: [] };
		selectors.push(sel);
		last = { sel, end: m.index + name.length };
	}
	return { selectors, grouping };
}

function parseMatchers(body) {
	const out = [];
	const re = /([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g;
	let m;
	while ((m = re.exec(body))) out.push({ label: m[1], op: m[2], value: m[3] });
	return out;
}

// The scrape: families by name with their type, and per series name its labels and their values.
function parseScrape(text) {
	const families = new Map(), series = new Map();
	for (const line of text.split('\n')) {
		let m = /^# TYPE ([A-Za-z_:][A-Za-z0-9_:]*) (\w+)/.exec(line);
		if (m) { families.set(m[1], m[2]); continue; }
		if (!line || line.startsWith('#')) continue;
		m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s/.exec(line);
		if (!m) continue;
		const labels = series.get(m[1]) || new Map();
		series.set(m[1], labels);
		for (const lm of parseMatchers(m[3] || '')) {
			if (!labels.has(lm.label)) labels.set(lm.label, new Set());
			labels.get(lm.label).add(lm.value.replace(/\\(.)/g, '$1'));
		}
	}
	return { families, series };
}

// Is NAME a series the scrape's families expose? Returns null when it is, else why not.
function exposed(name, families) {
	const t = families.get(name);
	if (t && t !== 'histogram' && t !== 'summary') return null;
	if (t) return `${name} is a ${t}: name its _bucket, _sum or _count series`;
	const base = name.replace(/_(bucket|sum|count)$/, '');
	const bt = base !== name ? families.get(base) : undefined;
	if (bt === 'histogram' || (bt === 'summary' && !name.endsWith('_bucket'))) return null;
	return `${name}: no such metric in /metrics`;
}

function readAllowlist(path) {
	const out = new Set();
	for (const line of readFileSync(path, 'utf8').split('\n')) {
		const name = line.replace(/#.*/, '').trim();
		if (name) out.add(name);
	}
	return out;
}

// GitHub's anchors of a Markdown file's headings (lower case, punctuation dropped, spaces to -, -N for repeats).
function anchors(md) {
	const out = new Set(), count = new Map();
	let fence = false;
	for (const line of md.split('\n')) {
		if (/^(```|~~~)/.test(line)) fence = !fence;
		const m = !fence && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
		if (!m) continue;
		const base = m[1].replace(/<[^>]*>/g, '').toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
		const n = count.get(base) || 0;
		count.set(base, n + 1);
		out.add(n ? `${base}-${n}` : base);
	}
	return out;
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'alerts' && args.length === 2) {
	const doc = YAML.parse(readFileSync(args[0], 'utf8'));
	const have = anchors(readFileSync(args[1], 'utf8'));
	const problems = [];
	let n = 0;
	for (const g of doc.groups || []) {
		for (const r of (g.rules || []).filter((x) => x.alert)) {
			n++;
			const sev = r.labels && r.labels.severity, a = r.annotations || {};
			if (sev !== 'critical' && sev !== 'warning') problems.push(`alert ${r.alert}: severity is ${sev} (critical or warning)`);
			for (const k of ['summary', 'description', 'runbook_url']) {
				if (!a[k] || !String(a[k]).trim()) problems.push(`alert ${r.alert}: no ${k} annotation`);
			}
			const m = /^docs\/operations\.md#(.+)$/.exec(a.runbook_url || '');
			if (a.runbook_url && !m) problems.push(`alert ${r.alert}: runbook_url ${a.runbook_url} is not docs/operations.md#ANCHOR`);
			else if (m && !have.has(m[1])) problems.push(`alert ${r.alert}: runbook_url anchor #${m[1]} is no heading of ${args[1]}`);
		}
	}
	for (const p of problems) console.log(p);
	console.error(`${n} alerts, ${problems.length} problems`);
	process.exit(problems.length || n === 0 ? 1 : 0);
} else if (mode === 'names' && args.length === 2) {
	const { out } = rulesExpressions(args[0]);
	for (const e of [...out, ...dashboardExpressions(args[1])]) {
		for (const s of parseExpr(e.expr).selectors) console.log(`${s.name}\t${e.where}`);
	}
} else if (mode === 'dashboard-rules' && args.length === 1) {
	const rules = dashboardExpressions(args[0]).map((e, i) => ({ record: `dashboard:expr_${i + 1}`, expr: grafanaPlain(e.expr) }));
	console.log(YAML.stringify({ groups: [{ name: 'dashboard-expressions', rules }] }));
} else if (mode === 'check' && args.length === 4) {
	const [rulesPath, dashPath, scrapePath, allowPath] = args;
	const { out: ruleExprs, recorded } = rulesExpressions(rulesPath);
	const exprs = [...ruleExprs, ...dashboardExpressions(dashPath)];
	const { families, series } = parseScrape(readFileSync(scrapePath, 'utf8'));
	const allow = readAllowlist(allowPath);
	const problems = [];
	let names = 0;
	for (const e of exprs) {
		const { selectors, grouping } = parseExpr(e.expr);
		const seen = [];
		for (const sel of selectors) {
			if (!sel.name) { problems.push(`${e.where}: a selector without a metric name`); continue; }
			names++;
			if (allow.has(sel.name)) continue;
			if (sel.name.includes(':')) {
				if (!recorded.has(sel.name)) problems.push(`${e.where}: ${sel.name} is recorded by no rule of ${rulesPath}`);
				continue;
			}
			const why = exposed(sel.name, families);
			if (why) { problems.push(`${e.where}: ${why}`); continue; }
			seen.push(sel.name);
			const labels = series.get(sel.name);
			for (const mt of sel.matchers) {
				if (TARGET_LABELS.has(mt.label) || mt.label === '__name__') continue;
				if (!labels) { problems.push(`${e.where}: ${sel.name} has no series in the scrape to check label ${mt.label} on (make the serve do more)`); continue; }
				if (!labels.has(mt.label)) { problems.push(`${e.where}: ${sel.name} has no label ${mt.label} (it has: ${[...labels.keys()].join(', ') || 'none'})`); continue; }
				if ((mt.op === '=' || mt.op === '!=') && !/[$*]/.test(mt.value) && !labels.get(mt.label).has(mt.value)) {
					problems.push(`${e.where}: ${sel.name}{${mt.label}="${mt.value}"}: no such value in the scrape (seen: ${[...labels.get(mt.label)].slice(0, 12).join(', ')})`);
				}
			}
		}
		for (const l of [...grouping, ...(e.groupLabels || [])]) {
			if (TARGET_LABELS.has(l) || seen.length === 0) continue;
			if (!seen.some((n) => series.get(n) && series.get(n).has(l))) {
				problems.push(`${e.where}: grouping label ${l} is on no series of ${seen.join(', ')}`);
			}
		}
	}
	for (const p of problems) console.log(p);
	console.error(`${exprs.length} expressions, ${names} series names, ${problems.length} problems`);
	process.exit(problems.length ? 1 : 0);
} else {
	console.error('usage: metric_names_check.mjs check RULES DASHBOARD SCRAPE ALLOWLIST | names RULES DASHBOARD | dashboard-rules DASHBOARD');
	process.exit(2);
}
