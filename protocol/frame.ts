/** Every command of STOMP 1.2, client and server side. */
export const CLIENT_COMMANDS = [
  'CONNECT',
  'STOMP',
  'SEND',
  'SUBSCRIBE',
  'UNSUBSCRIBE',
  'ACK',
  'NACK',
  'BEGIN',
  'COMMIT',
  'ABORT',
  'DISCONNECT',
] as const;
export const SERVER_COMMANDS = ['CONNECTED', 'MESSAGE', 'RECEIPT', 'ERROR'] as const;

export type ClientCommand = (typeof CLIENT_COMMANDS)[number];
export type ServerCommand = (typeof SERVER_COMMANDS)[number];
export type Command = ClientCommand | ServerCommand;

export type StompVersion = '1.0' | '1.1' | '1.2';

/** Headers in wire order. Repeated names are kept; readers take the first (STOMP 1.2 "Repeated Header Entries"). */
export type HeaderList = ReadonlyArray<readonly [name: string, value: string]>;

export interface Frame {
  readonly command: Command;
  readonly headers: HeaderList;
  readonly body: Buffer;
}

export const EMPTY_BODY: Buffer = Buffer.alloc(0);

/** The first value of a header, as STOMP 1.2 asks: later repeats are ignored. */
export function header(frame: Pick<Frame, 'headers'>, name: string): string | undefined {
  for (const [n, v] of frame.headers) if (n === name) return v;
  return undefined;
}
