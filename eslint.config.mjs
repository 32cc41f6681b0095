// Lint: typescript-eslint's recommended rules everywhere, and n8n's
// community-node rules where n8n loads our code (nodes/, credentials/).
import js from '@eslint/js';
import { n8nCommunityNodesPlugin } from '@n8n/eslint-plugin-community-nodes';
import tseslint from 'typescript-eslint';

const n8nRules = n8nCommunityNodesPlugin.configs.recommendedWithoutN8nCloudSupport;

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
    // "WithoutN8nCloudSupport": this package spawns pg_dump and reads files,
    // the point of a backup tool, which n8n Cloud's verified nodes may not do.
    files: ['nodes/**/*.ts', 'credentials/**/*.ts'],
    ...n8nRules,
  },
);
