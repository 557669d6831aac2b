// The browser modules the demo needs from npm, bundled once (scripts/bundle-demo.ts) and served
// at /vendor/demo.js: the resume helper, the Yjs provider, Yjs and CodeMirror with its Yjs binding.
export { StompResume } from '../../client/stomp-resume.js';
export { StompYjsProvider } from '../../client/yjs-provider.js';
export * as Y from 'yjs';
export { basicSetup, EditorView } from 'codemirror';
export { EditorState } from '@codemirror/state';
export { placeholder } from '@codemirror/view';
export { yCollab } from 'y-codemirror.next';
