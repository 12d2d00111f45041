// Configuration entry point: parse → validate → complete, never aborting on any input.
//   1. checkJson: our own syntax scan (json-as aborts on malformed JSON);
//   2. json-as builds its dynamic tree from the checked text;
//   3. the walk validates every field with its JSON path, collecting all errors (a provider or
//      provider list whose text recurs byte for byte, as in `_rules_`, is read once: ProviderMemo);
//   4. the model is completed as it is read (defaults, credentials, fingerprints).
// Invalid configuration is rejected as a whole: config is null and every problem is listed.

import { JSON } from "json-as";
import { ConfigResult } from "./model";
import { EnvLookup } from "./env";
import { Errors } from "./errors";
import { checkJson } from "./json_check";
import { ObjReader } from "./walk";
import { readConfig } from "./root";
import { ProviderMemo } from "./providers";
import { RULES_KEY, readRules } from "./rules";

export { EnvLookup } from "./env";

/** Larger texts are refused before any scan (a config is kilobytes; this bounds memory). */
export const MAX_CONFIG_CHARS: i32 = 16 * 1024 * 1024;

export function parseConfig(text: string, env: EnvLookup): ConfigResult {
  const result = new ConfigResult();
  if (text.length > MAX_CONFIG_CHARS) {
    result.errors.push("configuration: larger than " + (MAX_CONFIG_CHARS / (1024 * 1024)).toString() + " MiB; refused");
    return result;
  }
  // A leading byte order mark (files saved by some editors) is not part of the JSON.
  const body = text.length > 0 && text.charCodeAt(0) == 0xfeff ? text.substring(1) : text;
  const syntax = checkJson(body);
  if (syntax.length > 0) {
    result.errors = syntax;
    return result;
  }
  const errs = new Errors();
  const root = ObjReader.of(JSON.parse<JSON.Value>(body), "", errs);
  if (root === null) {
    result.errors = errs.list;
    return result;
  }
  const rules = root.opt(RULES_KEY);
  const memo = new ProviderMemo(body);
  const read = readConfig(root, env, memo);
  if (rules !== null) {
    read.config.rules = readRules(rules, root, read, env, memo, errs);
  }
  if (errs.count > 0) {
    result.errors = errs.list;
    return result;
  }
  result.config = read.config;
  return result;
}
