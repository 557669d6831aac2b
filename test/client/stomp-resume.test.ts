import { expect } from 'chai';
import { RESUME_HEADERS } from '../../client/index.js';
import { resumeClientSuite } from './resume.suite.js';
import { StubStompServer } from './stub-stomp-server.js';

// Against the stub for now; the same suite runs against a node once it speaks the extension
// (start it with HISTORY_DESTINATIONS=/topic/docs/** and HISTORY_SIZE, publish with its template).
resumeClientSuite('the test stub', ({ historySize }) =>
  StubStompServer.start({ historyDestinations: ['/topic/docs/**'], historySize }),
);

describe('client helper headers', () => {
  it('names the headers of SPEC §11', () => {
    expect(RESUME_HEADERS).to.deep.equal({
      epoch: 'x-epoch',
      offset: 'x-offset',
      resumeEpoch: 'x-resume-epoch',
      resumeOffset: 'x-resume-offset',
      recovered: 'x-recovered',
    });
  });
});
