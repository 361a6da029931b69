// An open-loop load driver for `make bench`: requests leave at a fixed rate whether or not the
// earlier ones have been answered, and each request's latency is measured from the time it was
// scheduled to leave, so a server that falls behind shows its queue in the figures instead of
// slowing the driver down (wrk's closed loop hides it: coordinated omission).
//
//   node scripts/bench_openloop.mjs URL RATE SECONDS [--header "Name: value"]...
//        [--max-in-flight N] [--timeout SECONDS] [--method GET|POST]
//
// Bounded: at most --max-in-flight requests are open at once (the rest wait their turn, and
// their wait counts in their latency), and requests still open --timeout seconds after the
// last was scheduled count as timeouts. Prints one JSON object. Node's standard library only.
import http from "node:http";
import { performance } from "node:perf_hooks";

const [url, rateText, secondsText, ...rest] = process.argv.slice(2);
const rate = Number(rateText);
const seconds = Number(secondsText);
if (!url || !(rate > 0) || !(seconds > 0)) {
  console.error("usage: bench_openloop.mjs URL RATE SECONDS [--header 'N: v']... [--max-in-flight N] [--timeout S] [--method M]");
  process.exit(2);
}
const headers = {};
let maxInFlight = 256;
let timeoutSeconds = 10;
let method = "GET";
for (let i = 0; i < rest.length; i += 2) {
  const [flag, value] = [rest[i], rest[i + 1]];
  if (flag === "--header") {
    const at = value.indexOf(":");
    headers[value.slice(0, at).trim()] = value.slice(at + 1).trim();
  } else if (flag === "--max-in-flight") {
    maxInFlight = Number(value);
  } else if (flag === "--method") {
    method = value;
  } else if (flag === "--timeout") {
    timeoutSeconds = Number(value);
  } else {
    console.error(`unknown flag ${flag}`);
    process.exit(2);
  }
}

// gunicorn's sync workers close every connection after one answer: no keep-alive here either.
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
const total = Math.round(rate * seconds);
const interval = 1000 / rate;
const latencies = [];
const counts = { ok: 0, status: 0, errors: 0, timeouts: 0 };
const waiting = [];
let inFlight = 0;
let next = 0;
let finished = 0;
const start = performance.now() + 50;

function send(scheduled) {
  inFlight += 1;
  const request = http.request(url, { agent, headers, method }, (response) => {
    response.resume();
    response.on("end", () => done(scheduled, response.statusCode < 400 ? "ok" : "status"));
  });
  request.on("error", () => done(scheduled, "errors"));
  request.end();
}

function done(scheduled, outcome) {
  inFlight -= 1;
  finished += 1;
  counts[outcome] += 1;
  if (outcome !== "errors") latencies.push(performance.now() - scheduled);
  if (waiting.length && inFlight < maxInFlight) send(waiting.shift());
  if (finished === total) report();
}

function tick() {
  const now = performance.now();
  while (next < total && start + next * interval <= now) {
    const scheduled = start + next * interval;
    next += 1;
    if (inFlight < maxInFlight) send(scheduled);
    else waiting.push(scheduled);
  }
  if (next < total) setTimeout(tick, Math.max(0, start + next * interval - performance.now()));
}

let reported = false;
function report() {
  if (reported) return;
  reported = true;
  counts.timeouts = total - finished;
  latencies.sort((a, b) => a - b);
  const at = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] : null);
  const round = (x) => (x === null ? null : Math.round(x * 100) / 100);
  console.log(
    JSON.stringify({
      rate,
      seconds,
      requests: total,
      answered: latencies.length,
      ...counts,
      p50: round(at(50)),
      p90: round(at(90)),
      p95: round(at(95)),
      p99: round(at(99)),
      max: round(latencies.length ? latencies[latencies.length - 1] : null),
    }),
  );
  process.exit(0);
}

setTimeout(report, 50 + seconds * 1000 + timeoutSeconds * 1000).unref();
setTimeout(tick, 50);
