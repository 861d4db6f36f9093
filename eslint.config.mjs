import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

export default [
  { ignores: ['**/dist/**', '**/node_modules/**', '**/generated/**', '**/.venv/**', 'data/**', 'tmp/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'type:sdk', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:api', onlyDependOnLibsWithTags: ['scope:shared', 'scope:api'] },
            { sourceTag: 'scope:cli', onlyDependOnLibsWithTags: ['scope:shared', 'type:sdk'] },
            { sourceTag: 'scope:web', onlyDependOnLibsWithTags: ['scope:shared', 'type:sdk'] },
            { sourceTag: 'scope:tools', onlyDependOnLibsWithTags: ['scope:shared', 'type:sdk'] },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Queue drivers are picked in one place: nothing but the factory (and tests) names one.
    files: ['apps/api/src/**/*.ts'],
    ignores: [
      'apps/api/src/queue/queue-driver.factory.ts',
      'apps/api/src/queue/embedded/**',
      'apps/api/src/queue/redis/**',
      '**/*.spec.ts',
      '**/*.contract.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/queue/embedded/**', '**/queue/redis/**', './embedded/**', './redis/**'],
              message:
                'Queue drivers are chosen by queue/queue-driver.factory.ts; depend on the port in jobs/queue-driver.ts.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['apps/api/src/queue/embedded/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/redis/**'], message: 'One driver never imports another.' }] },
      ],
    },
  },
  {
    files: ['apps/api/src/queue/redis/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/embedded/**'], message: 'One driver never imports another.' }] },
      ],
    },
  },
  {
    files: ['**/*.spec.ts', '**/test/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
];
