/**
 * The Store's compares and operations as etcd v3 request messages (pure), and etcd's range end for
 * a prefix. `full` maps a Store key to its etcd key (the store's namespace prepended).
 */
import type { ICompare, IRequestOp } from 'etcd3';
import type { Compare, Op } from './store.js';

/** The smallest key greater than every key starting with `prefix` (etcd's range_end for a prefix). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** A Store compare as etcd's. */
export function etcdCompare(c: Compare, full: (key: string) => Buffer): ICompare {
  const result = ({ '==': 'Equal', '!=': 'NotEqual', '<': 'Less', '>': 'Greater' } as const)[c.op];
  const key = full(c.key);
  switch (c.target) {
    case 'modRevision':
      return { key, result, target: 'Mod', mod_revision: c.value };
    case 'createRevision':
      return { key, result, target: 'Create', create_revision: c.value };
    case 'version':
      return { key, result, target: 'Version', version: c.value };
    case 'value':
      return { key, result, target: 'Value', value: Buffer.from(c.value) };
    case 'lease':
      return { key, result, target: 'Lease', lease: c.value };
  }
}

/** A Store operation as etcd's request op (a lease of '0' means none). */
export function etcdOp(o: Op, full: (key: string) => Buffer): IRequestOp {
  switch (o.op) {
    case 'put':
      return {
        request_put: {
          key: full(o.key),
          value: Buffer.from(o.value),
          ...(o.lease && o.lease !== '0' ? { lease: o.lease } : {}),
        },
      };
    case 'delete':
      return { request_delete_range: { key: full(o.key) } };
    case 'deletePrefix': {
      const key = full(o.prefix);
      return { request_delete_range: { key, range_end: prefixEnd(key) } };
    }
  }
}
