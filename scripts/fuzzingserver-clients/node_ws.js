// Autobahn fuzzingserver driver for Node's `ws`, as its own test/autobahn client does: echo
// every message of every case (permessage-deflate on, ws's client default), then ask for the
// reports.   usage: node node_ws.js ws://127.0.0.1:9001 AGENT
'use strict';
const WebSocket = require('ws');
const [server, agent] = process.argv.slice(2);

function caseCount() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${server}/getCaseCount`);
    ws.on('message', (data) => resolve(JSON.parse(data)));
    ws.on('error', reject);
  });
}

function runCase(n) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${server}/runCase?case=${n}&agent=${encodeURIComponent(agent)}`, {
      maxPayload: 2 ** 25,
    });
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('close', resolve);
    ws.on('error', () => {});
  });
}

function updateReports() {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${server}/updateReports?agent=${encodeURIComponent(agent)}`);
    ws.on('close', resolve);
    ws.on('error', resolve);
  });
}

(async () => {
  const count = await caseCount();
  for (let n = 1; n <= count; n++) await runCase(n);
  await updateReports();
})();
