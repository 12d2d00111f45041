// Stored-object ids as the gateway reads them (the tenant boundary, plugin/affinity.ts): what an id
// may look like, and how many one request or answer may name.

/** The longest id read (providers' ids are 30–60 characters). */
export const MAX_ID: i32 = 128;
/** Ids one request names or one answer reveals, at most. */
export const MAX_IDS: i32 = 32;

/** Is `s` an id a provider could have made (letters, digits, '_', '-', '.', ':')? */
export function idLike(s: string): bool {
  if (s.length == 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c == 45 || c == 46 || c == 58;
    if (!ok) return false;
  }
  return true;
}
