// fetch over HTTP/3 with a connection pool, against the JSON API of examples/h3-json-server.ts
// (started here on a free port). Run: node --import tsx examples/h3-fetch-client.ts
import { Http3Agent, fetchHttp3 } from '../lib/index.js';
import { startJsonApi } from './h3-json-server.js';

const { server, cert } = await startJsonApi();
const base = `https://localhost:${server.address.port}`;
// One pool for the whole program: one connection per origin, reused by every request.
const agent = new Http3Agent({ connect: { ca: cert } });

for (const title of ['post-quantum keys', 'HTTP/3']) {
  const res = await fetchHttp3(`${base}/todos`, {
    agent,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ title }),
  });
  console.log(res.status, res.headers.get('location'), await res.json());
}
const list = await fetchHttp3(`${base}/todos`, { agent });
console.log(list.status, list.statusText, await list.json());
console.log('connections opened:', agent.stats().connectionsOpened); // 1

await agent.close();
await server.close();
