// `npm start` and the tests run this file; the `stomp-relay` command is the same program.
import './cli.js';
