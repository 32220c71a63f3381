import { Worker, MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
const src = readFileSync('/tmp/w.txt','utf8').replace(/^const WORKER = `/,'').replace(/`;\s*$/,'');
const url = import.meta.resolve('@oqs/liboqs-js/kem');
const flag = new Int32Array(new SharedArrayBuffer(8));
const { port1, port2 } = new MessageChannel();
const w = new Worker(src, { eval: true, workerData: { url, flag, port: port2 }, transferList: [port2] });
w.on('error', e => console.log('error', e));
setTimeout(() => console.log(flag, receiveMessageOnPort(port1)), 1000);
