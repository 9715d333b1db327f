/** What checking one commit's signature found, and the rule id each kind of refusal carries. */
import { FatalError } from '../errors.js';

export type SigProblem =
  | 'unsigned'
  | 'unknown-key'
  | 'bad-signature'
  | 'principal'
  | 'expired'
  | 'revoked'
  | 'unverifiable';

export type Verdict =
  | { ok: true; signer: string }
  | {
      ok: false;
      problem: SigProblem;
      /** The key or signer the signature names ('' for an unsigned commit). */
      signer: string;
      /** Why, in words a person can act on. */
      detail: string;
    };

export type Refusal = Extract<Verdict, { ok: false }>;

/** A refusal verdict. */
export function refuse(problem: SigProblem, signer: string, detail: string): Refusal {
  return { ok: false, problem, signer, detail };
}

/** Rule ids (docs/security.md): one per kind of refusal. */
export const SIG_RULE: Record<SigProblem, string> = {
  unsigned: 'SIG01',
  'unknown-key': 'SIG02',
  'bad-signature': 'SIG03',
  principal: 'SIG04',
  expired: 'SIG05',
  revoked: 'SIG05',
  unverifiable: 'SIG06',
};

export const SIG_WORDS: Record<SigProblem, string> = {
  unsigned: 'unsigned',
  'unknown-key': 'unknown key',
  'bad-signature': 'bad signature',
  principal: 'key not allowed for the committer',
  expired: 'expired key',
  revoked: 'revoked key',
  unverifiable: 'cannot be verified',
};

/** A trust file (allowed signers, OpenPGP keys) that cannot be used: names the file and, where known, the line. */
export class TrustFileError extends FatalError {
  override name = 'TrustFileError';
  constructor(
    readonly file: string,
    readonly line: number,
    what: string,
  ) {
    super(`${file}${line > 0 ? `:${line}` : ''}: ${what}`);
  }
}
