/**
 * A commit object as git stores it, split the way git splits it to check a signature: the
 * signature is the value of the `gpgsig` header (continuation lines unindented), and the signed
 * payload is the object without any `gpgsig*` header. isomorphic-git's own split assumes an
 * OpenPGP armor and normalizes newlines, which changes the bytes an SSH signature covers, so the
 * raw object is read and split here (git's commit.c, parse_buffer_signed_by_header).
 */
import * as fs from 'node:fs';
import git from 'isomorphic-git';
import type { GitCache } from './readsession.js';

export interface RawCommit {
  oid: string;
  parents: string[];
  /** "Name <email>" of the committer, and the email alone. */
  committer: string;
  committerEmail: string;
  /** First line of the message. */
  subject: string;
  /** The signature text (armored), or null when the commit is unsigned. */
  signature: string | null;
  /** What the signature covers: the object without its gpgsig headers. */
  payload: Buffer;
}

const SIG_HEADER = 'gpgsig';

/** Split a commit object's bytes into signature and payload, as git does for a SHA-1 repository. */
export function splitSignature(object: Buffer): { signature: string | null; payload: Buffer } {
  const payload: Buffer[] = [];
  const sig: Buffer[] = [];
  let inSignature = false;
  let otherSignature = false;
  let saw = false;
  let pos = 0;
  while (pos < object.length) {
    const nl = object.indexOf(0x0a, pos);
    let next = nl === -1 ? object.length : nl + 1;
    const line = object.subarray(pos, next);
    let sigStart = -1;
    if (inSignature && line[0] === 0x20) sigStart = 1;
    else if (line.subarray(0, SIG_HEADER.length + 1).toString('latin1') === `${SIG_HEADER} `) {
      sigStart = SIG_HEADER.length + 1;
      otherSignature = false;
    } else if (line.subarray(0, SIG_HEADER.length).toString('latin1') === SIG_HEADER) otherSignature = true;
    else if (otherSignature && line[0] !== 0x20) otherSignature = false;
    if (sigStart >= 0) {
      sig.push(line.subarray(sigStart));
      saw = true;
      inSignature = true;
    } else {
      // The blank line ends the headers: the rest (the message) is payload as it is.
      if (line[0] === 0x0a) next = object.length;
      if (!otherSignature) payload.push(object.subarray(pos, next));
      inSignature = false;
    }
    pos = next;
  }
  return { signature: saw ? Buffer.concat(sig).toString('utf8') : null, payload: Buffer.concat(payload) };
}

/** The headers and subject of a commit object (the parts a diagnostic names, and a walk needs). */
function parseHeaders(object: Buffer): { parents: string[]; committer: string; time: number; subject: string } {
  const text = object.toString('utf8');
  const end = text.indexOf('\n\n');
  const head = end === -1 ? text : text.slice(0, end);
  const parents: string[] = [];
  let committer = '';
  let time = 0;
  for (const line of head.split('\n')) {
    if (line.startsWith('parent ')) parents.push(line.slice(7).trim());
    else if (line.startsWith('committer ')) {
      const m = /^committer (.*?)\s+(\d+)\s+[-+]\d{4}$/.exec(line);
      committer = m ? m[1]! : line.slice(10);
      time = m ? Number(m[2]) : 0;
    }
  }
  const subject = end === -1 ? '' : (text.slice(end + 2).split('\n', 1)[0] ?? '');
  return { parents, committer, time, subject };
}

/** Read a commit object's raw bytes. Throws isomorphic-git's NotFoundError when it is absent. */
export async function readRawCommit(gitdir: string, oid: string, cache: GitCache): Promise<RawCommit> {
  const r = await git.readObject({ fs, gitdir, oid, format: 'content', cache });
  if (r.type !== 'commit') throw new Error(`${oid} is a ${r.type}, not a commit`);
  const object = Buffer.from(r.object as Uint8Array);
  const { parents, committer, subject } = parseHeaders(object);
  const { signature, payload } = splitSignature(object);
  const email = /<([^>]*)>/.exec(committer)?.[1] ?? '';
  return { oid, parents, committer, committerEmail: email, subject, signature, payload };
}

/** Parents and committer time: what a history walk needs. */
export async function readParents(
  gitdir: string,
  oid: string,
  cache: GitCache,
): Promise<{ parents: string[]; time: number }> {
  const r = await git.readObject({ fs, gitdir, oid, format: 'content', cache });
  if (r.type !== 'commit') throw new Error(`${oid} is a ${r.type}, not a commit`);
  const { parents, time } = parseHeaders(Buffer.from(r.object as Uint8Array));
  return { parents, time };
}
