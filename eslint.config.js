// @ts-check
/**
 * Lint: ESLint's recommended rules plus typescript-eslint's type-aware recommended set
 * (recommendedTypeChecked) over src/, test/, bench/, scripts/ and the config files.
 * Layout is Prettier's job (.prettierrc.json, `npm run format`): no rule here is about
 * formatting, so the two never disagree and eslint-config-prettier is not needed.
 * Every rule that is off or changed says why, next to it.
 */
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import { defineConfig } from 'eslint/config';

export default defineConfig(
  { ignores: ['dist/', 'dist-bench/', 'coverage/', 'fixtures/'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // typescript-eslint turns this off because tsc reports unreachable code, but tsc only
      // hints at it unless allowUnreachableCode is false; a statement after a return went
      // unnoticed in cli/main.ts.
      'no-unreachable': 'error',
      // A leading underscore marks a name that is unused on purpose: a parameter an interface
      // requires, or a field left out of a rest object.
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      // Off: an async function without await still turns a throw into a rejected promise, and
      // the functions it flags here implement async interfaces (Runner.run, CommandSpec.run,
      // a log sink's close, fakes in tests). Dropping `async` to please it would change how
      // they fail.
      '@typescript-eslint/require-await': 'off',
      // Off: every hit is String(v) or `${v}` on a value typed unknown (yargs argv, parsed
      // YAML, JSON or XML) after a check, which TypeScript then calls `{}`; the rule cannot
      // tell that from an object without toString. Such values are checked before use.
      '@typescript-eslint/no-base-to-string': 'off',
      // Off: vmkeep matches control characters on purpose: it refuses them in labels and
      // names, and strips terminal escapes from tools' progress output.
      'no-control-regex': 'off',
    },
  },
  {
    // A function longer than a screen hides its steps: split it into named ones. Where a long
    // function is deliberate, an eslint-disable comment on it says why.
    files: ['src/**/*.ts'],
    rules: {
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      // Tests and benchmarks read the CLI's --json output and recorded fixtures through
      // JSON.parse (typed any) and check the shape with expect(): a wrong shape fails there.
      // src/ keeps these rules.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      // Tests destructure functions from node modules (`const { join } = await import('node:path')`),
      // which never use `this`; the rule cannot tell them from methods that do.
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    // Plain JavaScript (scripts, this file) is not part of a tsconfig: syntax rules only.
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
