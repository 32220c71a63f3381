// A small HTTP/3 JSON API: GET /todos lists, POST /todos adds (JSON body), GET /todos/:id reads.
// Run: node --import tsx examples/h3-json-server.ts   (port 4433, or $PORT; Ctrl-C stops it; examples/h3-fetch-client.ts
// starts its own copy and talks to it)
import { pathToFileURL } from 'node:url';
import { serveHttp3, selfSignedCertificate, type Http3Request } from '../lib/index.js';

async function readJson(req: Http3Request): Promise<unknown> {
  const parts: Buffer[] = [];
  for await (const chunk of req) parts.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(parts).toString('utf8'));
}

/** Starts the API on `port` (0: any); returns the server and the certificate to trust. */
export async function startJsonApi(port = 0) {
  const { cert, key } = selfSignedCertificate(['localhost', '127.0.0.1']);
  const todos: Array<{ id: number; title: string }> = [];
  const server = await serveHttp3(
    async (req, res) => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const [, collection, id] = new URL(req.url, 'https://localhost').pathname.split('/');
      if (collection !== 'todos') return send(404, { error: 'not found' });
      if (req.method === 'POST' && id === undefined) {
        // A rejection (bad JSON) becomes a 500 response: serveHttp3 catches it.
        const { title } = (await readJson(req)) as { title?: unknown };
        if (typeof title !== 'string') return send(400, { error: 'title must be a string' });
        const todo = { id: todos.length + 1, title };
        todos.push(todo);
        res.setHeader('location', `/todos/${todo.id}`);
        return send(201, todo);
      }
      if (req.method !== 'GET') return send(405, { error: 'method not allowed' });
      if (id === undefined) return send(200, todos);
      const todo = todos.find((t) => t.id === Number(id));
      return todo ? send(200, todo) : send(404, { error: 'no such todo' });
    },
    { certs: cert, keys: key, port, host: '127.0.0.1' },
  );
  return { server, cert };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { server } = await startJsonApi(Number(process.env.PORT ?? 4433));
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => void server.close());
  console.log(`HTTP/3 JSON API on https://localhost:${server.address.port}/todos`);
}
