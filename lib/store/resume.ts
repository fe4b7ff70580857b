/**
 * A download that resumes where its body broke, shared by the object stores' `get` (Azure Blob,
 * S3): when the answer's body fails or ends short of its length, the rest is asked for with a
 * ranged GET pinned to the object (`If-Match` its ETag), up to `retries` times with backoff. The
 * answer is checked here too ({@link rangeAnswerProblem}: status 206, the same ETag, the range
 * from the offset to the end of the same size), since a service may ignore `If-Match` (the
 * Supabase Storage server does): an object replaced meanwhile fails with a clear error instead of
 * splicing two versions. A reader that cancels ends the download quietly: nothing is resumed.
 * The checks are pure; {@link resumableBody} runs the requests it is given.
 * @module
 */
import { BackupError } from "../base/errors.ts";
import { abortSignal } from "../base/interrupt.ts";
import { backoffMs, sleep } from "./s3.ts";

/** What a ranged GET answered, as {@link rangeAnswerProblem} checks it. */
export interface RangeAnswer {
  status: number;
  etag: string;
  /** The `Content-Range` header, when there is one. */
  contentRange?: string;
  body: ReadableStream<Uint8Array> | null;
}

/** An ETag without quotes and weak marker, for comparing. Pure. */
function bareEtag(etag: string): string {
  return etag.trim().replace(/^W\//, "").replace(/^"|"$/g, "");
}

/**
 * Why a ranged answer is not the rest (from `offset`) of the object first read with `etag` and
 * `size`, or undefined when it is. Pure.
 */
export function rangeAnswerProblem(
  first: { etag: string; size: number },
  offset: number,
  got: Pick<RangeAnswer, "status" | "etag" | "contentRange">,
): string | undefined {
  if (got.status === 412) return "the service says its ETag is no longer the one first read (HTTP 412)";
  if (got.status !== 206) return `HTTP ${got.status} instead of 206 Partial Content`;
  if (got.etag && bareEtag(got.etag) !== bareEtag(first.etag)) {
    return `its ETag is now ${bareEtag(got.etag)}, not ${bareEtag(first.etag)}`;
  }
  if (!got.etag) return "the answer has no ETag to check";
  const m = (got.contentRange ?? "").match(/^bytes (\d+)-(\d+)\/(\d+|\*)$/);
  if (!m) return `the answer's Content-Range '${got.contentRange ?? ""}' is not a byte range`;
  const [from, to, total] = [Number(m[1]), Number(m[2]), m[3] === "*" ? NaN : Number(m[3])];
  if (total !== first.size) return `its size is now ${m[3]}, not ${first.size}`;
  if (from !== offset || to !== first.size - 1) {
    return `the answer is bytes ${from}-${to}, not ${offset}-${first.size - 1}`;
  }
  return undefined;
}

/** What {@link resumableBody} needs besides the first answer. */
export interface ResumeOptions {
  /** The download in messages: `Azure Blob get <name>`, `S3 get <bucket>/<key>`. */
  what: string;
  /** Resumes after a break, at most. */
  retries: number;
  signal?: AbortSignal;
  log: (line: string) => void;
  /** Sends the GET of the bytes from `offset` to the end, with `If-Match: etag`. */
  rangeFrom(offset: number, etag: string): Promise<RangeAnswer>;
  /** The wait before resume `n` (default: the tool's backoff). */
  backoff?: (n: number) => number;
}

/**
 * The body of a download (`first`: its ETag, its size from `Content-Length`, its body) that
 * resumes where it broke (see the module doc). Without an ETag or a known size a break is thrown
 * as it is. A changed object is a {@link BackupError} naming `what` and the offset.
 */
export function resumableBody(
  first: { etag: string; size: number; body: ReadableStream<Uint8Array> | null },
  o: ResumeOptions,
): ReadableStream<Uint8Array> {
  let reader = (first.body ?? new Blob([]).stream()).getReader();
  let offset = 0;
  let resumes = 0;
  let cancelled = false;
  const canResume = first.etag !== "" && Number.isFinite(first.size);
  return new ReadableStream<Uint8Array>({
    pull: async (ctl) => {
      for (;;) {
        let broke: unknown;
        try {
          const { done, value } = await reader.read();
          if (cancelled) return; // the reader stopped: its read's end or failure is no break
          if (!done) {
            offset += value.length;
            ctl.enqueue(value);
            return;
          }
          if (!Number.isFinite(first.size) || offset >= first.size) {
            ctl.close();
            return;
          }
          broke = new Error(`${o.what}: the body ended at byte ${offset} of ${first.size}`);
        } catch (e) {
          if (cancelled) return;
          broke = e;
        }
        if (o.signal?.aborted || !canResume || resumes >= o.retries) throw broke;
        resumes++;
        reader.cancel().catch(() => {});
        o.log(`${o.what} broke at byte ${offset}; resuming (${resumes}/${o.retries})`);
        await sleep((o.backoff ?? ((n) => backoffMs(n, Math.random())))(resumes), o.signal ?? abortSignal);
        if (cancelled) return;
        const got = await o.rangeFrom(offset, first.etag);
        if (cancelled) { // the reader left while the request went: its answer is not read
          await got.body?.cancel().catch(() => {});
          return;
        }
        const problem = rangeAnswerProblem(first, offset, got);
        if (problem) {
          await got.body?.cancel().catch(() => {});
          throw new BackupError(
            `${o.what} changed while it was read (resuming at byte ${offset} of ${first.size}): ${problem}`,
            {
              hint:
                "something replaced the object meanwhile; nothing of the two versions was mixed; run again",
            },
          );
        }
        reader = (got.body ?? new Blob([]).stream()).getReader();
      }
    },
    cancel: async (reason) => {
      cancelled = true;
      await reader.cancel(reason).catch(() => {});
    },
  });
}
