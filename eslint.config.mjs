import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

/** Test code: specs, test folders, test-support folders and shared contract suites. */
const TEST_FILES = [
  '**/*.spec.ts',
  '**/*.int-spec.ts',
  '**/*.e2e-spec.ts',
  '**/*.pack-spec.ts',
  '**/*.contract.ts',
  '**/test/**/*.ts',
  '**/src/testing/**/*.ts',
  'libs/testing/**/*.ts',
];

/**
 * Who may import whom, by project tag. `type:testing` (libs/testing) is for tests only: test code
 * may import it on top of what its project may import; other code may not (no project lists it,
 * and `no-restricted-imports` below names it). A tag-wide `notDependOnLibsWithTags` would not do:
 * it follows the project graph transitively, where a project's tests make it depend on the library.
 */
function boundaries(forTests) {
  const extra = forTests ? ['type:testing'] : [];
  const only = (sourceTag, tags) => ({ sourceTag, onlyDependOnLibsWithTags: [...tags, ...extra] });
  return [
    'error',
    {
      enforceBuildableLibDependency: false,
      allow: [],
      depConstraints: [
        only('scope:shared', ['scope:shared']),
        only('type:sdk', ['scope:shared']),
        only('scope:api', ['scope:shared', 'scope:api']),
        only('scope:engine', ['scope:shared']),
        only('scope:cli', ['scope:shared', 'type:sdk']),
        only('scope:web', ['scope:shared', 'type:sdk']),
        only('scope:tools', ['scope:shared', 'type:sdk']),
        { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['scope:shared'] },
      ],
    },
  ];
}

/** libs/testing, which only test code may import (every no-restricted-imports list repeats it). */
const TESTING_ONLY = {
  group: ['@t2v/testing', '@t2v/testing/*', '**/libs/testing/**'],
  message: 'libs/testing is for tests only (specs, test/ and src/testing/ folders).',
};

export default [
  { ignores: ['**/dist/**', '**/node_modules/**', '**/generated/**', '**/.venv/**', 'data/**', 'tmp/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@nx/enforce-module-boundaries': boundaries(false),
      'no-restricted-imports': [
        'error',
        {
          patterns: [TESTING_ONLY],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: TEST_FILES,
    rules: {
      '@nx/enforce-module-boundaries': boundaries(true),
      'no-restricted-imports': 'off',
    },
  },
  {
    // Queue drivers are picked in one place: nothing but the factory (and tests) names one.
    files: ['apps/api/src/**/*.ts'],
    ignores: [
      'apps/api/src/queue/queue-driver.factory.ts',
      'apps/api/src/queue/embedded/**',
      'apps/api/src/queue/redis/**',
      ...TEST_FILES,
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            TESTING_ONLY,
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
    ignores: TEST_FILES,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [TESTING_ONLY, { group: ['**/redis/**'], message: 'One driver never imports another.' }],
        },
      ],
    },
  },
  {
    files: ['apps/api/src/queue/redis/**/*.ts'],
    ignores: TEST_FILES,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            TESTING_ONLY,
            { group: ['**/embedded/**'], message: 'One driver never imports another.' },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.spec.ts', '**/test/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
];
