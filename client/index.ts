export { StompResume } from './stomp-resume.js';
export type {
  ResumableSubscription,
  ResumeOptions,
  StreamPosition,
  SubscribeOptions,
  SubscribeOutcome,
} from './stomp-resume.js';
export { RESUME_HEADERS } from './headers.js';
