/** Identifiers that cross module and process boundaries. Plain strings, named for what they hold. */
export type NodeId = string;
export type SessionId = string;
export type UserId = string;
export type DocId = string;
/** A STOMP destination as a client writes it, e.g. `/topic/docs/42/edits`. */
export type Destination = string;
