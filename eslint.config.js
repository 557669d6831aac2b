// Lint rules: typescript-eslint's type-aware checks, and the house's import rules (STYLE 3.1) on the
// real import graph rather than on text.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

const io = [
  'node:net',
  'node:http',
  'node:https',
  'node:fs',
  'node:dgram',
  'node:child_process',
  'node:worker_threads',
];
const engines = ['ws', 'ioredis', 'amqplib', 'koa', '@koa/router', 'sockjs'];
// The classes backed by Redis, RabbitMQ or memory: only node.ts (and their own rooms) construct them.
const backed = [
  'redis-registry',
  'redis-offline-store',
  'redis-history',
  'redis-doc-states',
  'rabbit-broker',
  'memory-broker',
  'memory-registry',
  'memory-offline-store',
  'memory-history',
  'memory-doc-states',
];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'client-demo/', 'test/package/fixture/', 'test-artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    settings: {
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver()],
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-base-to-string': [
        'error',
        { ignoredTypeNames: ['Error', 'RegExp', 'URL', 'URLSearchParams', 'YText'] },
      ],
      // The memory forms of the async seams are `async` without awaiting: that is the interface's shape.
      '@typescript-eslint/require-await': 'off',
      // Passing on what a catch or a settled promise gave is not making up a non-Error.
      '@typescript-eslint/only-throw-error': ['error', { allowThrowingUnknown: true }],
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
  {
    files: ['server/**/*.ts', 'protocol/**/*.ts', 'client/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/test/**'], message: 'product code never imports tests' }] },
      ],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },
  {
    files: ['protocol/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...io, ...engines].map((name) => ({ name, message: 'protocol/ does no I/O' })),
          patterns: [{ group: ['**/server/**'], message: 'protocol/ never imports the server' }],
        },
      ],
    },
  },
  {
    files: ['server/**/*.ts'],
    ignores: ['server/node.ts', 'server/{registry,store,broker,redis,history,yjs}/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['ioredis', 'amqplib'].map((name) => ({
            name,
            message: 'only node.ts and the backed rooms talk to the engines',
          })),
          patterns: [
            {
              group: backed.map((file) => `**/${file}.js`),
              message: 'only node.ts constructs the backed classes; see the interfaces',
            },
            { group: ['**/test/**'], message: 'product code never imports tests' },
          ],
        },
      ],
    },
  },
  {
    // A client runs in the browser with the page's own copy of STOMP.js: type imports only.
    files: ['client/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^(?!\\./|@stomp/stompjs$)', message: 'client/ imports only its own files' },
            {
              group: ['@stomp/stompjs'],
              allowTypeImports: true,
              message: 'import type only: the page brings its own STOMP.js',
            },
          ],
        },
      ],
    },
  },
  {
    // The Yjs provider also takes the libraries every Yjs provider is built on (the page's own copies).
    files: ['client/yjs-provider.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\./|@stomp/stompjs$|yjs$|y-protocols/awareness$|lib0/observable$)',
              message: 'client/ imports only its own files',
            },
            {
              group: ['@stomp/stompjs'],
              allowTypeImports: true,
              message: 'import type only: the page brings its own STOMP.js',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      // chai's `expect(x).to.be.true` is an expression statement by design.
      '@typescript-eslint/no-unused-expressions': 'off',
    },
  },
);
