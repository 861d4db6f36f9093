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
          patterns: [
            {
              group: ['@t2v/testing', '@t2v/testing/*', '**/libs/testing/**'],
              message: 'libs/testing is for tests only (specs, test/ and src/testing/ folders).',
            },
          ],
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
    files: ['**/*.spec.ts', '**/test/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
];
