import { header } from '../../protocol/index.js';
import { RelayError } from '../errors.js';
import { invalidUserIdReason, type Authenticator, type ConnectRequest, type Principal } from './authenticator.js';

/** AUTH_MODE=dev: the principal is whatever the CONNECT `login` header says. Not for production. */
export class DevAuthenticator implements Authenticator {
  async authenticate(request: ConnectRequest): Promise<Principal> {
    const login = header(request, 'login');
    if (login === undefined || login === '') return { name: request.sessionId, anonymous: true };
    const reason = invalidUserIdReason(login);
    if (reason) throw new RelayError('AUTH_FAILED', `invalid login: ${reason}`);
    return { name: login, anonymous: false };
  }
}
