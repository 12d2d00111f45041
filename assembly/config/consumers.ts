// consumers[]: gateway-issued client keys. A consumer key must be unique and must never equal
// a provider credential (a client presenting a provider's own key would be let in).

import { ConsumerConfig, ProviderConfig } from "./model";
import { EnvLookup } from "./env";
import { Errors } from "./errors";
import { ObjReader } from "./walk";
import { MAX_SAFE_INT } from "./walk";
import { NAME_RULE, isName } from "./patterns";
import { readCredential } from "./credential";
import { quote } from "./text";

export const MAX_CONSUMERS: i32 = 10000;

export class ConsumerList {
  consumers: ConsumerConfig[] = [];
  /** Path of each consumer's credential member ("" when it had none). */
  keyPaths: string[] = [];
}

export function readConsumers(root: ObjReader, env: EnvLookup): ConsumerList {
  const out = new ConsumerList();
  const list = root.arr("consumers");
  if (list === null) return out;
  if (list.length > MAX_CONSUMERS) {
    root.errs.add(list.path, "at most " + MAX_CONSUMERS.toString() + " consumers are supported, found " + list.length.toString());
  }
  // Names and keys seen so far → their index (lookups, not a scan per consumer: 10,000 consumers).
  const names = new Map<string, i32>();
  const keys = new Map<string, i32>();
  for (let i = 0; i < list.length; i++) {
    const o = list.objAt(i);
    if (o === null) continue;
    const c = new ConsumerConfig();
    const name = o.str("name", true, "a unique name: letters, digits, '.', '_' or '-'");
    if (name !== null) {
      if (!isName(name)) {
        o.errs.add(o.pathOf("name"), NAME_RULE + ", found " + quote(name));
      } else {
        if (names.has(name)) {
          o.errs.add(o.pathOf("name"), "duplicate consumer name " + quote(name) + " (also consumers[" + names.get(name).toString() + "])");
        } else names.set(name, out.consumers.length);
        c.name = name;
      }
    }
    const cred = readCredential(o, env, " for every consumer");
    let keyPath = "";
    if (cred !== null) {
      c.credential = cred.credential;
      c.credentialSource = cred.source;
      keyPath = cred.path;
      if (!c.credential.isEmpty()) {
        const secret = c.credential.reveal();
        if (keys.has(secret)) {
          o.errs.add(keyPath, "same key as " + unchecked(out.keyPaths[keys.get(secret)]) + "; consumer keys must be unique");
        } else keys.set(secret, out.consumers.length);
      }
    }
    c.tokensPerMinute = o.int("tokensPerMinute", 0, 0, MAX_SAFE_INT);
    c.requestsPerMinute = o.int("requestsPerMinute", 0, 0, MAX_SAFE_INT);
    const models = o.strings("models", true);
    if (models !== null) c.models = models;
    o.finish();
    out.consumers.push(c);
    out.keyPaths.push(keyPath);
  }
  return out;
}

/** A consumer key equal to any provider credential is an error at the consumer's key. */
export function checkConsumerKeys(consumers: ConsumerList, providers: ProviderConfig[], errs: Errors): void {
  for (let i = 0; i < consumers.consumers.length; i++) {
    const c = unchecked(consumers.consumers[i]);
    if (c.credential.isEmpty()) continue;
    let found = false;
    for (let j = 0; j < providers.length && !found; j++) {
      const p = unchecked(providers[j]);
      for (let k = 0; k < p.credentials.length && !found; k++) {
        const pc = unchecked(p.credentials[k]);
        if (pc.identity === null && !pc.isEmpty() && pc.equals(c.credential)) {
          errs.add(unchecked(consumers.keyPaths[i]),
            "equals the credential of provider " + quote(p.name) + ": a client could present a provider key; issue consumers their own keys");
          found = true;
        }
      }
    }
  }
}
