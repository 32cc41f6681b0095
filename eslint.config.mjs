// Lint: typescript-eslint's recommended rules everywhere, and n8n's
// community-node rules where n8n loads our code (nodes/, credentials/).
import js from '@eslint/js';
import { n8nCommunityNodesPlugin } from '@n8n/eslint-plugin-community-nodes';
import tseslint from 'typescript-eslint';

const n8nRules = n8nCommunityNodesPlugin.configs.recommendedWithoutN8nCloudSupport;

// The layout's import rules (docs/architecture.md): who may import whom.
const home = (name) => [`**/${name}`, `**/${name}/*`, `**/${name}/**`];
const mayNotImport = (folders, why) => ({
  'no-restricted-imports': ['error', { patterns: [{ group: folders.flatMap(home), message: why }] }],
});

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', '.bench/', 'eslint.config.mjs', 'vitest.config.mts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // build scripts: plain CommonJS for Node
    files: ['scripts/**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', __dirname: 'readonly', process: 'readonly', console: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['engine/**/*.ts'],
    rules: mayNotImport(['catalog', 'server', 'stack', 'cli', 'nodes', 'credentials'], 'the engine knows nothing of the programs around it'),
  },
  {
    files: ['catalog/**/*.ts'],
    rules: mayNotImport(['server', 'stack', 'cli', 'nodes', 'credentials'], 'the catalog is shared by the API and the nodes: it imports neither'),
  },
  {
    files: ['nodes/**/*.ts', 'credentials/**/*.ts'],
    rules: mayNotImport(['server', 'stack', 'cli'], 'the nodes import only engine/, catalog/ and nodes/shared/'),
  },
  {
    files: ['server/**/*.ts'],
    rules: mayNotImport(['stack', 'cli', 'nodes', 'credentials'], 'the API knows the installation only through AppDeps (server/context.ts)'),
  },
  {
    files: ['cli/**/*.ts'],
    rules: mayNotImport(['server', 'nodes', 'credentials'], 'the CLI talks to the API over HTTP, and to the repository through the engine'),
  },
  {
    files: ['console/**/*.ts'],
    rules: mayNotImport(['engine', 'catalog', 'server', 'stack', 'cli', 'nodes', 'credentials'], 'the console runs in a browser: it talks to the API over HTTP'),
  },
  {
    files: ['stack/**/*.ts'],
    // the stack starts the API through its entry point (server/index.ts) alone
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/cli', '**/cli/**', '**/nodes/**', '**/server/*'], message: 'the stack starts the API through server/index.ts alone' }] }],
    },
  },
  {
    // "WithoutN8nCloudSupport": this package spawns pg_dump and reads files,
    // the point of a backup tool, which n8n Cloud's verified nodes may not do.
    files: ['nodes/**/*.ts', 'credentials/**/*.ts'],
    ...n8nRules,
  },
);
