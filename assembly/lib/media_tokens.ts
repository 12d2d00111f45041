// What media in a prompt is counted as before the provider says (a reservation's estimate): an
// image at the most a high-detail image costs, audio at its longest plausible duration.

/** Audio tokens a second when not configured (gpt-4o audio input: one token per 100 ms). */
export const DEFAULT_AUDIO_TOKENS_PER_SECOND: i64 = 10;
/**
 * The lowest byte rate audio in a prompt is taken to have: 32 kbit/s (a low mp3 rate; 16-bit PCM
 * wav is 32–48 KB/s). Duration = bytes / this, so a recording is never counted shorter than it
 * is; a 24 kHz wav is counted ~12× its real length, a 128 kbit/s mp3 4×.
 */
export const AUDIO_MIN_BYTES_PER_SECOND: i64 = 4000;

/** Tokens of `bytes` of audio: its longest plausible duration × tokens a second, rounded up. */
export function audioTokens(bytes: i64, perSecond: i64): i64 {
  if (bytes <= 0) return 0;
  return (bytes * perSecond + AUDIO_MIN_BYTES_PER_SECOND - 1) / AUDIO_MIN_BYTES_PER_SECOND;
}

/**
 * An image's tokens when not configured: the most a high-detail image costs on gpt-4o (85 + 170
 * per 512-pixel tile; scaled to fit 2048 × 2048, then its short side to 768: at most 2 × 4 tiles).
 */
export const DEFAULT_IMAGE_TOKENS: i64 = 1445;
