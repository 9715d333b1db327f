/**
 * Value validators for paths and environment assignments (VAL04): absolute paths, path lists with
 * their `-`/`+` prefixes, EnvironmentFile=, WorkingDirectory=, path conditions, Environment=.
 */
import { splitWords } from './grammar.js';
import type { ValueFinding, Validator } from './values.js';

const q = (s: string) => JSON.stringify(s);

function notAbsolute(key: string, value: string, what = 'an absolute path'): ValueFinding {
  return { rule: 'VAL04', certain: true, message: `${key}=${q(value)} is not ${what}; systemd ignores the setting` };
}

/** config_parse_unit_path_printf and friends: one absolute path. */
export const absPath: Validator = {
  emptyInvalid: false,
  expands: true,
  check(value, key) {
    return value.startsWith('/') ? null : notAbsolute(key, value);
  },
};

/** Lists of paths with optional '-' (ignore if missing) and '+' (relative to RootDirectory=) prefixes. */
export function pathList(prefixes: string): Validator {
  return {
    emptyInvalid: false,
    expands: true,
    check(value, key) {
      const words = splitWords(value);
      if (!words) return { rule: 'VAL04', certain: true, message: `${key}=${q(value)} has an unbalanced quote` };
      for (const { word } of words) {
        let w = word;
        while (w.length > 0 && prefixes.includes(w[0]!)) w = w.slice(1);
        if (!w.startsWith('/')) return notAbsolute(key, word, `a list of absolute paths (${q(word)} is not absolute)`);
      }
      return null;
    },
  };
}

/** EnvironmentFile=: optional '-' then an absolute path. */
export const envFile: Validator = {
  emptyInvalid: false,
  expands: true,
  check(value, key) {
    const v = value.startsWith('-') ? value.slice(1) : value;
    return v.startsWith('/') ? null : notAbsolute(key, value);
  },
};

/** WorkingDirectory= (config_parse_working_directory): optional '-', then '~' or an absolute path. */
export const workingDirectory: Validator = {
  emptyInvalid: false,
  expands: true,
  check(value, key) {
    const v = value.startsWith('-') ? value.slice(1) : value;
    return v === '~' || v.startsWith('/') ? null : notAbsolute(key, value, "an absolute path or '~'");
  },
};

/** Condition*=/Assert*= on paths: optional '|' (trigger) and '!' (negate), then an absolute path. */
export const conditionPath: Validator = {
  emptyInvalid: false,
  expands: true,
  check(value, key) {
    let v = value;
    if (v.startsWith('|')) v = v.slice(1).trimStart();
    if (v.startsWith('!')) v = v.slice(1).trimStart();
    return v.startsWith('/') ? null : notAbsolute(key, value);
  },
};

/** Environment= (config_parse_environ): words of NAME=VALUE with a valid variable name. */
export const environ: Validator = {
  emptyInvalid: false,
  expands: true,
  check(value, key) {
    const words = splitWords(value);
    if (!words) return { rule: 'VAL04', certain: true, message: `${key}=${q(value)} has an unbalanced quote` };
    for (const { word } of words) {
      const eq = word.indexOf('=');
      const name = eq < 0 ? word : word.slice(0, eq);
      if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        return {
          rule: 'VAL04',
          certain: true,
          message:
            `${key}= entry ${q(word)} is not a NAME=VALUE assignment with a valid variable name; systemd ` +
            `ignores it (quote values with spaces: "NAME=a b")`,
        };
      }
    }
    return null;
  },
};

export const CONDITION_PATH_KEYS = [
  'PathExists',
  'PathExistsGlob',
  'PathIsDirectory',
  'PathIsSymbolicLink',
  'PathIsMountPoint',
  'PathIsReadWrite',
  'PathIsEncrypted',
  'DirectoryNotEmpty',
  'FileNotEmpty',
  'FileIsExecutable',
  'NeedsUpdate',
];
