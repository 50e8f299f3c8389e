// Counts the flows Chrome's own trace engine (npm @paulirish/trace_engine: the DevTools Performance
// panel's model) binds in a Chrome JSON trace, e.g. one that WEFT_TRACE wrote.
// Usage: node count_flows.mjs <trace.json>
// Prints one JSON object: {"engine": version, "events", "flows": flow ids in the file (distinct
// cat/name/id of "s"/"f" events), "bound": flows the engine bound (a group whose start and end are
// both trace events), "unbound": [first few flows not bound], "engine_flows": groups the engine
// made}. Exits 1 if the file does not parse or the engine throws; 0 otherwise (the caller judges
// the counts). Install the engine with `npm ci --prefix tests/tools/trace_engine`.
import fs from 'node:fs';
import {createRequire} from 'node:module';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

function die(msg) {
  process.stderr.write(`count_flows: ${msg}\n`);
  process.exit(1);
}

const file = process.argv[2];
if (!file) die('usage: node count_flows.mjs <trace.json>');

let Trace, polyfillDOMRect, version;
try {
  // analyze-trace.mjs is the package's own runnable example: it exports the DOMRect polyfill the
  // engine needs outside a browser.
  Trace = await import('@paulirish/trace_engine');
  ({polyfillDOMRect} = await import('@paulirish/trace_engine/analyze-trace.mjs'));
  version = createRequire(import.meta.url)('@paulirish/trace_engine/package.json').version;
} catch (e) {
  die(`cannot load @paulirish/trace_engine (${e.message.split('\n')[0]}); ` +
      `install it with: npm ci --prefix ${path.relative(process.cwd(), here) || '.'}`);
}

let events;
try {
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  events = Array.isArray(json) ? json : json.traceEvents;
  if (!Array.isArray(events)) throw new Error('no traceEvents array');
} catch (e) {
  die(`${file}: ${e.message}`);
}

// The flows in the file, keyed the way the engine pairs a start with its end (category, name, id),
// with the binding tuple (ts, pid, tid, cat) of each end.
const key = (e) => JSON.stringify([e.cat, e.name, e.id]);
const tuple = (e) => JSON.stringify([e.ts, e.pid, e.tid, e.cat]);
const fileFlows = new Map();
for (const e of events) {
  if (e.ph !== 's' && e.ph !== 'f') continue;
  const f = fileFlows.get(key(e)) ?? {cat: e.cat, name: e.name, id: e.id};
  f[e.ph === 's' ? 'start' : 'end'] = e;
  fileFlows.set(key(e), f);
}

let parsed;
try {
  polyfillDOMRect();
  // The engine calls URL.parse (Node >= 20.18; Debian 12's Node is 18): the same, for Node 18.
  URL.parse ??= (url, base) => {
    try {
      return new URL(url, base);
    } catch {
      return null;
    }
  };
  // As DevTools does it: every handler (the Flows handler depends on none, but all of them must
  // accept the file), with the events as the file holds them. The engine keeps the events it is
  // handed; give it copies so the counts below see the file's own.
  const model = Trace.TraceModel.Model.createWithAllHandlers();
  await model.parse(structuredClone(events));
  parsed = model.parsedTrace();
  if (!parsed?.data?.Flows) throw new Error('no Flows data in the parsed trace');
} catch (e) {
  die(`the trace engine failed on ${file}: ${e.stack ?? e}`);
}

// parsedTrace.data.Flows.flows: one array per bound flow, the trace events it binds (a flow phase
// event binds to the first non-flow event with its ts, pid, tid and cat; groups with fewer than two
// events are dropped). A file flow is bound when one group holds both the event its start names and
// the event its end names.
const engineFlows = parsed.data.Flows.flows;
const groupsOf = new Map();  // binding tuple -> indices of the groups holding an event with it
engineFlows.forEach((group, i) => {
  if (group.length < 2) return;
  for (const e of group) {
    const t = tuple(e);
    if (!groupsOf.has(t)) groupsOf.set(t, new Set());
    groupsOf.get(t).add(i);
  }
});
let bound = 0;
const unbound = [];
for (const f of fileFlows.values()) {
  const a = f.start && groupsOf.get(tuple(f.start));
  const b = f.end && groupsOf.get(tuple(f.end));
  if (a && b && tuple(f.start) !== tuple(f.end) && [...a].some((i) => b.has(i))) {
    bound++;
  } else {
    unbound.push({cat: f.cat, name: f.name, id: f.id,
                  start: f.start ? {ts: f.start.ts, tid: f.start.tid} : null,
                  end: f.end ? {ts: f.end.ts, tid: f.end.tid} : null});
  }
}

process.stdout.write(JSON.stringify({
  engine: version,
  events: events.length,
  flows: fileFlows.size,
  bound,
  engine_flows: engineFlows.length,
  unbound_count: unbound.length,
  unbound: unbound.slice(0, 5),
}) + '\n');
