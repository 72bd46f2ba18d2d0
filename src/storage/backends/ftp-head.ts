/**
 * The first bytes of one file over FTP: `RETR name` on a logged-in basic-ftp connection
 * whose working directory is the file's folder, read until `bytes` are in, then the data
 * connection dropped. FTP has no ranged read (REST sets where a transfer starts, not where
 * it ends), so "enough" is said by closing the data connection; the server then answers the
 * RETR with its final reply (`426 Connection closed; transfer aborted`, or `226` when it had
 * sent everything already), and only once that reply is in is the control connection in step
 * again. No reply within the wait leaves it out of step, and the caller must close it: after
 * the bytes are in (a server that ignores the closed data connection), the head is still
 * returned; before (a server that stalls), it is a TIMEOUT.
 *
 * Every wait is trawl's own: `idleMs` is the longest the server may stay silent (no byte, no
 * reply). Never more than `bytes` are kept, whatever the server sends.
 */
import type { Client, FTPResponse } from 'basic-ftp';
import { isFtpError } from './ftp-lib.js';
import { cancelledError, ProtocolError, TimeoutError, UnavailableError } from '../errors.js';
import { openDataConnection, type TransferOptions } from './ftp-transfer.js';

export type HeadTransferOptions = TransferOptions;

export interface HeadTransfer {
  head: Buffer;
  /** The final reply came: the control connection may run the next command. */
  inStep: boolean;
}

/**
 * RETRs `name` (in the working directory) and keeps its first `bytes`. Rejects with the
 * server's FTPError when it refuses the RETR (the connection is then in step), with a
 * TimeoutError, a cancellation or a socket failure otherwise (then it is not).
 */
export async function retrieveHead(
  client: Client,
  name: string,
  bytes: number,
  o: HeadTransferOptions,
): Promise<HeadTransfer> {
  const data = await openDataConnection(client, o);
  const ftp = client.ftp;
  const chunks: Buffer[] = [];
  let got = 0;
  let cut = false;
  let dataDone = false;
  let reply: FTPResponse | undefined;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  /** Enough, or the transfer is over: the data connection goes (its listeners with it). */
  const dropData = () => {
    dataDone = true;
    if (ftp.dataSocket === data) ftp.dataSocket = undefined;
    else data.destroy();
  };
  data.on('data', (chunk: Buffer) => {
    if (dataDone) return;
    const take = Math.min(chunk.length, bytes - got);
    if (take > 0) chunks.push(take === chunk.length ? chunk : chunk.subarray(0, take));
    got += take;
    if (got >= bytes) {
      cut = true;
      dropData();
    }
    notify();
  });
  data.on('end', () => {
    dropData();
    notify();
  });
  data.on('close', () => {
    if (!dataDone) failure ??= new UnavailableError(`${o.what}: the data connection failed`);
    dataDone = true;
    notify();
  });
  data.on('error', (error) => {
    failure ??= error;
    notify();
  });
  const task = ftp.handle(`RETR ${name}`, (res, t) => {
    if (isFtpError(res) && cut) {
      // What a server says of a transfer the client cut (426, 451): the answer, in step.
      reply = res as unknown as FTPResponse;
      t.resolve(res);
    } else if (res instanceof Error) {
      failure ??= res;
      t.reject(res);
    } else if (res.code >= 200 && res.code < 300) {
      reply = res;
      t.resolve(res);
    } else if (res.code >= 300) {
      const error = new ProtocolError(
        `${o.what}: the server asks for more (${JSON.stringify(res.message)}) where a transfer should end`,
        { path: o.path },
      );
      failure ??= error;
      t.reject(error);
    }
    // 150 and 125 open the transfer.
    notify();
  });
  task.catch(() => undefined);
  try {
    // Until the final reply and the end of the data (or enough of it), whichever is last.
    while (!(reply && dataDone)) {
      if (failure !== undefined) throw failure;
      try {
        await progress((w) => (wake = w), o);
      } catch (error) {
        // The bytes are in; only the server's word on the cut is missing: the head stands,
        // the connection does not.
        if (cut && error instanceof TimeoutError)
          return { head: Buffer.concat(chunks, got), inStep: false };
        throw error;
      }
    }
    return { head: Buffer.concat(chunks, got), inStep: true };
  } finally {
    if (!dataDone) dropData();
  }
}

/** Waits for the next event of the transfer: at most `idleMs`, and not past an abort. */
function progress(
  set: (wake: (() => void) | undefined) => void,
  o: HeadTransferOptions,
): Promise<void> {
  const { idleMs, signal, what, path } = o;
  if (signal?.aborted) return Promise.reject(cancelledError(path));
  return new Promise<void>((resolve, reject) => {
    const settle = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      set(undefined);
    };
    const timer = setTimeout(() => {
      settle();
      reject(new TimeoutError(`${what}: no data and no reply for ${idleMs} ms`, { path }));
    }, idleMs);
    const onAbort = () => {
      settle();
      reject(cancelledError(path));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    set(() => {
      settle();
      resolve();
    });
  });
}
